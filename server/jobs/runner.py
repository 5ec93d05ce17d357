"""A worker's side of a job (FR-039..041, NFR-009, NFR-010).

PostgreSQL is the queue: the job's work list holds every document's state, and a worker loop
claims the next document (FOR UPDATE SKIP LOCKED) until none is left; queued tasks only wake
workers up (see server.jobs.supervisor for work no task announced). A document is claimed
under a lease that a heartbeat renews while it is worked on, so that no two workers process
it at once and a dead worker's document is taken over once its lease runs out. Its
extractions, the job's counters and its log are saved in one transaction (FR-023); events
follow on the job's stream. Between documents the job's state decides: a paused or cancelled
job takes no new document; budgets, consecutive failures and an open circuit breaker pause it
(server.jobs.flows); the loop that finds nothing left completes it.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import os
import socket
import time
import uuid
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from redis.exceptions import RedisError
from sqlalchemy.engine import Row
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from server.core.config import Settings
from server.core.db import Database
from server.documents import repository as documents
from server.documents.models import DocumentStatus
from server.documents.repository import ReadableText
from server.jobs import flows, repository
from server.jobs.events import EventType, JobEvents
from server.jobs.evidence import evidence_rows
from server.jobs.flows import Stop
from server.jobs.models import (
    DocumentOutcome,
    ExtractionStatus,
    JobDocumentStatus,
    JobStatus,
    LogEventType,
    ProcessingJob,
    StopReason,
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
from server.projects.models import ExtractionMode, UnitOfObservation
from server.schema import repository as schema
from server.schema.models import Variable
from server.schema.prompt_versions import as_generated
from server.schema.prompts import GeneratedPrompt, entity_prompt

log = logging.getLogger(__name__)

# How often a loop waiting for documents in flight (a budget) looks again.
_WAIT_SECONDS = 1.0
# Waits between attempts to save a document's result while the database or Redis is away.
_SAVE_RETRY_FIRST_WAIT = 0.5
_SAVE_RETRY_MAX_WAIT = 8.0


@dataclass(frozen=True)
class Reservation:
    tokens: int = 0
    in_flight: int = 0
    # Why the document cannot start within the budget; None when it can.
    over_budget: Stop | None = None


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
class Skip:
    """Nothing to call for the document, and why."""

    reason: str


@dataclass(frozen=True)
class Claim:
    """A document this worker holds: `attempt` names the claim in every later change."""

    job: ProcessingJob
    document_id: uuid.UUID
    attempt: int
    # The hash of the text the extraction reads (see documents.models.text_hash).
    text_hash: str | None
    entity_prompt_hash: str | None
    # What the document's last extraction left, if it left no values (see _save_result).
    recorded: DocumentOutcome | None
    work: DocumentWork | Skip


class Wait(enum.Enum):
    """_claim's answer when the next document must wait for documents in flight (their
    reservations may free enough of the budget)."""

    IN_FLIGHT = "in flight"


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
        # The loops working on jobs in this process right now (see run_job).
        self._loops: set[asyncio.Task[Any]] = set()

    @property
    def running(self) -> int:
        """Job loops working in this process now."""
        return len(self._loops)

    def hand_back(self) -> None:
        """Stops every job loop of this process at once, each handing its document back to
        the list (see work_next): for a worker told to stop, whose task queue would otherwise
        wait for its tasks to finish, that is for job_task_seconds."""
        for loop in self._loops:
            loop.cancel()

    async def run_job(
        self, user_id: uuid.UUID, job_id: uuid.UUID, *, for_seconds: float | None = None
    ) -> bool:
        """Works through the job's documents, one at a time, until none is left to claim or
        the job stops (then completes it if it is done), or for_seconds have passed. Several
        loops (in this process and others) work one job together. True when the time ran out
        with the job perhaps unfinished: the caller hands the rest on."""
        deadline = None if for_seconds is None else time.monotonic() + for_seconds
        loop = asyncio.current_task()
        if loop is not None:
            self._loops.add(loop)
        try:
            while await self.work_next(user_id, job_id):
                if deadline is not None and time.monotonic() >= deadline:
                    return True
            async with self._db.transaction(user_id) as session:
                await flows.finish_if_done(session, self._events, job_id)
            return False
        finally:
            self._loops.discard(loop)

    async def work_next(self, user_id: uuid.UUID, job_id: uuid.UUID) -> bool:
        """Claims the job's next document and extracts it; False when there is none to claim
        (every document is finished or held by a live worker) or the job does not run."""
        while True:
            claim = await self._claim(user_id, job_id)
            if claim is None:
                return False
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
            await self._interrupt(claim.job, interruption)
            return True
        except Exception as error:
            # A fault of ours, not of the document or the model: the document fails with it
            # on record (its calls are in the ledger) and the job goes on.
            log.exception("job %s, document %s: extraction raised", job_id, claim.document_id)
            result = DocumentResult([], None, Usage(), f"internal error: {error!r}")
        await self._record_until_saved(claim, result)
        return True

    # --- claiming ----------------------------------------------------------------------------

    async def _claim(self, user_id: uuid.UUID, job_id: uuid.UUID) -> Claim | Wait | None:
        """The job's next document, claimed with what its extraction needs; Wait while it
        must wait for documents in flight; None when there is nothing to claim (the job does
        not run, no document is left, or the job was paused because it would pass a
        budget)."""
        async with self._db.transaction(user_id) as session:
            job = await repository.job_state(session, job_id)
            if job is None or job.status not in repository.RUNNABLE:
                return None
            budgeted = job.token_budget is not None or job.cost_budget_usd is not None
            if budgeted:
                # Reservations are decided one claim at a time, under the job's row lock.
                job = await repository.get(session, job_id, lock=True, with_documents=False)
                if job is None or job.status not in repository.RUNNABLE:
                    return None
            document_id = await repository.next_claimable(session, job_id)
            if document_id is None:
                return None
            source = await documents.readable_text(session, document_id)
            plan = await self._plan(session, job.project_id)
            reserved = 0
            if budgeted:
                estimate = await self._reservation(session, job, source, plan)
                if estimate.over_budget:
                    if estimate.in_flight:
                        return Wait.IN_FLIGHT
                    await flows.pause(session, self._events, job_id, estimate.over_budget)
                    return None
                reserved = estimate.tokens
            attempt = await repository.claim(
                session, job_id, document_id, self._settings.job_lease_seconds, reserved
            )
            if attempt is None:
                return None  # the job stopped meanwhile
            if job.status is JobStatus.PENDING:
                await flows.start(session, job)
            outcome = await repository.outcome_of(session, document_id)
            return Claim(
                job,
                document_id,
                attempt,
                text_hash=source.text_hash if source else None,
                entity_prompt_hash=plan.entity_prompt.digest if plan.entity_prompt else None,
                recorded=outcome.outcome if outcome else None,
                work=await self._load(session, job, document_id, source, plan, outcome),
            )

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
                over_budget=Stop(
                    StopReason.TOKEN_BUDGET,
                    f"token budget reached: {spent} of {job.token_budget} tokens used, and the "
                    f"next document needs up to {tokens}",
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
                    over_budget=Stop(
                        StopReason.COST_BUDGET,
                        f"cost budget reached: ${job.cost_usd:.4f} of ${job.cost_budget_usd:.4f} "
                        f"spent, and the next document may cost up to ${price:.4f}",
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
        outcome: Row[Any] | None,
    ) -> DocumentWork | Skip:
        """The document's work, or why there is nothing to call."""
        if source is None or source.status is not DocumentStatus.READY:
            return Skip("skipped: the document is no longer READY")
        if outcome is not None and outcome.text_hash == source.text_hash:
            if outcome.outcome is DocumentOutcome.FAILED and not job.retry_failed:
                return Skip(
                    f"skipped: it failed before ({outcome.error}); a job that retries failed "
                    "documents tries it again"
                )
            if (
                outcome.outcome is DocumentOutcome.NO_ENTITIES
                and plan.entity_prompt
                and (outcome.entity_prompt_hash == plan.entity_prompt.digest)
            ):
                return Skip("skipped: it was read before and has no entities")
        current = await repository.current_variables(
            session, document_id, plan.prompt_ids, source.text_hash
        )
        if plan.variables and all(v.id in current for v in plan.variables):
            return Skip("skipped: its extractions are current")
        return DocumentWork(
            user_id=job.user_id,
            project_id=job.project_id,
            job_id=job.id,
            document_id=document_id,
            text=source.text,
            segments=segments_of(source.text, source.chunks),
            variables=plan.variables,
            entity_prompt=plan.entity_prompt,
            grouped=job.extraction_mode is ExtractionMode.GROUPED,
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
        if isinstance(claim.work, Skip):
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

    async def _record_until_saved(self, claim: Claim, result: DocumentResult | None) -> None:
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
            if not await repository.end_claim(
                session, job.id, document_id, claim.attempt, status, error
            ):
                log.warning("job %s, document %s: claim lost, result dropped", job.id, document_id)
                return
            logs: list[dict[str, Any]] = []
            if result is not None:
                logs += await self._save_result(session, claim, result)
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
                        _summary(claim, result),
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
            await self._events.publish(counted, kind, document_id=document_id, message=error or "")
            await self._events.publish(counted, EventType.PROGRESS)
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
    ) -> list[dict[str, Any]]:
        """The document's extractions, or what it left when it left none; returns the log
        entries of the values that failed. A document that failed as a whole keeps the
        values it had."""
        job, document_id = claim.job, claim.document_id
        if result.error is not None:
            await repository.set_outcome(
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
            await repository.set_outcome(
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
    ) -> list[dict[str, Any]]:
        """Writes the document's extractions; returns the log entries of those that failed."""
        job, document_id = claim.job, claim.document_id
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
                    "evidence_match": outcome.evidence_match,
                    "value_evidence": evidence_rows(outcome.value_evidence),
                    "status": outcome.status,
                    "error": outcome.error,
                    "text_hash": claim.text_hash,
                    "best_guess": outcome.best_guess,
                    # The model the variable's calls went to: the one that answered.
                    "llm_provider": item.variable.prompt.provider,
                    "llm_model": item.variable.prompt.model,
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

    async def _interrupt(self, job: ProcessingJob, interruption: JobInterrupted) -> None:
        """Pauses the job while the provider fails (the supervisor resumes it once the breaker
        closes), or fails it when the model cannot be called as configured."""
        message = interruption.error.message
        async with self._db.transaction(job.user_id) as session:
            if not interruption.pauses:
                await flows.fail(
                    session, self._events, job.id, Stop(StopReason.MODEL_CONFIGURATION, message)
                )
                return
            most = self._settings.job_max_automatic_resumes
            if job.automatic_resumes >= most:
                message += (
                    f"; the job was resumed on its own {most} times and now waits for you to "
                    "resume it"
                )
            await flows.pause(session, self._events, job.id, Stop(StopReason.CIRCUIT_OPEN, message))


def _token_estimate(source: ReadableText | None, plan: ExtractionPlan) -> tuple[int, int]:
    """Prompt and output tokens the document may use at most."""
    text = source.text if source else ""
    prompt_tokens = output_tokens = 0
    for variable in plan.variables:
        prompt = variable.prompt
        prompt_tokens += estimate_message_tokens(
            [prompt.system_prompt, prompt.user_prompt_template, text]
        )
        output_tokens += variable.prompt.max_tokens
    return prompt_tokens, output_tokens


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
