"""Processing jobs, their work lists, extractions and feedback."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
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
    false,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlalchemy.orm import Mapped, deferred, mapped_column

from server.core.db import Base, TenantOwnedMixin, pg_enum
from server.core.tenancy import same_tenant_fk
from server.projects.models import ExtractionMode


class JobType(enum.Enum):
    SAMPLE = "SAMPLE"
    FULL = "FULL"
    # The model proposes a variable's instructions (server.quality.agent): no documents.
    REFINEMENT = "REFINEMENT"


# Jobs that extract values from documents.
EXTRACTION_JOB_TYPES = (JobType.SAMPLE, JobType.FULL)


class JobStatus(enum.Enum):
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    PAUSED = "PAUSED"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"


ACTIVE_JOB_STATUSES = (JobStatus.PENDING, JobStatus.RUNNING, JobStatus.PAUSED)
ENDED_JOB_STATUSES = (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED)


class StopReason(enum.Enum):
    """Why a job is paused, failed or cancelled (status_reason says it in words)."""

    PAUSED_BY_RESEARCHER = "PAUSED_BY_RESEARCHER"
    CANCELLED_BY_RESEARCHER = "CANCELLED_BY_RESEARCHER"
    TOKEN_BUDGET = "TOKEN_BUDGET"
    COST_BUDGET = "COST_BUDGET"
    CONSECUTIVE_FAILURES = "CONSECUTIVE_FAILURES"
    # The model provider failed repeatedly: paused, and resumed on its own once the breaker
    # closes (a bounded number of times).
    CIRCUIT_OPEN = "CIRCUIT_OPEN"
    # The model cannot be called as configured (a bad key, an unknown model).
    MODEL_CONFIGURATION = "MODEL_CONFIGURATION"
    EVERY_DOCUMENT_FAILED = "EVERY_DOCUMENT_FAILED"
    # A refinement's model call failed, or its answer could not be used.
    MODEL_ANSWER = "MODEL_ANSWER"


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
    # Found, verbatim or normalised, at several places of its chunk (or of the document).
    AMBIGUOUS = "AMBIGUOUS"


class FeedbackType(enum.Enum):
    CORRECT = "CORRECT"
    INCORRECT = "INCORRECT"
    PARTIALLY_CORRECT = "PARTIALLY_CORRECT"


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
    # Of the input tokens, those the provider served from its prompt cache.
    cached_input_tokens: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    output_tokens: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    cost_usd: Mapped[Decimal] = mapped_column(Numeric(14, 6), nullable=False, default=Decimal(0))
    token_budget: Mapped[int | None] = mapped_column(BigInteger)
    cost_budget_usd: Mapped[Decimal | None] = mapped_column(Numeric(14, 6))
    status_reason: Mapped[str | None] = mapped_column(Text)
    # The project's model when the job was created ("offline"/"baseline": the rule-based
    # baseline, not a language model); each extraction names the model that answered it.
    llm_provider: Mapped[str | None] = mapped_column(String(100))
    llm_model: Mapped[str | None] = mapped_column(String(200))
    # The project's extraction mode when the job was created: the one its documents are
    # extracted in.
    extraction_mode: Mapped[ExtractionMode] = mapped_column(
        pg_enum(ExtractionMode, "extraction_mode"),
        nullable=False,
        default=ExtractionMode.PER_VARIABLE,
        server_default=ExtractionMode.PER_VARIABLE.value,
    )
    stop_reason: Mapped[StopReason | None] = mapped_column(pg_enum(StopReason, "job_stop_reason"))
    # Resumes after the circuit breaker closed since a person last resumed the job.
    automatic_resumes: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    # Documents whose extraction failed in an earlier job are tried again (else skipped).
    retry_failed: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
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
        # Workers claim the next document of a job in order (see worklist.next_claimable).
        Index("ix_job_documents_job_id_status_position", "job_id", "status", "position"),
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
    # The first value's quote and offsets; the match is the least supported value's.
    evidence_match: Mapped[EvidenceMatch] = mapped_column(
        pg_enum(EvidenceMatch, "evidence_match"), nullable=False, default=EvidenceMatch.NO_QUOTE
    )
    # Each value's {source_text, start, end, match, candidates, weak}, in the order of the
    # values; None for extractions stored before evidence was kept per value.
    value_evidence: Mapped[Any] = mapped_column(JSONB(none_as_null=True), nullable=True)
    prompt_version: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[ExtractionStatus] = mapped_column(
        pg_enum(ExtractionStatus, "extraction_status"), nullable=False
    )
    error: Mapped[str | None] = mapped_column(Text)
    # A value kept below the confidence threshold because if_uncertain is BEST_GUESS.
    best_guess: Mapped[bool] = mapped_column(
        Boolean, nullable=False, default=False, server_default=false()
    )
    # The model that answered (its prompt version's); "offline"/"baseline" for the baseline.
    llm_provider: Mapped[str | None] = mapped_column(String(100))
    llm_model: Mapped[str | None] = mapped_column(String(200))
    # The SHA-256 of the document's text the value was read from: a value is current only
    # while the document still has that text (offsets point into it).
    text_hash: Mapped[str | None] = mapped_column(String(64))
    input_tokens: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    output_tokens: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    cost_usd: Mapped[Decimal] = mapped_column(Numeric(14, 6), nullable=False, default=Decimal(0))


class ExtractionFeedback(TenantOwnedMixin, Base):
    """A researcher's verdict on one extracted value, kept with the value as it was judged
    (value, status, prompt, job, document, variable, entity): re-running the extraction
    changes neither what the verdict is about nor whether it exists. Only deleting what was
    judged on purpose (its project, document or variable) deletes it."""

    __tablename__ = "extraction_feedback"
    __table_args__ = (
        same_tenant_fk("project_id", "projects"),
        same_tenant_fk("document_id", "documents"),
        same_tenant_fk("variable_id", "variables"),
        # The extraction may be overwritten or deleted by a later job; the verdict stays.
        same_tenant_fk("extraction_id", "extractions", ondelete="SET NULL"),
        same_tenant_fk("job_id", "processing_jobs", ondelete="SET NULL"),
        same_tenant_fk("prompt_id", "prompts", ondelete="SET NULL"),
        # One verdict per researcher on an extraction holding a given value from a given
        # prompt version: a second verdict on the same judged value replaces the first.
        # Hashed, because a value may be longer than an index entry can be.
        Index(
            "uq_extraction_feedback_judgment",
            "user_id",
            "extraction_id",
            text("coalesce(prompt_version, 0)"),
            text("md5(coalesce(judged_value, 'null'::jsonb)::text)"),
            unique=True,
        ),
        Index("ix_extraction_feedback_project_id_created_at", "project_id", "created_at"),
        Index("ix_extraction_feedback_document_id", "document_id"),
        Index("ix_extraction_feedback_variable_id", "variable_id"),
        Index("ix_extraction_feedback_job_id", "job_id"),
        Index("ix_extraction_feedback_prompt_id", "prompt_id"),
    )

    # None once the extraction no longer exists (e.g. its entity is no longer found).
    extraction_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    feedback_type: Mapped[FeedbackType] = mapped_column(
        pg_enum(FeedbackType, "feedback_type"), nullable=False
    )
    corrected_value: Mapped[Any] = mapped_column(JSONB(none_as_null=True), nullable=True)
    user_note: Mapped[str] = mapped_column(Text, nullable=False, default="")
    # What was judged, as it was when judged.
    project_id: Mapped[uuid.UUID] = mapped_column(nullable=False)
    document_id: Mapped[uuid.UUID] = mapped_column(nullable=False)
    variable_id: Mapped[uuid.UUID] = mapped_column(nullable=False)
    job_id: Mapped[uuid.UUID | None] = mapped_column()
    prompt_id: Mapped[uuid.UUID | None] = mapped_column()
    prompt_version: Mapped[int | None] = mapped_column(Integer)
    entity_key: Mapped[str] = mapped_column(String(500), nullable=False, default="")
    entity_name: Mapped[str] = mapped_column(String(500), nullable=False, default="")
    judged_value: Mapped[Any] = mapped_column(JSONB(none_as_null=True), nullable=True)
    # None only for feedback given before the judged value was kept, whose extraction had
    # been re-done with another prompt version by then (see migration 0008).
    judged_status: Mapped[ExtractionStatus | None] = mapped_column(
        pg_enum(ExtractionStatus, "extraction_status")
    )
    judged_source_text: Mapped[str | None] = mapped_column(Text)


class DocumentOutcome(enum.Enum):
    # Read, and the model found no entity in it (entity projects): no rows, nothing to redo.
    NO_ENTITIES = "NO_ENTITIES"
    # Could not be extracted as a whole; tried again only when a job asks for it.
    FAILED = "FAILED"


class DocumentExtractionOutcome(TenantOwnedMixin, Base):
    """What the last extraction of a document left when it left no values: the next job and
    the dataset see it instead of taking the document for unprocessed (and paying for it
    again). A document with values has no row here; its values speak for it."""

    __tablename__ = "document_outcomes"
    __table_args__ = (
        same_tenant_fk("document_id", "documents"),
        same_tenant_fk("project_id", "projects"),
        same_tenant_fk("job_id", "processing_jobs", ondelete="SET NULL"),
        UniqueConstraint("document_id"),
        Index("ix_document_outcomes_project_id", "project_id"),
    )

    document_id: Mapped[uuid.UUID] = mapped_column(nullable=False)
    project_id: Mapped[uuid.UUID] = mapped_column(nullable=False)
    job_id: Mapped[uuid.UUID | None] = mapped_column()
    outcome: Mapped[DocumentOutcome] = mapped_column(
        pg_enum(DocumentOutcome, "document_outcome"), nullable=False
    )
    error: Mapped[str | None] = mapped_column(Text)
    # The text, and for NO_ENTITIES the entity prompt, the outcome holds for.
    text_hash: Mapped[str | None] = mapped_column(String(64))
    entity_prompt_hash: Mapped[str | None] = mapped_column(String(64))
