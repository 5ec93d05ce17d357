"""Claiming a job's next document for this worker: the first one no live worker holds
(FOR UPDATE SKIP LOCKED), under a lease its heartbeat renews, within the job's budgets, with
what its extraction needs; or handing it back untouched."""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncSession

from server.core.config import Settings
from server.core.db import Database
from server.documents import repository as documents
from server.documents.models import DocumentStatus
from server.documents.repository import ReadableText
from server.jobs import flows, repository, results, worklist
from server.jobs.events import JobEvents
from server.jobs.flows import Stop
from server.jobs.models import (
    DocumentOutcome,
    JobDocumentStatus,
    JobStatus,
    StopReason,
)
from server.jobs.pipeline import DocumentWork, segments_of
from server.jobs.plans import ExtractionPlan, PlanCache
from server.jobs.view import JobView
from server.llm.factory import resolve_model
from server.llm.pricing import cost_usd
from server.projects import repository as projects
from server.projects.models import ExtractionMode


@dataclass(frozen=True)
class Reservation:
    tokens: int = 0
    in_flight: int = 0
    # Why the document cannot start within the budget; None when it can.
    over_budget: Stop | None = None


@dataclass(frozen=True)
class Skip:
    """Nothing to call for the document, and why."""

    reason: str


@dataclass(frozen=True)
class Claim:
    """A document this worker holds: `attempt` names the claim in every later change."""

    job: JobView
    document_id: uuid.UUID
    attempt: int
    # The hash of the text the extraction reads (see documents.models.text_hash).
    text_hash: str | None
    entity_prompt_hash: str | None
    # What the document's last extraction left, if it left no values (see _save_result).
    recorded: DocumentOutcome | None
    work: DocumentWork | Skip


class Wait(enum.Enum):
    """Claims.next's answer when the next document must wait for documents in flight (their
    reservations may free enough of the budget)."""

    IN_FLIGHT = "in flight"


class Claims:
    """A worker process's claims on the documents of the jobs it works on."""

    def __init__(
        self, db: Database, settings: Settings, events: JobEvents, plans: PlanCache
    ) -> None:
        self._db = db
        self._settings = settings
        self._events = events
        self._plans = plans

    async def next(self, user_id: uuid.UUID, job_id: uuid.UUID) -> Claim | Wait | None:
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
                locked = await repository.get(session, job_id, lock=True, with_documents=False)
                if locked is None or locked.status not in repository.RUNNABLE:
                    return None
                job = JobView.of(locked)
            document_id = await worklist.next_claimable(session, job_id)
            if document_id is None:
                return None
            source = await documents.readable_text(session, document_id)
            plan = await self._plans.plan(session, job.project_id)
            reserved = 0
            if budgeted:
                estimate = await self._reservation(session, job, source, plan)
                if estimate.over_budget:
                    if estimate.in_flight:
                        return Wait.IN_FLIGHT
                    await flows.pause(session, self._events, job_id, estimate.over_budget)
                    return None
                reserved = estimate.tokens
            attempt = await worklist.claim(
                session, job_id, document_id, self._settings.job_lease_seconds, reserved
            )
            if attempt is None:
                return None  # the job stopped meanwhile
            if job.status is JobStatus.PENDING:
                await flows.start(session, job)
            outcome = await results.outcome_of(session, document_id)
            return Claim(
                job,
                document_id,
                attempt,
                text_hash=source.text_hash if source else None,
                entity_prompt_hash=plan.entity_prompt.digest if plan.entity_prompt else None,
                recorded=outcome.outcome if outcome else None,
                work=await _work_of(session, job, document_id, source, plan, outcome),
            )

    async def _reservation(
        self,
        session: AsyncSession,
        job: JobView,
        source: ReadableText | None,
        plan: ExtractionPlan,
    ) -> Reservation:
        """What the document may spend, and whether that, with what was spent and what is
        set aside for documents in flight, would pass a budget."""
        prompt_tokens, output_tokens = plan.max_tokens(source.text if source else "")
        tokens = prompt_tokens + output_tokens
        in_flight = await worklist.reserved_tokens(session, job.id)
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

    async def release(self, claim: Claim) -> None:
        """Hands the document back to the list, untouched."""
        async with self._db.transaction(claim.job.user_id) as session:
            await worklist.end_claim(
                session, claim.job.id, claim.document_id, claim.attempt, JobDocumentStatus.PENDING
            )

    async def renew(self, claim: Claim) -> None:
        """Extends the claim's lease (while the document is worked on)."""
        async with self._db.transaction(claim.job.user_id) as session:
            await worklist.renew_lease(
                session,
                claim.job.id,
                claim.document_id,
                claim.attempt,
                self._settings.job_lease_seconds,
            )


async def _work_of(
    session: AsyncSession,
    job: JobView,
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
    current = await results.current_variables(
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
