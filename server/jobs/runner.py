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
import time
import uuid
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from redis.exceptions import RedisError
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from server.core.config import Settings
from server.core.db import Database
from server.documents import repository as documents
from server.documents.models import DocumentStatus
from server.documents.repository import ReadableText
from server.jobs import events as event_types
from server.jobs import repository
from server.jobs.events import JobEvents
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
from server.schema.prompts import GeneratedPrompt, entity_prompt

log = logging.getLogger(__name__)

# How often a task waiting for another worker's document looks again.
_WAIT_SECONDS = 1.0
# Waits between attempts to save a document's result while the database or Redis is away.
_SAVE_RETRY_FIRST_WAIT = 0.5
_SAVE_RETRY_MAX_WAIT = 8.0


@dataclass(frozen=True)
class Reservation:
    tokens: int = 0
    in_flight: int = 0
    # Why the document cannot start within the budget; None when it can.
    over_budget: str | None = None


@dataclass(frozen=True)
class ExtractionPlan:
    """What every document of a project is extracted with, built once and reused while its
    fingerprint (see repository.plan_fingerprint) stays the same."""

    fingerprint: tuple[Any, ...]
    # In dependency order.
    variables: tuple[VariableWork, ...]
    entity_prompt: GeneratedPrompt | None

    @property
    def prompt_ids(self) -> list[uuid.UUID]:
        return [variable.prompt_id for variable in self.variables]


@dataclass(frozen=True)
class Claim:
    """A document this worker holds: `attempt` names the claim in every later change."""

    job: ProcessingJob
    document_id: uuid.UUID
    attempt: int
    # None: nothing to call (its extractions are current, or it is no longer READY).
    work: DocumentWork | None


# _claim's answer when another worker holds the document.
_HELD_ELSEWHERE = "held elsewhere"

