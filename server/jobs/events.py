"""Job events on a Redis Stream per job (SC-007): appended by whichever worker or server
changes the job, read by WatchJob in any server process. Each entry's stream id is the
event's id, so a client that reconnects with the last id it saw misses nothing that is still
within the retention (count and age)."""

from __future__ import annotations

import json
import uuid
from typing import Any

from redis.asyncio import Redis

from server.jobs.models import ProcessingJob

PROGRESS = "progress"
DOCUMENT_COMPLETED = "document_completed"
DOCUMENT_FAILED = "document_failed"
JOB_COMPLETED = "job_completed"
JOB_FAILED = "job_failed"
PAUSED = "paused"
RESUMED = "resumed"
CANCELLED = "cancelled"

_KEY_PREFIX = "coderai:job-events:"


def stream_key(job_id: uuid.UUID) -> str:
    return f"{_KEY_PREFIX}{job_id}"


def job_snapshot(job: ProcessingJob) -> dict[str, Any]:
    """The job's state as an event carries it (JSON)."""
    return {
        "id": str(job.id),
        "project_id": str(job.project_id),
        "status": job.status.value,
        "documents_total": job.documents_total,
        "documents_processed": job.documents_processed,
        "documents_failed": job.documents_failed,
        "consecutive_failures": job.consecutive_failures,
        "progress": job.progress,
        "input_tokens": job.input_tokens,
        "output_tokens": job.output_tokens,
        "cost_usd": str(job.cost_usd),
        "status_reason": job.status_reason or "",
    }


class JobEvents:
    def __init__(self, redis: Redis, *, max_length: int, ttl_seconds: int) -> None:
        self._redis = redis
        self._max_length = max_length
        self._ttl_seconds = ttl_seconds

    async def publish(
        self,
        job: ProcessingJob,
        event_type: str,
        *,
        document_id: uuid.UUID | None = None,
        message: str = "",
    ) -> str:
        """Appends the event; returns its id."""
        key = stream_key(job.id)
        fields: dict[str, str] = {
            "type": event_type,
            "job": json.dumps(job_snapshot(job)),
            "document_id": str(document_id) if document_id else "",
            "message": message,
        }
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.xadd(key, fields, maxlen=self._max_length, approximate=True)  # type: ignore[arg-type]
            pipe.expire(key, self._ttl_seconds)
            event_id, _ = await pipe.execute()
        return event_id.decode() if isinstance(event_id, bytes) else str(event_id)
