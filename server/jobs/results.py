"""Named queries for a job's results: the extractions (one row per document, entity and
variable, overwritten when a document is read again) and, for a document whose extraction left
no values, what it left (its outcome)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import Text, and_, any_, bindparam, delete, func, or_, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncSession

from server.core.db import table_of, uuid_array
from server.core.pagination import Cursor, oldest_first
from server.documents.models import Document
from server.jobs.models import (
    DocumentExtractionOutcome,
    DocumentOutcome,
    EvidenceMatch,
    Extraction,
    ExtractionStatus,
)
from server.jobs.view import JobRef

_EXTRACTIONS = table_of(Extraction)
_OUTCOMES = table_of(DocumentExtractionOutcome)


async def list_extractions(
    session: AsyncSession,
    project_id: uuid.UUID,
    *,
    job_id: uuid.UUID | None,
    document_id: uuid.UUID | None,
    variable_id: uuid.UUID | None,
    statuses: Sequence[ExtractionStatus],
    evidence: Sequence[EvidenceMatch],
    limit: int,
    after: Cursor | None,
) -> Sequence[Extraction]:
    statement = select(Extraction).where(Extraction.project_id == project_id)
    if job_id is not None:
        statement = statement.where(Extraction.job_id == job_id)
    if document_id is not None:
        statement = statement.where(Extraction.document_id == document_id)
    if variable_id is not None:
        statement = statement.where(Extraction.variable_id == variable_id)
    if statuses:
        statement = statement.where(Extraction.status.in_(statuses))
    if evidence:
        statement = statement.where(Extraction.evidence_match.in_(evidence))
    return (await session.scalars(oldest_first(statement, Extraction, after, limit))).all()


async def documents_already_done(
    session: AsyncSession,
    document_ids: Sequence[uuid.UUID],
    active_prompt_ids: Sequence[uuid.UUID],
    variable_count: int,
    entity_prompt_hash: str | None,
    retry_failed: bool,
) -> set[uuid.UUID]:
    """Documents a job skips: every variable has values from its active prompt read from the
    document's present text, none failed; or the last extraction of the present text found
    no entities (with the same entity prompt); or it failed as a whole, unless the job
    retries failures."""
    if not document_ids or not active_prompt_ids:
        return set()
    ids = uuid_array(document_ids)
    current = and_(
        Extraction.prompt_id == any_(uuid_array(active_prompt_ids)),
        Extraction.status != ExtractionStatus.FAILED,
        Extraction.text_hash == Document.text_hash,
    )
    extracted = (
        select(Extraction.document_id)
        .join(Document, Document.id == Extraction.document_id)
        .where(Extraction.document_id == any_(ids))
        .group_by(Extraction.document_id)
        .having(
            and_(
                func.bool_and(current),
                func.count(Extraction.variable_id.distinct()) == variable_count,
            )
        )
    )
    settled = [
        and_(
            _OUTCOMES.c.outcome == DocumentOutcome.NO_ENTITIES,
            _OUTCOMES.c.entity_prompt_hash == entity_prompt_hash,
        )
    ]
    if not retry_failed:
        settled.append(_OUTCOMES.c.outcome == DocumentOutcome.FAILED)
    without_values = (
        select(_OUTCOMES.c.document_id)
        .join(Document, Document.id == _OUTCOMES.c.document_id)
        .where(
            _OUTCOMES.c.document_id == any_(ids),
            _OUTCOMES.c.text_hash == Document.text_hash,
            or_(*settled),
        )
    )
    return set(await session.scalars(extracted.union(without_values)))


_CURRENT_VARIABLES = (
    select(
        _EXTRACTIONS.c.variable_id,
        func.bool_and(
            and_(
                _EXTRACTIONS.c.prompt_id.in_(bindparam("prompt_ids", expanding=True)),
                _EXTRACTIONS.c.status != ExtractionStatus.FAILED,
                _EXTRACTIONS.c.text_hash == bindparam("text_hash", type_=Text),
            )
        ),
    )
    .where(_EXTRACTIONS.c.document_id == bindparam("document_id"))
    .group_by(_EXTRACTIONS.c.variable_id)
)


async def current_variables(
    session: AsyncSession,
    document_id: uuid.UUID,
    active_prompt_ids: Iterable[uuid.UUID],
    text_hash: str | None,
) -> set[uuid.UUID]:
    """Variables whose every stored value for the document came from its active prompt,
    was read from the document's present text (text_hash) and did not fail: nothing to do
    for them."""
    rows = await session.execute(
        _CURRENT_VARIABLES,
        {"document_id": document_id, "prompt_ids": list(active_prompt_ids), "text_hash": text_hash},
    )
    return {variable_id for variable_id, current in rows.all() if current}


# Re-processing overwrites: one row per (document, entity, variable). Rows carry every column
# but the timestamps (see save_extractions).
_NOT_OVERWRITTEN = {"id", "user_id", "document_id", "entity_key", "variable_id", "created_at"}
_INSERT_EXTRACTIONS = insert(_EXTRACTIONS)
_UPSERT_EXTRACTIONS = _INSERT_EXTRACTIONS.on_conflict_do_update(
    index_elements=["document_id", "entity_key", "variable_id"],
    set_={
        column.key: func.now()
        if column.key == "updated_at"
        else _INSERT_EXTRACTIONS.excluded[column.key]
        for column in _EXTRACTIONS.columns
        if column.key not in _NOT_OVERWRITTEN
    },
)
_DELETE_EXTRACTIONS = delete(_EXTRACTIONS).where(
    _EXTRACTIONS.c.document_id == bindparam("document_id")
)
_DELETE_OTHER_ENTITIES = _DELETE_EXTRACTIONS.where(
    _EXTRACTIONS.c.entity_key.not_in(bindparam("entity_keys", expanding=True))
)


@dataclass(frozen=True)
class ExtractionRow:
    """One extraction as saved: every column of extractions but created_at and updated_at."""

    id: uuid.UUID
    user_id: uuid.UUID
    project_id: uuid.UUID
    document_id: uuid.UUID
    variable_id: uuid.UUID
    job_id: uuid.UUID
    prompt_id: uuid.UUID
    prompt_version: int
    entity_key: str
    entity_name: str
    value: Any
    raw_response: list[Any]
    confidence: float | None
    source_text: str | None
    source_start: int | None
    source_end: int | None
    evidence_match: EvidenceMatch
    value_evidence: list[dict[str, Any]] | None
    status: ExtractionStatus
    error: str | None
    text_hash: str | None
    best_guess: bool
    llm_provider: str
    llm_model: str
    input_tokens: int
    output_tokens: int
    cost_usd: Decimal


async def save_extractions(
    session: AsyncSession,
    document_id: uuid.UUID,
    rows: Sequence[ExtractionRow],
    entity_keys: set[str],
) -> None:
    """Writes the document's extractions over the previous ones (one row per entity and
    variable) and removes those of entities the document no longer yields."""
    if entity_keys:
        await session.execute(
            _DELETE_OTHER_ENTITIES,
            {"document_id": document_id, "entity_keys": sorted(entity_keys)},
        )
    else:
        await session.execute(_DELETE_EXTRACTIONS, {"document_id": document_id})
    if rows:
        await session.execute(_UPSERT_EXTRACTIONS, [vars(row) for row in rows])


# --- what a document's last extraction left when it left no values -------------------------

_GET_OUTCOME = select(_OUTCOMES).where(_OUTCOMES.c.document_id == bindparam("document_id"))
_INSERT_OUTCOME = insert(_OUTCOMES)
_UPSERT_OUTCOME = _INSERT_OUTCOME.on_conflict_do_update(
    index_elements=["document_id"],
    set_={
        "job_id": _INSERT_OUTCOME.excluded.job_id,
        "outcome": _INSERT_OUTCOME.excluded.outcome,
        "error": _INSERT_OUTCOME.excluded.error,
        "text_hash": _INSERT_OUTCOME.excluded.text_hash,
        "entity_prompt_hash": _INSERT_OUTCOME.excluded.entity_prompt_hash,
        "updated_at": func.now(),
    },
)
_DELETE_OUTCOME = delete(_OUTCOMES).where(_OUTCOMES.c.document_id == bindparam("document_id"))


async def outcome_of(session: AsyncSession, document_id: uuid.UUID) -> Row[Any] | None:
    return (await session.execute(_GET_OUTCOME, {"document_id": document_id})).first()


async def set_outcome(
    session: AsyncSession,
    job: JobRef,
    document_id: uuid.UUID,
    outcome: DocumentOutcome | None,
    *,
    error: str | None = None,
    text_hash: str | None = None,
    entity_prompt_hash: str | None = None,
) -> None:
    """Records what the document's extraction left; None: it left values (no record)."""
    if outcome is None:
        await session.execute(_DELETE_OUTCOME, {"document_id": document_id})
        return
    await session.execute(
        _UPSERT_OUTCOME,
        {
            "id": uuid.uuid4(),
            "user_id": job.user_id,
            "project_id": job.project_id,
            "document_id": document_id,
            "job_id": job.id,
            "outcome": outcome,
            "error": error,
            "text_hash": text_hash,
            "entity_prompt_hash": entity_prompt_hash,
        },
    )
