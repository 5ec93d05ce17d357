"""Named queries for jobs and their work lists (the documents a job works through, claimed
one at a time by the workers). A job's results are server.jobs.results, its log
server.jobs.logs."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Integer,
    Interval,
    Select,
    Text,
    and_,
    bindparam,
    case,
    func,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import undefer

from server.core.db import NO_KEY_UPDATE, table_of
from server.core.pagination import Cursor, encode_position, newest_first
from server.documents.models import Document
from server.jobs.models import (
    ACTIVE_JOB_STATUSES,
    JobDocument,
    JobDocumentStatus,
    JobStatus,
    JobType,
    ProcessingJob,
)
from server.jobs.view import JobRef, JobView
from server.projects.models import Project
from server.schema.models import Prompt, Variable

UNFINISHED = (JobDocumentStatus.PENDING, JobDocumentStatus.RUNNING)
# Job states in which workers take documents.
RUNNABLE = (JobStatus.PENDING, JobStatus.RUNNING)

_JOBS = table_of(ProcessingJob)
_WORK = table_of(JobDocument)

# The job's columns that events and workers read: every column but document_ids.
_STATE_COLUMNS = [column for column in _JOBS.columns if column.key != "document_ids"]


async def get(
    session: AsyncSession,
    job_id: uuid.UUID,
    *,
    lock: bool = False,
    with_documents: bool = True,
) -> ProcessingJob | None:
    """The job; lock: FOR NO KEY UPDATE (see NO_KEY_UPDATE), re-read; with_documents: its
    document_ids too (what the API shows; the workers go without)."""
    return await session.get(
        ProcessingJob,
        job_id,
        with_for_update=NO_KEY_UPDATE if lock else None,
        populate_existing=lock,
        options=[undefer(ProcessingJob.document_ids)] if with_documents else [],
    )


async def list_page(
    session: AsyncSession, project_id: uuid.UUID, limit: int, after: Cursor | None
) -> Sequence[ProcessingJob]:
    statement = (
        select(ProcessingJob)
        .where(ProcessingJob.project_id == project_id)
        .options(undefer(ProcessingJob.document_ids))
    )
    return (await session.scalars(newest_first(statement, ProcessingJob, after, limit))).all()


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


async def mark_started(session: AsyncSession, job_id: uuid.UUID) -> bool:
    """PENDING -> RUNNING, once, by whichever worker claims the job's first document. The
    values are plain ones, so that the session's copy of the job takes them as they are: a
    SQL expression (now()) would leave its started_at expired, unreadable without I/O."""
    started = await session.execute(
        update(ProcessingJob)
        .where(ProcessingJob.id == job_id, ProcessingJob.status == JobStatus.PENDING)
        .values(status=JobStatus.RUNNING, started_at=datetime.now(UTC))
        .returning(ProcessingJob.id)
    )
    return started.first() is not None


def _job_of(row: Row[Any] | None) -> JobView | None:
    """The job of a row of _STATE_COLUMNS."""
    return None if row is None else JobView.from_columns(row._asdict())


_JOBS_WANTING_WORKERS = text("SELECT * FROM jobs_wanting_workers(:max_jobs, :max_resumes)")


async def active_for_user(session: AsyncSession, user_id: uuid.UUID) -> int:
    """The user's jobs that are not ended (the ACTIVE_JOBS quota)."""
    count = await session.scalar(
        select(func.count())
        .select_from(ProcessingJob)
        .where(ProcessingJob.user_id == user_id, ProcessingJob.status.in_(ACTIVE_JOB_STATUSES))
    )
    return count or 0


async def jobs_wanting_workers(
    session: AsyncSession, max_jobs: int, max_resumes: int
) -> list[tuple[uuid.UUID, uuid.UUID, bool]]:
    """(user, job, paused) of every tenant's jobs that want a worker: documents to claim, or
    none left and not completed; or paused by the circuit breaker with automatic resumes
    left. Through a definer function, outside any tenant: ids only, oldest job first."""
    rows = await session.execute(
        _JOBS_WANTING_WORKERS, {"max_jobs": max_jobs, "max_resumes": max_resumes}
    )
    return [(user_id, job_id, paused) for user_id, job_id, paused in rows.all()]


async def has_completed_full_job(session: AsyncSession, project_id: uuid.UUID) -> bool:
    completed = await session.scalar(
        select(ProcessingJob.id)
        .where(
            ProcessingJob.project_id == project_id,
            ProcessingJob.job_type == JobType.FULL,
            ProcessingJob.status == JobStatus.COMPLETED,
        )
        .limit(1)
    )
    return completed is not None


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


