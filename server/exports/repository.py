"""Queries of the export domain: the dataset's header and its rows streamed from PostgreSQL
(a server-side cursor, so memory does not grow with the corpus), and the exports' rows and
file parts. Side-effect free: the service owns the transactions."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Text, and_, cast, delete, func, literal, select, text, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from server.core.pagination import Cursor, newest_first
from server.documents.models import Document, DocumentStatus
from server.exports.dataset import (
    NOT_PROCESSED,
    Category,
    Cell,
    CellStatus,
    DatasetHeader,
    FeedbackAgreement,
    PromptSpec,
    RunSummary,
    Unit,
    VariableSpec,
)
from server.exports.models import Export, ExportPart
from server.jobs.evidence import Evidence, ValueEvidence, stored_evidence
from server.jobs.models import (
    EXTRACTION_JOB_TYPES,
    DocumentExtractionOutcome,
    DocumentOutcome,
    EvidenceMatch,
    Extraction,
    ExtractionFeedback,
    ExtractionStatus,
    FeedbackType,
    ProcessingJob,
)
from server.projects.models import Project
from server.quality import assessment as quality
from server.schema import repository as schema
from server.schema.models import Prompt, Variable

# Units fetched from the server-side cursor at a time (each with all of its extractions).
STREAM_BATCH_UNITS = 200


@dataclass(frozen=True, slots=True)
class UnitKey:
    """Where a unit sits in the dataset's order: by file name, document id, entity key."""

    filename: str
    document_id: uuid.UUID
    entity_key: str


# --- the header ----------------------------------------------------------------------------


async def header(
    session: AsyncSession,
    project: Project,
    include_metadata: bool,
    *,
    with_run: bool = True,
    with_reliability: bool = False,
) -> DatasetHeader:
    """The dataset's header; with_run False leaves out what the jobs did and the feedback
    (the results table shows neither, and counting them reads the whole project);
    with_reliability adds the agreement with human codings (for a codebook: it reads every
    value of every variable)."""
    variables = await schema.list_for_project(session, project.id)
    prompts = await schema.active_prompts(session, [v.id for v in variables])
    names = {variable.id: variable.name for variable in variables}
    return DatasetHeader(
        project_id=project.id,
        project_name=project.name,
        project_description=project.description,
        domain=project.domain,
        language=project.language,
        unit=project.unit_of_observation,
        entity_pattern=project.entity_identification_pattern,
        variables=tuple(
            _variable_spec(variable, prompts.get(variable.id), names) for variable in variables
        ),
        run=await run_summary(session, project.id) if with_run else None,
        agreement=await agreement(session, project.id) if with_run else {},
        reliability={
            variable.id: await quality.reliability(
                session, variable, prompts[variable.id].version if variable.id in prompts else None
            )
            for variable in variables
        }
        if with_reliability
        else {},
        include_metadata=include_metadata,
        generated_at=datetime.now(UTC),
    )


def _variable_spec(
    variable: Variable, prompt: Prompt | None, names: dict[uuid.UUID, str]
) -> VariableSpec:
    rules = variable.classification_rules or {}
    return VariableSpec(
        id=variable.id,
        name=variable.name,
        display_name=variable.display_name,
        type=variable.type,
        instructions=variable.instructions,
        categories=tuple(
            Category(str(c.get("label", "")), str(c.get("definition", "")))
            for c in rules.get("categories", [])
        ),
        selection_logic=str(rules.get("selection_logic", "")),
        confidence_threshold=variable.confidence_threshold,
        if_uncertain=variable.if_uncertain,
        if_multiple_values=variable.if_multiple_values,
        max_values=variable.max_values,
        default_value=variable.default_value,
        validation_rules=dict(variable.validation_rules),
        depends_on=tuple(names[d] for d in variable.depends_on if d in names),
        prompt=None if prompt is None else _prompt_spec(prompt),
    )


def _prompt_spec(prompt: Prompt) -> PromptSpec:
    text_of_prompt = f"{prompt.system_prompt}\n\n{prompt.user_prompt_template}"
    return PromptSpec(
        version=prompt.version,
        provider=prompt.provider,
        model=prompt.model,
        temperature=prompt.temperature,
        max_tokens=prompt.max_tokens,
        system_prompt=prompt.system_prompt,
        user_prompt_template=prompt.user_prompt_template,
        sha256=hashlib.sha256(text_of_prompt.encode()).hexdigest(),
    )


