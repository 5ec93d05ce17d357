"""A document's end saved (FR-023): its extractions, or what it left when it left none, its
end in the job's work list, the job's log and counters, in one transaction, with the events
just before the commit; tried again while PostgreSQL or Redis cannot be reached."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
import uuid
from decimal import Decimal
from typing import Any

from redis.exceptions import RedisError
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from server.core.config import Settings
from server.core.db import Database
from server.core.processing_log import LogEventType
from server.jobs import flows, logs, repository, results, worklist
from server.jobs.claims import Claim, Skip
from server.jobs.events import EventType, JobEvents, NewEvent
from server.jobs.evidence import evidence_rows
from server.jobs.flows import Stop
from server.jobs.models import (
    DocumentOutcome,
    ExtractionStatus,
    JobDocumentStatus,
    JobStatus,
    StopReason,
)
from server.jobs.pipeline import DocumentResult, Usage

log = logging.getLogger(__name__)

# Waits between attempts to save a document's result while the database or Redis is away.
_SAVE_RETRY_FIRST_WAIT = 0.5
_SAVE_RETRY_MAX_WAIT = 8.0


class Recorder:
    """Saves the ends of the documents a worker process claimed."""

    def __init__(self, db: Database, settings: Settings, events: JobEvents) -> None:
        self._db = db
        self._settings = settings
        self._events = events

    async def record_until_saved(self, claim: Claim, result: DocumentResult | None) -> None:
        """_record, tried again while PostgreSQL or Redis cannot be reached (or PostgreSQL
        rolled it back to break a deadlock), for up to half the lease (the claim holds
        meanwhile): a result paid for is not dropped over a restart of either. Past that the
        error propagates; the document's lease runs out and another worker takes it over."""
        give_up = time.monotonic() + self._settings.job_lease_seconds / 2
        wait = _SAVE_RETRY_FIRST_WAIT
        while True:
            try:
                await self._record(claim, result)
                return
            except (DBAPIError, RedisError, OSError) as error:
                if not _worth_retrying(error) or time.monotonic() + wait > give_up:
                    raise
                log.warning(
                    "job %s, document %s: saving failed (%s); trying again in %.1f s",
                    claim.job.id,
                    claim.document_id,
                    error,
                    wait,
                )
                await asyncio.sleep(wait)
                wait = min(wait * 2, _SAVE_RETRY_MAX_WAIT)

    async def _record(self, claim: Claim, result: DocumentResult | None) -> None:
        """The document's extractions (or what it left when it left none), its end in the
        work list, the job's log and counters, in one transaction; the events just before its
        commit. result None: skipped. Nothing is recorded when the claim was lost (its lease
        ran out and another worker took the document: that one records it)."""
        job, document_id = claim.job, claim.document_id
        failed = result is not None and result.error is not None
        status = (
            JobDocumentStatus.SKIPPED
            if result is None
            else JobDocumentStatus.FAILED
            if failed
            else JobDocumentStatus.DONE
        )
        error = result.error if result is not None and failed else None
        async with self._db.transaction(job.user_id) as session:
            if not await worklist.end_claim(
                session, job.id, document_id, claim.attempt, status, error
            ):
                log.warning("job %s, document %s: claim lost, result dropped", job.id, document_id)
                return
            entries: list[logs.LogEntry] = []
            if result is not None:
                entries += await self._save_result(session, claim, result)
            if error is not None:
                entries.append(
                    logs.log_entry(
                        job,
                        LogEventType.DOCUMENT_PROCESSING_FAILED,
                        error,
                        document_id=document_id,
                    )
                )
            else:
                entries.append(
                    logs.log_entry(
                        job,
                        LogEventType.DOCUMENT_PROCESSED,
                        _summary(claim, result),
                        document_id=document_id,
                        details=_details(result),
                    )
                )
            await logs.add_logs(session, entries)
            usage = result.usage if result is not None else Usage()
            # Last, so that the job's row is locked only for the commit.
            counted = await repository.count_document(
                session,
                job.id,
                failed=failed,
                prompt_tokens=usage.prompt_tokens,
                cached_prompt_tokens=usage.cached_prompt_tokens,
                completion_tokens=usage.completion_tokens,
                cost_usd=usage.cost_usd or Decimal(0),
            )
            if counted is None:
                return
            # Published while the job's row is locked, just before the commit: every worker's
            # events reach the stream in the order of the changes, and the last document's
            # come before the job's end.
            kind = EventType.DOCUMENT_FAILED if failed else EventType.DOCUMENT_COMPLETED
            await self._events.publish_all(
                counted, [NewEvent(kind, document_id, error or ""), NewEvent(EventType.PROGRESS)]
            )
            if (
                counted.consecutive_failures > self._settings.job_max_consecutive_failures
                and counted.status is JobStatus.RUNNING
            ):
                stop = Stop(
                    StopReason.CONSECUTIVE_FAILURES,
                    f"{counted.consecutive_failures} documents failed in a row; the last: "
                    f"{error or ''}",
                )
                await flows.pause(session, self._events, job.id, stop)

    async def _save_result(
        self, session: AsyncSession, claim: Claim, result: DocumentResult
    ) -> list[logs.LogEntry]:
        """The document's extractions, or what it left when it left none; returns the log
        entries of the values that failed. A document that failed as a whole keeps the
        values it had."""
        job, document_id = claim.job, claim.document_id
        if result.error is not None:
            await results.set_outcome(
                session,
                job,
                document_id,
                DocumentOutcome.FAILED,
                error=result.error,
                text_hash=claim.text_hash,
            )
            return []
        no_entities = result.entities is not None and not result.entities
        if no_entities or claim.recorded is not None:
            # Values now speak for the document: an earlier outcome goes.
            await results.set_outcome(
                session,
                job,
                document_id,
                DocumentOutcome.NO_ENTITIES if no_entities else None,
                text_hash=claim.text_hash,
                entity_prompt_hash=claim.entity_prompt_hash,
            )
        return await self._save_rows(session, claim, result)

    async def _save_rows(
        self, session: AsyncSession, claim: Claim, result: DocumentResult
    ) -> list[logs.LogEntry]:
        """Writes the document's extractions; returns the log entries of those that failed."""
        job, document_id = claim.job, claim.document_id
        rows: list[results.ExtractionRow] = []
        entries: list[logs.LogEntry] = []
        for item in result.results:
            outcome = item.outcome
            rows.append(
                results.ExtractionRow(
                    id=uuid.uuid4(),
                    user_id=job.user_id,
                    project_id=job.project_id,
                    document_id=document_id,
                    variable_id=item.variable.id,
                    job_id=job.id,
                    prompt_id=item.variable.prompt_id,
                    prompt_version=item.variable.prompt_version,
                    entity_key=item.entity.key if item.entity else "",
                    entity_name=item.entity.name if item.entity else "",
                    value=outcome.value,
                    raw_response=list(item.raw_responses),
                    confidence=outcome.confidence,
                    source_text=outcome.source_text,
                    source_start=outcome.evidence.start,
                    source_end=outcome.evidence.end,
                    evidence_match=outcome.evidence_match,
                    value_evidence=evidence_rows(outcome.value_evidence),
                    status=outcome.status,
                    error=outcome.error,
                    text_hash=claim.text_hash,
                    best_guess=outcome.best_guess,
                    # The model the variable's calls went to: the one that answered.
                    llm_provider=item.variable.prompt.provider,
                    llm_model=item.variable.prompt.model,
                    input_tokens=item.usage.prompt_tokens,
                    output_tokens=item.usage.completion_tokens,
                    cost_usd=item.usage.cost_usd or Decimal(0),
                )
            )
            if outcome.status is ExtractionStatus.FAILED:
                entries.append(
                    logs.log_entry(
                        job,
                        LogEventType.EXTRACTION_FAILED,
                        f"{item.variable.name}"
                        + (f" ({item.entity.name})" if item.entity else "")
                        + f": {outcome.error}",
                        document_id=document_id,
                    )
                )
        # Rows of entities the document no longer yields go; one row per unit and variable.
        keys = {entity.key for entity in result.entities} if result.entities is not None else {""}
        await results.save_extractions(session, document_id, rows, keys)
        return entries


