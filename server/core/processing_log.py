"""The processing log of a project: what happened to its documents (uploaded, parsed, failed)
and to its jobs (created, started, each document processed or failed, paused, completed), in
order. Documents and jobs both write it, so it belongs to neither."""

from __future__ import annotations

import enum
import uuid
from typing import Any

from sqlalchemy import Index, Text, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from server.core.db import Base, TenantOwnedMixin, pg_enum
from server.core.tenancy import same_tenant_fk


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
