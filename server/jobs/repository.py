"""Named queries for jobs, their work lists, extractions, feedback and logs."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Integer,
    Interval,
    Select,
    Text,
    and_,
    any_,
    bindparam,
    case,
    delete,
    func,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import undefer

from server.core.db import NO_KEY_UPDATE, table_of, uuid_array
from server.core.pagination import Cursor, encode_position, newest_first, oldest_first
from server.documents.models import Document, DocumentChunk, DocumentStatus
from server.jobs.models import (
    DocumentExtractionOutcome,
    DocumentOutcome,
    EvidenceMatch,
    Extraction,
    ExtractionStatus,
    JobDocument,
    JobDocumentStatus,
    JobStatus,
    JobType,
    LogEventType,
    ProcessingJob,
    ProcessingLog,
)
from server.projects.models import Project
from server.schema.models import Prompt, Variable

UNFINISHED = (JobDocumentStatus.PENDING, JobDocumentStatus.RUNNING)
# Job states in which workers take documents.
RUNNABLE = (JobStatus.PENDING, JobStatus.RUNNING)

_JOBS = table_of(ProcessingJob)
_WORK = table_of(JobDocument)
_EXTRACTIONS = table_of(Extraction)
_LOGS = table_of(ProcessingLog)
_OUTCOMES = table_of(DocumentExtractionOutcome)

# The job's columns that events and workers read: every column but document_ids.
_STATE_COLUMNS = [column for column in _JOBS.columns if column.key != "document_ids"]


async def get(
    session: AsyncSession,
    job_id: uuid.UUID,
    *,
    lock: bool = False,
    with_documents: bool = True,
) -> ProcessingJob | None:
    """The job; lock: FOR NO KEY UPDATE (see NO_KEY_UPDATE), re-read; with_documents: its
    document_ids too (what the API shows; the workers go without)."""
    return await session.get(
        ProcessingJob,
        job_id,
        with_for_update=NO_KEY_UPDATE if lock else None,
        populate_existing=lock,
        options=[undefer(ProcessingJob.document_ids)] if with_documents else [],
    )


async def list_page(
    session: AsyncSession, project_id: uuid.UUID, limit: int, after: Cursor | None
) -> Sequence[ProcessingJob]:
    statement = (
        select(ProcessingJob)
        .where(ProcessingJob.project_id == project_id)
        .options(undefer(ProcessingJob.document_ids))
    )
    return (await session.scalars(newest_first(statement, ProcessingJob, after, limit))).all()


async def ready_document_ids(
    session: AsyncSession, project_id: uuid.UUID, among: Sequence[uuid.UUID] | None = None
) -> list[uuid.UUID]:
    """The project's READY documents (of `among`, when given), oldest first."""
    statement = select(Document.id).where(
        Document.project_id == project_id, Document.status == DocumentStatus.READY
    )
    if among is not None:
        statement = statement.where(Document.id == any_(uuid_array(among)))
    return list(await session.scalars(statement.order_by(Document.created_at, Document.id)))


async def add_work(
    session: AsyncSession, job: ProcessingJob, document_ids: Sequence[uuid.UUID]
) -> None:
    if not document_ids:
        return
    await session.execute(
        insert(JobDocument),
        [
            {
                "job_id": job.id,
                "document_id": document_id,
                "user_id": job.user_id,
                "position": position,
                "status": JobDocumentStatus.PENDING,
                "attempts": 0,
                "reserved_tokens": 0,
            }
            for position, document_id in enumerate(document_ids)
        ],
    )


async def unfinished_count(session: AsyncSession, job_id: uuid.UUID) -> int:
    counted = await session.scalar(
        select(func.count()).where(JobDocument.job_id == job_id, JobDocument.status.in_(UNFINISHED))
    )
    return int(counted or 0)


async def mark_started(session: AsyncSession, job_id: uuid.UUID) -> bool:
    """PENDING -> RUNNING, once, by whichever worker claims the job's first document."""
    started = await session.execute(
        update(ProcessingJob)
        .where(ProcessingJob.id == job_id, ProcessingJob.status == JobStatus.PENDING)
        .values(status=JobStatus.RUNNING, started_at=func.now())
        .returning(ProcessingJob.id)
    )
    return started.first() is not None


def _job_of(row: Row[Any] | None) -> ProcessingJob | None:
    """A detached job from a row of _STATE_COLUMNS."""
    return None if row is None else ProcessingJob(**row._asdict())


_JOBS_WANTING_WORKERS = text("SELECT * FROM jobs_wanting_workers(:max_jobs, :max_resumes)")