_JOB_STATE = select(*_STATE_COLUMNS).where(_JOBS.c.id == bindparam("job_id"))


async def job_state(session: AsyncSession, job_id: uuid.UUID) -> JobView | None:
    """The job as it is, without its document_ids."""
    row = (await session.execute(_JOB_STATE, {"job_id": job_id})).first()
    return _job_of(row)


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


# FOR SHARE waits for every transaction that holds one of the rows to change it, and for
# nothing else. The lock timeout bounds the wait on a writer that hangs.
_LOCK_TIMEOUT = text("SELECT set_config('lock_timeout', '5s', true)")
_AFTER_WRITERS = (
    select(_JOBS.c.id)
    .where(_JOBS.c.id.in_(bindparam("job_ids", expanding=True)))
    .with_for_update(read=True)
)


async def wait_for_writers(session: AsyncSession, job_ids: Sequence[uuid.UUID]) -> None:
    """Returns once no transaction that is changing one of these jobs is still open: what
    such a transaction publishes while it holds the job's row (server.jobs.flows) is then
    committed, or rolled back. Raises sqlalchemy's DBAPIError after 5 s of waiting."""
    await session.execute(_LOCK_TIMEOUT)
    await session.execute(_AFTER_WRITERS, {"job_ids": list(job_ids)})


_COUNT_DOCUMENT = (
    update(_JOBS)
    .where(_JOBS.c.id == bindparam("job"))
    .values(
        documents_processed=_JOBS.c.documents_processed + bindparam("processed", type_=Integer),
        documents_failed=_JOBS.c.documents_failed + bindparam("failed", type_=Integer),
        consecutive_failures=case(
            (bindparam("failed", type_=Integer) > 0, _JOBS.c.consecutive_failures + 1),
            else_=0,
        ),
        progress=case(
            (
                _JOBS.c.documents_total > 0,
                func.least(
                    100.0,
                    100.0
                    * (_JOBS.c.documents_processed + _JOBS.c.documents_failed + 1)
                    / _JOBS.c.documents_total,
                ),
            ),
            else_=100.0,
        ),
        input_tokens=_JOBS.c.input_tokens + bindparam("prompt_tokens", type_=BigInteger),
        cached_input_tokens=_JOBS.c.cached_input_tokens
        + bindparam("cached_prompt_tokens", type_=BigInteger),
        output_tokens=_JOBS.c.output_tokens + bindparam("completion_tokens", type_=BigInteger),
        cost_usd=_JOBS.c.cost_usd + bindparam("cost", type_=_JOBS.c.cost_usd.type),
        updated_at=func.now(),
    )
    .returning(*_STATE_COLUMNS)
)


async def count_document(
    session: AsyncSession,
    job_id: uuid.UUID,
    *,
    failed: bool,
    prompt_tokens: int,
    cached_prompt_tokens: int,
    completion_tokens: int,
    cost_usd: Decimal,
) -> JobView | None:
    """Adds one finished document and what it used to the job's counters, in one statement
    that takes the job's row lock only until the commit; returns the job as it is now
    (without document_ids)."""
    row = (
        await session.execute(
            _COUNT_DOCUMENT,
            {
                "job": job_id,
                "processed": 0 if failed else 1,
                "failed": 1 if failed else 0,
                "prompt_tokens": prompt_tokens,
                "cached_prompt_tokens": cached_prompt_tokens,
                "completion_tokens": completion_tokens,
                "cost": cost_usd,
            },
        )
    ).first()
    return _job_of(row)


_PLAN_FINGERPRINT = (
    select(Project.updated_at, Variable.id, Variable.updated_at, Variable.order, Prompt.id)
    .select_from(Project)
    .outerjoin(Variable, Variable.project_id == Project.id)
    .outerjoin(Prompt, and_(Prompt.variable_id == Variable.id, Prompt.is_active))
    .where(Project.id == bindparam("project_id"))
    .order_by(Variable.order)
)


async def plan_fingerprint(session: AsyncSession, project_id: uuid.UUID) -> tuple[Any, ...]:
    """What a project's extraction plan is made of, in one small query: the project's and
    every variable's last change, the variables' order and their active prompts. Equal
    fingerprints mean an equal plan, so a worker may reuse the one it built."""
    rows = await session.execute(_PLAN_FINGERPRINT, {"project_id": project_id})
    return tuple(tuple(row) for row in rows.all())