# Plans kept per worker process (one per project recently worked on).
_PLANS_KEPT = 64


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
        self._plans: OrderedDict[uuid.UUID, ExtractionPlan] = OrderedDict()

    async def run_document(
        self, user_id: uuid.UUID, job_id: uuid.UUID, document_id: uuid.UUID
    ) -> None:
        """Extracts one document of the job, unless the job stopped or another worker has it
        (then waits for that worker, or takes the document over when its lease runs out)."""
        while True:
            claim = await self._claim(user_id, job_id, document_id)
            if claim is None:
                return  # the job is not running, or the document is finished
            if isinstance(claim, Claim):
                break
            await asyncio.sleep(_WAIT_SECONDS)
        try:
            result = await self._extract(claim)
        except asyncio.CancelledError:
            # The worker is stopping (SIGTERM): the document goes back to the list untouched.
            await asyncio.shield(self._release(claim))
            raise
        except JobInterrupted as interruption:
            await self._release(claim)
            if interruption.pauses:
                await self._stop(user_id, job_id, JobStatus.PAUSED, interruption.error.message)
            else:
                await self._stop(user_id, job_id, JobStatus.FAILED, interruption.error.message)
            return
        except Exception as error:
            # A fault of ours, not of the document or the model: the document fails with it
            # on record (its calls are in the ledger) and the job goes on.
            log.exception("job %s, document %s: extraction raised", job_id, document_id)
            result = DocumentResult([], None, Usage(), f"internal error: {error!r}")
        job = await self._record_until_saved(claim, result)
        if job is not None and job.documents_processed + job.documents_failed >= (
            job.documents_total
        ):
            await finish_if_done(self._db, self._events, user_id, job_id)

    # --- claiming ----------------------------------------------------------------------------

    async def _claim(
        self, user_id: uuid.UUID, job_id: uuid.UUID, document_id: uuid.UUID
    ) -> Claim | str | None:
        """The document, claimed with what its extraction needs; _HELD_ELSEWHERE while
        another worker holds it; None when there is nothing to do (the job does not run, the
        document is finished, or the job was paused because it would pass a budget)."""
        async with self._db.transaction(user_id) as session:
            job = await repository.job_state(session, job_id)
            if job is None or job.status not in repository.RUNNABLE:
                return None
            reserved = 0
            source: ReadableText | None = None
            plan: ExtractionPlan | None = None
            if job.token_budget is not None or job.cost_budget_usd is not None:
                # Reservations are decided one claim at a time, under the job's row lock.
                job = await repository.get(session, job_id, lock=True, with_documents=False)
                if job is None or job.status not in repository.RUNNABLE:
                    return None
                source = await documents.readable_text(session, document_id)
                plan = await self._plan(session, job.project_id)
                estimate = await self._reservation(session, job, source, plan)
                if estimate.over_budget:
                    if estimate.in_flight:
                        # Documents in flight may spend less than set aside: wait for them.
                        return _HELD_ELSEWHERE
                    await self._pause_over_budget(session, job, estimate.over_budget)
                    return None
                reserved = estimate.tokens
            attempt = await repository.claim(
                session, job_id, document_id, self._settings.job_lease_seconds, reserved
            )
            if attempt is None:
                status = await repository.work_status(session, job_id, document_id)
                return _HELD_ELSEWHERE if status is JobDocumentStatus.RUNNING else None
            if job.status is JobStatus.PENDING and await repository.mark_started(session, job_id):
                await repository.add_log(session, job, LogEventType.JOB_STARTED, "the job started")
            if plan is None:
                source = await documents.readable_text(session, document_id)
                plan = await self._plan(session, job.project_id)
            work = await self._load(session, job, document_id, source, plan)
            return Claim(job, document_id, attempt, work)

    async def _pause_over_budget(
        self, session: AsyncSession, job: ProcessingJob, reason: str
    ) -> None:
        job.status = JobStatus.PAUSED
        job.status_reason = reason
        await repository.add_log(session, job, LogEventType.JOB_PAUSED, reason)
        await session.flush()
        await self._events.publish(job, event_types.PAUSED, message=reason)

    async def _reservation(
        self,
        session: AsyncSession,
        job: ProcessingJob,
        source: ReadableText | None,
        plan: ExtractionPlan,
    ) -> Reservation:
        """What the document may spend, and whether that, with what was spent and what is
        set aside for documents in flight, would pass a budget."""
        prompt_tokens, output_tokens = _token_estimate(source, plan)
        tokens = prompt_tokens + output_tokens
        in_flight = await repository.reserved_tokens(session, job.id)
        spent = job.input_tokens + job.output_tokens
        if job.token_budget is not None and spent + in_flight + tokens > job.token_budget:
            return Reservation(
                tokens,
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
                    in_flight=in_flight,
                    over_budget=(
                        f"cost budget reached: ${job.cost_usd:.4f} of ${job.cost_budget_usd:.4f} "
                        f"spent, and the next document may cost up to ${price:.4f}"
                    ),
                )
        return Reservation(tokens, in_flight=in_flight)

    async def _release(self, claim: Claim) -> None:
        """Hands the document back to the list, untouched."""
        async with self._db.transaction(claim.job.user_id) as session:
            await repository.end_claim(
                session, claim.job.id, claim.document_id, claim.attempt, JobDocumentStatus.PENDING
            )

    # --- one document ------------------------------------------------------------------------

    async def _load(
        self,
        session: AsyncSession,
        job: ProcessingJob,
        document_id: uuid.UUID,
        source: ReadableText | None,
        plan: ExtractionPlan,
    ) -> DocumentWork | None:
        """The document's work; None when there is nothing to call (its extractions are
        current, or it is no longer READY)."""
        if source is None or source.status is not DocumentStatus.READY:
            return None
        current = await repository.current_variables(session, document_id, plan.prompt_ids)
        if plan.variables and all(v.id in current for v in plan.variables):
            return None
        return DocumentWork(
            user_id=job.user_id,
            project_id=job.project_id,
            job_id=job.id,
            document_id=document_id,
            text=source.text,
            segments=segments_of(source.text, source.chunks),
            variables=plan.variables,
            entity_prompt=plan.entity_prompt,
        )

    async def _plan(self, session: AsyncSession, project_id: uuid.UUID) -> ExtractionPlan:
        """The project's plan as of now: the one built before while nothing it is made of
        changed (one small query), else built again."""
        fingerprint = await repository.plan_fingerprint(session, project_id)
        plan = self._plans.get(project_id)
        if plan is not None and plan.fingerprint == fingerprint:
            self._plans.move_to_end(project_id)
            return plan
        plan = await self._build_plan(session, project_id, fingerprint)
        self._plans[project_id] = plan
        if len(self._plans) > _PLANS_KEPT:
            self._plans.popitem(last=False)
        return plan

    async def _build_plan(
        self, session: AsyncSession, project_id: uuid.UUID, fingerprint: tuple[Any, ...]
    ) -> ExtractionPlan:
        project = await projects.get(session, project_id)
        assert project is not None  # the job's foreign key
        variables = _dependency_order(await schema.list_for_project(session, project.id))
        prompts = await schema.active_prompts(session, [v.id for v in variables])
        return ExtractionPlan(
            fingerprint=fingerprint,
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
            entity_prompt=(
                entity_prompt(project, resolve_model(self._settings, project.llm_config))
                if project.unit_of_observation is UnitOfObservation.ENTITY
                else None
            ),
        )

    async def _extract(self, claim: Claim) -> DocumentResult | None:
        """The document's extraction, while a heartbeat renews the claim's lease; None when
        there was nothing to call."""
        if claim.work is None:
            return None
        heartbeat = asyncio.create_task(self._heartbeat(claim))
        try:
            return await self._pipeline.extract(claim.work)
        finally:
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat

    async def _heartbeat(self, claim: Claim) -> None:
        lease = self._settings.job_lease_seconds
        while True:
            await asyncio.sleep(lease / 3)
            async with self._db.transaction(claim.job.user_id) as session:
                await repository.renew_lease(
                    session, claim.job.id, claim.document_id, claim.attempt, lease
                )

    async def _record_until_saved(
        self, claim: Claim, result: DocumentResult | None
    ) -> ProcessingJob | None:
        """_record, tried again while PostgreSQL or Redis cannot be reached, for up to half
        the lease (the claim holds meanwhile): a result paid for is not dropped over a
        restart of either. Past that the error propagates; the task's message, not yet
        acknowledged, comes back to a worker once the lease has run out."""
        give_up = time.monotonic() + self._settings.job_lease_seconds / 2
        wait = _SAVE_RETRY_FIRST_WAIT
        while True:
            try:
                return await self._record(claim, result)
            except (DBAPIError, RedisError, OSError) as error:
                if not _unreachable(error) or time.monotonic() + wait > give_up:
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

    async def _record(self, claim: Claim, result: DocumentResult | None) -> ProcessingJob | None:
        """The document's extractions, its end in the work list, the job's log and counters,
        in one transaction; the events just before its commit. result None: skipped (already
        current, or no longer READY). Returns the job as counted; None when the claim was
        lost (its lease ran out and another worker took the document: that one counts it)."""
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
            if not await repository.end_claim(
                session, job.id, document_id, claim.attempt, status, error
            ):
                log.warning("job %s, document %s: claim lost, result dropped", job.id, document_id)
                return None
            logs: list[dict[str, Any]] = []
            if result is not None and not failed:
                # A document that failed as a whole keeps the values it had.
                logs += await self._save_rows(session, job, document_id, result)
            if error is not None:
                logs.append(
                    repository.log_entry(
                        job,
                        LogEventType.DOCUMENT_PROCESSING_FAILED,
                        error,
                        document_id=document_id,
                    )
                )
            else:
                logs.append(
                    repository.log_entry(
                        job,
                        LogEventType.DOCUMENT_PROCESSED,
                        _summary(result),
                        document_id=document_id,
                        details=_details(result),
                    )
                )
            await repository.add_logs(session, logs)
            usage = result.usage if result is not None else Usage()
            # Last, so that the job's row is locked only for the commit.
            counted = await repository.count_document(
                session,
                job.id,
                failed=failed,
                prompt_tokens=usage.prompt_tokens,
                completion_tokens=usage.completion_tokens,
                cost_usd=usage.cost_usd or Decimal(0),
            )
            if counted is None:
                return None
            paused = None
            if (
                counted.consecutive_failures > self._settings.job_max_consecutive_failures
                and counted.status is JobStatus.RUNNING
            ):
                paused = (
                    f"{counted.consecutive_failures} documents failed in a row; the last: "
                    f"{error or ''}"
                )
                counted = await repository.set_status(session, job.id, JobStatus.PAUSED, paused)
                assert counted is not None
                await repository.add_log(session, counted, LogEventType.JOB_PAUSED, paused)
            # Published while the job's row is locked, just before the commit: every worker's
            # events reach the stream in the order of the changes, and the last document's
            # come before the job's end.
            kind = event_types.DOCUMENT_FAILED if failed else event_types.DOCUMENT_COMPLETED
            await self._events.publish(counted, kind, document_id=document_id, message=error or "")
            await self._events.publish(counted, event_types.PROGRESS)
            if paused:
                await self._events.publish(counted, event_types.PAUSED, message=paused)
            return counted

    async def _save_rows(
        self,
        session: AsyncSession,
        job: ProcessingJob,
        document_id: uuid.UUID,
        result: DocumentResult,
    ) -> list[dict[str, Any]]:
        """Writes the document's extractions; returns the log entries of those that failed."""
        rows: list[dict[str, Any]] = []
        logs: list[dict[str, Any]] = []
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
                logs.append(
                    repository.log_entry(
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
        await repository.save_extractions(session, document_id, rows, keys)
        return logs

    # --- the job as a whole --------------------------------------------------------------------

    async def _stop(
        self, user_id: uuid.UUID, job_id: uuid.UUID, status: JobStatus, reason: str
    ) -> None:
        """Pauses or fails a running job for a reason the worker found."""
        async with self._db.transaction(user_id) as session:
            job = await repository.get(session, job_id, lock=True, with_documents=False)
            if job is None or job.status not in repository.RUNNABLE:
                return
            job.status = status
            job.status_reason = reason
            if status is JobStatus.FAILED:
                job.finished_at = datetime.now(UTC)
            await repository.add_log(
                session,
                job,
                LogEventType.JOB_PAUSED if status is JobStatus.PAUSED else LogEventType.JOB_FAILED,
                reason,
            )
            if status is JobStatus.PAUSED and "circuit breaker" in reason:
                await repository.add_log(session, job, LogEventType.CIRCUIT_OPEN, reason)
            await session.flush()
            await self._events.publish(
                job,
                event_types.PAUSED if status is JobStatus.PAUSED else event_types.JOB_FAILED,
                message=reason,
            )


def _token_estimate(source: ReadableText | None, plan: ExtractionPlan) -> tuple[int, int]:
    """Prompt and output tokens the document may use at most."""
    text = source.text if source else ""
    prompt_tokens = output_tokens = 0
    for variable in plan.variables:
        prompt_tokens += estimate_message_tokens([variable.prompt.system_prompt, text])
        output_tokens += variable.prompt.max_tokens
    return prompt_tokens, output_tokens


def _unreachable(error: Exception) -> bool:
    """The database or Redis could not be reached (as opposed to a statement it refused)."""
    if isinstance(error, DBAPIError):
        return error.connection_invalidated or isinstance(error, OperationalError | InterfaceError)
    return True


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