async def jobs_wanting_workers(
    session: AsyncSession, max_jobs: int, max_resumes: int
) -> list[tuple[uuid.UUID, uuid.UUID, bool]]:
    """(user, job, paused) of every tenant's jobs that want a worker: documents to claim, or
    none left and not completed; or paused by the circuit breaker with automatic resumes
    left. Through a definer function, outside any tenant: ids only, oldest job first."""
    rows = await session.execute(
        _JOBS_WANTING_WORKERS, {"max_jobs": max_jobs, "max_resumes": max_resumes}
    )
    return [(user_id, job_id, paused) for user_id, job_id, paused in rows.all()]


async def has_completed_full_job(session: AsyncSession, project_id: uuid.UUID) -> bool:
    completed = await session.scalar(
        select(ProcessingJob.id)
        .where(
            ProcessingJob.project_id == project_id,
            ProcessingJob.job_type == JobType.FULL,
            ProcessingJob.status == JobStatus.COMPLETED,
        )
        .limit(1)
    )
    return completed is not None


async def reserved_tokens(session: AsyncSession, job_id: uuid.UUID) -> int:
    """Tokens set aside for the job's documents in flight."""
    total = await session.scalar(
        select(func.coalesce(func.sum(JobDocument.reserved_tokens), 0)).where(
            JobDocument.job_id == job_id, JobDocument.status == JobDocumentStatus.RUNNING
        )
    )
    return int(total or 0)


@dataclass(frozen=True)
class WorkItem:
    """One document of a job's work list, by name, and how far the job got with it."""

    document_id: uuid.UUID
    filename: str
    status: JobDocumentStatus
    error: str | None
    attempts: int
    position: int


async def list_work(
    session: AsyncSession,
    job_id: uuid.UUID,
    statuses: Sequence[JobDocumentStatus],
    limit: int,
    after_position: int | None,
) -> tuple[list[WorkItem], str]:
    """A page of the job's documents in work order, and the next page's token ("" on the
    last)."""
    statement = (
        select(
            JobDocument.document_id,
            Document.filename,
            JobDocument.status,
            JobDocument.error,
            JobDocument.attempts,
            JobDocument.position,
        )
        .join(Document, Document.id == JobDocument.document_id)
        .where(JobDocument.job_id == job_id)
        .order_by(JobDocument.position)
        .limit(limit + 1)
    )
    if statuses:
        statement = statement.where(JobDocument.status.in_(statuses))
    if after_position is not None:
        statement = statement.where(JobDocument.position > after_position)
    items = [WorkItem(*row) for row in (await session.execute(statement)).all()]
    if len(items) <= limit:
        return items, ""
    return items[:limit], encode_position(items[limit - 1].position)


async def work_counts(session: AsyncSession, job_id: uuid.UUID) -> dict[JobDocumentStatus, int]:
    rows = await session.execute(
        select(JobDocument.status, func.count())
        .where(JobDocument.job_id == job_id)
        .group_by(JobDocument.status)
    )
    return {status: count for status, count in rows.all()}


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


async def list_logs(
    session: AsyncSession, job_id: uuid.UUID, limit: int, after: Cursor | None
) -> Sequence[ProcessingLog]:
    statement = select(ProcessingLog).where(ProcessingLog.job_id == job_id)
    return (await session.scalars(oldest_first(statement, ProcessingLog, after, limit))).all()


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


async def segment_sizes(
    session: AsyncSession, document_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[int]]:
    """For each document, the size in characters of what each call reads: its chunks, or its
    whole text."""
    chunked = await session.execute(
        select(DocumentChunk.document_id, func.length(DocumentChunk.text_content)).where(
            DocumentChunk.document_id == any_(uuid_array(document_ids))
        )
    )
    sizes: dict[uuid.UUID, list[int]] = {}
    for document_id, length in chunked.all():
        sizes.setdefault(document_id, []).append(length)
    whole = await session.execute(
        select(Document.id, func.length(Document.text_content)).where(
            Document.id == any_(uuid_array([d for d in document_ids if d not in sizes]))
        )
    )
    for document_id, length in whole.all():
        sizes[document_id] = [length or 0]
    return sizes


# --- a worker's statements, run for every document: built once (see table_of) -------------


_JOB_STATE = select(*_STATE_COLUMNS).where(_JOBS.c.id == bindparam("job_id"))


async def job_state(session: AsyncSession, job_id: uuid.UUID) -> ProcessingJob | None:
    """The job without its document_ids, as a detached copy."""
    row = (await session.execute(_JOB_STATE, {"job_id": job_id})).first()
    return _job_of(row)


