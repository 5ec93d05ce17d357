"""Quality: blind coding samples and the coders' codes, the model's values kept per prompt
version, prompt refinements and their jobs, and the review guidance a variable's prompt carries

Revision ID: 0015
Revises: 0014
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from server.core.tenancy import across_tenants, isolation_statements

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

METHOD = postgresql.ENUM("RULES", "AGENT", name="refinement_method")
STATUS = postgresql.ENUM(
    "PENDING", "READY", "FAILED", "ACCEPTED", "DISCARDED", name="refinement_status"
)
_TABLES = ("coding_samples", "human_codes", "value_snapshots", "refinements")

# jobs_wanting_workers() (0007) with {only}: the supervisor hands workers the jobs that
# extract from documents. A refinement job has no documents; its own task runs it.
_WANTING_WORKERS = """
CREATE OR REPLACE FUNCTION jobs_wanting_workers(max_jobs integer, max_resumes integer)
RETURNS TABLE (user_id uuid, job_id uuid, paused boolean)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public
AS $$
  SELECT j.user_id, j.id, j.status = 'PAUSED'
  FROM public.processing_jobs j
  WHERE ((
      j.status IN ('PENDING', 'RUNNING')
      AND (
        EXISTS (
          SELECT 1 FROM public.job_documents w
          WHERE w.job_id = j.id
            AND (w.status = 'PENDING'
                 OR (w.status = 'RUNNING' AND w.lease_until < now()))
        )
        OR (
          j.status = 'RUNNING'
          AND NOT EXISTS (
            SELECT 1 FROM public.job_documents w
            WHERE w.job_id = j.id AND w.status IN ('PENDING', 'RUNNING')
          )
        )
      )
    )
    OR (
      j.status = 'PAUSED'
      AND j.stop_reason = 'CIRCUIT_OPEN'
      AND j.automatic_resumes < max_resumes
    )){only}
  ORDER BY j.created_at
  LIMIT max_jobs
