"""A job once read: shown by the API, carried by one of its events, held by a worker for the
document it claimed. A plain frozen value: a detached ORM job standing in for it had
attributes that raise once its session is gone (document_ids) or that nobody had filled (an
event's job showed no model, no budgets and no cached tokens)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

from sqlalchemy import inspect

from server.jobs.models import JobStatus, JobType, ProcessingJob, StopReason
from server.projects.models import ExtractionMode


class JobRef(Protocol):
    """What names a job's rows (its log entries, its extractions): a job read or a job row."""

    @property
    def id(self) -> uuid.UUID: ...

    @property
    def user_id(self) -> uuid.UUID: ...

    @property
    def project_id(self) -> uuid.UUID: ...


@dataclass(frozen=True)
class JobView:
    id: uuid.UUID
    user_id: uuid.UUID
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
        return cls.from_columns(
            {name: getattr(job, name) for name in _COLUMNS},
            tuple(job.document_ids) if loaded else None,
        )

    @classmethod
    def from_columns(
        cls, row: Mapping[str, Any], document_ids: tuple[uuid.UUID, ...] | None = None
    ) -> JobView:
        """The job from a row of the jobs table (every column this view holds)."""
        return cls(
            **{name: row[name] for name in _ROW_FIELDS},
            status_reason=row["status_reason"] or "",
            automatic_resumes=row["automatic_resumes"] or 0,
            retry_failed=bool(row["retry_failed"]),
            llm_provider=row["llm_provider"] or "",
            llm_model=row["llm_model"] or "",
            document_ids=document_ids,
        )

    @property
    def tokens_used(self) -> int:
        return self.input_tokens + self.output_tokens

    def to_json(self) -> dict[str, Any]:
        """Every field but the document ids, as JSON (an event's copy of the job)."""
        return {name: _to_json(getattr(self, name)) for name in _COLUMNS}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> JobView:
        """The inverse of to_json. A field an older server's event lacks takes its default."""
        values = {}
        for name, (decode, default) in _FROM_JSON.items():
            raw = data.get(name)
            values[name] = default if raw is None else decode(raw)
        return cls(**values)


# The job's columns this view holds, and of those the ones copied as they are (the others
# read NULL as empty).
_COLUMNS = tuple(field.name for field in fields(JobView) if field.name != "document_ids")
_ROW_FIELDS = tuple(
    name
    for name in _COLUMNS
    if name
    not in {"status_reason", "automatic_resumes", "retry_failed", "llm_provider", "llm_model"}
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
    # Events written before they carried it: no reader of an event uses it (a watcher is
    # checked against the job's row).
    "user_id": (uuid.UUID, uuid.UUID(int=0)),
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
