"""Quotas per user: an index that counts a user's documents and sums their bytes alone

Revision ID: 0013
Revises: 0012
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Every stored document checks QUOTA_MAX_DOCUMENTS and QUOTA_MAX_STORAGE_BYTES against
    # count(*) and sum(size_bytes) of the user's documents: an index-only scan with it.
    op.create_index(
        "ix_documents_user_id_size_bytes",
        "documents",
        ["user_id"],
        postgresql_include=["size_bytes"],
    )


def downgrade() -> None:
    op.drop_index("ix_documents_user_id_size_bytes", table_name="documents")
