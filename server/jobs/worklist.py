"""A job's work list (job_documents): the documents the job works through, in order, each
claimed by one worker at a time under a lease its heartbeat renews, and ended with the
document's outcome by the claim that holds it."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import Interval, Select, Text, and_, bindparam, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from server.core.db import table_of
from server.core.pagination import encode_position
from server.documents.models import Document
from server.jobs.models import JobDocument, JobDocumentStatus, ProcessingJob
from server.jobs.repository import RUNNABLE
from server.jobs.view import JobRef

UNFINISHED = (JobDocumentStatus.PENDING, JobDocumentStatus.RUNNING)

_JOBS = table_of(ProcessingJob)
_WORK = table_of(JobDocument)


async def add_work(session: AsyncSession, job: JobRef, document_ids: Sequence[uuid.UUID]) -> None:
    if not document_ids:
        return
    await session.execute(
        insert(JobDocument),
        [
            {
                "job_id": job.id,
                "document_id": document_id,
                "user_id": job.user_id,
                "position": position,
                "status": JobDocumentStatus.PENDING,
                "attempts": 0,
                "reserved_tokens": 0,
            }
            for position, document_id in enumerate(document_ids)
        ],
    )


async def unfinished_count(session: AsyncSession, job_id: uuid.UUID) -> int:
    counted = await session.scalar(
        select(func.count()).where(JobDocument.job_id == job_id, JobDocument.status.in_(UNFINISHED))
    )
    return int(counted or 0)


async def reserved_tokens(session: AsyncSession, job_id: uuid.UUID) -> int:
    """Tokens set aside for the job's documents in flight."""
    total = await session.scalar(
        select(func.coalesce(func.sum(JobDocument.reserved_tokens), 0)).where(
            JobDocument.job_id == job_id, JobDocument.status == JobDocumentStatus.RUNNING
        )
    )
    return int(total or 0)


@dataclass(frozen=True)
class WorkItem:
    """One document of a job's work list, by name, and how far the job got with it."""

    document_id: uuid.UUID
    filename: str
    status: JobDocumentStatus
    error: str | None
    attempts: int
    position: int


async def list_work(
    session: AsyncSession,
    job_id: uuid.UUID,
    statuses: Sequence[JobDocumentStatus],
    limit: int,
    after_position: int | None,
) -> tuple[list[WorkItem], str]:
    """A page of the job's documents in work order, and the next page's token ("" on the
    last)."""
    statement = (
        select(
            JobDocument.document_id,
            Document.filename,
            JobDocument.status,
            JobDocument.error,
            JobDocument.attempts,
            JobDocument.position,
        )
        .join(Document, Document.id == JobDocument.document_id)
        .where(JobDocument.job_id == job_id)
        .order_by(JobDocument.position)
        .limit(limit + 1)
    )
    if statuses:
        statement = statement.where(JobDocument.status.in_(statuses))
    if after_position is not None:
        statement = statement.where(JobDocument.position > after_position)
    items = [WorkItem(*row) for row in (await session.execute(statement)).all()]
    if len(items) <= limit:
        return items, ""
    return items[:limit], encode_position(items[limit - 1].position)


async def work_counts(session: AsyncSession, job_id: uuid.UUID) -> dict[JobDocumentStatus, int]:
    rows = await session.execute(
        select(JobDocument.status, func.count())
        .where(JobDocument.job_id == job_id)
        .group_by(JobDocument.status)
    )
    return {status: count for status, count in rows.all()}


# --- a worker's statements, run for every document: built once (see table_of) -------------


_CLAIM = (
    update(_WORK)
    .where(
        _WORK.c.job_id == bindparam("job"),
        _WORK.c.document_id == bindparam("document"),
        or_(
            _WORK.c.status == JobDocumentStatus.PENDING,
            and_(_WORK.c.status == JobDocumentStatus.RUNNING, _WORK.c.lease_until < func.now()),
        ),
        select(_JOBS.c.id)
        .where(_JOBS.c.id == bindparam("job"), _JOBS.c.status.in_(RUNNABLE))
        .exists(),
    )
    .values(
        status=JobDocumentStatus.RUNNING,
        lease_until=func.now() + bindparam("lease", type_=Interval),
        attempts=_WORK.c.attempts + 1,
        reserved_tokens=bindparam("reserve"),
    )
    .returning(_WORK.c.attempts)
)