def _has_values() -> Any:
    """Whether the (outer query's) document has any extraction."""
    return select(Extraction.id).where(Extraction.document_id == Document.id).exists()


async def run_summary(session: AsyncSession, project_id: uuid.UUID) -> RunSummary:
    jobs = (
        await session.execute(
            select(
                func.count(),
                func.coalesce(func.sum(ProcessingJob.input_tokens), 0),
                func.coalesce(func.sum(ProcessingJob.output_tokens), 0),
                func.coalesce(func.sum(ProcessingJob.cost_usd), 0),
                func.min(ProcessingJob.created_at),
                func.max(ProcessingJob.created_at),
            ).where(ProcessingJob.project_id == project_id)
        )
    ).one()
    outcome = DocumentExtractionOutcome.outcome
    has_values = _has_values()
    ready = Document.status == DocumentStatus.READY
    failed = and_(ready, outcome == DocumentOutcome.FAILED, ~has_values)
    processed = and_(ready, ~failed, has_values | (outcome == DocumentOutcome.NO_ENTITIES))
    documents = (
        await session.execute(
            select(
                func.count(),
                func.count().filter(processed),
                func.count().filter(failed),
                func.count().filter(ready),
                func.count().filter(Document.status == DocumentStatus.FAILED),
            )
            .select_from(Document)
            .outerjoin(
                DocumentExtractionOutcome,
                DocumentExtractionOutcome.document_id == Document.id,
            )
            .where(Document.project_id == project_id)
        )
    ).one()
    modes = await session.scalars(
        select(ProcessingJob.extraction_mode)
        .where(
            ProcessingJob.project_id == project_id,
            ProcessingJob.job_type.in_(EXTRACTION_JOB_TYPES),
        )
        .distinct()
        .order_by(ProcessingJob.extraction_mode)
    )
    models = await session.execute(
        select(Extraction.llm_provider, Extraction.llm_model)
        .where(Extraction.project_id == project_id, Extraction.llm_provider.is_not(None))
        .distinct()
        .order_by(Extraction.llm_provider, Extraction.llm_model)
    )
    total, done, failed_count, ready_count, unreadable = documents
    return RunSummary(
        jobs=jobs[0],
        documents_total=total,
        documents_processed=done,
        documents_failed=failed_count,
        documents_not_processed=ready_count - done - failed_count,
        documents_unreadable=unreadable,
        input_tokens=int(jobs[1]),
        output_tokens=int(jobs[2]),
        cost_usd=Decimal(jobs[3]),
        models=tuple(f"{provider}/{model}" for provider, model in models.all()),
        extraction_modes=tuple(modes.all()),
        first_job_at=jobs[4],
        last_job_at=jobs[5],
    )


async def agreement(
    session: AsyncSession, project_id: uuid.UUID
) -> dict[uuid.UUID, FeedbackAgreement]:
    """The researcher's verdicts per variable."""
    rows = await session.execute(
        select(Extraction.variable_id, ExtractionFeedback.feedback_type, func.count())
        .join(Extraction, Extraction.id == ExtractionFeedback.extraction_id)
        .where(Extraction.project_id == project_id)
        .group_by(Extraction.variable_id, ExtractionFeedback.feedback_type)
    )
    counts: dict[uuid.UUID, dict[FeedbackType, int]] = {}
    for variable_id, feedback_type, count in rows.all():
        counts.setdefault(variable_id, {})[feedback_type] = count
    return {
        variable_id: FeedbackAgreement(
            judged=sum(by_type.values()),
            correct=by_type.get(FeedbackType.CORRECT, 0),
            partially_correct=by_type.get(FeedbackType.PARTIALLY_CORRECT, 0),
            incorrect=by_type.get(FeedbackType.INCORRECT, 0),
        )
        for variable_id, by_type in counts.items()
    }


# --- the rows ------------------------------------------------------------------------------


