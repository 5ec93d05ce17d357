"""JobView: a job read once, carried by an event as JSON and back without losing a field."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, datetime
from decimal import Decimal

from server.jobs.models import JobStatus, JobType, ProcessingJob, StopReason
from server.jobs.view import JobView
from server.projects.models import ExtractionMode


def a_job(**changes: object) -> ProcessingJob:
    values: dict[str, object] = {
        "id": uuid.uuid4(),
        "user_id": uuid.uuid4(),
        "project_id": uuid.uuid4(),
        "job_type": JobType.FULL,
        "status": JobStatus.PAUSED,
        "document_ids": [uuid.uuid4(), uuid.uuid4()],
        "documents_total": 2,
        "documents_processed": 1,
        "documents_failed": 0,
        "consecutive_failures": 0,
        "progress": 50.0,
        "input_tokens": 1200,
        "cached_input_tokens": 900,
        "output_tokens": 80,
        "cost_usd": Decimal("0.001234"),
        "token_budget": 5000,
        "cost_budget_usd": Decimal("0.5"),
        "status_reason": "paused by the researcher",
        "stop_reason": StopReason.PAUSED_BY_RESEARCHER,
        "automatic_resumes": 0,
        "retry_failed": True,
        "llm_provider": "openai",
        "llm_model": "gpt-4o-mini",
        "extraction_mode": ExtractionMode.GROUPED,
        "created_at": datetime(2026, 12, 1, 9, 30, tzinfo=UTC),
        "started_at": datetime(2026, 12, 1, 9, 31, tzinfo=UTC),
        "finished_at": None,
    }
    values.update(changes)
    return ProcessingJob(**values)


def test_an_events_copy_holds_every_field_but_the_document_ids() -> None:
    view = JobView.of(a_job())

    carried = JobView.from_json(view.to_json())

    assert view.document_ids is not None
    assert len(view.document_ids) == 2
    assert carried == dataclasses.replace(view, document_ids=None)


def test_an_event_an_older_server_wrote_still_reads() -> None:
    """Events kept in Redis across an upgrade carry fewer fields: the rest take defaults."""
    older = {
        key: value
        for key, value in JobView.of(a_job()).to_json().items()
        if key not in {"cached_input_tokens", "llm_model", "extraction_mode", "created_at"}
    }
    older["stop_reason"] = ""

    carried = JobView.from_json(older)

    assert carried.cached_input_tokens == 0
    assert carried.llm_model == ""
    assert carried.extraction_mode == ExtractionMode.PER_VARIABLE
    assert carried.created_at is None
    assert carried.stop_reason is None
    assert carried.cost_usd == Decimal("0.001234")