async def claim(
    session: AsyncSession,
    job_id: uuid.UUID,
    document_id: uuid.UUID,
    lease_seconds: float,
    reserved_tokens: int = 0,
) -> int | None:
    """Takes the document for this worker while the job runs: PENDING, or RUNNING under a
    lease that ran out (its worker died). Returns the claim's attempt number, which the
    worker's later changes name; None when another worker holds the document, it is
    finished, or the job no longer runs."""
    claimed = await session.execute(
        _CLAIM,
        {
            "job": job_id,
            "document": document_id,
            "lease": timedelta(seconds=lease_seconds),
            "reserve": reserved_tokens,
        },
    )
    attempt: int | None = claimed.scalar_one_or_none()
    return attempt


def _next_in(status: JobDocumentStatus) -> Select[tuple[uuid.UUID]]:
    return (
        select(_WORK.c.document_id)
        .where(_WORK.c.job_id == bindparam("job"), _WORK.c.status == status)
        .order_by(_WORK.c.position)
        .limit(1)
        .with_for_update(skip_locked=True)
    )


# A dead worker's document (its lease ran out) first, then the next one in order; rows that
# other claims are taking right now are skipped, not waited for.
_NEXT_ABANDONED = _next_in(JobDocumentStatus.RUNNING).where(_WORK.c.lease_until < func.now())
_NEXT_PENDING = _next_in(JobDocumentStatus.PENDING)


async def next_claimable(session: AsyncSession, job_id: uuid.UUID) -> uuid.UUID | None:
    """The job's next document to claim, locked until the transaction ends; None when every
    document is finished or held under a live lease."""
    for statement in (_NEXT_ABANDONED, _NEXT_PENDING):
        document_id: uuid.UUID | None = await session.scalar(statement, {"job": job_id})
        if document_id is not None:
            return document_id
    return None


# The document, while the claim numbered :attempt still holds it.
_HELD = and_(
    _WORK.c.job_id == bindparam("job"),
    _WORK.c.document_id == bindparam("document"),
    _WORK.c.status == JobDocumentStatus.RUNNING,
    _WORK.c.attempts == bindparam("attempt"),
)
_RENEW_LEASE = (
    update(_WORK).where(_HELD).values(lease_until=func.now() + bindparam("lease", type_=Interval))
)
_END_CLAIM = (
    update(_WORK)
    .where(_HELD)
    .values(
        status=bindparam("new_status", type_=_WORK.c.status.type),
        lease_until=None,
        error=bindparam("new_error", type_=Text),
        reserved_tokens=0,
    )
    .returning(_WORK.c.attempts)
)


async def renew_lease(
    session: AsyncSession,
    job_id: uuid.UUID,
    document_id: uuid.UUID,
    attempt: int,
    lease_seconds: float,
) -> None:
    await session.execute(
        _RENEW_LEASE,
        {
            "job": job_id,
            "document": document_id,
            "attempt": attempt,
            "lease": timedelta(seconds=lease_seconds),
        },
    )


async def end_claim(
    session: AsyncSession,
    job_id: uuid.UUID,
    document_id: uuid.UUID,
    attempt: int,
    status: JobDocumentStatus,
    error: str | None = None,
) -> bool:
    """Ends the claim with the document's new status (PENDING hands it back). False when
    the claim no longer holds it: its lease ran out and another worker took it over."""
    ended = await session.execute(
        _END_CLAIM,
        {
            "job": job_id,
            "document": document_id,
            "attempt": attempt,
            "new_status": status,
            "new_error": error,
        },
    )
    return ended.first() is not None
