"""Usage ledger rows recorded before a request is sent

A row is now written before its request goes out and settled after; until then (and for good
when its worker died) its outcome is NULL.

Revision ID: 0009
Revises: 0008
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from server.core.tenancy import across_tenants

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.alter_column(
        "llm_calls",
        "outcome",
        existing_type=sa.String(length=40),
        existing_nullable=False,
        nullable=True,
    )


def downgrade() -> None:
    # The old schema has no unsettled row: name it, in every tenant's rows.
    with across_tenants(op.execute, "llm_calls"):
        op.execute("UPDATE llm_calls SET outcome = 'unsettled' WHERE outcome IS NULL")
    op.alter_column(
        "llm_calls",
        "outcome",
        existing_type=sa.String(length=40),
        existing_nullable=True,
        nullable=False,
    )
