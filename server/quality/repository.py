"""Named queries for quality measurement: samples, codes, the model's values per prompt
version, review verdicts and refinements of a variable."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Row, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from server.jobs.models import Extraction, ExtractionFeedback, ExtractionStatus
from server.quality.models import CodingSample, HumanCode, Refinement, ValueSnapshot


async def add_sample(session: AsyncSession, sample: CodingSample) -> CodingSample:
    session.add(sample)
    await session.flush()
    return sample


async def sample_named(session: AsyncSession, project_id: uuid.UUID, name: str) -> bool:
    statement = select(CodingSample.id).where(
        CodingSample.project_id == project_id, CodingSample.name == name
    )
    return (await session.scalar(statement)) is not None


async def get_sample(session: AsyncSession, sample_id: uuid.UUID) -> CodingSample | None:
    return await session.get(CodingSample, sample_id)


async def samples(session: AsyncSession, project_id: uuid.UUID) -> Sequence[CodingSample]:
    statement = (
        select(CodingSample)
        .where(CodingSample.project_id == project_id)
        .order_by(CodingSample.created_at.desc(), CodingSample.id)
    )
    return (await session.scalars(statement)).all()


async def save_codes(session: AsyncSession, rows: Sequence[Mapping[str, Any]]) -> None:
    """Stores codes; a coder's code for a unit and variable replaces the earlier one."""
    if not rows:
        return
    inserted = insert(HumanCode).values(list(rows))
    await session.execute(
        inserted.on_conflict_do_update(
            index_elements=["variable_id", "document_id", "entity_key", "coder"],
            set_={
                "value": inserted.excluded.value,
                "note": inserted.excluded.note,
                "entity_name": inserted.excluded.entity_name,
                "sample_id": inserted.excluded.sample_id,
                "updated_at": func.now(),
            },
        )
    )


async def codes(
    session: AsyncSession,
    project_id: uuid.UUID,
    *,
    coder: str = "",
    sample_id: uuid.UUID | None = None,
    variable_id: uuid.UUID | None = None,
) -> Sequence[HumanCode]:
    statement = select(HumanCode).where(HumanCode.project_id == project_id)
    if coder:
        statement = statement.where(HumanCode.coder == coder)
    if sample_id is not None:
        statement = statement.where(HumanCode.sample_id == sample_id)
    if variable_id is not None:
        statement = statement.where(HumanCode.variable_id == variable_id)
    ordered = statement.order_by(
        HumanCode.coder, HumanCode.document_id, HumanCode.entity_key, HumanCode.variable_id
    )
    return (await session.scalars(ordered)).all()


async def verdicts(session: AsyncSession, variable_id: uuid.UUID) -> Sequence[ExtractionFeedback]:
    statement = select(ExtractionFeedback).where(ExtractionFeedback.variable_id == variable_id)
    return (await session.scalars(statement)).all()


async def extractions(session: AsyncSession, variable_id: uuid.UUID) -> Sequence[Row[Any]]:
    """The variable's values in the dataset now, with what a comparison needs of them (not
    the raw responses and evidence); a failed extraction has none."""
    statement = select(
        Extraction.document_id,
        Extraction.entity_key,
        Extraction.prompt_version,
        Extraction.value,
        Extraction.confidence,
        Extraction.cost_usd,
        Extraction.source_text,
        Extraction.llm_provider,
        Extraction.llm_model,
    ).where(Extraction.variable_id == variable_id, Extraction.status != ExtractionStatus.FAILED)
    return (await session.execute(statement)).all()


async def snapshots(session: AsyncSession, variable_id: uuid.UUID) -> Sequence[ValueSnapshot]:
    statement = select(ValueSnapshot).where(ValueSnapshot.variable_id == variable_id)
    return (await session.scalars(statement)).all()


async def save_snapshots(session: AsyncSession, rows: Sequence[Mapping[str, Any]]) -> None:
    """Keeps the model's values of a prompt version; a value already kept stays."""
    if rows:
        await session.execute(insert(ValueSnapshot).values(list(rows)).on_conflict_do_nothing())


async def add_refinement(session: AsyncSession, refinement: Refinement) -> Refinement:
    session.add(refinement)
    await session.flush()
    return refinement


async def get_refinement(
    session: AsyncSession, refinement_id: uuid.UUID, *, for_update: bool = False
) -> Refinement | None:
    return await session.get(Refinement, refinement_id, with_for_update=for_update)


async def refinements(session: AsyncSession, variable_id: uuid.UUID) -> Sequence[Refinement]:
    statement = (
        select(Refinement)
        .where(Refinement.variable_id == variable_id)
        .order_by(Refinement.created_at.desc(), Refinement.id)
    )
    return (await session.scalars(statement)).all()
