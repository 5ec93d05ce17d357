"""Evidence per value: each value of an extraction keeps its own quote, offsets and match;
AMBIGUOUS for a quote found at several places

Revision ID: 0014
Revises: 0013
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from server.core.tenancy import across_tenants

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Not used in this transaction, so PostgreSQL allows adding it inside one.
    op.execute("ALTER TYPE evidence_match ADD VALUE IF NOT EXISTS 'AMBIGUOUS'")
    # A list of {source_text, start, end, match, candidates, weak} in the order of the
    # values. NULL for extractions stored before: their evidence is the first value's, in
    # source_text, source_start, source_end and evidence_match.
    op.add_column(
        "extractions",
        sa.Column("value_evidence", postgresql.JSONB(none_as_null=True), nullable=True),
    )


def downgrade() -> None:
    op.drop_column("extractions", "value_evidence")
    # PostgreSQL cannot drop an enum value; rows that hold it read as found (FUZZY).
    with across_tenants(op.execute, "extractions"):
        op.execute(
            "UPDATE extractions SET evidence_match = 'FUZZY' WHERE evidence_match = 'AMBIGUOUS'"
        )
