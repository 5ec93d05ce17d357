"""Jobs and extractions name their provider and model; extractions mark a best guess

Revision ID: 0010
Revises: 0009
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from server.core.tenancy import across_tenants

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The tables the backfill reads and writes across tenants.
_BACKFILLED = ("prompts", "extractions", "processing_jobs")


def upgrade() -> None:
    for table in ("processing_jobs", "extractions"):
        op.add_column(table, sa.Column("llm_provider", sa.String(length=100), nullable=True))
        op.add_column(table, sa.Column("llm_model", sa.String(length=200), nullable=True))
    op.add_column(
        "extractions",
        sa.Column("best_guess", sa.Boolean(), server_default=sa.false(), nullable=False),
    )
    # Existing rows: an extraction was answered by its prompt version's model; a job is given
    # the model that answered its values where they all agree (its project's model when it
    # was created was not recorded). Across tenants: see across_tenants.
    with across_tenants(op.execute, *_BACKFILLED):
        op.execute(
            """
            UPDATE extractions
            SET llm_provider = prompts.provider, llm_model = prompts.model
            FROM prompts
            WHERE prompts.id = extractions.prompt_id
            """
        )
        op.execute(
            """
            UPDATE processing_jobs
            SET llm_provider = answered.provider, llm_model = answered.model
            FROM (
                SELECT job_id, min(llm_provider) AS provider, min(llm_model) AS model
                FROM extractions
                WHERE job_id IS NOT NULL AND llm_provider IS NOT NULL
                GROUP BY job_id
                HAVING count(DISTINCT (llm_provider, llm_model)) = 1
            ) AS answered
            WHERE answered.job_id = processing_jobs.id
            """
        )


def downgrade() -> None:
    op.drop_column("extractions", "best_guess")
    for table in ("extractions", "processing_jobs"):
        op.drop_column(table, "llm_model")
        op.drop_column(table, "llm_provider")
