"""Named queries for jobs, their work lists, extractions, feedback and logs."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from server.core.pagination import Cursor, newest_first, oldest_first
from server.documents.models import Document, DocumentChunk, DocumentStatus
from server.jobs.models import (
    EvidenceMatch,
    Extraction,
    ExtractionStatus,
    JobDocument,
    JobDocumentStatus,
    LogEventType,
    ProcessingJob,
    ProcessingLog,
)

UNFINISHED = (JobDocumentStatus.PENDING, JobDocumentStatus.RUNNING)


async def get(session: AsyncSession, job_id: uuid.UUID) -> ProcessingJob | None:
    return await session.get(ProcessingJob, job_id)


async def get_for_update(session: AsyncSession, job_id: uuid.UUID) -> ProcessingJob | None:
    return await session.get(ProcessingJob, job_id, with_for_update=True, populate_existing=True)


async def list_page(
    session: AsyncSession, project_id: uuid.UUID, limit: int, after: Cursor | None
) -> Sequence[ProcessingJob]:
    statement = select(ProcessingJob).where(ProcessingJob.project_id == project_id)
    return (await session.scalars(newest_first(statement, ProcessingJob, after, limit))).all()


async def ready_document_ids(
    session: AsyncSession, project_id: uuid.UUID, among: Sequence[uuid.UUID] | None = None
) -> list[uuid.UUID]:
    """The project's READY documents (of `among`, when given), oldest first."""
    statement = select(Document.id).where(
        Document.project_id == project_id, Document.status == DocumentStatus.READY
    )
    if among is not None:
        statement = statement.where(Document.id.in_(among))
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


async def unfinished_document_ids(session: AsyncSession, job_id: uuid.UUID) -> list[uuid.UUID]:
    statement = (
        select(JobDocument.document_id)
        .where(JobDocument.job_id == job_id, JobDocument.status.in_(UNFINISHED))
        .order_by(JobDocument.position)
    )
    return list(await session.scalars(statement))


async def claim(
    session: AsyncSession,
    job_id: uuid.UUID,
    document_id: uuid.UUID,
    lease_seconds: float,
    reserved_tokens: int = 0,
) -> JobDocument | None:
    """Takes the document for this worker: PENDING, or RUNNING under a lease that ran out
    (its worker died). None when another worker holds it or it is finished."""
    statement = (
        update(JobDocument)
        .where(
            JobDocument.job_id == job_id,
            JobDocument.document_id == document_id,
            or_(
                JobDocument.status == JobDocumentStatus.PENDING,
                and_(
                    JobDocument.status == JobDocumentStatus.RUNNING,
                    JobDocument.lease_until < func.now(),
                ),
            ),
        )
        .values(
            status=JobDocumentStatus.RUNNING,
            lease_until=func.now() + timedelta(seconds=lease_seconds),
            attempts=JobDocument.attempts + 1,
            reserved_tokens=reserved_tokens,
        )
        .returning(JobDocument)
    )
    return (await session.scalars(statement)).one_or_none()


async def work_item(
    session: AsyncSession, job_id: uuid.UUID, document_id: uuid.UUID
) -> JobDocument | None:
    return await session.get(JobDocument, (job_id, document_id), populate_existing=True)


async def renew_lease(
    session: AsyncSession, job_id: uuid.UUID, document_id: uuid.UUID, lease_seconds: float
) -> None:
    await session.execute(
        update(JobDocument)
        .where(
            JobDocument.job_id == job_id,
            JobDocument.document_id == document_id,
            JobDocument.status == JobDocumentStatus.RUNNING,
        )
        .values(lease_until=func.now() + timedelta(seconds=lease_seconds))
    )


async def set_work_status(
    session: AsyncSession,
    job_id: uuid.UUID,
    document_id: uuid.UUID,
    status: JobDocumentStatus,
    error: str | None = None,
) -> None:
    await session.execute(
        update(JobDocument)
        .where(JobDocument.job_id == job_id, JobDocument.document_id == document_id)
        .values(status=status, lease_until=None, error=error, reserved_tokens=0)
    )


async def reserved_tokens(session: AsyncSession, job_id: uuid.UUID) -> int:
    """Tokens set aside for the job's documents in flight."""
    total = await session.scalar(
        select(func.coalesce(func.sum(JobDocument.reserved_tokens), 0)).where(
            JobDocument.job_id == job_id, JobDocument.status == JobDocumentStatus.RUNNING
        )
    )
    return int(total or 0)


