"""Processing jobs, extractions, feedback and the processing log."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKeyConstraint,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlalchemy.orm import Mapped, deferred, mapped_column

from server.core.db import Base, TenantOwnedMixin, pg_enum
from server.core.tenancy import same_tenant_fk


class JobType(enum.Enum):
    SAMPLE = "SAMPLE"
    FULL = "FULL"


class JobStatus(enum.Enum):
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    PAUSED = "PAUSED"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"


ACTIVE_JOB_STATUSES = (JobStatus.PENDING, JobStatus.RUNNING, JobStatus.PAUSED)


class JobDocumentStatus(enum.Enum):
    PENDING = "PENDING"
    # Claimed by a worker until lease_until; an expired lease (a dead worker) is claimable.
    RUNNING = "RUNNING"
    DONE = "DONE"
    # Already extracted with the current prompt versions: nothing was called.
    SKIPPED = "SKIPPED"
    FAILED = "FAILED"


class ExtractionStatus(enum.Enum):
    SUCCESS = "SUCCESS"
    LOW_CONFIDENCE = "LOW_CONFIDENCE"
    NOT_FOUND = "NOT_FOUND"
    FAILED = "FAILED"


class EvidenceMatch(enum.Enum):
    """Where the model's quoted source_text was found in the document."""

    EXACT = "EXACT"
    FUZZY = "FUZZY"
    NOT_FOUND = "NOT_FOUND"
    NO_QUOTE = "NO_QUOTE"


class FeedbackType(enum.Enum):
    CORRECT = "CORRECT"
    INCORRECT = "INCORRECT"
    PARTIALLY_CORRECT = "PARTIALLY_CORRECT"


class LogEventType(enum.Enum):
    DOCUMENT_UPLOADED = "DOCUMENT_UPLOADED"
    DOCUMENT_PARSED = "DOCUMENT_PARSED"
    DOCUMENT_FAILED = "DOCUMENT_FAILED"
    JOB_CREATED = "JOB_CREATED"
    JOB_STARTED = "JOB_STARTED"
    JOB_PAUSED = "JOB_PAUSED"
    JOB_RESUMED = "JOB_RESUMED"
    JOB_CANCELLED = "JOB_CANCELLED"
    JOB_COMPLETED = "JOB_COMPLETED"
    JOB_FAILED = "JOB_FAILED"
    DOCUMENT_PROCESSED = "DOCUMENT_PROCESSED"
    DOCUMENT_PROCESSING_FAILED = "DOCUMENT_PROCESSING_FAILED"
    EXTRACTION_FAILED = "EXTRACTION_FAILED"
    LLM_ERROR = "LLM_ERROR"
    CIRCUIT_OPEN = "CIRCUIT_OPEN"
    PROMPT_REFINED = "PROMPT_REFINED"


class ProcessingJob(TenantOwnedMixin, Base):
    __tablename__ = "processing_jobs"
    __table_args__ = (
        same_tenant_fk("project_id", "projects"),
        UniqueConstraint("id", "user_id"),
        # One active job per project, enforced by the database.
        Index(
            "uq_processing_jobs_project_id_active",
            "project_id",
            unique=True,
            postgresql_where=text("status IN ('PENDING', 'RUNNING', 'PAUSED')"),
        ),
        Index("ix_processing_jobs_project_id_created_at", "project_id", "created_at"),
        Index("ix_processing_jobs_status", "status"),
        CheckConstraint("progress BETWEEN 0 AND 100", name="progress_range"),
    )

    project_id: Mapped[uuid.UUID] = mapped_column(nullable=False)
    job_type: Mapped[JobType] = mapped_column(pg_enum(JobType, "job_type"), nullable=False)
    status: Mapped[JobStatus] = mapped_column(
        pg_enum(JobStatus, "job_status"), nullable=False, default=JobStatus.PENDING
    )
    # Loaded only where it is shown (the API's job): a worker never needs it, and for a large
    # job it is the biggest thing in the row (job_documents lists the work).
    document_ids: Mapped[list[uuid.UUID]] = deferred(
        mapped_column(ARRAY(UUID(as_uuid=True)), nullable=False, default=list), raiseload=True
    )
    documents_total: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    documents_processed: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    documents_failed: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    consecutive_failures: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    progress: Mapped[float] = mapped_column(Float, nullable=False, default=0.0)
    input_tokens: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    output_tokens: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    cost_usd: Mapped[Decimal] = mapped_column(Numeric(14, 6), nullable=False, default=Decimal(0))
    token_budget: Mapped[int | None] = mapped_column(BigInteger)
    cost_budget_usd: Mapped[Decimal | None] = mapped_column(Numeric(14, 6))
    status_reason: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class JobDocument(Base):
    """One document of a job and how far it got: the job's work list, which workers claim
    from with FOR UPDATE SKIP LOCKED so that no document is processed twice at once."""

    __tablename__ = "job_documents"
    __table_args__ = (
        ForeignKeyConstraint(
            ["job_id", "user_id"],
            ["processing_jobs.id", "processing_jobs.user_id"],
            ondelete="CASCADE",
        ),
        same_tenant_fk("document_id", "documents"),
        Index("ix_job_documents_job_id_status", "job_id", "status"),
    )

    job_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    document_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(nullable=False, index=True)
    # The order documents are worked through.
    position: Mapped[int] = mapped_column(Integer, nullable=False)
    status: Mapped[JobDocumentStatus] = mapped_column(
        pg_enum(JobDocumentStatus, "job_document_status"),
        nullable=False,
        default=JobDocumentStatus.PENDING,
    )
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    lease_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Tokens set aside for the document while it is worked on, so that documents in flight at
    # once cannot together spend past the job's budget.
    reserved_tokens: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    error: Mapped[str | None] = mapped_column(Text)


