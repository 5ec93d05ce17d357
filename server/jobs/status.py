"""A project's processing status (its documents, active job, extractions and whether its
dataset is current) and GetProject's read of a project with its variables and that status.
They live in the jobs domain, the lowest that sees documents, variables and jobs together."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Select, Text, bindparam, cast, func, select
from sqlalchemy.dialects.postgresql import UUID, array
from sqlalchemy.ext.asyncio import AsyncSession

from server.core.db import Database
from server.documents.models import Document, DocumentStatus
from server.jobs.models import ACTIVE_JOB_STATUSES, Extraction, JobStatus, JobType, ProcessingJob
from server.projects import repository as projects
from server.projects.models import Project
from server.projects.service import project_not_found
from server.schema import repository as variables
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


@dataclass(frozen=True)
class ProjectDetails:
    project: Project
    variables: Sequence[Variable]
    processing_status: ProcessingStatus


class ProjectOverview:
    """GetProject's read: the project, its variables and its processing status in one
    transaction."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def get(self, user_id: uuid.UUID, project_id: uuid.UUID) -> ProjectDetails:
        async with self._db.transaction(user_id) as session:
            project = await projects.get(session, project_id)
            if project is None:
                raise project_not_found(project_id)
            return ProjectDetails(
                project=project,
                variables=await variables.list_for_project(session, project_id),
                processing_status=await processing_status(session, project_id),
            )


async def processing_status(session: AsyncSession, project_id: uuid.UUID) -> ProcessingStatus:
    """The project's processing status, in one statement (GetProject reads it on every call)."""
    row = (await session.execute(_PROCESSING_STATUS, {"project_id": project_id})).one()
    stale = [what for what, changed in zip(_STALE_BECAUSE, row.stale, strict=True) if changed]
    return ProcessingStatus(
        documents_by_status={
            DocumentStatus(status): count for status, count in (row.documents or {}).items()
        },
        active_job_id=row.active_job_id,
        active_job_status=JobStatus(row.active_job_status) if row.active_job_status else None,
        extraction_count=row.extraction_count,
        stale_reason=f"{' and '.join(stale)} after the last full job completed" if stale else "",
    )


def _processing_status() -> Select[Any]:
    """The statement behind processing_status, built once. The dataset of the last completed
    FULL job is stale when variables (added or edited), their prompts or documents (added or
    parsed again) changed after it; deleting a variable or a document leaves the rest of the
    dataset current. With no completed FULL job every comparison is NULL: not stale."""
    project_id = bindparam("project_id", type_=UUID(as_uuid=True))
    active_job = (
        select(ProcessingJob.id, ProcessingJob.status)
        .where(
            ProcessingJob.project_id == project_id,
            ProcessingJob.status.in_(ACTIVE_JOB_STATUSES),
        )
        .order_by(ProcessingJob.created_at)
        .limit(1)
        # Read twice below (its id and its status): as a CTE, PostgreSQL runs it once.
        .cte("active_job")
    )
    documents = (
        select(Document.status, func.count().label("count"))
        .where(Document.project_id == project_id)
        .group_by(Document.status)
        .subquery()
    )
    completed = (
        select(func.max(ProcessingJob.finished_at))
        .where(
            ProcessingJob.project_id == project_id,
            ProcessingJob.job_type == JobType.FULL,
            ProcessingJob.status == JobStatus.COMPLETED,
        )
        .scalar_subquery()
    )
    changes = (
        select(Variable.id)
        .where(Variable.project_id == project_id, Variable.updated_at > completed)
        .exists(),
        select(Prompt.id)
        .join(Variable, Variable.id == Prompt.variable_id)
        .where(Variable.project_id == project_id, Prompt.is_active, Prompt.created_at > completed)
        .exists(),
        select(Document.id)
        .where(Document.project_id == project_id, Document.updated_at > completed)
        .exists(),
    )
    return select(
        select(func.json_object_agg(documents.c.status, documents.c.count))
        .scalar_subquery()
        .label("documents"),
        select(active_job.c.id).scalar_subquery().label("active_job_id"),
        select(cast(active_job.c.status, Text)).scalar_subquery().label("active_job_status"),
        select(func.count())
        .select_from(Extraction)
        .where(Extraction.project_id == project_id)
        .scalar_subquery()
        .label("extraction_count"),
        array(changes).label("stale"),
    )


_PROCESSING_STATUS = _processing_status()
# What each of the statement's stale flags says, in its order.
_STALE_BECAUSE = (
    "variables changed",
    "prompts changed",
    "documents were added or parsed again",
)


async def has_running_job(session: AsyncSession, project_id: uuid.UUID) -> bool:
    running = await session.scalar(
        select(func.count())
        .select_from(ProcessingJob)
        .where(ProcessingJob.project_id == project_id, ProcessingJob.status == JobStatus.RUNNING)
    )
    return bool(running)
