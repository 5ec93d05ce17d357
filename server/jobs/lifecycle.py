"""The end of a job, decided in one place whoever notices it: the worker that finished the
last document, or ResumeJob on a job paused after its last document."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from server.core.db import Database
from server.jobs import events as event_types
from server.jobs import repository
from server.jobs.events import JobEvents
from server.jobs.models import JobStatus, JobType, LogEventType
from server.projects import repository as projects
from server.projects.models import ProjectStatus


async def finish_if_done(
    db: Database, events: JobEvents, user_id: uuid.UUID, job_id: uuid.UUID
) -> None:
    """A running job with no document left to do is COMPLETED (FAILED when every document
    failed); a FULL job's completion completes its project."""
    async with db.transaction(user_id) as session:
        job = await repository.get(session, job_id, lock=True, with_documents=False)
        if job is None or job.status is not JobStatus.RUNNING:
            return
        counts = await repository.work_counts(session, job_id)
        if any(counts.get(status, 0) for status in repository.UNFINISHED):
            return
        all_failed = job.documents_failed > 0 and job.documents_processed == 0
        job.status = JobStatus.FAILED if all_failed else JobStatus.COMPLETED
        job.finished_at = datetime.now(UTC)
        job.progress = 100.0
        if all_failed:
            job.status_reason = "every document failed"
        message = f"{job.documents_processed} documents processed, {job.documents_failed} failed"
        await repository.add_log(
            session,
            job,
            LogEventType.JOB_FAILED if all_failed else LogEventType.JOB_COMPLETED,
            message,
        )
        if job.job_type is JobType.FULL and not all_failed:
            project = await projects.get_for_update(session, job.project_id)
            if project is not None:
                project.status = ProjectStatus.COMPLETE
        await session.flush()
        # While the job's row is locked: after every document's events (see the runner).
        await events.publish(
            job,
            event_types.JOB_FAILED if all_failed else event_types.JOB_COMPLETED,
            message=message,
        )
