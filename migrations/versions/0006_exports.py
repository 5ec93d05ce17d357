"""Exports and their files in parts; expired exports deleted by a definer function

Revision ID: 0006
Revises: 0005
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from server.core.tenancy import isolation_statements

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FORMAT = postgresql.ENUM(
    "CSV_WIDE",
    "CSV_LONG",
    "XLSX",
    "CODEBOOK",
    "STATA",
    "SPSS",
    "DATA_PACKAGE",
    name="export_format",
)
STATUS = postgresql.ENUM("PENDING", "RUNNING", "COMPLETED", "FAILED", name="export_status")


def upgrade() -> None:
    FORMAT.create(op.get_bind())
    STATUS.create(op.get_bind())
    op.create_table(
        "exports",
        sa.Column("project_id", sa.Uuid(), nullable=False),
        sa.Column(
            "format", postgresql.ENUM(name="export_format", create_type=False), nullable=False
        ),
        sa.Column("include_metadata", sa.Boolean(), nullable=False),
        sa.Column(
            "status", postgresql.ENUM(name="export_status", create_type=False), nullable=False
        ),
        sa.Column("filename", sa.String(length=500), nullable=False),
        sa.Column("content_type", sa.String(length=200), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("row_count", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("size_bytes >= 0", name=op.f("ck_exports_size_non_negative")),
        sa.ForeignKeyConstraint(
            ["project_id", "user_id"],
            ["projects.id", "projects.user_id"],
            name=op.f("fk_exports_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exports")),
        sa.UniqueConstraint("id", "user_id", name=op.f("uq_exports_id_user_id")),
    )
    op.create_index("ix_exports_project_id_created_at", "exports", ["project_id", "created_at"])
    op.create_index("ix_exports_expires_at", "exports", ["expires_at"])
    op.create_index(op.f("ix_exports_user_id"), "exports", ["user_id"])
    op.create_table(
        "export_parts",
        sa.Column("export_id", sa.Uuid(), nullable=False),
        sa.Column("part", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.CheckConstraint("part >= 0", name=op.f("ck_export_parts_part_non_negative")),
        sa.ForeignKeyConstraint(
            ["export_id", "user_id"],
            ["exports.id", "exports.user_id"],
            name=op.f("fk_export_parts_export_id_exports"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("export_id", "part", name=op.f("pk_export_parts")),
    )
    op.create_index(op.f("ix_export_parts_user_id"), "export_parts", ["user_id"])
    for table in ("exports", "export_parts"):
        for statement in isolation_statements(table):
            op.execute(statement)
    # Expired exports of every tenant go, and nothing else: the one cross-tenant statement,
    # run as the owner through a definer function whose only power is this DELETE.
    op.execute(
        """
        DO $$ BEGIN
          EXECUTE format(
            'CREATE POLICY owner_expiry ON exports FOR ALL TO %I '
            'USING (expires_at < now()) WITH CHECK (false)',
            current_user);
        END $$
        """
    )
    op.execute(
        """
        CREATE FUNCTION delete_expired_exports() RETURNS integer
        LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public
        AS $$
          WITH gone AS (DELETE FROM public.exports WHERE expires_at < now() RETURNING 1)
          SELECT count(*)::integer FROM gone
        $$
        """
    )
    op.execute("REVOKE ALL ON FUNCTION delete_expired_exports() FROM PUBLIC")


def downgrade() -> None:
    op.execute("DROP FUNCTION IF EXISTS delete_expired_exports()")
    op.drop_index(op.f("ix_export_parts_user_id"), table_name="export_parts")
    op.drop_table("export_parts")
    op.drop_index(op.f("ix_exports_user_id"), table_name="exports")
    op.drop_index("ix_exports_expires_at", table_name="exports")
    op.drop_index("ix_exports_project_id_created_at", table_name="exports")
    op.drop_table("exports")
    STATUS.drop(op.get_bind())
    FORMAT.drop(op.get_bind())
