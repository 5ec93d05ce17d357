"""Named queries for jobs. A job's work list (the documents it works through, claimed one at
a time by the workers) is server.jobs.worklist, its results server.jobs.results, its log
server.jobs.logs."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Integer,
    bindparam,
    case,
    func,
    select,
    text,
    update,
)
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import undefer

from server.core.db import NO_KEY_UPDATE, table_of
from server.core.pagination import Cursor, newest_first
from server.jobs.models import (
    ACTIVE_JOB_STATUSES,
    JobStatus,
    JobType,
    ProcessingJob,
)
from server.jobs.view import JobView

# Job states in which workers take documents.
RUNNABLE = (JobStatus.PENDING, JobStatus.RUNNING)

_JOBS = table_of(ProcessingJob)

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


async def active_job(session: AsyncSession, project_id: uuid.UUID) -> ProcessingJob | None:
    """The project's active job (pending, running or paused; the database keeps it to one),
    with its document_ids."""
    job: ProcessingJob | None = await session.scalar(
        select(ProcessingJob)
        .where(
            ProcessingJob.project_id == project_id,
            ProcessingJob.status.in_(ACTIVE_JOB_STATUSES),
        )
        .options(undefer(ProcessingJob.document_ids))
    )
    return job


async def list_page(
    session: AsyncSession, project_id: uuid.UUID, limit: int, after: Cursor | None
) -> Sequence[ProcessingJob]:
    statement = (
        select(ProcessingJob)
        .where(ProcessingJob.project_id == project_id)
        .options(undefer(ProcessingJob.document_ids))
    )
    return (await session.scalars(newest_first(statement, ProcessingJob, after, limit))).all()


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


# --- a worker's statements, run for every document: built once (see table_of) -------------


_JOB_STATE = select(*_STATE_COLUMNS).where(_JOBS.c.id == bindparam("job_id"))


async def job_state(session: AsyncSession, job_id: uuid.UUID) -> JobView | None:
    """The job as it is, without its document_ids."""
    row = (await session.execute(_JOB_STATE, {"job_id": job_id})).first()
    return _job_of(row)


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