_CLAIM = (
    update(_WORK)
    .where(
        _WORK.c.job_id == bindparam("job"),
        _WORK.c.document_id == bindparam("document"),
        or_(
            _WORK.c.status == JobDocumentStatus.PENDING,
            and_(_WORK.c.status == JobDocumentStatus.RUNNING, _WORK.c.lease_until < func.now()),
        ),
        select(_JOBS.c.id)
        .where(_JOBS.c.id == bindparam("job"), _JOBS.c.status.in_(RUNNABLE))
        .exists(),
    )
    .values(
        status=JobDocumentStatus.RUNNING,
        lease_until=func.now() + bindparam("lease", type_=Interval),
        attempts=_WORK.c.attempts + 1,
        reserved_tokens=bindparam("reserve"),
    )
    .returning(_WORK.c.attempts)
)


async def claim(
    session: AsyncSession,
    job_id: uuid.UUID,
    document_id: uuid.UUID,
    lease_seconds: float,
    reserved_tokens: int = 0,
) -> int | None:
    """Takes the document for this worker while the job runs: PENDING, or RUNNING under a
    lease that ran out (its worker died). Returns the claim's attempt number, which the
    worker's later changes name; None when another worker holds the document, it is
    finished, or the job no longer runs."""
    claimed = await session.execute(
        _CLAIM,
        {
            "job": job_id,
            "document": document_id,
            "lease": timedelta(seconds=lease_seconds),
            "reserve": reserved_tokens,
        },
    )
    attempt: int | None = claimed.scalar_one_or_none()
    return attempt


def _next_in(status: JobDocumentStatus) -> Select[tuple[uuid.UUID]]:
    return (
        select(_WORK.c.document_id)
        .where(_WORK.c.job_id == bindparam("job"), _WORK.c.status == status)
        .order_by(_WORK.c.position)
        .limit(1)
        .with_for_update(skip_locked=True)
    )


# A dead worker's document (its lease ran out) first, then the next one in order; rows that
# other claims are taking right now are skipped, not waited for.
_NEXT_ABANDONED = _next_in(JobDocumentStatus.RUNNING).where(_WORK.c.lease_until < func.now())
_NEXT_PENDING = _next_in(JobDocumentStatus.PENDING)


async def next_claimable(session: AsyncSession, job_id: uuid.UUID) -> uuid.UUID | None:
    """The job's next document to claim, locked until the transaction ends; None when every
    document is finished or held under a live lease."""
    for statement in (_NEXT_ABANDONED, _NEXT_PENDING):
        document_id: uuid.UUID | None = await session.scalar(statement, {"job": job_id})
        if document_id is not None:
            return document_id
    return None


# The document, while the claim numbered :attempt still holds it.
_HELD = and_(
    _WORK.c.job_id == bindparam("job"),
    _WORK.c.document_id == bindparam("document"),
    _WORK.c.status == JobDocumentStatus.RUNNING,
    _WORK.c.attempts == bindparam("attempt"),
)
_RENEW_LEASE = (
    update(_WORK).where(_HELD).values(lease_until=func.now() + bindparam("lease", type_=Interval))
)
_END_CLAIM = (
    update(_WORK)
    .where(_HELD)
    .values(
        status=bindparam("new_status", type_=_WORK.c.status.type),
        lease_until=None,
        error=bindparam("new_error", type_=Text),
        reserved_tokens=0,
    )
    .returning(_WORK.c.attempts)
)


async def renew_lease(
    session: AsyncSession,
    job_id: uuid.UUID,
    document_id: uuid.UUID,
    attempt: int,
    lease_seconds: float,
) -> None:
    await session.execute(
        _RENEW_LEASE,
        {
            "job": job_id,
            "document": document_id,
            "attempt": attempt,
            "lease": timedelta(seconds=lease_seconds),
        },
    )


async def end_claim(
    session: AsyncSession,
    job_id: uuid.UUID,
    document_id: uuid.UUID,
    attempt: int,
    status: JobDocumentStatus,
    error: str | None = None,
) -> bool:
    """Ends the claim with the document's new status (PENDING hands it back). False when
    the claim no longer holds it: its lease ran out and another worker took it over."""
    ended = await session.execute(
        _END_CLAIM,
        {
            "job": job_id,
            "document": document_id,
            "attempt": attempt,
            "new_status": status,
            "new_error": error,
        },
    )
    return ended.first() is not None


