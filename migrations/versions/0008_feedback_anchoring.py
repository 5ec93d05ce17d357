"""Feedback anchored to the judged value

extraction_feedback keeps what was judged — project, document, variable, job, prompt, entity,
the value, its status and quoted passage — so that a job re-doing the extraction changes
neither what a verdict is about nor whether it exists: the link to the extraction is cleared
(ON DELETE SET NULL) instead of cascading. One verdict per researcher on an extraction holding
a given value from a given prompt version (a unique index; a second verdict replaces the first).

Backfill: existing feedback takes what it judged from its extraction. The judged value had not
been kept, so where the extraction has been re-done with another prompt version since, the
value, status and passage are unknown (NULL) and the prompt is looked up by its version.
Where one researcher gave several verdicts on the same value, the newest keeps the link to
the extraction and the earlier ones are kept detached (extraction_id NULL), not deleted.

Revision ID: 0008
Revises: 0007
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from server.core.tenancy import across_tenants

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "extraction_feedback"
EXTRACTION_FK = "fk_extraction_feedback_extraction_id_extractions"
# Tables the backfill reads or writes across tenants (see across_tenants).
BACKFILLED = ("extraction_feedback", "extractions", "prompts")
JUDGMENT = "md5(coalesce(judged_value, 'null'::jsonb)::text)"
# What was judged, with what deleting it does to the verdict: deleting the project, document
# or variable on purpose deletes the verdicts on it; jobs and prompts only fall away.
REFERENCES = {
    "project_id": ("projects", "CASCADE"),
    "document_id": ("documents", "CASCADE"),
    "variable_id": ("variables", "CASCADE"),
    "job_id": ("processing_jobs", "SET NULL (job_id)"),
    "prompt_id": ("prompts", "SET NULL (prompt_id)"),
}
INDEXES = {
    "ix_extraction_feedback_project_id_created_at": ["project_id", "created_at"],
    "ix_extraction_feedback_document_id": ["document_id"],
    "ix_extraction_feedback_variable_id": ["variable_id"],
    "ix_extraction_feedback_job_id": ["job_id"],
    "ix_extraction_feedback_prompt_id": ["prompt_id"],
}


def upgrade() -> None:
    for column in REFERENCES:
        op.add_column(TABLE, sa.Column(column, sa.Uuid(), nullable=True))
    for column in ("entity_key", "entity_name"):
        op.add_column(
            TABLE,
            sa.Column(column, sa.String(length=500), nullable=False, server_default=""),
        )
        op.alter_column(TABLE, column, server_default=None)
    op.add_column(
        TABLE,
        sa.Column(
            "judged_value",
            postgresql.JSONB(none_as_null=True, astext_type=sa.Text()),
            nullable=True,
        ),
    )
    op.add_column(
        TABLE,
        sa.Column(
            "judged_status",
            postgresql.ENUM(name="extraction_status", create_type=False),
            nullable=True,
        ),
    )
    op.add_column(TABLE, sa.Column("judged_source_text", sa.Text(), nullable=True))
    op.drop_constraint(EXTRACTION_FK, TABLE, type_="foreignkey")
    op.alter_column(TABLE, "extraction_id", nullable=True)

    with across_tenants(op.execute, *BACKFILLED):
        # What the extraction holds is what was judged while it is of the judged prompt version.
        same = "e.prompt_version IS NOT DISTINCT FROM f.prompt_version"
        op.execute(
            f"""
            UPDATE extraction_feedback f SET
              project_id = e.project_id,
              document_id = e.document_id,
              variable_id = e.variable_id,
              entity_key = e.entity_key,
              entity_name = e.entity_name,
              job_id = CASE WHEN {same} THEN e.job_id END,
              prompt_id = CASE WHEN {same} THEN e.prompt_id END,
              judged_value = CASE WHEN {same} THEN e.value END,
              judged_status = CASE WHEN {same} THEN e.status END,
              judged_source_text = CASE WHEN {same} THEN e.source_text END
            FROM extractions e
            WHERE e.id = f.extraction_id
            """
        )
        op.execute(
            """
            UPDATE extraction_feedback f SET prompt_id = p.id
            FROM prompts p
            WHERE f.prompt_id IS NULL AND p.variable_id = f.variable_id
              AND p.version = f.prompt_version
            """
        )
        op.execute(
            f"""
            UPDATE extraction_feedback f SET extraction_id = NULL
            FROM (
              SELECT id, row_number() OVER (
                       PARTITION BY user_id, extraction_id, coalesce(prompt_version, 0), {JUDGMENT}
                       ORDER BY created_at DESC, id DESC) AS newest
              FROM extraction_feedback
            ) earlier
            WHERE earlier.id = f.id AND earlier.newest > 1
            """
        )

    for column in ("project_id", "document_id", "variable_id"):
        op.alter_column(TABLE, column, nullable=False)
    _same_tenant_fk("extraction_id", "extractions", "SET NULL (extraction_id)")
    for column, (parent, ondelete) in REFERENCES.items():
        _same_tenant_fk(column, parent, ondelete)
    op.create_index(
        "uq_extraction_feedback_judgment",
        TABLE,
        [
            "user_id",
            "extraction_id",
            sa.text("coalesce(prompt_version, 0)"),
            sa.text(JUDGMENT),
        ],
        unique=True,
    )
    for name, columns in INDEXES.items():
        op.create_index(name, TABLE, columns)


def downgrade() -> None:
    for name in INDEXES:
        op.drop_index(name, table_name=TABLE)
    op.drop_index("uq_extraction_feedback_judgment", table_name=TABLE)
    for column, (parent, _) in REFERENCES.items():
        op.drop_constraint(f"fk_{TABLE}_{column}_{parent}", TABLE, type_="foreignkey")
    op.drop_constraint(EXTRACTION_FK, TABLE, type_="foreignkey")
    # The earlier schema cannot hold a verdict without its extraction.
    with across_tenants(op.execute, TABLE):
        op.execute(f"DELETE FROM {TABLE} WHERE extraction_id IS NULL")
    op.alter_column(TABLE, "extraction_id", nullable=False)
    _same_tenant_fk("extraction_id", "extractions", "CASCADE")
    for column in (
        "judged_source_text",
        "judged_status",
        "judged_value",
        "entity_name",
        "entity_key",
        *REFERENCES,
    ):
        op.drop_column(TABLE, column)


def _same_tenant_fk(column: str, parent: str, ondelete: str) -> None:
    op.create_foreign_key(
        f"fk_{TABLE}_{column}_{parent}",
        TABLE,
        parent,
        [column, "user_id"],
        ["id", "user_id"],
        ondelete=ondelete,
    )
