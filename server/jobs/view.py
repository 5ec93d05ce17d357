"""A job as the API shows it once read: in a response, or carried by one of its events. A
plain frozen value: a detached ORM job standing in for it had attributes that raise once its
session is gone (document_ids) or that nobody had filled (an event's job showed no model, no
budgets and no cached tokens)."""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass, fields
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import inspect

from server.jobs.models import JobStatus, JobType, ProcessingJob, StopReason
from server.projects.models import ExtractionMode


@dataclass(frozen=True)
class JobView:
    id: uuid.UUID
    project_id: uuid.UUID
    job_type: JobType
    status: JobStatus
    documents_total: int
    documents_processed: int
    documents_failed: int
    consecutive_failures: int
    progress: float
    input_tokens: int
    cached_input_tokens: int
    output_tokens: int
    cost_usd: Decimal
    token_budget: int | None
    cost_budget_usd: Decimal | None
    status_reason: str
    stop_reason: StopReason | None
    automatic_resumes: int
    retry_failed: bool
    llm_provider: str
    llm_model: str
    extraction_mode: ExtractionMode
    created_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    # The documents the job covers, where they were read: None in an event and for a worker
    # (a job may name thousands; its work list is job_documents).
    document_ids: tuple[uuid.UUID, ...] | None = None

    @classmethod
    def of(cls, job: ProcessingJob) -> JobView:
        """The job's row as it is now (its document ids only if they were loaded)."""
        loaded = "document_ids" not in inspect(job).unloaded
        return cls(
            **{name: getattr(job, name) for name in _ROW_FIELDS},
            status_reason=job.status_reason or "",
            automatic_resumes=job.automatic_resumes or 0,
            retry_failed=bool(job.retry_failed),
            llm_provider=job.llm_provider or "",
            llm_model=job.llm_model or "",
            document_ids=tuple(job.document_ids) if loaded else None,
        )

    @property
    def tokens_used(self) -> int:
        return self.input_tokens + self.output_tokens

    def to_json(self) -> dict[str, Any]:
        """Every field but the document ids, as JSON (an event's copy of the job)."""
        return {
            name: _to_json(value) for name, value in asdict(self).items() if name != "document_ids"
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> JobView:
        """The inverse of to_json. A field an older server's event lacks takes its default."""
        values = {}
        for name, (decode, default) in _FROM_JSON.items():
            raw = data.get(name)
            values[name] = default if raw is None else decode(raw)
        return cls(**values)


# Fields copied from the row as they are; the others need a word on their NULLs.
_ROW_FIELDS = tuple(
    field.name
    for field in fields(JobView)
    if field.name
    not in {
        "status_reason",
        "automatic_resumes",
        "retry_failed",
        "llm_provider",
        "llm_model",
        "document_ids",
    }
)


def _to_json(value: Any) -> Any:
    if isinstance(value, uuid.UUID | Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, JobType | JobStatus | StopReason | ExtractionMode):
        return value.value
    return value


# Each JSON field's decoder and its value when absent (null, or missing from an event an
# older server wrote).
_FROM_JSON: dict[str, tuple[Any, Any]] = {
    "id": (uuid.UUID, None),
    "project_id": (uuid.UUID, None),
    "job_type": (JobType, None),
    "status": (JobStatus, None),
    "documents_total": (int, 0),
    "documents_processed": (int, 0),
    "documents_failed": (int, 0),
    "consecutive_failures": (int, 0),
    "progress": (float, 0.0),
    "input_tokens": (int, 0),
    "cached_input_tokens": (int, 0),
    "output_tokens": (int, 0),
    "cost_usd": (Decimal, Decimal(0)),
    "token_budget": (int, None),
    "cost_budget_usd": (Decimal, None),
    "status_reason": (str, ""),
    "stop_reason": (lambda raw: StopReason(raw) if raw else None, None),
    "automatic_resumes": (int, 0),
    "retry_failed": (bool, False),
    "llm_provider": (str, ""),
    "llm_model": (str, ""),
    "extraction_mode": (ExtractionMode, ExtractionMode.PER_VARIABLE),
    "created_at": (datetime.fromisoformat, None),
    "started_at": (datetime.fromisoformat, None),
    "finished_at": (datetime.fromisoformat, None),
}
