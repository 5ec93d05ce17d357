"""Named queries for projects."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from server.core.db import NO_KEY_UPDATE
from server.core.pagination import Cursor, newest_first
from server.projects.models import Project


async def get(session: AsyncSession, project_id: uuid.UUID) -> Project | None:
    return await session.get(Project, project_id)


async def get_for_update(session: AsyncSession, project_id: uuid.UUID) -> Project | None:
    return await session.get(Project, project_id, with_for_update=NO_KEY_UPDATE)


async def count_for_user(session: AsyncSession, user_id: uuid.UUID) -> int:
    """The user's projects (the PROJECTS quota)."""
    count = await session.scalar(
        select(func.count()).select_from(Project).where(Project.user_id == user_id)
    )
    return count or 0


async def list_page(session: AsyncSession, limit: int, after: Cursor | None) -> Sequence[Project]:
    return (await session.scalars(newest_first(select(Project), Project, after, limit))).all()
