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

Claiming is server.jobs.claims, the extraction plan server.jobs.plans, saving a document's
end server.jobs.recording; this module runs the loop and the heartbeat between them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Awaitable
from typing import Any, TypeVar

from server.core.config import Settings
from server.core.db import Database
from server.jobs import flows
from server.jobs.claims import Claim, Claims, Skip, Wait
from server.jobs.events import JobEvents
from server.jobs.flows import Stop
from server.jobs.models import StopReason
from server.jobs.pipeline import DocumentResult, ExtractionPipeline, JobInterrupted, Usage
from server.jobs.plans import PlanCache
from server.jobs.recording import Recorder
from server.jobs.view import JobView

T = TypeVar("T")

log = logging.getLogger(__name__)

# How often a loop waiting for documents in flight (a budget) looks again.
_WAIT_SECONDS = 1.0


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
        self._claims = Claims(db, settings, events, PlanCache(settings))
        self._recorder = Recorder(db, settings, events)
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
            claim = await self._claim_next(user_id, job_id)
            if claim is None:
                return False
            if isinstance(claim, Claim):
                break
            await asyncio.sleep(_WAIT_SECONDS)
        try:
            result = await self._extract(claim)
        except asyncio.CancelledError:
            # The worker is stopping (SIGTERM): the document goes back to the list untouched.
            await _to_the_end(self._claims.release(claim))
            raise
        except JobInterrupted as interruption:
            await self._claims.release(claim)
            await self._interrupt(claim.job, interruption)
            return True
        except Exception as error:
            # A fault of ours, not of the document or the model: the document fails with it
            # on record (its calls are in the ledger) and the job goes on.
            log.exception("job %s, document %s: extraction raised", job_id, claim.document_id)
            result = DocumentResult([], None, Usage(), f"internal error: {error!r}")
        # Paid for: saved even when the worker is told to stop meanwhile.
        await _to_the_end(self._recorder.record_until_saved(claim, result))
        return True

    async def _claim_next(self, user_id: uuid.UUID, job_id: uuid.UUID) -> Claim | Wait | None:
        """Claims.next, finished even when the worker is told to stop meanwhile: a stop that
        came while the claim was being committed would otherwise leave the document RUNNING
        under a claim no one holds until its lease ran out. Such a claim is handed back."""
        claiming = asyncio.ensure_future(self._claims.next(user_id, job_id))
        try:
            return await _to_the_end(claiming)
        except asyncio.CancelledError:
            if isinstance(claim := claiming.result(), Claim):
                await self._claims.release(claim)
            raise

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
        while True:
            await asyncio.sleep(self._settings.job_lease_seconds / 3)
            await self._claims.renew(claim)

    # --- the job as a whole --------------------------------------------------------------------

    async def _interrupt(self, job: JobView, interruption: JobInterrupted) -> None:
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


async def _to_the_end(operation: Awaitable[T]) -> T:
    """Awaits the operation to its end even when the caller is cancelled meanwhile (a worker
    told to stop), then lets the cancellation go on: a change half made would otherwise be
    rolled back and leave a document RUNNING under a claim no one holds."""
    running = asyncio.ensure_future(operation)
    try:
        return await asyncio.shield(running)
    except asyncio.CancelledError:
        await running
        raise
