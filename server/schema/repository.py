"""Named queries for variables and their prompt versions."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.ext.asyncio import AsyncSession

from server.schema.models import Prompt, Variable


async def get(session: AsyncSession, variable_id: uuid.UUID) -> Variable | None:
    return await session.get(Variable, variable_id)


async def list_for_project(session: AsyncSession, project_id: uuid.UUID) -> Sequence[Variable]:
    statement = select(Variable).where(Variable.project_id == project_id).order_by(Variable.order)
    return (await session.scalars(statement)).all()


async def dependants(session: AsyncSession, variable_id: uuid.UUID) -> Sequence[Variable]:
    """Variables whose depends_on names this one."""
    statement = select(Variable).where(Variable.depends_on.any_() == variable_id)
    return (await session.scalars(statement)).all()


async def active_prompts(
    session: AsyncSession, variable_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, Prompt]:
    statement = select(Prompt).where(Prompt.variable_id.in_(variable_ids), Prompt.is_active)
    return {prompt.variable_id: prompt for prompt in (await session.scalars(statement)).all()}


async def newest_prompts(
    session: AsyncSession, variable_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, Prompt]:
    """Each variable's highest version (active or not)."""
    statement = (
        select(Prompt)
        .where(Prompt.variable_id.in_(variable_ids))
        .order_by(Prompt.variable_id, Prompt.version.desc())
        .ext(distinct_on(Prompt.variable_id))
    )
    return {prompt.variable_id: prompt for prompt in (await session.scalars(statement)).all()}


async def prompt_versions(session: AsyncSession, variable_id: uuid.UUID) -> Sequence[Prompt]:
    """A variable's prompt versions, newest first."""
    statement = (
        select(Prompt).where(Prompt.variable_id == variable_id).order_by(Prompt.version.desc())
    )
    return (await session.scalars(statement)).all()


async def prompt_version(
    session: AsyncSession, variable_id: uuid.UUID, version: int
) -> Prompt | None:
    statement = select(Prompt).where(Prompt.variable_id == variable_id, Prompt.version == version)
    return await session.scalar(statement)


async def next_prompt_version(session: AsyncSession, variable_id: uuid.UUID) -> int:
    highest = await session.scalar(
        select(func.max(Prompt.version)).where(Prompt.variable_id == variable_id)
    )
    return 1 if highest is None else highest + 1


async def deactivate_prompts(session: AsyncSession, variable_id: uuid.UUID) -> None:
    await session.execute(
        update(Prompt)
        .where(Prompt.variable_id == variable_id, Prompt.is_active)
        .values(is_active=False)
    )
