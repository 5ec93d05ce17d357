"""Cost: the prompt tokens a provider served from its prompt cache (and wrote to it), per
request in the ledger and per job, and the extraction mode of a project and of each job (a
request per variable, or the variables of a document grouped into one)

Revision ID: 0016
Revises: 0015
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MODE = postgresql.ENUM("PER_VARIABLE", "GROUPED", name="extraction_mode")


def _count(name: str, kind: type[sa.Integer] = sa.Integer) -> sa.Column[int]:
    return sa.Column(name, kind(), nullable=False, server_default="0")


def upgrade() -> None:
    op.add_column("llm_calls", _count("cached_prompt_tokens"))
    op.add_column("llm_calls", _count("cache_write_tokens"))
    op.add_column("processing_jobs", _count("cached_input_tokens", sa.BigInteger))
    MODE.create(op.get_bind())
    for table in ("projects", "processing_jobs"):
        op.add_column(
            table,
            sa.Column(
                "extraction_mode",
                postgresql.ENUM(name="extraction_mode", create_type=False),
                nullable=False,
                server_default="PER_VARIABLE",
            ),
        )


def downgrade() -> None:
    op.drop_column("processing_jobs", "extraction_mode")
    op.drop_column("projects", "extraction_mode")
    MODE.drop(op.get_bind())
    op.drop_column("processing_jobs", "cached_input_tokens")
    op.drop_column("llm_calls", "cache_write_tokens")
    op.drop_column("llm_calls", "cached_prompt_tokens")
