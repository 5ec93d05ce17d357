"""Initial data model: the ten entities of DESIGN.md plus refresh tokens and document bytes.

Revision ID: 0001
Revises:
Create Date: 2026-11-26 11:00:16.474436
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ENUM_TYPES = (
    "unit_of_observation",
    "project_status",
    "variable_type",
    "if_uncertain",
    "if_multiple_values",
    "document_status",
    "job_type",
    "job_status",
    "extraction_status",
    "evidence_match",
    "feedback_type",
    "log_event_type",
)


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("password_hash", sa.String(), nullable=False),
        sa.Column("display_name", sa.String(length=200), nullable=False),
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
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
    )
    op.create_index(
        "uq_users_email_lower", "users", [sa.literal_column("lower(email)")], unique=True
    )
    op.create_table(
        "projects",
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("domain", sa.String(length=500), nullable=False),
        sa.Column("language", sa.String(length=35), nullable=False),
        sa.Column(
            "unit_of_observation",
            sa.Enum("DOCUMENT", "ENTITY", name="unit_of_observation"),
            nullable=False,
        ),
        sa.Column("entity_identification_pattern", sa.Text(), nullable=False),
        sa.Column(
            "status",
            sa.Enum("DRAFT", "SAMPLING", "PROCESSING", "COMPLETE", name="project_status"),
            nullable=False,
        ),
        sa.Column(
            "llm_config",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
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
        sa.CheckConstraint(
            "unit_of_observation <> 'ENTITY' OR length(entity_identification_pattern) > 0",
            name=op.f("ck_projects_entity_pattern_required"),
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_projects_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_projects")),
        sa.UniqueConstraint("id", "user_id", name=op.f("uq_projects_id_user_id")),
    )
    op.create_index(op.f("ix_projects_user_id"), "projects", ["user_id"], unique=False)
    op.create_index(
        "ix_projects_user_id_created_at",
        "projects",
        ["user_id", sa.literal_column("created_at DESC"), sa.literal_column("id DESC")],
        unique=False,
    )
    op.create_table(
        "refresh_tokens",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("family_id", sa.Uuid(), nullable=False),
        sa.Column("token_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_refresh_tokens_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_refresh_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_refresh_tokens_token_hash")),
    )
    op.create_index(
        op.f("ix_refresh_tokens_family_id"), "refresh_tokens", ["family_id"], unique=False
    )
    op.create_index(op.f("ix_refresh_tokens_user_id"), "refresh_tokens", ["user_id"], unique=False)
    op.create_table(
        "documents",
        sa.Column("project_id", sa.Uuid(), nullable=False),
        sa.Column("filename", sa.String(length=500), nullable=False),
        sa.Column("mime_type", sa.String(length=200), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column(
            "status",
            sa.Enum("UPLOADED", "PARSED", "READY", "FAILED", name="document_status"),
            nullable=False,
        ),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("word_count", sa.Integer(), nullable=False),
        sa.Column("page_count", sa.Integer(), nullable=False),
        sa.Column("chunk_count", sa.Integer(), nullable=False),
        sa.Column(
            "parse_metadata",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
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
        sa.CheckConstraint("size_bytes >= 0", name=op.f("ck_documents_size_non_negative")),
        sa.ForeignKeyConstraint(
            ["project_id", "user_id"],
            ["projects.id", "projects.user_id"],
            name=op.f("fk_documents_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_documents")),
        sa.UniqueConstraint("id", "user_id", name=op.f("uq_documents_id_user_id")),
        sa.UniqueConstraint(
            "project_id", "content_hash", name=op.f("uq_documents_project_id_content_hash")
        ),
    )
    op.create_index(
        "ix_documents_project_id_created_at",
        "documents",
        ["project_id", "created_at"],
        unique=False,
    )
    op.create_index(
        "ix_documents_project_id_status_created_at",
        "documents",
        ["project_id", "status", "created_at"],
        unique=False,
    )
    op.create_index(op.f("ix_documents_user_id"), "documents", ["user_id"], unique=False)
    op.create_table(
        "processing_jobs",
        sa.Column("project_id", sa.Uuid(), nullable=False),
        sa.Column("job_type", sa.Enum("SAMPLE", "FULL", name="job_type"), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "PENDING",
                "RUNNING",
                "PAUSED",
                "COMPLETED",
                "FAILED",
                "CANCELLED",
                name="job_status",
            ),
            nullable=False,
        ),
        sa.Column("document_ids", postgresql.ARRAY(sa.UUID()), nullable=False),
        sa.Column("documents_total", sa.Integer(), nullable=False),
        sa.Column("documents_processed", sa.Integer(), nullable=False),
        sa.Column("documents_failed", sa.Integer(), nullable=False),
        sa.Column("consecutive_failures", sa.Integer(), nullable=False),
        sa.Column("progress", sa.Float(), nullable=False),
        sa.Column("input_tokens", sa.BigInteger(), nullable=False),
        sa.Column("output_tokens", sa.BigInteger(), nullable=False),
        sa.Column("cost_usd", sa.Numeric(precision=14, scale=6), nullable=False),
        sa.Column("token_budget", sa.BigInteger(), nullable=True),
        sa.Column("cost_budget_usd", sa.Numeric(precision=14, scale=6), nullable=True),
        sa.Column("status_reason", sa.Text(), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
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
        sa.CheckConstraint(
            "progress BETWEEN 0 AND 100", name=op.f("ck_processing_jobs_progress_range")
        ),
        sa.ForeignKeyConstraint(
            ["project_id", "user_id"],
            ["projects.id", "projects.user_id"],
            name=op.f("fk_processing_jobs_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_processing_jobs")),
        sa.UniqueConstraint("id", "user_id", name=op.f("uq_processing_jobs_id_user_id")),
    )
    op.create_index(
        "ix_processing_jobs_project_id_created_at",
        "processing_jobs",
        ["project_id", "created_at"],
        unique=False,
    )
    op.create_index("ix_processing_jobs_status", "processing_jobs", ["status"], unique=False)
    op.create_index(
        op.f("ix_processing_jobs_user_id"), "processing_jobs", ["user_id"], unique=False
    )
    op.create_index(
        "uq_processing_jobs_project_id_active",
        "processing_jobs",
        ["project_id"],
        unique=True,
        postgresql_where=sa.text("status IN ('PENDING', 'RUNNING', 'PAUSED')"),
    )
    op.create_table(
        "variables",
        sa.Column("project_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=63), nullable=False),
        sa.Column("display_name", sa.String(length=200), nullable=False),
        sa.Column(
            "type",
            sa.Enum("TEXT", "NUMBER", "DATE", "BOOLEAN", "CATEGORY", name="variable_type"),
            nullable=False,
        ),
        sa.Column("instructions", sa.Text(), nullable=False),
        sa.Column("classification_rules", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("confidence_threshold", sa.Float(), nullable=False),
        sa.Column(
            "if_uncertain",
            sa.Enum(
                "FLAG_FOR_REVIEW", "LEAVE_EMPTY", "USE_DEFAULT", "BEST_GUESS", name="if_uncertain"
            ),
            nullable=False,
        ),
        sa.Column(
            "if_multiple_values",
            sa.Enum("FIRST", "MOST_CONFIDENT", "ALL", "CONCATENATE", name="if_multiple_values"),
            nullable=False,
        ),
        sa.Column("max_values", sa.Integer(), nullable=False),
        sa.Column(
            "default_value",
            postgresql.JSONB(none_as_null=True, astext_type=sa.Text()),
            nullable=True,
        ),
        sa.Column(
            "validation_rules",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column(
            "depends_on",
            postgresql.ARRAY(sa.UUID()),
            server_default=sa.text("'{}'"),
            nullable=False,
        ),
        sa.Column("order", sa.Integer(), nullable=False),
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
        sa.CheckConstraint('"order" >= 0', name=op.f("ck_variables_order_non_negative")),
        sa.CheckConstraint(
            "confidence_threshold BETWEEN 0 AND 1",
            name=op.f("ck_variables_confidence_threshold_range"),
        ),
        sa.CheckConstraint("max_values >= 1", name=op.f("ck_variables_max_values_positive")),
        sa.ForeignKeyConstraint(
            ["project_id", "user_id"],
            ["projects.id", "projects.user_id"],
            name=op.f("fk_variables_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_variables")),
        sa.UniqueConstraint("id", "user_id", name=op.f("uq_variables_id_user_id")),
        sa.UniqueConstraint(
            "project_id",
            "order",
            deferrable=True,
            initially="DEFERRED",
            name="uq_variables_project_id_order",
        ),
    )
    op.create_index(
        "ix_variables_depends_on", "variables", ["depends_on"], unique=False, postgresql_using="gin"
    )
    op.create_index(op.f("ix_variables_user_id"), "variables", ["user_id"], unique=False)
    op.create_index(
        "uq_variables_project_id_name_lower",
        "variables",
        ["project_id", sa.literal_column("lower(name)")],
        unique=True,
    )
    op.create_table(
        "document_blobs",
        sa.Column("document_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["document_id", "user_id"],
            ["documents.id", "documents.user_id"],
            name=op.f("fk_document_blobs_document_id_documents"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("document_id", name=op.f("pk_document_blobs")),
    )
    op.create_index(op.f("ix_document_blobs_user_id"), "document_blobs", ["user_id"], unique=False)
    op.create_table(
        "document_chunks",
        sa.Column("document_id", sa.Uuid(), nullable=False),
        sa.Column("ordinal", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("token_count", sa.Integer(), nullable=False),
        sa.Column("start_offset", sa.Integer(), nullable=False),
        sa.Column("end_offset", sa.Integer(), nullable=False),
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
        sa.CheckConstraint(
            "start_offset >= 0 AND end_offset >= start_offset",
            name=op.f("ck_document_chunks_offsets_valid"),
        ),
        sa.ForeignKeyConstraint(
            ["document_id", "user_id"],
            ["documents.id", "documents.user_id"],
            name=op.f("fk_document_chunks_document_id_documents"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_document_chunks")),
        sa.UniqueConstraint(
            "document_id", "ordinal", name=op.f("uq_document_chunks_document_id_ordinal")
        ),
    )
    op.create_index(
        op.f("ix_document_chunks_user_id"), "document_chunks", ["user_id"], unique=False
    )
    op.create_table(
        "processing_logs",
        sa.Column("project_id", sa.Uuid(), nullable=False),
        sa.Column("job_id", sa.Uuid(), nullable=True),
        sa.Column("document_id", sa.Uuid(), nullable=True),
        sa.Column(
            "event_type",
            sa.Enum(
                "DOCUMENT_UPLOADED",
                "DOCUMENT_PARSED",
                "DOCUMENT_FAILED",
                "JOB_CREATED",
                "JOB_STARTED",
                "JOB_PAUSED",
                "JOB_RESUMED",
                "JOB_CANCELLED",
                "JOB_COMPLETED",
                "JOB_FAILED",
                "DOCUMENT_PROCESSED",
                "DOCUMENT_PROCESSING_FAILED",
                "EXTRACTION_FAILED",
                "LLM_ERROR",
                "CIRCUIT_OPEN",
                "PROMPT_REFINED",
                name="log_event_type",
            ),
            nullable=False,
        ),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column(
            "metadata",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
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
            name=op.f("fk_processing_logs_document_id_documents"),
            ondelete="SET NULL (document_id)",
        ),
        sa.ForeignKeyConstraint(
            ["job_id", "user_id"],
            ["processing_jobs.id", "processing_jobs.user_id"],
            name=op.f("fk_processing_logs_job_id_processing_jobs"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["project_id", "user_id"],
            ["projects.id", "projects.user_id"],
            name=op.f("fk_processing_logs_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_processing_logs")),
    )
    op.create_index(
        "ix_processing_logs_document_id", "processing_logs", ["document_id"], unique=False
    )
    op.create_index(
        "ix_processing_logs_job_id_created_at",
        "processing_logs",
        ["job_id", "created_at"],
        unique=False,
    )
    op.create_index(
        "ix_processing_logs_project_id_created_at",
        "processing_logs",
        ["project_id", "created_at"],
        unique=False,
    )
    op.create_index(
        op.f("ix_processing_logs_user_id"), "processing_logs", ["user_id"], unique=False
    )
    op.create_table(
        "prompts",
        sa.Column("variable_id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("system_prompt", sa.Text(), nullable=False),
        sa.Column("user_prompt_template", sa.Text(), nullable=False),
        sa.Column("response_schema", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("model", sa.String(length=200), nullable=False),
        sa.Column("temperature", sa.Float(), nullable=False),
        sa.Column("max_tokens", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=100), nullable=False),
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
        sa.CheckConstraint(
            "temperature BETWEEN 0 AND 2", name=op.f("ck_prompts_temperature_range")
        ),
        sa.CheckConstraint("version >= 1", name=op.f("ck_prompts_version_positive")),
        sa.ForeignKeyConstraint(
            ["variable_id", "user_id"],
            ["variables.id", "variables.user_id"],
            name=op.f("fk_prompts_variable_id_variables"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_prompts")),
        sa.UniqueConstraint("id", "user_id", name=op.f("uq_prompts_id_user_id")),
        sa.UniqueConstraint("variable_id", "version", name=op.f("uq_prompts_variable_id_version")),
    )
    op.create_index(op.f("ix_prompts_user_id"), "prompts", ["user_id"], unique=False)
    op.create_index(
        "uq_prompts_variable_id_active",
        "prompts",
        ["variable_id"],
        unique=True,
        postgresql_where=sa.text("is_active"),
    )
    op.create_table(
        "extractions",
        sa.Column("project_id", sa.Uuid(), nullable=False),
        sa.Column("document_id", sa.Uuid(), nullable=False),
        sa.Column("variable_id", sa.Uuid(), nullable=False),
        sa.Column("job_id", sa.Uuid(), nullable=True),
        sa.Column("prompt_id", sa.Uuid(), nullable=True),
        sa.Column("entity_key", sa.String(length=500), nullable=False),
        sa.Column(
            "value", postgresql.JSONB(none_as_null=True, astext_type=sa.Text()), nullable=True
        ),
        sa.Column(
            "raw_response",
            postgresql.JSONB(none_as_null=True, astext_type=sa.Text()),
            nullable=True,
        ),
        sa.Column("confidence", sa.Float(), nullable=True),
        sa.Column("source_text", sa.Text(), nullable=True),
        sa.Column("source_start", sa.Integer(), nullable=True),
        sa.Column("source_end", sa.Integer(), nullable=True),
        sa.Column(
            "evidence_match",
            sa.Enum("EXACT", "FUZZY", "NOT_FOUND", "NO_QUOTE", name="evidence_match"),
            nullable=False,
        ),
        sa.Column("prompt_version", sa.Integer(), nullable=True),
        sa.Column(
            "status",
            sa.Enum("SUCCESS", "LOW_CONFIDENCE", "NOT_FOUND", "FAILED", name="extraction_status"),
            nullable=False,
        ),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("input_tokens", sa.Integer(), nullable=False),
        sa.Column("output_tokens", sa.Integer(), nullable=False),
        sa.Column("cost_usd", sa.Numeric(precision=14, scale=6), nullable=False),
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
        sa.CheckConstraint(
            "confidence IS NULL OR confidence BETWEEN 0 AND 1",
            name=op.f("ck_extractions_confidence_range"),
        ),
        sa.ForeignKeyConstraint(
            ["document_id", "user_id"],
            ["documents.id", "documents.user_id"],
            name=op.f("fk_extractions_document_id_documents"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["job_id", "user_id"],
            ["processing_jobs.id", "processing_jobs.user_id"],
            name=op.f("fk_extractions_job_id_processing_jobs"),
            ondelete="SET NULL (job_id)",
        ),
        sa.ForeignKeyConstraint(
            ["project_id", "user_id"],
            ["projects.id", "projects.user_id"],
            name=op.f("fk_extractions_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["prompt_id", "user_id"],
            ["prompts.id", "prompts.user_id"],
            name=op.f("fk_extractions_prompt_id_prompts"),
            ondelete="SET NULL (prompt_id)",
        ),
        sa.ForeignKeyConstraint(
            ["variable_id", "user_id"],
            ["variables.id", "variables.user_id"],
            name=op.f("fk_extractions_variable_id_variables"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_extractions")),
        sa.UniqueConstraint(
            "document_id",
            "entity_key",
            "variable_id",
            name=op.f("uq_extractions_document_id_entity_key_variable_id"),
        ),
        sa.UniqueConstraint("id", "user_id", name=op.f("uq_extractions_id_user_id")),
    )
    op.create_index("ix_extractions_job_id", "extractions", ["job_id"], unique=False)
    op.create_index(
        "ix_extractions_project_id_status", "extractions", ["project_id", "status"], unique=False
    )
    op.create_index("ix_extractions_prompt_id", "extractions", ["prompt_id"], unique=False)
    op.create_index(op.f("ix_extractions_user_id"), "extractions", ["user_id"], unique=False)
    op.create_index("ix_extractions_variable_id", "extractions", ["variable_id"], unique=False)
    op.create_table(
        "extraction_feedback",
        sa.Column("extraction_id", sa.Uuid(), nullable=False),
        sa.Column(
            "feedback_type",
            sa.Enum("CORRECT", "INCORRECT", "PARTIALLY_CORRECT", name="feedback_type"),
            nullable=False,
        ),
        sa.Column(
            "corrected_value",
            postgresql.JSONB(none_as_null=True, astext_type=sa.Text()),
            nullable=True,
        ),
        sa.Column("user_note", sa.Text(), nullable=False),
        sa.Column("prompt_version", sa.Integer(), nullable=True),
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
            ["extraction_id", "user_id"],
            ["extractions.id", "extractions.user_id"],
            name=op.f("fk_extraction_feedback_extraction_id_extractions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_extraction_feedback")),
    )
    op.create_index(
        op.f("ix_extraction_feedback_extraction_id"),
        "extraction_feedback",
        ["extraction_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_extraction_feedback_user_id"), "extraction_feedback", ["user_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_extraction_feedback_user_id"), table_name="extraction_feedback")
    op.drop_index(op.f("ix_extraction_feedback_extraction_id"), table_name="extraction_feedback")
    op.drop_table("extraction_feedback")
    op.drop_index("ix_extractions_variable_id", table_name="extractions")
    op.drop_index(op.f("ix_extractions_user_id"), table_name="extractions")
    op.drop_index("ix_extractions_prompt_id", table_name="extractions")
    op.drop_index("ix_extractions_project_id_status", table_name="extractions")
    op.drop_index("ix_extractions_job_id", table_name="extractions")
    op.drop_table("extractions")
    op.drop_index(
        "uq_prompts_variable_id_active", table_name="prompts", postgresql_where=sa.text("is_active")
    )
    op.drop_index(op.f("ix_prompts_user_id"), table_name="prompts")
    op.drop_table("prompts")
    op.drop_index(op.f("ix_processing_logs_user_id"), table_name="processing_logs")
    op.drop_index("ix_processing_logs_project_id_created_at", table_name="processing_logs")
    op.drop_index("ix_processing_logs_job_id_created_at", table_name="processing_logs")
    op.drop_index("ix_processing_logs_document_id", table_name="processing_logs")
    op.drop_table("processing_logs")
    op.drop_index(op.f("ix_document_chunks_user_id"), table_name="document_chunks")
    op.drop_table("document_chunks")
    op.drop_index(op.f("ix_document_blobs_user_id"), table_name="document_blobs")
    op.drop_table("document_blobs")
    op.drop_index("uq_variables_project_id_name_lower", table_name="variables")
    op.drop_index(op.f("ix_variables_user_id"), table_name="variables")
    op.drop_index("ix_variables_depends_on", table_name="variables", postgresql_using="gin")
    op.drop_table("variables")
    op.drop_index(
        "uq_processing_jobs_project_id_active",
        table_name="processing_jobs",
        postgresql_where=sa.text("status IN ('PENDING', 'RUNNING', 'PAUSED')"),
    )
    op.drop_index(op.f("ix_processing_jobs_user_id"), table_name="processing_jobs")
    op.drop_index("ix_processing_jobs_status", table_name="processing_jobs")
    op.drop_index("ix_processing_jobs_project_id_created_at", table_name="processing_jobs")
    op.drop_table("processing_jobs")
    op.drop_index(op.f("ix_documents_user_id"), table_name="documents")
    op.drop_index("ix_documents_project_id_status_created_at", table_name="documents")
    op.drop_index("ix_documents_project_id_created_at", table_name="documents")
    op.drop_table("documents")
    op.drop_index(op.f("ix_refresh_tokens_user_id"), table_name="refresh_tokens")
    op.drop_index(op.f("ix_refresh_tokens_family_id"), table_name="refresh_tokens")
    op.drop_table("refresh_tokens")
    op.drop_index("ix_projects_user_id_created_at", table_name="projects")
    op.drop_index(op.f("ix_projects_user_id"), table_name="projects")
    op.drop_table("projects")
    op.drop_index("uq_users_email_lower", table_name="users")
    op.drop_table("users")
    for enum_type in ENUM_TYPES:
        op.execute(f"DROP TYPE IF EXISTS {enum_type}")