async def stream_units(
    session: AsyncSession,
    header: DatasetHeader,
    *,
    document_ids: Sequence[uuid.UUID] | None = None,
    after: UnitKey | None = None,
    batch_units: int = STREAM_BATCH_UNITS,
) -> AsyncGenerator[list[Unit], None]:
    """The dataset's rows in order, in batches: every READY document of the project (and any
    other that has values), one row per document, or per entity found in it. A document
    without values is a row of NOT_PROCESSED cells, or of FAILED ones when its last extraction
    failed (see DocumentExtractionOutcome); in an entity project a document read without
    finding any entity has no row.
    document_ids limits the rows to those documents' (a page of them: see document_page).

    PostgreSQL folds each unit's extractions into one JSON array: one row and one json.loads
    per unit instead of a row per extraction, about four times less work here, and the
    database does its part in its own process while this one builds the previous batch."""
    entity_key = func.coalesce(Extraction.entity_key, literal(""))
    order = (Document.filename, Document.id, entity_key)
    extractions = func.json_agg(func.json_build_array(*_EXTRACTION_FIELDS)).filter(
        Extraction.id.is_not(None)
    )
    statement = (
        select(
            Document.id,
            Document.filename,
            DocumentExtractionOutcome.outcome,
            DocumentExtractionOutcome.error,
            entity_key,
            cast(extractions, Text),
        )
        .select_from(Document)
        .outerjoin(DocumentExtractionOutcome, DocumentExtractionOutcome.document_id == Document.id)
        .outerjoin(Extraction, Extraction.document_id == Document.id)
        .where(
            Document.project_id == header.project_id,
            (Document.status == DocumentStatus.READY) | Extraction.id.is_not(None),
        )
        .group_by(*order, DocumentExtractionOutcome.outcome, DocumentExtractionOutcome.error)
        .order_by(*order)
        .execution_options(yield_per=batch_units)
    )
    if document_ids is not None:
        statement = statement.where(Document.id.in_(document_ids))
    if after is not None:
        statement = statement.where(
            tuple_(*order)
            > tuple_(literal(after.filename), literal(after.document_id), literal(after.entity_key))
        )
    build = _UnitBuilder(header)
    # A Core stream: rows as tuples, without the ORM's per-row work.
    result = await (await session.connection()).stream(statement)
    async for rows in result.partitions():
        units = [unit for row in rows if (unit := build(*row)) is not None]
        if units:
            yield units


async def document_page(
    session: AsyncSession,
    project_id: uuid.UUID,
    *,
    start: tuple[str, uuid.UUID] | None,
    inclusive: bool,
    limit: int,
    document_id: uuid.UUID | None = None,
) -> list[tuple[str, uuid.UUID]]:
    """The next `limit` documents of the dataset in its order, as (file name, id), from the
    document `start` names (itself included or not): a page of the results table reads only
    these documents' extractions instead of sorting the whole project's."""
    statement = (
        select(Document.filename, Document.id)
        .where(
            Document.project_id == project_id,
            (Document.status == DocumentStatus.READY) | _has_values(),
        )
        .order_by(Document.filename, Document.id)
        .limit(limit)
    )
    if document_id is not None:
        statement = statement.where(Document.id == document_id)
    if start is not None:
        position = tuple_(Document.filename, Document.id)
        bound = tuple_(literal(start[0]), literal(start[1]))
        statement = statement.where(position >= bound if inclusive else position > bound)
    return [(filename, id_) for filename, id_ in (await session.execute(statement)).all()]


# The fields of an extraction in the JSON array stream_units reads, in this order.
_EXTRACTION_FIELDS = (
    Extraction.variable_id,
    Extraction.entity_name,
    Extraction.value,
    Extraction.confidence,
    Extraction.source_text,
    Extraction.source_start,
    Extraction.source_end,
    Extraction.evidence_match,
    Extraction.prompt_version,
    Extraction.status,
    Extraction.error,
    Extraction.id,
    Extraction.job_id,
    Extraction.llm_provider,
    Extraction.llm_model,
    Extraction.best_guess,
    Extraction.value_evidence,
)


_CELL_STATUS = {status.value: CellStatus(status.value) for status in ExtractionStatus}
_EVIDENCE = {match.value: match for match in EvidenceMatch}


