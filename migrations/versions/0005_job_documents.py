"""A job's work list (job_documents: which documents, claimed by which worker until when,
how far they got) and the entity's name on extractions.

Revision ID: 0005
Revises: 0004
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from server.core.tenancy import isolation_statements

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STATUS = postgresql.ENUM(
    "PENDING", "RUNNING", "DONE", "SKIPPED", "FAILED", name="job_document_status"
)


def upgrade() -> None:
    STATUS.create(op.get_bind())
    op.create_table(
        "job_documents",
        sa.Column("job_id", sa.Uuid(), nullable=False),
        sa.Column("document_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column(
            "status",
            postgresql.ENUM(name="job_document_status", create_type=False),
            nullable=False,
        ),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reserved_tokens", sa.BigInteger(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["document_id", "user_id"],
            ["documents.id", "documents.user_id"],
            name=op.f("fk_job_documents_document_id_documents"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["job_id", "user_id"],
            ["processing_jobs.id", "processing_jobs.user_id"],
            name=op.f("fk_job_documents_job_id_processing_jobs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("job_id", "document_id", name=op.f("pk_job_documents")),
    )
    op.create_index(
        "ix_job_documents_job_id_status", "job_documents", ["job_id", "status"], unique=False
    )
    op.create_index(op.f("ix_job_documents_user_id"), "job_documents", ["user_id"], unique=False)
    for statement in isolation_statements("job_documents"):
        op.execute(statement)
    op.add_column(
        "extractions",
        sa.Column("entity_name", sa.String(length=500), nullable=False, server_default=""),
    )
    op.alter_column("extractions", "entity_name", server_default=None)


def downgrade() -> None:
    op.drop_column("extractions", "entity_name")
    op.drop_table("job_documents")
    STATUS.drop(op.get_bind())
