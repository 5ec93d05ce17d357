"""Named queries for variables."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from server.schema.models import Variable


async def get(session: AsyncSession, variable_id: uuid.UUID) -> Variable | None:
    return await session.get(Variable, variable_id)


async def list_for_project(session: AsyncSession, project_id: uuid.UUID) -> Sequence[Variable]:
    statement = select(Variable).where(Variable.project_id == project_id).order_by(Variable.order)
    return (await session.scalars(statement)).all()


async def next_order(session: AsyncSession, project_id: uuid.UUID) -> int:
    highest = await session.scalar(
        select(func.max(Variable.order)).where(Variable.project_id == project_id)
    )
    return 0 if highest is None else highest + 1


async def dependants(session: AsyncSession, variable_id: uuid.UUID) -> Sequence[Variable]:
    """Variables whose depends_on names this one."""
    statement = select(Variable).where(Variable.depends_on.any_() == variable_id)
    return (await session.scalars(statement)).all()
