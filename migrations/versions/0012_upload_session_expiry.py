"""Resumable uploads expire at a time of their own; expired ones deleted by a definer function

Revision ID: 0012
Revises: 0011
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from server.core.tenancy import across_tenants

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "upload_sessions", sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True)
    )
    # Sessions begun before this change keep the default lifetime (UPLOAD_SESSION_TTL_SECONDS).
    with across_tenants(op.execute, "upload_sessions"):
        op.execute("UPDATE upload_sessions SET expires_at = created_at + interval '1 day'")
    op.alter_column("upload_sessions", "expires_at", nullable=False)
    op.drop_index("ix_upload_sessions_created_at", table_name="upload_sessions")
    op.create_index("ix_upload_sessions_expires_at", "upload_sessions", ["expires_at"])
    # Expired sessions of every tenant go, and nothing else: run as the owner through a definer
    # function whose only power is this DELETE (as for exports, migration 0006). Their parts
    # go with them by the foreign key's ON DELETE CASCADE.
    op.execute(
        """
        DO $$ BEGIN
          EXECUTE format(
            'CREATE POLICY owner_expiry ON upload_sessions FOR ALL TO %I '
            'USING (expires_at < now()) WITH CHECK (false)',
            current_user);
        END $$
        """
    )
    op.execute(
        """
        CREATE FUNCTION delete_expired_upload_sessions() RETURNS integer
        LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public
        AS $$
          WITH gone AS (
            DELETE FROM public.upload_sessions WHERE expires_at < now() RETURNING 1
          )
          SELECT count(*)::integer FROM gone
        $$
        """
    )
    op.execute("REVOKE ALL ON FUNCTION delete_expired_upload_sessions() FROM PUBLIC")


def downgrade() -> None:
    op.execute("DROP FUNCTION IF EXISTS delete_expired_upload_sessions()")
    op.execute("DROP POLICY IF EXISTS owner_expiry ON upload_sessions")
    op.drop_index("ix_upload_sessions_expires_at", table_name="upload_sessions")
    op.create_index("ix_upload_sessions_created_at", "upload_sessions", ["created_at"])
    op.drop_column("upload_sessions", "expires_at")
