"""A job's lifecycle, in one place: every change of its status goes through `_move`, which
sets the status, why (a StopReason and its words), the timestamps, writes the log entry,
appends the event to the job's stream and settles the project's status when the job ends
(`created` sets it when the job begins).

    PENDING ──start──▶ RUNNING ──finish──▶ COMPLETED | FAILED (every document failed)
       │                 │  ▲
       │            pause│  │resume (the researcher; the supervisor after the breaker closed)
       │                 ▼  │
       └──────pause────▶ PAUSED
    PENDING | RUNNING | PAUSED ──cancel──▶ CANCELLED
    PENDING | RUNNING ──fail──▶ FAILED (the model cannot be called as configured)

Callers hold a transaction (they own it); each flow locks the job's row. The researcher's
flows raise FailedPrecondition when the job is not in a state they apply to; the workers'
return None instead (another process got there first)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from server.core import quotas
from server.core.errors import FailedPrecondition, NotFound
from server.core.processing_log import LogEventType
from server.core.quotas import Quota, QuotaLimits
from server.jobs import logs, repository, worklist
from server.jobs.events import EventType, JobEvents
from server.jobs.models import (
    ACTIVE_JOB_STATUSES,
    ENDED_JOB_STATUSES,
    EXTRACTION_JOB_TYPES,
    JobStatus,
    JobType,
    ProcessingJob,
    StopReason,
)
from server.jobs.view import JobRef
from server.projects import repository as projects
from server.projects.models import Project, ProjectStatus

_RUNNABLE = (JobStatus.PENDING, JobStatus.RUNNING)


@dataclass(frozen=True)
class Stop:
    """Why a job pauses or fails, for the record and for the researcher."""

    reason: StopReason
    message: str


PAUSED_BY_RESEARCHER = Stop(StopReason.PAUSED_BY_RESEARCHER, "paused by the researcher")
CANCELLED_BY_RESEARCHER = Stop(StopReason.CANCELLED_BY_RESEARCHER, "cancelled by the researcher")


def job_not_found(job_id: uuid.UUID) -> NotFound:
    return NotFound(f"job {job_id} not found")


# --- the researcher's ------------------------------------------------------------------------


async def pause_by_researcher(
    session: AsyncSession, events: JobEvents, job_id: uuid.UUID
) -> ProcessingJob:
    job = await _locked(session, job_id, allowed=_RUNNABLE, verb="paused")
    _check_extraction(job, "paused")
    return await _move(session, events, job, JobStatus.PAUSED, PAUSED_BY_RESEARCHER)


async def resume_by_researcher(
    session: AsyncSession, events: JobEvents, job_id: uuid.UUID
) -> ProcessingJob:
    """PAUSED -> RUNNING; the count of automatic resumes starts again."""
    job = await _locked(session, job_id, allowed=(JobStatus.PAUSED,), verb="resumed")
    _check_extraction(job, "resumed")
    job.automatic_resumes = 0
    return await _resume(session, events, job, "resumed by the researcher")


async def cancel_by_researcher(
    session: AsyncSession, events: JobEvents, job_id: uuid.UUID
) -> ProcessingJob:
    job = await _locked(session, job_id, allowed=ACTIVE_JOB_STATUSES, verb="cancelled")
    return await _move(session, events, job, JobStatus.CANCELLED, CANCELLED_BY_RESEARCHER)


def already_active() -> FailedPrecondition:
    return FailedPrecondition(
        "the project already has an active job; pause, resume or cancel it first"
    )


async def room_for_active_job(
    session: AsyncSession, user_id: uuid.UUID, limits: QuotaLimits
) -> None:
    """Before a job is added (it begins PENDING, which counts against ACTIVE_JOBS)."""
    await quotas.room_for(
        session, user_id, Quota.ACTIVE_JOBS, limits.active_jobs, repository.active_for_user
    )


async def created(
    session: AsyncSession,
    job: ProcessingJob,
    project: Project,
    message: str,
    details: dict[str, Any],
) -> None:
    """Stores a new job, PENDING; FAILED_PRECONDITION when its project has an active job (the
    database's rule, which holds against concurrent calls). Its project is SAMPLING or
    PROCESSING while an extraction job is active (a refinement job leaves it as it is)."""
    session.add(job)
    try:
        await session.flush()
    except IntegrityError as error:
        if "uq_processing_jobs_project_id_active" in str(error.orig):
            raise already_active() from error
        raise
    if job.job_type is JobType.SAMPLE:
        project.status = ProjectStatus.SAMPLING
    elif job.job_type is JobType.FULL:
        project.status = ProjectStatus.PROCESSING
    await logs.add_log(session, job, LogEventType.JOB_CREATED, message, details=details)


# --- the workers' and the supervisor's ---------------------------------------------------------


async def start(session: AsyncSession, job: JobRef) -> None:
    """PENDING -> RUNNING, once, by whichever worker claims the job's first document."""
    if await repository.mark_started(session, job.id):
        await logs.add_log(session, job, LogEventType.JOB_STARTED, "the job started")


async def pause(
    session: AsyncSession, events: JobEvents, job_id: uuid.UUID, stop: Stop
) -> ProcessingJob | None:
    """A running (or not yet started) job pauses for a reason a worker found."""
    job = await _runnable(session, job_id)
    return None if job is None else await _move(session, events, job, JobStatus.PAUSED, stop)


async def fail(
    session: AsyncSession, events: JobEvents, job_id: uuid.UUID, stop: Stop
) -> ProcessingJob | None:
    job = await _runnable(session, job_id)
    return None if job is None else await _move(session, events, job, JobStatus.FAILED, stop)


async def resume_after_breaker(
    session: AsyncSession, events: JobEvents, job_id: uuid.UUID, max_resumes: int
) -> ProcessingJob | None:
    """A job the circuit breaker paused runs again once the provider answers, at most
    max_resumes times in a row; past that it stays paused until the researcher resumes it."""
    job = await repository.get(session, job_id, lock=True, with_documents=False)
    if (
        job is None
        or job.status is not JobStatus.PAUSED
        or job.stop_reason is not StopReason.CIRCUIT_OPEN
        or job.automatic_resumes >= max_resumes
    ):
        return None
    job.automatic_resumes += 1
    return await _resume(
        session,
        events,
        job,
        f"resumed on its own: the model provider answers again "
        f"(automatic resume {job.automatic_resumes} of {max_resumes})",
    )


async def finish_if_done(
    session: AsyncSession, events: JobEvents, job_id: uuid.UUID
) -> ProcessingJob | None:
    """A running job with no document left to do is COMPLETED, or FAILED when every
    document failed."""
    job = await repository.get(session, job_id, lock=True, with_documents=False)
    if job is None or job.status is not JobStatus.RUNNING:
        return None
    counts = await worklist.work_counts(session, job_id)
    if any(counts.get(status, 0) for status in worklist.UNFINISHED):
        return None
    job.progress = 100.0
    summary = f"{job.documents_processed} documents processed, {job.documents_failed} failed"
    if job.documents_failed > 0 and job.documents_processed == 0:
        stop = Stop(StopReason.EVERY_DOCUMENT_FAILED, f"every document failed ({summary})")
        return await _move(session, events, job, JobStatus.FAILED, stop)
    return await _move(session, events, job, JobStatus.COMPLETED, None, summary)


async def complete(
    session: AsyncSession, events: JobEvents, job_id: uuid.UUID, message: str
) -> ProcessingJob | None:
    """RUNNING -> COMPLETED for a job without documents (a refinement), when its worker is
    done; None when it is no longer running (cancelled meanwhile)."""
    job = await repository.get(session, job_id, lock=True, with_documents=False)
    if job is None or job.status is not JobStatus.RUNNING:
        return None
    job.progress = 100.0
    return await _move(session, events, job, JobStatus.COMPLETED, None, message)


# --- one transition ----------------------------------------------------------------------------

# What each status is entered from, the log entry and the event that record it.
_FROM: dict[JobStatus, Sequence[JobStatus]] = {
    JobStatus.RUNNING: (JobStatus.PAUSED,),
    JobStatus.PAUSED: _RUNNABLE,
    JobStatus.CANCELLED: ACTIVE_JOB_STATUSES,
    JobStatus.COMPLETED: (JobStatus.RUNNING,),
    JobStatus.FAILED: _RUNNABLE,
}
_RECORDS: dict[JobStatus, tuple[LogEventType, EventType]] = {
    JobStatus.RUNNING: (LogEventType.JOB_RESUMED, EventType.RESUMED),
    JobStatus.PAUSED: (LogEventType.JOB_PAUSED, EventType.PAUSED),
    JobStatus.CANCELLED: (LogEventType.JOB_CANCELLED, EventType.CANCELLED),
    JobStatus.COMPLETED: (LogEventType.JOB_COMPLETED, EventType.JOB_COMPLETED),
    JobStatus.FAILED: (LogEventType.JOB_FAILED, EventType.JOB_FAILED),
}


async def _move(
    session: AsyncSession,
    events: JobEvents,
    job: ProcessingJob,
    to: JobStatus,
    stop: Stop | None,
    message: str = "",
) -> ProcessingJob:
    assert job.status in _FROM[to], f"{job.status} -> {to}"
    job.status = to
    job.stop_reason = stop.reason if stop else None
    job.status_reason = stop.message if stop else None
    if to is JobStatus.RUNNING:
        job.consecutive_failures = 0
        job.started_at = job.started_at or datetime.now(UTC)
    if to in ENDED_JOB_STATUSES:
        job.finished_at = datetime.now(UTC)
    words = stop.message if stop else message
    log_event, event_type = _RECORDS[to]
    await logs.add_log(session, job, log_event, words)
    if stop is not None and stop.reason is StopReason.CIRCUIT_OPEN:
        await logs.add_log(session, job, LogEventType.CIRCUIT_OPEN, words)
    if to in ENDED_JOB_STATUSES:
        await _settle_project(session, job)
    await session.flush()
    # While the job's row is locked: the stream keeps the order of the changes, and every
    # document's events come before the job's end.
    await events.publish(job, event_type, message=words if stop else message)
    return job


async def _resume(
    session: AsyncSession, events: JobEvents, job: ProcessingJob, message: str
) -> ProcessingJob:
    return await _move(session, events, job, JobStatus.RUNNING, None, message)


async def _settle_project(session: AsyncSession, job: ProcessingJob) -> None:
    """The project is COMPLETE once a FULL job completed it (whether its results are still
    current is worked out when it is read), and otherwise back to DRAFT: no job runs."""
    project = await projects.get_for_update(session, job.project_id)
    if project is None:
        return
    completed = (
        job.job_type is JobType.FULL and job.status is JobStatus.COMPLETED
    ) or await repository.has_completed_full_job(session, job.project_id)
    project.status = ProjectStatus.COMPLETE if completed else ProjectStatus.DRAFT


async def _locked(
    session: AsyncSession, job_id: uuid.UUID, *, allowed: Sequence[JobStatus], verb: str
) -> ProcessingJob:
    job = await repository.get(session, job_id, lock=True)
    if job is None:
        raise job_not_found(job_id)
    if job.status not in allowed:
        raise FailedPrecondition(
            f"the job is {job.status.value}; only a "
            f"{' or '.join(s.value for s in allowed)} job can be {verb}"
        )
    return job


def _check_extraction(job: ProcessingJob, verb: str) -> None:
    """A refinement job is one model call: it can be cancelled, not paused and resumed."""
    if job.job_type not in EXTRACTION_JOB_TYPES:
        raise FailedPrecondition(f"a {job.job_type.value} job cannot be {verb}; cancel it instead")


async def _runnable(session: AsyncSession, job_id: uuid.UUID) -> ProcessingJob | None:
    job = await repository.get(session, job_id, lock=True, with_documents=False)
    return job if job is not None and job.status in _RUNNABLE else None
