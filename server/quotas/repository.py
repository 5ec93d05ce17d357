"""Named queries for quotas: what a user holds of each, and the lock that makes a check and
the insert after it one step for that user."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from server.core.db import lock_for_user
from server.documents.models import Document, UploadSession
from server.jobs.models import ACTIVE_JOB_STATUSES, ProcessingJob
from server.projects.models import Project
from server.quotas.limits import Quota


async def lock(session: AsyncSession, user_id: uuid.UUID, quota: Quota) -> None:
    """Waits until no other transaction of the user holds this quota's lock, kept to the
    commit: two creates cannot both take the last free place."""
    await lock_for_user(session, f"quota:{quota.name}", user_id)


async def projects(session: AsyncSession, user_id: uuid.UUID) -> int:
    count = await session.scalar(
        select(func.count()).select_from(Project).where(Project.user_id == user_id)
    )
    return count or 0


async def documents(session: AsyncSession, user_id: uuid.UUID) -> tuple[int, int]:
    """(documents, bytes stored): the user's documents and the bytes of their originals plus
    those received so far by unfinished resumable uploads."""
    count, stored = (
        await session.execute(
            select(func.count(), func.coalesce(func.sum(Document.size_bytes), 0)).where(
                Document.user_id == user_id
            )
        )
    ).one()
    uploading = await session.scalar(
        select(func.coalesce(func.sum(UploadSession.received_bytes), 0)).where(
            UploadSession.user_id == user_id
        )
    )
    return int(count), int(stored) + int(uploading or 0)


async def active_jobs(session: AsyncSession, user_id: uuid.UUID) -> int:
    count = await session.scalar(
        select(func.count())
        .select_from(ProcessingJob)
        .where(ProcessingJob.user_id == user_id, ProcessingJob.status.in_(ACTIVE_JOB_STATUSES))
    )
    return count or 0
