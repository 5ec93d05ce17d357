"""Named queries for the researcher's feedback on extracted values."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from server.core.db import table_of
from server.core.pagination import Cursor, newest_first
from server.jobs.models import Extraction, ExtractionFeedback, FeedbackType

_FEEDBACK = table_of(ExtractionFeedback)
# One verdict per researcher on a judged value: the index a second verdict conflicts on.
_JUDGMENT = next(i for i in _FEEDBACK.indexes if i.name == "uq_extraction_feedback_judgment")
_KEPT_ON_REPLACE = {"id", "user_id", "created_at"}

# The extraction no longer holds what was judged: it is gone, or holds another value or a
# value from another prompt version.
_SUPERSEDED = or_(
    Extraction.id.is_(None),
    Extraction.prompt_version.is_distinct_from(ExtractionFeedback.prompt_version),
    Extraction.value.is_distinct_from(ExtractionFeedback.judged_value),
).label("superseded")


async def extraction_to_judge(session: AsyncSession, extraction_id: uuid.UUID) -> Extraction | None:
    """The extraction, share-locked until the transaction ends, so that a job cannot overwrite
    or delete it while a verdict on its value is recorded."""
    statement = select(Extraction).where(Extraction.id == extraction_id).with_for_update(read=True)
    return (await session.scalars(statement)).one_or_none()


async def save(session: AsyncSession, row: Mapping[str, Any]) -> ExtractionFeedback:
    """Stores a verdict, or replaces the researcher's earlier verdict on the same judged value
    (which keeps its id and create time). `row` gives every column but the timestamps."""
    inserted = insert(ExtractionFeedback).values(**row)
    upsert = inserted.on_conflict_do_update(
        constraint=_JUDGMENT,
        set_={
            column.key: func.now() if column.key == "updated_at" else inserted.excluded[column.key]
            for column in _FEEDBACK.columns
            if column.key not in _KEPT_ON_REPLACE
        },
    ).returning(ExtractionFeedback)
    result = await session.scalars(upsert, execution_options={"populate_existing": True})
    return result.one()


async def list_page(
    session: AsyncSession,
    project_id: uuid.UUID,
    *,
    variable_id: uuid.UUID | None,
    job_id: uuid.UUID | None,
    feedback_types: Sequence[FeedbackType],
    limit: int,
    after: Cursor | None,
) -> Sequence[tuple[ExtractionFeedback, bool]]:
    """The project's feedback, newest first, each with whether it is superseded."""
    statement = (
        select(ExtractionFeedback)
        .outerjoin(Extraction, Extraction.id == ExtractionFeedback.extraction_id)
        .where(ExtractionFeedback.project_id == project_id)
    )
    if variable_id is not None:
        statement = statement.where(ExtractionFeedback.variable_id == variable_id)
    if job_id is not None:
        statement = statement.where(ExtractionFeedback.job_id == job_id)
    if feedback_types:
        statement = statement.where(ExtractionFeedback.feedback_type.in_(feedback_types))
    page = newest_first(statement, ExtractionFeedback, after, limit).add_columns(_SUPERSEDED)
    rows = await session.execute(page)
    return [(feedback, bool(superseded)) for feedback, superseded in rows.all()]