# PostgreSQL's codes for a transaction it rolled back to break a deadlock or a serialization
# conflict: the same transaction, tried again, goes through.
_TRANSIENT_SQLSTATES = {"40P01", "40001"}


def _worth_retrying(error: Exception) -> bool:
    """The database or Redis could not be reached, or PostgreSQL rolled the transaction back
    to let another through (as opposed to a statement it refused)."""
    if isinstance(error, DBAPIError):
        sqlstate = getattr(error.orig, "sqlstate", None) or getattr(error.orig, "pgcode", None)
        return (
            error.connection_invalidated
            or isinstance(error, OperationalError | InterfaceError)
            or sqlstate in _TRANSIENT_SQLSTATES
        )
    return True


def _summary(claim: Claim, result: DocumentResult | None) -> str:
    if isinstance(claim.work, Skip):
        return claim.work.reason
    assert result is not None
    counts: dict[str, int] = {}
    for item in result.results:
        counts[item.outcome.status.value] = counts.get(item.outcome.status.value, 0) + 1
    parts = ", ".join(f"{count} {status.lower()}" for status, count in sorted(counts.items()))
    entities = f"{len(result.entities)} entities; " if result.entities is not None else ""
    return (
        f"{entities}{len(result.results)} values ({parts})"
        if result.results
        else entities + "no values"
    )


# Which worker process did the work, for the log.
_WORKER = f"{socket.gethostname()}:{os.getpid()}"


def _details(result: DocumentResult | None) -> dict[str, Any]:
    if result is None:
        return {"skipped": True, "worker": _WORKER}
    return {
        "worker": _WORKER,
        "values": len(result.results),
        "entities": len(result.entities) if result.entities is not None else None,
        "prompt_tokens": result.usage.prompt_tokens,
        "completion_tokens": result.usage.completion_tokens,
        "cost_usd": str(result.usage.cost_usd) if result.usage.cost_usd is not None else None,
    }