class Extraction(TenantOwnedMixin, Base):
    """One value for one unit (document, or entity in it) and one variable."""

    __tablename__ = "extractions"
    __table_args__ = (
        same_tenant_fk("project_id", "projects"),
        same_tenant_fk("document_id", "documents"),
        same_tenant_fk("variable_id", "variables"),
        same_tenant_fk("job_id", "processing_jobs", ondelete="SET NULL"),
        same_tenant_fk("prompt_id", "prompts", ondelete="SET NULL"),
        UniqueConstraint("id", "user_id"),
        # Re-processing overwrites: one row per (document, entity, variable).
        UniqueConstraint("document_id", "entity_key", "variable_id"),
        Index("ix_extractions_project_id_status", "project_id", "status"),
        Index("ix_extractions_variable_id", "variable_id"),
        Index("ix_extractions_job_id", "job_id"),
        Index("ix_extractions_prompt_id", "prompt_id"),
        CheckConstraint(
            "confidence IS NULL OR confidence BETWEEN 0 AND 1", name="confidence_range"
        ),
    )

    project_id: Mapped[uuid.UUID] = mapped_column(nullable=False)
    document_id: Mapped[uuid.UUID] = mapped_column(nullable=False)
    variable_id: Mapped[uuid.UUID] = mapped_column(nullable=False)
    job_id: Mapped[uuid.UUID | None] = mapped_column()
    prompt_id: Mapped[uuid.UUID | None] = mapped_column()
    # '' for document-level projects; the entity's normalised key otherwise.
    entity_key: Mapped[str] = mapped_column(String(500), nullable=False, default="")
    # The entity as the document names it.
    entity_name: Mapped[str] = mapped_column(String(500), nullable=False, default="")
    value: Mapped[Any] = mapped_column(JSONB(none_as_null=True), nullable=True)
    raw_response: Mapped[Any] = mapped_column(JSONB(none_as_null=True), nullable=True)
    confidence: Mapped[float | None] = mapped_column(Float)
    source_text: Mapped[str | None] = mapped_column(Text)
    source_start: Mapped[int | None] = mapped_column(Integer)
    source_end: Mapped[int | None] = mapped_column(Integer)
    evidence_match: Mapped[EvidenceMatch] = mapped_column(
        pg_enum(EvidenceMatch, "evidence_match"), nullable=False, default=EvidenceMatch.NO_QUOTE
    )
    prompt_version: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[ExtractionStatus] = mapped_column(
        pg_enum(ExtractionStatus, "extraction_status"), nullable=False
    )
    error: Mapped[str | None] = mapped_column(Text)
    input_tokens: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    output_tokens: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    cost_usd: Mapped[Decimal] = mapped_column(Numeric(14, 6), nullable=False, default=Decimal(0))


class ExtractionFeedback(TenantOwnedMixin, Base):
    __tablename__ = "extraction_feedback"
    __table_args__ = (same_tenant_fk("extraction_id", "extractions"),)

    extraction_id: Mapped[uuid.UUID] = mapped_column(nullable=False, index=True)
    feedback_type: Mapped[FeedbackType] = mapped_column(
        pg_enum(FeedbackType, "feedback_type"), nullable=False
    )
    corrected_value: Mapped[Any] = mapped_column(JSONB(none_as_null=True), nullable=True)
    user_note: Mapped[str] = mapped_column(Text, nullable=False, default="")
    # The prompt version the judged value came from, kept when the extraction is re-run.
    prompt_version: Mapped[int | None] = mapped_column(Integer)


class ProcessingLog(TenantOwnedMixin, Base):
    __tablename__ = "processing_logs"
    __table_args__ = (
        same_tenant_fk("project_id", "projects"),
        same_tenant_fk("job_id", "processing_jobs"),
        same_tenant_fk("document_id", "documents", ondelete="SET NULL"),
        Index("ix_processing_logs_project_id_created_at", "project_id", "created_at"),
        Index("ix_processing_logs_job_id_created_at", "job_id", "created_at"),
        Index("ix_processing_logs_document_id", "document_id"),
    )

    project_id: Mapped[uuid.UUID] = mapped_column(nullable=False)
    job_id: Mapped[uuid.UUID | None] = mapped_column()
    document_id: Mapped[uuid.UUID | None] = mapped_column()
    event_type: Mapped[LogEventType] = mapped_column(
        pg_enum(LogEventType, "log_event_type"), nullable=False
    )
    message: Mapped[str] = mapped_column(Text, nullable=False)
    details: Mapped[dict[str, Any]] = mapped_column(
        "metadata", JSONB, nullable=False, default=dict, server_default=text("'{}'::jsonb")
    )
