"""The LLM usage ledger (one row per request sent to a model); each prompt version's provider
and the fingerprint of what it was generated from.

Revision ID: 0003
Revises: 0002
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from server.core.tenancy import isolation_statements

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "llm_calls",
        sa.Column("project_id", sa.Uuid(), nullable=True),
        sa.Column("job_id", sa.Uuid(), nullable=True),
        sa.Column("purpose", sa.String(length=50), nullable=False),
        sa.Column("provider", sa.String(length=100), nullable=False),
        sa.Column("model", sa.String(length=200), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("outcome", sa.String(length=40), nullable=False),
        sa.Column("prompt_tokens", sa.Integer(), nullable=False),
        sa.Column("completion_tokens", sa.Integer(), nullable=False),
        sa.Column("cost_usd", sa.Numeric(precision=14, scale=6), nullable=True),
        sa.Column("latency_ms", sa.Integer(), nullable=False),
        sa.Column("error_message", sa.Text(), nullable=True),
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
        sa.ForeignKeyConstraint(
            ["job_id", "user_id"],
            ["processing_jobs.id", "processing_jobs.user_id"],
            name=op.f("fk_llm_calls_job_id_processing_jobs"),
            ondelete="SET NULL (job_id)",
        ),
        sa.ForeignKeyConstraint(
            ["project_id", "user_id"],
            ["projects.id", "projects.user_id"],
            name=op.f("fk_llm_calls_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_llm_calls")),
    )
    op.create_index(
        "ix_llm_calls_job_id",
        "llm_calls",
        ["job_id"],
        unique=False,
        postgresql_where=sa.text("job_id IS NOT NULL"),
    )
    op.create_index("ix_llm_calls_project_id", "llm_calls", ["project_id"], unique=False)
    op.create_index(op.f("ix_llm_calls_user_id"), "llm_calls", ["user_id"], unique=False)
    op.create_index(
        "ix_llm_calls_user_id_created_at", "llm_calls", ["user_id", "created_at"], unique=False
    )
    for statement in isolation_statements("llm_calls"):
        op.execute(statement)
    # Versions written before providers were recorded were generated for OpenAI.
    op.add_column(
        "prompts",
        sa.Column("provider", sa.String(length=100), nullable=False, server_default="openai"),
    )
    op.alter_column("prompts", "provider", server_default=None)
    op.add_column(
        "prompts",
        sa.Column("source_fingerprint", sa.String(length=64), nullable=False, server_default=""),
    )
    op.alter_column("prompts", "source_fingerprint", server_default=None)


def downgrade() -> None:
    op.drop_column("prompts", "source_fingerprint")
    op.drop_column("prompts", "provider")
    op.drop_table("llm_calls")
