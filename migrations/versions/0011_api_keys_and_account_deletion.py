"""API keys, live-account checks and account deletion.

- api_keys: keys for programs, stored as SHA-256 digests, under the same RLS as every tenant
  table; deleted with their user.
- Deleting a user deletes every row it owns through ON DELETE CASCADE. Every tenant table
  reached users through a NOT NULL chain of cascading keys but llm_calls, whose project_id is
  nullable; it gets its own key to users.
- Two SECURITY DEFINER functions answer, before the tenant is known, whether an access
  token's user still exists and whose an API key is (like auth_find_login in 0002).

Revision ID: 0011
Revises: 0010
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from server.core.tenancy import isolation_statements

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column(
            "user_id",
            sa.Uuid(),
            sa.ForeignKey("users.id", ondelete="CASCADE", name="fk_api_keys_user_id_users"),
            nullable=False,
        ),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("key_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("read_only", sa.Boolean(), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_api_keys"),
    )
    op.create_index("ix_api_keys_user_id", "api_keys", ["user_id"])
    for statement in isolation_statements("api_keys"):
        op.execute(statement)

    op.create_foreign_key(
        "fk_llm_calls_user_id_users",
        "llm_calls",
        "users",
        ["user_id"],
        ["id"],
        ondelete="CASCADE",
    )

    op.execute(
        """
        CREATE FUNCTION auth_user_exists(p_user_id uuid) RETURNS boolean
        LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public
        AS $$ SELECT EXISTS (SELECT 1 FROM public.users WHERE id = p_user_id) $$
        """
    )
    # The key is found by its id and must match its digest; nothing else is revealed.
    op.execute(
        """
        CREATE FUNCTION auth_find_api_key(p_key_id uuid, p_key_hash bytea)
        RETURNS TABLE (user_id uuid, read_only boolean, last_used_at timestamptz)
        LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public
        AS $$
          SELECT user_id, read_only, last_used_at FROM public.api_keys
          WHERE id = p_key_id AND key_hash = p_key_hash
        $$
        """
    )
    for function in ("auth_user_exists(uuid)", "auth_find_api_key(uuid, bytea)"):
        op.execute(f"REVOKE ALL ON FUNCTION {function} FROM PUBLIC")
    # The definer function runs as the owner, whom FORCE ROW LEVEL SECURITY also binds
    # (users already has this policy, from 0002).
    op.execute(
        """
        DO $$ BEGIN
          EXECUTE format(
            'CREATE POLICY owner_auth_lookup ON api_keys FOR SELECT TO %I USING (true)',
            current_user);
        END $$
        """
    )


def downgrade() -> None:
    op.execute("DROP FUNCTION IF EXISTS auth_find_api_key(uuid, bytea)")
    op.execute("DROP FUNCTION IF EXISTS auth_user_exists(uuid)")
    op.drop_constraint("fk_llm_calls_user_id_users", "llm_calls", type_="foreignkey")
    op.drop_table("api_keys")
