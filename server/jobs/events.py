"""Job events on a Redis Stream per job (SC-007): appended by whichever worker or server
changes the job, read by WatchJob in any server process. Each entry's stream id is the
event's id, so a client that reconnects with the last id it saw misses nothing that is still
within the retention (count and age)."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from server.jobs.models import ProcessingJob
from server.jobs.view import JobView


class EventType(StrEnum):
    PROGRESS = "progress"
    DOCUMENT_COMPLETED = "document_completed"
    DOCUMENT_FAILED = "document_failed"
    JOB_COMPLETED = "job_completed"
    JOB_FAILED = "job_failed"
    PAUSED = "paused"
    RESUMED = "resumed"
    CANCELLED = "cancelled"
    # Not on a stream: the job as it is, first on every watch, and again after a gap.
    SNAPSHOT = "snapshot"


# Events after which a job changes no more.
TERMINAL = frozenset({EventType.JOB_COMPLETED, EventType.JOB_FAILED, EventType.CANCELLED})

_KEY_PREFIX = "coderai:job-events:"
_PROJECT_KEY_PREFIX = "coderai:project-events:"
_EVENT_ID = re.compile(r"^\d{1,20}-\d{1,20}$")


@dataclass(frozen=True)
class NewEvent:
    """An event to append; the job's state goes with it."""

    type: EventType
    document_id: uuid.UUID | None = None
    message: str = ""


@dataclass(frozen=True)
class JobEvent:
    id: str
    type: EventType
    # The job as of the event; None only in a project watch's snapshot of a project with no
    # active job.
    job: JobView | None
    document_id: str
    message: str
    # On a snapshot: events after the id the client gave are past retention (see lost_after).
    events_lost: bool = False


def is_event_id(value: str) -> bool:
    return bool(_EVENT_ID.match(value))


def stream_key(job_id: uuid.UUID) -> str:
    return f"{_KEY_PREFIX}{job_id}"


def project_stream_key(project_id: uuid.UUID) -> str:
    """Every event of every job of the project, for a project-wide watch."""
    return f"{_PROJECT_KEY_PREFIX}{project_id}"


class JobEvents:
    def __init__(self, redis: Redis, *, max_length: int, ttl_seconds: int) -> None:
        self._redis = redis
        self._max_length = max_length
        self._ttl_seconds = ttl_seconds

    async def publish(
        self,
        job: ProcessingJob | JobView,
        event_type: EventType,
        *,
        document_id: uuid.UUID | None = None,
        message: str = "",
    ) -> str:
        """Appends the event; returns its id."""
        (event_id,) = await self.publish_all(job, [NewEvent(event_type, document_id, message)])
        return event_id

    async def publish_all(
        self, job: ProcessingJob | JobView, events: Sequence[NewEvent]
    ) -> list[str]:
        """Appends the events, in order, in one round trip to Redis (a writer appends while
        it holds the job's row: server.jobs.feed); returns their ids."""
        key, project_key = stream_key(job.id), project_stream_key(job.project_id)
        view = job if isinstance(job, JobView) else JobView.of(job)
        snapshot = json.dumps(view.to_json())
        async with self._redis.pipeline(transaction=True) as pipe:
            for event in events:
                fields: dict[str, str] = {
                    "type": event.type,
                    "job": snapshot,
                    "document_id": str(event.document_id) if event.document_id else "",
                    "message": event.message,
                }
                for stream in (key, project_key):
                    pipe.xadd(stream, fields, maxlen=self._max_length, approximate=True)  # type: ignore[arg-type]
            for stream in (key, project_key):
                pipe.expire(stream, self._ttl_seconds)
            replies = await pipe.execute()
        # Per event: its id in the job's stream, then its id in the project's.
        return [
            raw.decode() if isinstance(raw, bytes) else str(raw)
            for raw in replies[: 2 * len(events) : 2]
        ]

    async def last_id(self, key: str) -> str:
        """The id of the stream's newest event; "0-0" before the first."""
        newest: Any = await self._redis.xrevrange(key, count=1)
        if not newest:
            return "0-0"
        event_id = newest[0][0]
        return event_id.decode() if isinstance(event_id, bytes) else str(event_id)

    async def lost_after(self, key: str, after: str) -> bool:
        """Whether events after `after` may have been dropped by retention: the stream is gone
        (it expired), or its oldest event is newer than `after` and entries were trimmed
        (Redis 7 counts the entries ever added; on 6.2 a stream at its length cap is taken
        as trimmed)."""
        try:
            info: Any = await self._redis.xinfo_stream(key)
        except ResponseError:
            # No such stream: it expired with its events, unless it never had one.
            return after != "0-0"
        first = info.get("first-entry")
        if not first:
            return False
        oldest = first[0].decode() if isinstance(first[0], bytes) else str(first[0])
        if id_key(oldest) <= id_key(after):
            return False
        length = int(info.get("length") or 0)
        added = info.get("entries-added")
        return int(added) > length if added is not None else length >= self._max_length

    async def read_after(
        self, key: str, after: str, block_ms: int, count: int = 100
    ) -> list[JobEvent]:
        """The stream's events after `after`, waiting up to block_ms for the first (this
        holds a Redis connection meanwhile: one reader per stream, see server.jobs.feed)."""
        found: Any = await self._redis.xread({key: after}, count=count, block=max(block_ms, 1))
        return [
            _event(raw_id, fields) for _key, entries in found or [] for raw_id, fields in entries
        ]

    async def range_after(self, key: str, after: str, count: int = 1000) -> list[JobEvent]:
        """The stream's events after `after` that are there now (no waiting)."""
        found: Any = await self._redis.xrange(key, min=f"({after}", count=count)
        return [_event(raw_id, fields) for raw_id, fields in found or []]


def _event(raw_id: bytes | str, fields: dict[Any, Any]) -> JobEvent:
    decoded = {
        (k.decode() if isinstance(k, bytes) else k): (v.decode() if isinstance(v, bytes) else v)
        for k, v in fields.items()
    }
    return JobEvent(
        id=raw_id.decode() if isinstance(raw_id, bytes) else str(raw_id),
        type=EventType(decoded["type"]),
        job=JobView.from_json(json.loads(decoded["job"])),
        document_id=decoded.get("document_id", ""),
        message=decoded.get("message", ""),
    )


def id_key(event_id: str) -> tuple[int, int]:
    """An event id as a sortable pair (milliseconds, sequence)."""
    milliseconds, _, sequence = event_id.partition("-")
    return int(milliseconds), int(sequence or 0)
