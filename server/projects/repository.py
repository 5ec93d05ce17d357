"""Named queries for projects and the counts that make up their processing status."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from server.core.pagination import Cursor, newest_first
from server.documents import repository as documents
from server.documents.models import DocumentStatus
from server.jobs.models import ACTIVE_JOB_STATUSES, Extraction, JobStatus, ProcessingJob
from server.projects.models import Project


@dataclass(frozen=True)
class ProcessingStatus:
    documents_by_status: dict[DocumentStatus, int] = field(default_factory=dict)
    active_job_id: uuid.UUID | None = None
    active_job_status: JobStatus | None = None
    extraction_count: int = 0


async def get(session: AsyncSession, project_id: uuid.UUID) -> Project | None:
    return await session.get(Project, project_id)


async def get_for_update(session: AsyncSession, project_id: uuid.UUID) -> Project | None:
    return await session.get(Project, project_id, with_for_update=True)


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
    )


async def has_running_job(session: AsyncSession, project_id: uuid.UUID) -> bool:
    running = await session.scalar(
        select(func.count())
        .select_from(ProcessingJob)
        .where(ProcessingJob.project_id == project_id, ProcessingJob.status == JobStatus.RUNNING)
    )
    return bool(running)
