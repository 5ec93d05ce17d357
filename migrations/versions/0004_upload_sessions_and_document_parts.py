"""Upload sessions (unary, resumable uploads) and a document's bytes stored in parts

Revision ID: 0004
Revises: 0003
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from server.core.tenancy import isolation_statements

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "upload_sessions",
        sa.Column("project_id", sa.Uuid(), nullable=False),
        sa.Column("filename", sa.String(length=500), nullable=False),
        sa.Column("mime_type_hint", sa.String(length=200), nullable=False),
        sa.Column("expected_bytes", sa.BigInteger(), nullable=False),
        sa.Column("received_bytes", sa.BigInteger(), nullable=False),
        sa.Column("part_count", sa.Integer(), nullable=False),
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
        sa.CheckConstraint(
            "received_bytes >= 0", name=op.f("ck_upload_sessions_received_non_negative")
        ),
        sa.ForeignKeyConstraint(
            ["project_id", "user_id"],
            ["projects.id", "projects.user_id"],
            name=op.f("fk_upload_sessions_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_upload_sessions")),
        sa.UniqueConstraint("id", "user_id", name=op.f("uq_upload_sessions_id_user_id")),
    )
    op.create_index(
        "ix_upload_sessions_created_at", "upload_sessions", ["created_at"], unique=False
    )
    op.create_index(
        op.f("ix_upload_sessions_user_id"), "upload_sessions", ["user_id"], unique=False
    )
    op.create_table(
        "upload_parts",
        sa.Column("session_id", sa.Uuid(), nullable=False),
        sa.Column("part", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["session_id", "user_id"],
            ["upload_sessions.id", "upload_sessions.user_id"],
            name=op.f("fk_upload_parts_session_id_upload_sessions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("session_id", "part", name=op.f("pk_upload_parts")),
    )
    op.create_index(op.f("ix_upload_parts_user_id"), "upload_parts", ["user_id"], unique=False)
    for table in ("upload_sessions", "upload_parts"):
        for statement in isolation_statements(table):
            op.execute(statement)
    # A document's bytes become numbered parts; an existing blob is its part 0.
    op.add_column(
        "document_blobs", sa.Column("part", sa.Integer(), nullable=False, server_default="0")
    )
    op.alter_column("document_blobs", "part", server_default=None)
    op.drop_constraint("pk_document_blobs", "document_blobs", type_="primary")
    op.create_primary_key("pk_document_blobs", "document_blobs", ["document_id", "part"])
    op.create_check_constraint("part_non_negative", "document_blobs", "part >= 0")


def downgrade() -> None:
    op.execute("DELETE FROM document_blobs WHERE part > 0")
    op.drop_constraint("part_non_negative", "document_blobs", type_="check")
    op.drop_constraint("pk_document_blobs", "document_blobs", type_="primary")
    op.create_primary_key("pk_document_blobs", "document_blobs", ["document_id"])
    op.drop_column("document_blobs", "part")
    op.drop_index(op.f("ix_upload_parts_user_id"), table_name="upload_parts")
    op.drop_table("upload_parts")
    op.drop_index(op.f("ix_upload_sessions_user_id"), table_name="upload_sessions")
    op.drop_index("ix_upload_sessions_created_at", table_name="upload_sessions")
    op.drop_table("upload_sessions")