_COUNT_DOCUMENT = (
    update(_JOBS)
    .where(_JOBS.c.id == bindparam("job"))
    .values(
        documents_processed=_JOBS.c.documents_processed + bindparam("processed", type_=Integer),
        documents_failed=_JOBS.c.documents_failed + bindparam("failed", type_=Integer),
        consecutive_failures=case(
            (bindparam("failed", type_=Integer) > 0, _JOBS.c.consecutive_failures + 1),
            else_=0,
        ),
        progress=case(
            (
                _JOBS.c.documents_total > 0,
                func.least(
                    100.0,
                    100.0
                    * (_JOBS.c.documents_processed + _JOBS.c.documents_failed + 1)
                    / _JOBS.c.documents_total,
                ),
            ),
            else_=100.0,
        ),
        input_tokens=_JOBS.c.input_tokens + bindparam("prompt_tokens", type_=BigInteger),
        cached_input_tokens=_JOBS.c.cached_input_tokens
        + bindparam("cached_prompt_tokens", type_=BigInteger),
        output_tokens=_JOBS.c.output_tokens + bindparam("completion_tokens", type_=BigInteger),
        cost_usd=_JOBS.c.cost_usd + bindparam("cost", type_=_JOBS.c.cost_usd.type),
        updated_at=func.now(),
    )
    .returning(*_STATE_COLUMNS)
)


async def count_document(
    session: AsyncSession,
    job_id: uuid.UUID,
    *,
    failed: bool,
    prompt_tokens: int,
    cached_prompt_tokens: int,
    completion_tokens: int,
    cost_usd: Decimal,
) -> ProcessingJob | None:
    """Adds one finished document and what it used to the job's counters, in one statement
    that takes the job's row lock only until the commit; returns the job as it is now (a
    detached copy, without document_ids)."""
    row = (
        await session.execute(
            _COUNT_DOCUMENT,
            {
                "job": job_id,
                "processed": 0 if failed else 1,
                "failed": 1 if failed else 0,
                "prompt_tokens": prompt_tokens,
                "cached_prompt_tokens": cached_prompt_tokens,
                "completion_tokens": completion_tokens,
                "cost": cost_usd,
            },
        )
    ).first()
    return _job_of(row)


_PLAN_FINGERPRINT = (
    select(Project.updated_at, Variable.id, Variable.updated_at, Variable.order, Prompt.id)
    .select_from(Project)
    .outerjoin(Variable, Variable.project_id == Project.id)
    .outerjoin(Prompt, and_(Prompt.variable_id == Variable.id, Prompt.is_active))
    .where(Project.id == bindparam("project_id"))
    .order_by(Variable.order)
)


async def plan_fingerprint(session: AsyncSession, project_id: uuid.UUID) -> tuple[Any, ...]:
    """What a project's extraction plan is made of, in one small query: the project's and
    every variable's last change, the variables' order and their active prompts. Equal
    fingerprints mean an equal plan, so a worker may reuse the one it built."""
    rows = await session.execute(_PLAN_FINGERPRINT, {"project_id": project_id})
    return tuple(tuple(row) for row in rows.all())


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
    job: ProcessingJob,
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


@dataclass(frozen=True)
class LogEntry:
    """An entry of a job's processing log, as saved (see add_logs)."""

    id: uuid.UUID
    user_id: uuid.UUID
    project_id: uuid.UUID
    job_id: uuid.UUID
    document_id: uuid.UUID | None
    event_type: LogEventType
    metadata: dict[str, Any]
    message: str


def log_entry(
    job: ProcessingJob,
    event: LogEventType,
    message: str,
    *,
    document_id: uuid.UUID | None = None,
    details: dict[str, Any] | None = None,
) -> LogEntry:
    """An entry for the job's processing log (see add_logs)."""
    return LogEntry(
        id=uuid.uuid4(),
        user_id=job.user_id,
        project_id=job.project_id,
        job_id=job.id,
        document_id=document_id,
        event_type=event,
        metadata=details or {},
        message=message,
    )


_INSERT_LOGS = insert(_LOGS)


async def add_logs(session: AsyncSession, entries: Sequence[LogEntry]) -> None:
    if entries:
        await session.execute(_INSERT_LOGS, [vars(entry) for entry in entries])


async def add_log(
    session: AsyncSession,
    job: ProcessingJob,
    event: LogEventType,
    message: str,
    *,
    document_id: uuid.UUID | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    """An entry in the job's processing log."""
    await add_logs(
        session, [log_entry(job, event, message, document_id=document_id, details=details)]
    )
