"""A job's processing log: what happened to the job and to each of its documents, in order."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from server.core.db import table_of
from server.core.pagination import Cursor, oldest_first
from server.core.processing_log import LogEventType, ProcessingLog
from server.jobs.view import JobRef

_LOGS = table_of(ProcessingLog)


async def list_logs(
    session: AsyncSession, job_id: uuid.UUID, limit: int, after: Cursor | None
) -> Sequence[ProcessingLog]:
    statement = select(ProcessingLog).where(ProcessingLog.job_id == job_id)
    return (await session.scalars(oldest_first(statement, ProcessingLog, after, limit))).all()


@dataclass(frozen=True)
class LogEntry:
    """An entry of a job's processing log, as saved (see add_logs)."""

    id: uuid.UUID
    user_id: uuid.UUID
    project_id: uuid.UUID
    job_id: uuid.UUID
    document_id: uuid.UUID | None
    event_type: LogEventType
    metadata: dict[str, Any]
    message: str


def log_entry(
    job: JobRef,
    event: LogEventType,
    message: str,
    *,
    document_id: uuid.UUID | None = None,
    details: dict[str, Any] | None = None,
) -> LogEntry:
    """An entry for the job's processing log (see add_logs)."""
    return LogEntry(
        id=uuid.uuid4(),
        user_id=job.user_id,
        project_id=job.project_id,
        job_id=job.id,
        document_id=document_id,
        event_type=event,
        metadata=details or {},
        message=message,
    )


_INSERT_LOGS = insert(_LOGS)


async def add_logs(session: AsyncSession, entries: Sequence[LogEntry]) -> None:
    if entries:
        await session.execute(_INSERT_LOGS, [vars(entry) for entry in entries])


async def add_log(
    session: AsyncSession,
    job: JobRef,
    event: LogEventType,
    message: str,
    *,
    document_id: uuid.UUID | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    """An entry in the job's processing log."""
    await add_logs(
        session, [log_entry(job, event, message, document_id=document_id, details=details)]
    )