class _UnitBuilder:
    """Turns a unit's row (its document, what its last extraction left when it left no
    values, its extractions as JSON) into a Unit."""

    def __init__(self, header: DatasetHeader) -> None:
        self._header = header
        self._index = {str(variable.id): index for index, variable in enumerate(header.variables)}

    def __call__(
        self,
        document_id: uuid.UUID,
        filename: str,
        outcome: DocumentOutcome | None,
        outcome_error: str | None,
        entity_key: str,
        extractions: str | None,
    ) -> Unit | None:
        cells = [NOT_PROCESSED] * len(self._header.variables)
        entity_name = ""
        for item in json.loads(extractions) if extractions else ():
            (variable_id, name, value, confidence, source_text, start, end, evidence) = item[:8]
            (version, status, error, extraction_id, job_id, provider, model, guess) = item[8:16]
            index = self._index.get(variable_id)
            if index is None:
                continue
            entity_name = name
            match = _EVIDENCE[evidence]
            first = ValueEvidence(source_text, Evidence(match, start, end))
            cells[index] = Cell(
                status=_CELL_STATUS[status],
                value=value,
                confidence=confidence,
                source_text=source_text,
                source_start=start,
                source_end=end,
                evidence_match=match,
                prompt_version=version,
                model=f"{provider}/{model}" if provider else None,
                best_guess=guess,
                extraction_id=extraction_id,
                job_id=job_id,
                error=error,
                value_evidence=stored_evidence(item[16], first),
            )
        if outcome is DocumentOutcome.FAILED:
            # What the last extraction could not read failed; values from earlier ones stay.
            failed = Cell(CellStatus.FAILED, error=outcome_error or "the document failed")
            cells = [failed if cell is NOT_PROCESSED else cell for cell in cells]
        elif not extractions and outcome is DocumentOutcome.NO_ENTITIES:
            return None  # read: no entity found in it
        return Unit(
            document_id=document_id,
            filename=filename,
            entity_key=entity_key,
            entity_name=entity_name,
            cells=tuple(cells),
        )


# --- exports and their files ---------------------------------------------------------------


async def get(session: AsyncSession, export_id: uuid.UUID, *, lock: bool = False) -> Export | None:
    """The export, unless it has expired."""
    statement = select(Export).where(Export.id == export_id, Export.expires_at > func.now())
    if lock:
        statement = statement.with_for_update()
    return (await session.scalars(statement)).first()


async def list_page(
    session: AsyncSession, project_id: uuid.UUID, limit: int, after: Cursor | None
) -> Sequence[Export]:
    statement = select(Export).where(
        Export.project_id == project_id, Export.expires_at > func.now()
    )
    return (await session.scalars(newest_first(statement, Export, after, limit))).all()


async def replace_file(session: AsyncSession, export: Export) -> None:
    """Drops the parts of an earlier attempt at the export's file."""
    await session.execute(delete(ExportPart).where(ExportPart.export_id == export.id))


async def add_part(session: AsyncSession, export: Export, part: int, data: bytes) -> None:
    session.add(ExportPart(export_id=export.id, part=part, user_id=export.user_id, data=data))
    await session.flush()


async def part(session: AsyncSession, export_id: uuid.UUID, number: int) -> bytes | None:
    return await session.scalar(
        select(ExportPart.data).where(ExportPart.export_id == export_id, ExportPart.part == number)
    )


async def estimated_cells(session: AsyncSession, project_id: uuid.UUID) -> int:
    """Roughly how many cells the dataset has: READY documents x variables, or the
    extractions when there are more (entity projects)."""
    variables, documents, extractions = (
        await session.execute(
            select(
                select(func.count()).where(Variable.project_id == project_id).scalar_subquery(),
                select(func.count())
                .where(Document.project_id == project_id, Document.status == DocumentStatus.READY)
                .scalar_subquery(),
                select(func.count()).where(Extraction.project_id == project_id).scalar_subquery(),
            )
        )
    ).one()
    return int(max(documents * variables, extractions))


async def mark(session: AsyncSession, export_id: uuid.UUID, **values: Any) -> None:
    await session.execute(update(Export).where(Export.id == export_id).values(**values))


async def delete_expired(session: AsyncSession) -> int:
    """Deletes every tenant's expired exports (through the definer function)."""
    return int(await session.scalar(text("SELECT delete_expired_exports()")) or 0)