async def work_counts(session: AsyncSession, job_id: uuid.UUID) -> dict[JobDocumentStatus, int]:
    rows = await session.execute(
        select(JobDocument.status, func.count())
        .where(JobDocument.job_id == job_id)
        .group_by(JobDocument.status)
    )
    return {status: count for status, count in rows.all()}


async def current_variables(
    session: AsyncSession, document_id: uuid.UUID, active_prompt_ids: Iterable[uuid.UUID]
) -> set[uuid.UUID]:
    """Variables whose every stored value for the document came from its active prompt and
    did not fail: nothing to do for them."""
    active = list(active_prompt_ids)
    rows = await session.execute(
        select(
            Extraction.variable_id,
            func.bool_and(
                and_(
                    Extraction.prompt_id.in_(active),
                    Extraction.status != ExtractionStatus.FAILED,
                )
            ),
        )
        .where(Extraction.document_id == document_id)
        .group_by(Extraction.variable_id)
    )
    return {variable_id for variable_id, current in rows.all() if current}


async def save_extractions(
    session: AsyncSession,
    document_id: uuid.UUID,
    rows: Sequence[dict[str, Any]],
    entity_keys: set[str],
) -> None:
    """Writes the document's extractions over the previous ones (one row per entity and
    variable) and removes those of entities the document no longer yields."""
    await session.execute(
        delete(Extraction).where(
            Extraction.document_id == document_id, Extraction.entity_key.not_in(entity_keys)
        )
        if entity_keys
        else delete(Extraction).where(Extraction.document_id == document_id)
    )
    if not rows:
        return
    statement = insert(Extraction).values(list(rows))
    updated: dict[str, Any] = {
        name: statement.excluded[name]
        for name in rows[0]
        if name not in ("id", "document_id", "entity_key", "variable_id", "user_id")
    }
    updated["updated_at"] = func.now()
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=["document_id", "entity_key", "variable_id"], set_=updated
        )
    )


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


async def documents_with_current_extractions(
    session: AsyncSession,
    document_ids: Sequence[uuid.UUID],
    active_prompt_ids: Sequence[uuid.UUID],
    variable_count: int,
) -> set[uuid.UUID]:
    """Documents whose every variable has values from its active prompt, none failed: a job
    skips them."""
    if not document_ids or not active_prompt_ids:
        return set()
    current = and_(
        Extraction.prompt_id.in_(active_prompt_ids),
        Extraction.status != ExtractionStatus.FAILED,
    )
    statement = (
        select(Extraction.document_id)
        .where(Extraction.document_id.in_(document_ids))
        .group_by(Extraction.document_id)
        .having(
            and_(
                func.bool_and(current),
                func.count(Extraction.variable_id.distinct()) == variable_count,
            )
        )
    )
    return set(await session.scalars(statement))


async def segment_sizes(
    session: AsyncSession, document_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[int]]:
    """For each document, the size in characters of what each call reads: its chunks, or its
    whole text."""
    chunked = await session.execute(
        select(DocumentChunk.document_id, func.length(DocumentChunk.text_content)).where(
            DocumentChunk.document_id.in_(document_ids)
        )
    )
    sizes: dict[uuid.UUID, list[int]] = {}
    for document_id, length in chunked.all():
        sizes.setdefault(document_id, []).append(length)
    whole = await session.execute(
        select(Document.id, func.length(Document.text_content)).where(
            Document.id.in_([d for d in document_ids if d not in sizes])
        )
    )
    for document_id, length in whole.all():
        sizes[document_id] = [length or 0]
    return sizes


async def get_extraction(session: AsyncSession, extraction_id: uuid.UUID) -> Extraction | None:
    return await session.get(Extraction, extraction_id)


def add_log(
    session: AsyncSession,
    job: ProcessingJob,
    event: LogEventType,
    message: str,
    *,
    document_id: uuid.UUID | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    """An entry in the job's processing log."""
    session.add(
        ProcessingLog(
            user_id=job.user_id,
            project_id=job.project_id,
            job_id=job.id,
            document_id=document_id,
            event_type=event,
            message=message,
            details=details or {},
        )
    )
