"""A worker's side of a job: one task per document (FR-039..041, NFR-009, NFR-010).

A document is claimed in the job's work list under a lease that a heartbeat renews while it
is worked on, so that no two workers process it at once and a dead worker's document is
taken over once its lease runs out. Its extractions, the job's counters and its log are saved
in one transaction (FR-023); events follow on the job's stream. Between documents the job's
state decides: a paused or cancelled job takes no new document; budgets, consecutive failures
and an open circuit breaker pause it; the last document completes it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from server.core.config import Settings
from server.core.db import Database
from server.documents import repository as documents
from server.documents.models import DocumentStatus
from server.jobs import events as event_types
from server.jobs import repository
from server.jobs.events import JobEvents, detached
from server.jobs.lifecycle import finish_if_done
from server.jobs.models import (
    ExtractionStatus,
    JobDocumentStatus,
    JobStatus,
    LogEventType,
    ProcessingJob,
)
from server.jobs.pipeline import (
    DocumentResult,
    DocumentWork,
    ExtractionPipeline,
    JobInterrupted,
    Usage,
    VariableWork,
    segments_of,
)
from server.jobs.postprocess import VariableRules
from server.llm.factory import resolve_model
from server.llm.pricing import cost_usd
from server.llm.tokens import estimate_message_tokens
from server.projects import repository as projects
from server.projects.models import UnitOfObservation
from server.schema import repository as schema
from server.schema.models import Variable
from server.schema.prompt_versions import as_generated
from server.schema.prompts import entity_prompt

log = logging.getLogger(__name__)

# How often a task waiting for another worker's document looks again.
_WAIT_SECONDS = 1.0


@dataclass(frozen=True)
class Reservation:
    tokens: int = 0
    budgeted: bool = False
    in_flight: int = 0
    # Why the document cannot start within the budget; None when it can.
    over_budget: str | None = None


class JobRunner:
    def __init__(
        self,
        db: Database,
        settings: Settings,
        pipeline: ExtractionPipeline,
        events: JobEvents,
    ) -> None:
        self._db = db
        self._settings = settings
        self._pipeline = pipeline
        self._events = events

    async def run_document(
        self, user_id: uuid.UUID, job_id: uuid.UUID, document_id: uuid.UUID
    ) -> None:
        """Extracts one document of the job, unless the job stopped or another worker has it
        (then waits for that worker, or takes the document over when its lease runs out)."""
        while True:
            claimed = await self._claim(user_id, job_id, document_id)
            if claimed is None:
                return  # the job is not running, or the document is finished
            if isinstance(claimed, ProcessingJob):  # paused on a budget
                return
            if claimed:
                break
            await asyncio.sleep(_WAIT_SECONDS)
        try:
            await self._work_on(user_id, job_id, document_id)
        except asyncio.CancelledError:
            # The worker is stopping (SIGTERM): the document goes back to the list untouched.
            await asyncio.shield(self._release(user_id, job_id, document_id))
            raise
        except JobInterrupted as interruption:
            await self._release(user_id, job_id, document_id)
            if interruption.pauses:
                await self._stop(user_id, job_id, JobStatus.PAUSED, interruption.error.message)
            else:
                await self._stop(user_id, job_id, JobStatus.FAILED, interruption.error.message)
            return
        await finish_if_done(self._db, self._events, user_id, job_id)

    # --- claiming ----------------------------------------------------------------------------

    async def _claim(
        self, user_id: uuid.UUID, job_id: uuid.UUID, document_id: uuid.UUID
    ) -> bool | ProcessingJob | None:
        """True: ours now. False: another worker holds it. None: nothing to do. A job: it
        was paused because the document would pass a budget (the event is the caller's to
        publish, after the commit)."""
        async with self._db.transaction(user_id) as session:
            job = await repository.get_for_update(session, job_id)
            if job is None or job.status not in (JobStatus.PENDING, JobStatus.RUNNING):
                return None
            estimate = await self._reservation(session, job, document_id)
            if estimate.over_budget:
                if estimate.in_flight:
                    # Documents in flight may spend less than set aside: wait for them.
                    return False
                job.status = JobStatus.PAUSED
                job.status_reason = estimate.over_budget
                repository.add_log(session, job, LogEventType.JOB_PAUSED, estimate.over_budget)
                await session.flush()
                await self._events.publish(job, event_types.PAUSED, message=estimate.over_budget)
                return detached(job)
            claimed = await repository.claim(
                session,
                job_id,
                document_id,
                self._settings.job_lease_seconds,
                estimate.tokens if estimate.budgeted else 0,
            )
            if claimed is not None:
                if job.status is JobStatus.PENDING:
                    job.status = JobStatus.RUNNING
                    job.started_at = datetime.now(UTC)
                    repository.add_log(session, job, LogEventType.JOB_STARTED, "the job started")
                return True
            item = await repository.work_item(session, job_id, document_id)
            if item is None or item.status is not JobDocumentStatus.RUNNING:
                return None
            return False

    async def _reservation(
        self, session: AsyncSession, job: ProcessingJob, document_id: uuid.UUID
    ) -> Reservation:
        """What the document may spend, and whether that, with what was spent and what is
        set aside for documents in flight, would pass a budget."""
        if job.token_budget is None and job.cost_budget_usd is None:
            return Reservation()
        prompt_tokens, output_tokens = await self._document_token_estimate(
            session, job, document_id
        )
        tokens = prompt_tokens + output_tokens
        in_flight = await repository.reserved_tokens(session, job.id)
        spent = job.input_tokens + job.output_tokens
        if job.token_budget is not None and spent + in_flight + tokens > job.token_budget:
            return Reservation(
                tokens,
                budgeted=True,
                in_flight=in_flight,
                over_budget=(
                    f"token budget reached: {spent} of {job.token_budget} tokens used, and the "
                    f"next document needs up to {tokens}"
                ),
            )
        if job.cost_budget_usd is not None:
            project = await projects.get(session, job.project_id)
            model = resolve_model(self._settings, project.llm_config if project else None)
            prices = self._settings.llm_prices
            price = Decimal(
                str(cost_usd(prices, model.model, prompt_tokens, output_tokens + in_flight) or 0)
            )
            if job.cost_usd + price > job.cost_budget_usd:
                return Reservation(
                    tokens,
                    budgeted=True,
                    in_flight=in_flight,
                    over_budget=(
                        f"cost budget reached: ${job.cost_usd:.4f} of ${job.cost_budget_usd:.4f} "
                        f"spent, and the next document may cost up to ${price:.4f}"
                    ),
                )
        return Reservation(tokens, budgeted=True, in_flight=in_flight)

    async def _document_token_estimate(
        self, session: AsyncSession, job: ProcessingJob, document_id: uuid.UUID
    ) -> tuple[int, int]:
        """Prompt and output tokens the document may use at most."""
        document = await documents.get(session, document_id)
        variables = await schema.list_for_project(session, job.project_id)
        prompts = await schema.active_prompts(session, [v.id for v in variables])
        text = (document.text_content or "") if document else ""
        prompt_tokens = output_tokens = 0
        for prompt in prompts.values():
            prompt_tokens += estimate_message_tokens([prompt.system_prompt, text])
            output_tokens += prompt.max_tokens
        return prompt_tokens, output_tokens

    async def _release(self, user_id: uuid.UUID, job_id: uuid.UUID, document_id: uuid.UUID) -> None:
        async with self._db.transaction(user_id) as session:
            await repository.set_work_status(
                session, job_id, document_id, JobDocumentStatus.PENDING
            )

    # --- one document ------------------------------------------------------------------------

    async def _work_on(self, user_id: uuid.UUID, job_id: uuid.UUID, document_id: uuid.UUID) -> None:
        work = await self._load(user_id, job_id, document_id)
        if work is None:
            await self._record(user_id, job_id, document_id, None)
            return
        heartbeat = asyncio.create_task(self._heartbeat(user_id, job_id, document_id))
        try:
            result = await self._pipeline.extract(work)
        finally:
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat
        await self._record(user_id, job_id, document_id, result)

    async def _heartbeat(
        self, user_id: uuid.UUID, job_id: uuid.UUID, document_id: uuid.UUID
    ) -> None:
        lease = self._settings.job_lease_seconds
        while True:
            await asyncio.sleep(lease / 3)
            async with self._db.transaction(user_id) as session:
                await repository.renew_lease(session, job_id, document_id, lease)

    async def _load(
        self, user_id: uuid.UUID, job_id: uuid.UUID, document_id: uuid.UUID
    ) -> DocumentWork | None:
        """The document's work; None when there is nothing to call (its extractions are
        current, or it is gone)."""
        async with self._db.transaction(user_id) as session:
            job = await repository.get(session, job_id)
            document = await documents.get(session, document_id)
            if job is None or document is None or document.status is not DocumentStatus.READY:
                return None
            project = await projects.get(session, job.project_id)
            assert project is not None  # the job's foreign key
            variables = _dependency_order(await schema.list_for_project(session, project.id))
            prompts = await schema.active_prompts(session, [v.id for v in variables])
            current = await repository.current_variables(
                session, document_id, [p.id for p in prompts.values()]
            )
            if variables and all(v.id in current for v in variables):
                return None
            chunks = await documents.chunks(session, document_id)
            text = document.text_content or ""
            entity = (
                entity_prompt(project, resolve_model(self._settings, project.llm_config))
                if project.unit_of_observation is UnitOfObservation.ENTITY
                else None
            )
            return DocumentWork(
                user_id=user_id,
                project_id=project.id,
                job_id=job_id,
                document_id=document_id,
                text=text,
                segments=segments_of(
                    text, [(c.start_offset, c.end_offset, c.text_content) for c in chunks]
                ),
                variables=tuple(
                    VariableWork(
                        id=variable.id,
                        name=variable.name,
                        rules=VariableRules.of(variable),
                        depends_on=tuple(variable.depends_on),
                        prompt_id=prompts[variable.id].id,
                        prompt_version=prompts[variable.id].version,
                        prompt=as_generated(prompts[variable.id]),
                    )
                    for variable in variables
                    if variable.id in prompts
                ),
                entity_prompt=entity,
            )

    async def _record(
        self,
        user_id: uuid.UUID,
        job_id: uuid.UUID,
        document_id: uuid.UUID,
        result: DocumentResult | None,
    ) -> None:
        """The document's extractions, the job's counters and log, in one transaction; then
        the events. result None: skipped (already current, or no longer READY)."""
        async with self._db.transaction(user_id) as session:
            job = await repository.get_for_update(session, job_id)
            if job is None:
                return
            failed = result is not None and result.error is not None
            if result is not None:
                # A document that failed as a whole keeps the values it had.
                if not failed:
                    await self._save_rows(session, job, document_id, result)
                self._count_usage(job, result.usage)
            status = (
                JobDocumentStatus.SKIPPED
                if result is None
                else JobDocumentStatus.FAILED
                if failed
                else JobDocumentStatus.DONE
            )
            await repository.set_work_status(
                session, job_id, document_id, status, result.error if failed and result else None
            )
            if failed:
                assert result is not None
                assert result.error is not None
                job.documents_failed += 1
                job.consecutive_failures += 1
                repository.add_log(
                    session,
                    job,
                    LogEventType.DOCUMENT_PROCESSING_FAILED,
                    result.error,
                    document_id=document_id,
                )
            else:
                job.documents_processed += 1
                job.consecutive_failures = 0
                repository.add_log(
                    session,
                    job,
                    LogEventType.DOCUMENT_PROCESSED,
                    _summary(result),
                    document_id=document_id,
                    details=_details(result),
                )
            done = job.documents_processed + job.documents_failed
            job.progress = (
                min(100.0, 100.0 * done / job.documents_total) if job.documents_total else 100.0
            )
            paused = None
            if job.consecutive_failures > self._settings.job_max_consecutive_failures and (
                job.status is JobStatus.RUNNING
            ):
                paused = (
                    f"{job.consecutive_failures} documents failed in a row; the last: "
                    f"{result.error if result else ''}"
                )
                job.status = JobStatus.PAUSED
                job.status_reason = paused
                repository.add_log(session, job, LogEventType.JOB_PAUSED, paused)
            await session.flush()
            # Published while the job's row is locked, just before the commit: every worker's
            # events reach the stream in the order of the changes, and the last document's
            # come before the job's end.
            kind = event_types.DOCUMENT_FAILED if failed else event_types.DOCUMENT_COMPLETED
            await self._events.publish(
                job, kind, document_id=document_id, message=result.error or "" if result else ""
            )
            await self._events.publish(job, event_types.PROGRESS)
            if paused:
                await self._events.publish(job, event_types.PAUSED, message=paused)

    async def _save_rows(
        self,
        session: AsyncSession,
        job: ProcessingJob,
        document_id: uuid.UUID,
        result: DocumentResult,
    ) -> None:
        rows: list[dict[str, Any]] = []
        for item in result.results:
            outcome = item.outcome
            rows.append(
                {
                    "id": uuid.uuid4(),
                    "user_id": job.user_id,
                    "project_id": job.project_id,
                    "document_id": document_id,
                    "variable_id": item.variable.id,
                    "job_id": job.id,
                    "prompt_id": item.variable.prompt_id,
                    "prompt_version": item.variable.prompt_version,
                    "entity_key": item.entity.key if item.entity else "",
                    "entity_name": item.entity.name if item.entity else "",
                    "value": outcome.value,
                    "raw_response": list(item.raw_responses),
                    "confidence": outcome.confidence,
                    "source_text": outcome.source_text,
                    "source_start": outcome.evidence.start,
                    "source_end": outcome.evidence.end,
                    "evidence_match": outcome.evidence.match,
                    "status": outcome.status,
                    "error": outcome.error,
                    "input_tokens": item.usage.prompt_tokens,
                    "output_tokens": item.usage.completion_tokens,
                    "cost_usd": item.usage.cost_usd or Decimal(0),
                }
            )
            if outcome.status is ExtractionStatus.FAILED:
                repository.add_log(
                    session,
                    job,
                    LogEventType.EXTRACTION_FAILED,
                    f"{item.variable.name}"
                    + (f" ({item.entity.name})" if item.entity else "")
                    + f": {outcome.error}",
                    document_id=document_id,
                )
        # Rows of entities the document no longer yields go; one row per unit and variable.
        keys = {entity.key for entity in result.entities} if result.entities is not None else {""}
        await repository.save_extractions(session, document_id, rows, keys)

    def _count_usage(self, job: ProcessingJob, usage: Usage) -> None:
        job.input_tokens += usage.prompt_tokens
        job.output_tokens += usage.completion_tokens
        job.cost_usd += usage.cost_usd or Decimal(0)

    # --- the job as a whole --------------------------------------------------------------------

    async def _stop(
        self, user_id: uuid.UUID, job_id: uuid.UUID, status: JobStatus, reason: str
    ) -> None:
        """Pauses or fails a running job for a reason the worker found."""
        async with self._db.transaction(user_id) as session:
            job = await repository.get_for_update(session, job_id)
            if job is None or job.status not in (JobStatus.PENDING, JobStatus.RUNNING):
                return
            job.status = status
            job.status_reason = reason
            if status is JobStatus.FAILED:
                job.finished_at = datetime.now(UTC)
            repository.add_log(
                session,
                job,
                LogEventType.JOB_PAUSED if status is JobStatus.PAUSED else LogEventType.JOB_FAILED,
                reason,
            )
            if status is JobStatus.PAUSED and "circuit breaker" in reason:
                repository.add_log(session, job, LogEventType.CIRCUIT_OPEN, reason)
            await session.flush()
            await self._events.publish(
                job,
                event_types.PAUSED if status is JobStatus.PAUSED else event_types.JOB_FAILED,
                message=reason,
            )


def _dependency_order(variables: Sequence[Variable]) -> list[Variable]:
    """Schema order, except that a variable comes after those it depends on."""
    by_id = {variable.id: variable for variable in variables}
    ordered: list[Variable] = []
    placed: set[uuid.UUID] = set()

    def place(variable: Variable, seen: frozenset[uuid.UUID]) -> None:
        if variable.id in placed or variable.id in seen:
            return
        for dependency in variable.depends_on:
            if dependency in by_id:
                place(by_id[dependency], seen | {variable.id})
        placed.add(variable.id)
        ordered.append(variable)

    for variable in variables:
        place(variable, frozenset())
    return ordered


def _summary(result: DocumentResult | None) -> str:
    if result is None:
        return "skipped: its extractions are current"
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
