"""Named queries for projects and the counts that make up their processing status."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from server.core.db import NO_KEY_UPDATE
from server.core.pagination import Cursor, newest_first
from server.documents import repository as documents
from server.documents.models import Document, DocumentStatus
from server.jobs.models import ACTIVE_JOB_STATUSES, Extraction, JobStatus, JobType, ProcessingJob
from server.projects.models import Project
from server.schema.models import Prompt, Variable


@dataclass(frozen=True)
class ProcessingStatus:
    documents_by_status: dict[DocumentStatus, int] = field(default_factory=dict)
    active_job_id: uuid.UUID | None = None
    active_job_status: JobStatus | None = None
    extraction_count: int = 0
    # Why the dataset of the last completed FULL job is no longer current; "" while it is
    # (or when no FULL job completed).
    stale_reason: str = ""


async def get(session: AsyncSession, project_id: uuid.UUID) -> Project | None:
    return await session.get(Project, project_id)


async def get_for_update(session: AsyncSession, project_id: uuid.UUID) -> Project | None:
    return await session.get(Project, project_id, with_for_update=NO_KEY_UPDATE)


async def list_page(session: AsyncSession, limit: int, after: Cursor | None) -> Sequence[Project]:
    return (await session.scalars(newest_first(select(Project), Project, after, limit))).all()


async def processing_status(session: AsyncSession, project_id: uuid.UUID) -> ProcessingStatus:
    active_job = (
        await session.execute(
            select(ProcessingJob.id, ProcessingJob.status).where(
                ProcessingJob.project_id == project_id,
                ProcessingJob.status.in_(ACTIVE_JOB_STATUSES),
            )
        )
    ).first()
    extraction_count = await session.scalar(
        select(func.count()).select_from(Extraction).where(Extraction.project_id == project_id)
    )
    return ProcessingStatus(
        documents_by_status=await documents.count_by_status(session, project_id),
        active_job_id=active_job.id if active_job else None,
        active_job_status=active_job.status if active_job else None,
        extraction_count=extraction_count or 0,
        stale_reason=await _stale_reason(session, project_id),
    )


async def _stale_reason(session: AsyncSession, project_id: uuid.UUID) -> str:
    """What changed since the last FULL job completed the project: variables (added or
    edited), their prompts, documents (added or parsed again). Deleting a variable or a
    document leaves the rest of the dataset current."""
    completed = await session.scalar(
        select(func.max(ProcessingJob.finished_at)).where(
            ProcessingJob.project_id == project_id,
            ProcessingJob.job_type == JobType.FULL,
            ProcessingJob.status == JobStatus.COMPLETED,
        )
    )
    if completed is None:
        return ""
    changes = (
        (
            "variables changed",
            select(Variable.id).where(
                Variable.project_id == project_id, Variable.updated_at > completed
            ),
        ),
        (
            "prompts changed",
            select(Prompt.id)
            .join(Variable, Variable.id == Prompt.variable_id)
            .where(
                Variable.project_id == project_id, Prompt.is_active, Prompt.created_at > completed
            ),
        ),
        (
            "documents were added or parsed again",
            select(Document.id).where(
                Document.project_id == project_id, Document.updated_at > completed
            ),
        ),
    )
    found = [what for what, rows in changes if await session.scalar(rows.limit(1)) is not None]
    return f"{' and '.join(found)} after the last full job completed" if found else ""


async def has_running_job(session: AsyncSession, project_id: uuid.UUID) -> bool:
    running = await session.scalar(
        select(func.count())
        .select_from(ProcessingJob)
        .where(ProcessingJob.project_id == project_id, ProcessingJob.status == JobStatus.RUNNING)
    )
    return bool(running)