$$
"""


def _timestamps() -> list[sa.Column[object]]:
    return [
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
    ]


def _same_tenant(
    table: str, column: str, parent: str, ondelete: str = "CASCADE"
) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column, "user_id"],
        [f"{parent}.id", f"{parent}.user_id"],
        name=op.f(f"fk_{table}_{column}_{parent}"),
        ondelete=ondelete,
    )


def upgrade() -> None:
    # Not used in this transaction, so PostgreSQL allows adding them inside one.
    op.execute("ALTER TYPE job_type ADD VALUE IF NOT EXISTS 'REFINEMENT'")
    op.execute("ALTER TYPE job_stop_reason ADD VALUE IF NOT EXISTS 'MODEL_ANSWER'")
    # Named by the values that exist before this commit; a new one cannot be used yet.
    op.execute(_WANTING_WORKERS.format(only="\n    AND j.job_type IN ('SAMPLE', 'FULL')"))
    op.add_column(
        "variables",
        sa.Column(
            "guidance",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
    )
    METHOD.create(op.get_bind())
    STATUS.create(op.get_bind())
    op.create_table(
        "coding_samples",
        sa.Column("project_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("seed", sa.BigInteger(), nullable=False),
        sa.Column("document_ids", postgresql.ARRAY(sa.Uuid()), nullable=False),
        sa.Column("population", sa.Integer(), nullable=False),
        *_timestamps(),
        _same_tenant("coding_samples", "project_id", "projects"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_coding_samples")),
        sa.UniqueConstraint("id", "user_id", name=op.f("uq_coding_samples_id_user_id")),
        sa.UniqueConstraint("project_id", "name", name=op.f("uq_coding_samples_project_id_name")),
    )
    op.create_table(
        "human_codes",
        sa.Column("project_id", sa.Uuid(), nullable=False),
        sa.Column("variable_id", sa.Uuid(), nullable=False),
        sa.Column("document_id", sa.Uuid(), nullable=False),
        sa.Column("sample_id", sa.Uuid(), nullable=True),
        sa.Column("coder", sa.String(length=100), nullable=False),
        sa.Column("entity_key", sa.String(length=500), nullable=False),
        sa.Column("entity_name", sa.String(length=500), nullable=False),
        sa.Column("value", postgresql.JSONB(none_as_null=True), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        *_timestamps(),
        _same_tenant("human_codes", "project_id", "projects"),
        _same_tenant("human_codes", "variable_id", "variables"),
        _same_tenant("human_codes", "document_id", "documents"),
        _same_tenant("human_codes", "sample_id", "coding_samples", "SET NULL (sample_id)"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_human_codes")),
        sa.UniqueConstraint(
            "variable_id",
            "document_id",
            "entity_key",
            "coder",
            name=op.f("uq_human_codes_variable_id_document_id_entity_key_coder"),
        ),
    )
    op.create_index("ix_human_codes_project_id_coder", "human_codes", ["project_id", "coder"])
    op.create_table(
        "value_snapshots",
        sa.Column("project_id", sa.Uuid(), nullable=False),
        sa.Column("variable_id", sa.Uuid(), nullable=False),
        sa.Column("document_id", sa.Uuid(), nullable=False),
        sa.Column("entity_key", sa.String(length=500), nullable=False),
        sa.Column("prompt_version", sa.Integer(), nullable=False),
        sa.Column("value", postgresql.JSONB(none_as_null=True), nullable=True),
        sa.Column("confidence", sa.Float(), nullable=True),
        sa.Column("llm_model", sa.String(length=200), nullable=True),
        sa.Column("cost_usd", sa.Numeric(precision=14, scale=6), nullable=False),
        *_timestamps(),
        _same_tenant("value_snapshots", "project_id", "projects"),
        _same_tenant("value_snapshots", "variable_id", "variables"),
        _same_tenant("value_snapshots", "document_id", "documents"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_value_snapshots")),
        sa.UniqueConstraint(
            "variable_id",
            "document_id",
            "entity_key",
            "prompt_version",
            name=op.f("uq_value_snapshots_variable_id_document_id_entity_key_prompt_version"),
        ),
    )
    op.create_table(
        "refinements",
        sa.Column("project_id", sa.Uuid(), nullable=False),
        sa.Column("variable_id", sa.Uuid(), nullable=False),
        sa.Column(
            "method", postgresql.ENUM(name="refinement_method", create_type=False), nullable=False
        ),
        sa.Column(
            "status", postgresql.ENUM(name="refinement_status", create_type=False), nullable=False
        ),
        sa.Column("reference", sa.String(length=100), nullable=False),
        sa.Column("base_version", sa.Integer(), nullable=False),
        sa.Column("accepted_version", sa.Integer(), nullable=True),
        sa.Column("job_id", sa.Uuid(), nullable=True),
        sa.Column("instructions", sa.Text(), nullable=False),
        sa.Column("guidance", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("rationale", sa.Text(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("training_units", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("held_out_units", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("base_report", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("llm_model", sa.String(length=200), nullable=True),
        sa.Column("input_tokens", sa.Integer(), nullable=False),
        sa.Column("output_tokens", sa.Integer(), nullable=False),
        sa.Column("cost_usd", sa.Numeric(precision=14, scale=6), nullable=False),
        *_timestamps(),
        _same_tenant("refinements", "project_id", "projects"),
        _same_tenant("refinements", "variable_id", "variables"),
        _same_tenant("refinements", "job_id", "processing_jobs", "SET NULL (job_id)"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_refinements")),
        sa.UniqueConstraint("id", "user_id", name=op.f("uq_refinements_id_user_id")),
    )
    op.create_index(
        "ix_refinements_variable_id_created_at", "refinements", ["variable_id", "created_at"]
    )
    for table in _TABLES:
        op.create_index(op.f(f"ix_{table}_user_id"), table, ["user_id"])
        for statement in isolation_statements(table):
            op.execute(statement)


def downgrade() -> None:
    op.execute(_WANTING_WORKERS.format(only=""))
    # PostgreSQL cannot drop an enum value; refinement jobs go with their rows.
    with across_tenants(op.execute, "processing_jobs"):
        op.execute("DELETE FROM processing_jobs WHERE job_type = 'REFINEMENT'")
        op.execute(
            "UPDATE processing_jobs SET stop_reason = NULL WHERE stop_reason = 'MODEL_ANSWER'"
        )
    for table in reversed(_TABLES):
        op.drop_table(table)
    STATUS.drop(op.get_bind())
    METHOD.drop(op.get_bind())
    op.drop_column("variables", "guidance")
