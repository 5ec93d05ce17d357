"""Document text hashes on documents and extractions; why a job stopped; document outcomes;
the work list ordered for claiming the next document; jobs that want a worker

- documents.text_hash and extractions.text_hash: a value is current only while its document
  still has the text it was read from. Existing extractions written after their document's
  last change take the document's hash; older ones are read again by the next job.
- processing_jobs.stop_reason (from the reason text of existing jobs), automatic_resumes and
  retry_failed.
- document_outcomes: a document whose last extraction left no values (it failed, or had no
  entities), so that the next job and the dataset see it. Backfilled with the documents whose
  newest job failed them and that have no values.
- job_documents indexed by (job_id, status, position): workers claim the next document in
  order without sorting the work list.
- jobs_wanting_workers(): every tenant's runnable jobs with documents to claim or left
  uncompleted, and the jobs paused by the circuit breaker, for the workers' supervisor (ids
  only).

Revision ID: 0007
Revises: 0006
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from server.core.tenancy import across_tenants, isolation_statements

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STOP_REASON = postgresql.ENUM(
    "PAUSED_BY_RESEARCHER",
    "CANCELLED_BY_RESEARCHER",
    "TOKEN_BUDGET",
    "COST_BUDGET",
    "CONSECUTIVE_FAILURES",
    "CIRCUIT_OPEN",
    "MODEL_CONFIGURATION",
    "EVERY_DOCUMENT_FAILED",
    name="job_stop_reason",
)
OUTCOME = postgresql.ENUM("NO_ENTITIES", "FAILED", name="document_outcome")


# What jobs_wanting_workers() may read as the owner: (policy, table, rows).
SUPERVISION_POLICIES = (
    (
        "owner_job_supervision",
        "processing_jobs",
        "status IN (''PENDING'', ''RUNNING'', ''PAUSED'')",
    ),
    ("owner_work_supervision", "job_documents", "status IN (''PENDING'', ''RUNNING'')"),
)
# Tables the backfills read or write across tenants (see across_tenants).
BACKFILLED = ("documents", "extractions", "processing_jobs", "job_documents", "document_outcomes")


def upgrade() -> None:
    op.add_column("documents", sa.Column("text_hash", sa.String(length=64), nullable=True))
    op.add_column("extractions", sa.Column("text_hash", sa.String(length=64), nullable=True))
    STOP_REASON.create(op.get_bind())
    op.add_column(
        "processing_jobs",
        sa.Column(
            "stop_reason",
            postgresql.ENUM(name="job_stop_reason", create_type=False),
            nullable=True,
        ),
    )
    op.add_column(
        "processing_jobs",
        sa.Column("automatic_resumes", sa.Integer(), nullable=False, server_default="0"),
    )
    op.add_column(
        "processing_jobs",
        sa.Column("retry_failed", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.alter_column("processing_jobs", "automatic_resumes", server_default=None)
    op.alter_column("processing_jobs", "retry_failed", server_default=None)

    OUTCOME.create(op.get_bind())
    op.create_table(
        "document_outcomes",
        sa.Column("document_id", sa.Uuid(), nullable=False),
        sa.Column("project_id", sa.Uuid(), nullable=False),
        sa.Column("job_id", sa.Uuid(), nullable=True),
        sa.Column(
            "outcome",
            postgresql.ENUM(name="document_outcome", create_type=False),
            nullable=False,
        ),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("text_hash", sa.String(length=64), nullable=True),
        sa.Column("entity_prompt_hash", sa.String(length=64), nullable=True),
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
            ["document_id", "user_id"],
            ["documents.id", "documents.user_id"],
            name=op.f("fk_document_outcomes_document_id_documents"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["project_id", "user_id"],
            ["projects.id", "projects.user_id"],
            name=op.f("fk_document_outcomes_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["job_id", "user_id"],
            ["processing_jobs.id", "processing_jobs.user_id"],
            name=op.f("fk_document_outcomes_job_id_processing_jobs"),
            ondelete="SET NULL (job_id)",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_document_outcomes")),
        sa.UniqueConstraint("document_id", name=op.f("uq_document_outcomes_document_id")),
    )
    op.create_index(
        "ix_document_outcomes_project_id", "document_outcomes", ["project_id"], unique=False
    )
    op.create_index(
        op.f("ix_document_outcomes_user_id"), "document_outcomes", ["user_id"], unique=False
    )
    for statement in isolation_statements("document_outcomes"):
        op.execute(statement)

    with across_tenants(op.execute, *BACKFILLED):
        op.execute(
            "UPDATE documents SET text_hash = encode(sha256(convert_to(text, 'UTF8')), 'hex') "
            "WHERE text IS NOT NULL"
        )
        op.execute(
            "UPDATE extractions e SET text_hash = d.text_hash FROM documents d "
            "WHERE d.id = e.document_id AND e.updated_at >= d.updated_at"
        )
        op.execute(
            """
            UPDATE processing_jobs SET stop_reason = CASE
              WHEN status = 'CANCELLED' THEN 'CANCELLED_BY_RESEARCHER'
              WHEN status_reason LIKE '%circuit breaker%' THEN 'CIRCUIT_OPEN'
              WHEN status_reason LIKE 'token budget%' THEN 'TOKEN_BUDGET'
              WHEN status_reason LIKE 'cost budget%' THEN 'COST_BUDGET'
              WHEN status_reason LIKE '%in a row%' THEN 'CONSECUTIVE_FAILURES'
              WHEN status_reason = 'every document failed' THEN 'EVERY_DOCUMENT_FAILED'
              WHEN status = 'FAILED' THEN 'MODEL_CONFIGURATION'
              ELSE 'PAUSED_BY_RESEARCHER'
            END::job_stop_reason
            WHERE status IN ('PAUSED', 'FAILED', 'CANCELLED')
            """
        )
        op.execute(
            """
            INSERT INTO document_outcomes
              (id, user_id, document_id, project_id, job_id, outcome, error, text_hash)
            SELECT gen_random_uuid(), d.user_id, d.id, d.project_id, last.job_id, 'FAILED',
                   last.error, d.text_hash
            FROM documents d
            JOIN LATERAL (
              SELECT w.job_id, w.status, w.error FROM job_documents w
              JOIN processing_jobs j ON j.id = w.job_id
              WHERE w.document_id = d.id ORDER BY j.created_at DESC LIMIT 1
            ) last ON true
            WHERE last.status = 'FAILED'
              AND NOT EXISTS (SELECT 1 FROM extractions e WHERE e.document_id = d.id)
            """
        )

    op.drop_index("ix_job_documents_job_id_status", table_name="job_documents")
    op.create_index(
        "ix_job_documents_job_id_status_position",
        "job_documents",
        ["job_id", "status", "position"],
        unique=False,
    )

    op.execute(
        """
        CREATE FUNCTION jobs_wanting_workers(max_jobs integer, max_resumes integer)
        RETURNS TABLE (user_id uuid, job_id uuid, paused boolean)
        LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public
        AS $$
          SELECT j.user_id, j.id, j.status = 'PAUSED'
          FROM public.processing_jobs j
          WHERE (
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
            )
          ORDER BY j.created_at
          LIMIT max_jobs
        $$
        """
    )
    op.execute("REVOKE ALL ON FUNCTION jobs_wanting_workers(integer, integer) FROM PUBLIC")
    # The definer function runs as the owner, whom FORCE ROW LEVEL SECURITY also binds: it
    # may read active jobs and unfinished work, of every tenant, and nothing else.
    for name, table, rows in SUPERVISION_POLICIES:
        op.execute(
            f"""
            DO $$ BEGIN
              EXECUTE format(
                'CREATE POLICY {name} ON {table} FOR SELECT TO %I USING ({rows})',
                current_user);
            END $$
            """
        )


def downgrade() -> None:
    for name, table, _ in SUPERVISION_POLICIES:
        op.execute(f"DROP POLICY IF EXISTS {name} ON {table}")
    op.execute("DROP FUNCTION IF EXISTS jobs_wanting_workers(integer, integer)")
    op.drop_index("ix_job_documents_job_id_status_position", table_name="job_documents")
    op.create_index(
        "ix_job_documents_job_id_status", "job_documents", ["job_id", "status"], unique=False
    )
    op.drop_table("document_outcomes")
    OUTCOME.drop(op.get_bind())
    op.drop_column("processing_jobs", "retry_failed")
    op.drop_column("processing_jobs", "automatic_resumes")
    op.drop_column("processing_jobs", "stop_reason")
    STOP_REASON.drop(op.get_bind())
    op.drop_column("extractions", "text_hash")
    op.drop_column("documents", "text_hash")
