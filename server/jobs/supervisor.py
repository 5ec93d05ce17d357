"""Work no task announced. Every few seconds a worker with free slots asks PostgreSQL, across
tenants and for ids only (jobs_wanting_workers()), which jobs want a worker:

- a runnable job with documents to claim: its tasks were lost (Redis failed after the job
  committed, a stream was flushed or trimmed) or its worker died; the worker works it;
- a running job with no document left that was not completed (the worker that finished the
  last document died first): the worker completes it;
- a job the circuit breaker paused: once the provider answers again, the worker resumes it
  (flows.resume_after_breaker bounds how often) and works it.

So a job never sits without work while a worker is idle, and an overnight job paused by a
provider outage goes on by itself."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable

from redis.exceptions import RedisError
from sqlalchemy.exc import DBAPIError

from server.core.config import Settings
from server.core.db import Database
from server.jobs import flows, repository
from server.jobs.events import JobEvents
from server.jobs.runner import JobRunner
from server.llm.factory import ModelChoice, resolve_model
from server.projects import repository as projects

log = logging.getLogger(__name__)

# Whether the provider behind a model answers again (its circuit breaker is not open).
ProviderAnswers = Callable[[ModelChoice], Awaitable[bool]]


class JobSupervisor:
    def __init__(
        self,
        db: Database,
        settings: Settings,
        runner: JobRunner,
        events: JobEvents,
        provider_answers: ProviderAnswers,
    ) -> None:
        self._db = db
        self._settings = settings
        self._runner = runner
        self._events = events
        self._provider_answers = provider_answers
        self._loops: set[asyncio.Task[bool]] = set()

    async def run(self) -> None:
        """Looks every job_supervisor_interval_seconds until cancelled; a database or Redis
        that cannot be reached is looked at again next time."""
        while True:
            await asyncio.sleep(self._settings.job_supervisor_interval_seconds)
            try:
                await self.look()
            except (DBAPIError, RedisError, OSError) as error:
                log.warning("the job supervisor could not look for work: %s", error)
            except Exception:
                # A fault of ours must not stop the supervisor of every later job.
                log.exception("the job supervisor failed to look for work")

    async def look(self) -> int:
        """Takes up the jobs that want a worker, as many as this worker has free slots;
        returns how many."""
        free = self._settings.worker_concurrency - self._runner.running
        if free <= 0:
            return 0
        async with self._db.transaction(None) as session:
            wanting = await repository.jobs_wanting_workers(
                session, free, self._settings.job_max_automatic_resumes
            )
        taken = 0
        for user_id, job_id, paused in wanting:
            if paused and not await self._resume(user_id, job_id):
                continue
            loop = asyncio.create_task(
                self._runner.run_job(user_id, job_id, for_seconds=self._settings.job_task_seconds)
            )
            self._loops.add(loop)
            loop.add_done_callback(self._ended)
            taken += 1
        if taken:
            log.info("the job supervisor took up %d job(s) no task announced", taken)
        return taken

    def _ended(self, loop: asyncio.Task[bool]) -> None:
        self._loops.discard(loop)
        if not loop.cancelled() and loop.exception() is not None:
            log.error("a job loop the supervisor started failed", exc_info=loop.exception())

    async def stop(self) -> None:
        """Stops the loops it started; each hands its document back (see JobRunner)."""
        for loop in list(self._loops):
            loop.cancel()
        await asyncio.gather(*self._loops, return_exceptions=True)

    async def _resume(self, user_id: uuid.UUID, job_id: uuid.UUID) -> bool:
        """Resumes a job the breaker paused if its provider answers again."""
        async with self._db.transaction(user_id) as session:
            job = await repository.get(session, job_id, with_documents=False)
            project = await projects.get(session, job.project_id) if job else None
        if project is None:
            return False
        if not await self._provider_answers(resolve_model(self._settings, project.llm_config)):
            return False
        async with self._db.transaction(user_id) as session:
            resumed = await flows.resume_after_breaker(
                session, self._events, job_id, self._settings.job_max_automatic_resumes
            )
        return resumed is not None
