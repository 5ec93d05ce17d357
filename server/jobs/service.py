"""Job use cases (FR-017, FR-021, FR-029): estimate, create, inspect, pause, resume, cancel;
the job's log, the extractions (the feedback on them: server.feedback). Each owns its
transaction; the work itself is done by the workers (server.jobs.runner), one queued task per
document."""

from __future__ import annotations

import logging
import random
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Protocol

from redis.exceptions import RedisError
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from server.core.config import Settings
from server.core.db import Database
from server.core.errors import (
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    NotFound,
    Unauthenticated,
)
from server.core.pagination import decode_cursor, decode_position, page_with_token
from server.core.processing_log import ProcessingLog
from server.core.quotas import QuotaLimits
from server.documents import repository as documents
from server.documents.models import DocumentStatus
from server.jobs import flows, logs, repository, results, worklist
from server.jobs.costing import (
    ModeEstimate,
    PromptSize,
    VariablePrompt,
    dependency_levels,
    estimate_modes,
)
from server.jobs.events import (
    TERMINAL,
    EventType,
    JobEvent,
    JobEvents,
    is_event_id,
    project_stream_key,
    stream_key,
)
from server.jobs.feed import EventFeed
from server.jobs.flows import job_not_found
from server.jobs.models import (
    ENDED_JOB_STATUSES,
    EvidenceMatch,
    Extraction,
    ExtractionStatus,
    JobDocumentStatus,
    JobStatus,
    JobType,
    ProcessingJob,
)
from server.jobs.provenance import FORBIDDEN, JobModels
from server.jobs.view import JobView
from server.llm.factory import resolve_model
from server.projects import repository as projects
from server.projects.models import ExtractionMode, Project, UnitOfObservation
from server.projects.service import project_not_found
from server.schema import repository as schema
from server.schema.prompt_versions import as_generated
from server.schema.prompts import entity_prompt

log = logging.getLogger(__name__)

# A watch looks at the job itself when no event came for this long.
_WATCH_POLL_SECONDS = 15.0


class TaskQueue(Protocol):
    async def wake_workers(self, user_id: uuid.UUID, job_id: uuid.UUID, tasks: int) -> None:
        """Sends `tasks` tasks that each work the job until it has nothing left to claim."""


@dataclass(frozen=True)
class Selection:
    project_id: uuid.UUID
    job_type: JobType
    document_ids: Sequence[uuid.UUID] = ()
    sample_size: int = 0
    # Documents whose extraction failed in an earlier job are tried again (else skipped).
    retry_failed: bool = False


@dataclass(frozen=True)
class Estimate:
    documents: int
    variables: int
    llm_calls: int
    prompt_tokens: int
    max_output_tokens: int
    max_cost_usd: float | None
    documents_already_done: int
    # The project's model, which the job records.
    llm_provider: str
    llm_model: str
    # Whether the offline baseline would answer any of the job's calls, and what to know.
    offline_baseline: bool
    warnings: tuple[str, ...]
    # The project's mode, which the figures above are for, and the job in every mode.
    extraction_mode: ExtractionMode
    modes: Mapping[ExtractionMode, ModeEstimate]

    def as_details(self) -> dict[str, Any]:
        """The estimate as the job's first log entry keeps it (JSON)."""
        details = {
            key: value
            for key, value in self.__dict__.items()
            if key not in ("extraction_mode", "modes")
        }
        details["extraction_mode"] = self.extraction_mode.value
        details["modes"] = {
            mode.value: asdict(mode_estimate) for mode, mode_estimate in self.modes.items()
        }
        return details


@dataclass(frozen=True)
class ExtractionFilter:
    job_id: uuid.UUID | None = None
    document_id: uuid.UUID | None = None
    variable_id: uuid.UUID | None = None
    statuses: Sequence[ExtractionStatus] = ()
    evidence: Sequence[EvidenceMatch] = ()


class JobService:
    def __init__(
        self,
        db: Database,
        settings: Settings,
        tasks: TaskQueue,
        events: JobEvents,
        feed: EventFeed,
    ) -> None:
        self._db = db
        self._settings = settings
        self._tasks = tasks
        self._events = events
        self._feed = feed
        self._quotas = QuotaLimits.of(settings)

    # --- creating -------------------------------------------------------------------------

    async def estimate(self, user_id: uuid.UUID, selection: Selection) -> Estimate:
        async with self._db.transaction(user_id) as session:
            project, document_ids = await self._select(session, selection)
            return await self._estimate(session, project, document_ids, selection.retry_failed)

    async def create(
        self,
        user_id: uuid.UUID,
        selection: Selection,
        token_budget: int | None,
        cost_budget_usd: Decimal | None,
    ) -> tuple[ProcessingJob, Estimate]:
        if token_budget is not None and token_budget < 0:
            raise InvalidArgument(
                "token_budget must not be negative", [FieldViolation("token_budget", ">= 0")]
            )
        if cost_budget_usd is not None and cost_budget_usd <= 0:
            raise InvalidArgument(
                "cost_budget_usd must be positive", [FieldViolation("cost_budget_usd", "> 0")]
            )
        async with self._db.transaction(user_id) as session:
            project, document_ids = await self._select(session, selection, lock=True)
            if await repository.active_job(session, project.id) is not None:
                raise flows.already_active()
            await flows.room_for_active_job(session, user_id, self._quotas)
            estimate = await self._estimate(session, project, document_ids, selection.retry_failed)
            if estimate.offline_baseline and not self._settings.llm_allow_offline_baseline:
                raise FailedPrecondition(FORBIDDEN)
            job = ProcessingJob(
                user_id=user_id,
                project_id=project.id,
                job_type=selection.job_type,
                status=JobStatus.PENDING,
                document_ids=list(document_ids),
                documents_total=len(document_ids),
                token_budget=token_budget or None,
                cost_budget_usd=cost_budget_usd,
                retry_failed=selection.retry_failed,
                llm_provider=estimate.llm_provider,
                llm_model=estimate.llm_model,
                extraction_mode=project.extraction_mode,
            )
            await flows.created(
                session,
                job,
                project,
                f"{selection.job_type.value} job over {len(document_ids)} documents: up to "
                f"{estimate.llm_calls} model calls",
                details={"estimate": estimate.as_details()},
            )
            await worklist.add_work(session, job, document_ids)
        await self._wake_workers(user_id, job.id, len(document_ids))
        return job, estimate

    async def _select(
        self, session: AsyncSession, selection: Selection, lock: bool = False
    ) -> tuple[Project, list[uuid.UUID]]:
        """The project and the documents a job over `selection` covers."""
        project = (
            await projects.get_for_update(session, selection.project_id)
            if lock
            else await projects.get(session, selection.project_id)
        )
        if project is None:
            raise project_not_found(selection.project_id)
        if not await schema.list_for_project(session, project.id):
            raise FailedPrecondition("the project has no variables to extract")
        if selection.document_ids:
            return project, await self._chosen_documents(session, project, selection.document_ids)
        ready = await documents.ready_document_ids(session, project.id)
        if not ready:
            raise FailedPrecondition("the project has no READY documents")
        if selection.job_type is JobType.FULL:
            return project, ready
        size = selection.sample_size or self._settings.job_sample_size
        if size < 0:
            raise InvalidArgument(
                "sample_size must not be negative", [FieldViolation("sample_size", ">= 0")]
            )
        return project, random.SystemRandom().sample(ready, min(size, len(ready)))

    async def _chosen_documents(
        self, session: AsyncSession, project: Project, document_ids: Sequence[uuid.UUID]
    ) -> list[uuid.UUID]:
        unique = list(dict.fromkeys(document_ids))
        found = {
            document.id: document
            for document in await documents.in_project(session, project.id, unique)
        }
        missing = [str(d) for d in unique if d not in found]
        if missing:
            raise NotFound(f"documents not found in the project: {', '.join(missing)}")
        not_ready = [
            f"{found[d].filename} ({found[d].status.value})"
            for d in unique
            if found[d].status is not DocumentStatus.READY
        ]
        if not_ready:
            raise FailedPrecondition(f"documents not READY: {', '.join(not_ready)}")
        return unique

    async def _estimate(
        self,
        session: AsyncSession,
        project: Project,
        document_ids: Sequence[uuid.UUID],
        retry_failed: bool,
    ) -> Estimate:
        variables = await schema.list_for_project(session, project.id)
        active = await schema.active_prompts(session, [v.id for v in variables])
        prompts = list(active.values())
        levels = dependency_levels({v.id: v.depends_on for v in variables if v.id in active})
        entity = (
            entity_prompt(project, resolve_model(self._settings, project.llm_config))
            if project.unit_of_observation is UnitOfObservation.ENTITY
            else None
        )
        done = await results.documents_already_done(
            session,
            document_ids,
            [p.id for p in prompts],
            len(variables),
            entity_prompt_hash=entity.digest if entity else None,
            retry_failed=retry_failed,
        )
        todo = [d for d in document_ids if d not in done]
        sizes = await documents.segment_sizes(session, todo)
        modes = estimate_modes(
            [
                VariablePrompt(v.name, as_generated(active[v.id]), levels[v.id])
                for v in variables
                if v.id in active
            ],
            PromptSize.of(entity) if entity is not None else None,
            (characters for document_id in todo for characters in sizes.get(document_id, [0])),
            self._settings.llm_prices,
            shared_schema=self._settings.llm_shared_response_schema,
        )
        chosen = modes[project.extraction_mode]
        models = JobModels.of(
            resolve_model(self._settings, project.llm_config),
            variables,
            prompts,
            entity_level=project.unit_of_observation is UnitOfObservation.ENTITY,
        )
        calls = chosen.llm_calls
        return Estimate(
            documents=len(document_ids),
            variables=len(variables),
            llm_calls=calls,
            prompt_tokens=chosen.prompt_tokens,
            max_output_tokens=chosen.max_output_tokens,
            max_cost_usd=chosen.max_cost_usd,
            documents_already_done=len(done),
            llm_provider=models.project.provider,
            llm_model=models.project.model,
            offline_baseline=models.baseline_answers and calls > 0,
            warnings=models.warnings(self._settings.llm_allow_offline_baseline) if calls else (),
            extraction_mode=project.extraction_mode,
            modes=modes,
        )

    async def _project_active_job(
        self, user_id: uuid.UUID, project_id: uuid.UUID
    ) -> ProcessingJob | None:
        async with self._db.transaction(user_id) as session:
            if await projects.get(session, project_id) is None:
                raise project_not_found(project_id)
            return await repository.active_job(session, project_id)

    # --- reading --------------------------------------------------------------------------

    async def get(self, user_id: uuid.UUID, job_id: uuid.UUID) -> ProcessingJob:
        async with self._db.transaction(user_id) as session:
            job = await repository.get(session, job_id)
        if job is None:
            raise job_not_found(job_id)
        return job

    async def list(
        self, user_id: uuid.UUID, project_id: uuid.UUID, page_size: int, page_token: str
    ) -> tuple[Sequence[ProcessingJob], str]:
        after = decode_cursor(page_token)
        async with self._db.transaction(user_id) as session:
            if await projects.get(session, project_id) is None:
                raise project_not_found(project_id)
            rows = await repository.list_page(session, project_id, page_size + 1, after)
        return page_with_token(rows, page_size)

    async def logs(
        self, user_id: uuid.UUID, job_id: uuid.UUID, page_size: int, page_token: str
    ) -> tuple[Sequence[ProcessingLog], str]:
        after = decode_cursor(page_token)
        async with self._db.transaction(user_id) as session:
            if await repository.get(session, job_id, with_documents=False) is None:
                raise job_not_found(job_id)
            rows = await logs.list_logs(session, job_id, page_size + 1, after)
        return page_with_token(rows, page_size)

    async def documents(
        self,
        user_id: uuid.UUID,
        job_id: uuid.UUID,
        statuses: Sequence[JobDocumentStatus],
        page_size: int,
        page_token: str,
    ) -> tuple[Sequence[worklist.WorkItem], dict[JobDocumentStatus, int], str]:
        """A page of the job's documents with their outcomes, the counts per status over the
        whole job, and the next page's token."""
        after = decode_position(page_token)
        async with self._db.transaction(user_id) as session:
            if await repository.get(session, job_id, with_documents=False) is None:
                raise job_not_found(job_id)
            items, token = await worklist.list_work(session, job_id, statuses, page_size, after)
            counts = await worklist.work_counts(session, job_id)
        return items, counts, token

    async def extractions(
        self,
        user_id: uuid.UUID,
        project_id: uuid.UUID,
        where: ExtractionFilter,
        page_size: int,
        page_token: str,
    ) -> tuple[Sequence[Extraction], str]:
        after = decode_cursor(page_token)
        async with self._db.transaction(user_id) as session:
            if await projects.get(session, project_id) is None:
                raise project_not_found(project_id)
            rows = await results.list_extractions(
                session,
                project_id,
                job_id=where.job_id,
                document_id=where.document_id,
                variable_id=where.variable_id,
                statuses=where.statuses,
                evidence=where.evidence,
                limit=page_size + 1,
                after=after,
            )
        return page_with_token(rows, page_size)

    # --- watching -------------------------------------------------------------------------

    async def watch(
        self,
        user_id: uuid.UUID,
        job_id: uuid.UUID,
        last_event_id: str,
        expires_at: datetime,
    ) -> AsyncIterator[JobEvent]:
        """A snapshot of the job, then its events as they are appended, until the job ends
        (or the caller's access token expires: Unauthenticated, to reconnect with a fresh one
        and the last event id). The snapshot's id is where the events continue from."""
        _check_event_id(last_event_id)
        key = stream_key(job_id)
        # Where the events go on from, read before the job: a change after it comes as an
        # event, and the job is read once the writers of the events before it are done, so
        # the snapshot holds their changes (the job as read could miss a change whose event
        # it then skipped: a job_completed, say).
        start = last_event_id or await self._events.last_id(key)
        await self._wait_for_writers(user_id, [job_id])
        job = await self.get(user_id, job_id)
        snapshot = await self._snapshot(key, last_event_id, job, start)
        yield snapshot
        # From the snapshot's own id: reading the stream's end again here, after the yield,
        # would skip what was appended meanwhile (a watcher of a busy job lost events).
        after = snapshot.id
        if job.status in ENDED_JOB_STATUSES:
            # Nothing more will come: what followed last_event_id, at once, and the end.
            for event in await self._events.range_after(key, after):
                yield event
            return
        async for followed in self._follow(user_id, key, after, expires_at):
            if followed is None:
                # Quiet: the job may have ended with its last events past retention.
                job = await self.get(user_id, job_id)
                if job.status in ENDED_JOB_STATUSES:
                    yield await self._snapshot(key, after, job)
                    return
                continue
            yield followed
            after = followed.id
            if followed.type in TERMINAL:
                return

    async def watch_project(
        self,
        user_id: uuid.UUID,
        project_id: uuid.UUID,
        last_event_id: str,
        expires_at: datetime,
    ) -> AsyncIterator[JobEvent]:
        """The events of every job of the project as they are appended; first a snapshot of
        the active job (without a job when the project has none). A project does not end: the stream
        runs until the client leaves or its access token expires."""
        _check_event_id(last_event_id)
        key = project_stream_key(project_id)
        # As in watch: the id first, then the active job once its writers are done.
        start = last_event_id or await self._events.last_id(key)
        active = await self._project_active_job(user_id, project_id)
        if active is not None:
            await self._wait_for_writers(user_id, [active.id])
            active = await self._project_active_job(user_id, project_id)
        snapshot = await self._snapshot(key, last_event_id, active, start)
        yield snapshot
        after = snapshot.id
        async for event in self._follow(user_id, key, after, expires_at):
            if event is not None:
                yield event

    async def _snapshot(
        self, key: str, after: str, job: ProcessingJob | None, start: str = ""
    ) -> JobEvent:
        """The job as it is, as the event to continue after `start` (else `after`, else the
        newest event); marked events_lost when events after `after` are past the stream's
        retention, so that the client re-reads what it keeps (extractions, the job's log)."""
        lost = bool(after) and await self._events.lost_after(key, after)
        return JobEvent(
            id=start or after or await self._events.last_id(key),
            type=EventType.SNAPSHOT,
            job=JobView.of(job) if job is not None else None,
            document_id="",
            message=(
                f"events after {after} are no longer kept; this is the job as it is now"
                if lost
                else ""
            ),
            events_lost=lost,
        )

    async def _follow(
        self, user_id: uuid.UUID, key: str, after: str, expires_at: datetime
    ) -> AsyncIterator[JobEvent | None]:
        """The stream's events after `after` as they come; None after each quiet spell.
        Ends with Unauthenticated when the access token expires."""
        remaining = (expires_at - datetime.now(UTC)).total_seconds()
        quiet = max(0.05, min(_WATCH_POLL_SECONDS, remaining))

        async def settled(events: list[JobEvent]) -> None:
            job_ids = {event.job.id for event in events if event.job is not None}
            await self._wait_for_writers(user_id, sorted(job_ids))

        async for batch in self._feed.follow(key, after, quiet, settled):
            if datetime.now(UTC) >= expires_at:
                raise Unauthenticated("access token expired; reconnect with a new one")
            if not batch:
                yield None
            for event in batch:
                yield event

    async def _wait_for_writers(self, user_id: uuid.UUID, job_ids: Sequence[uuid.UUID]) -> None:
        """Until the transactions changing these jobs have ended (their events, appended
        before their commits, are then true). A writer that holds on past the lock timeout is
        logged and not waited for: a late read is better than a watch that stalls."""
        if not job_ids:
            return
        try:
            async with self._db.transaction(user_id) as session:
                await repository.wait_for_writers(session, job_ids)
        except DBAPIError:
            log.warning("the writers of jobs %s took too long; going on", job_ids, exc_info=True)

    # --- controlling ----------------------------------------------------------------------

    async def pause(self, user_id: uuid.UUID, job_id: uuid.UUID) -> ProcessingJob:
        async with self._db.transaction(user_id) as session:
            return await flows.pause_by_researcher(session, self._events, job_id)

    async def resume(self, user_id: uuid.UUID, job_id: uuid.UUID) -> ProcessingJob:
        async with self._db.transaction(user_id) as session:
            job = await flows.resume_by_researcher(session, self._events, job_id)
            unfinished = await worklist.unfinished_count(session, job_id)
        if unfinished:
            await self._wake_workers(user_id, job_id, unfinished)
        else:
            # Paused after its last document: nothing left but to complete it.
            async with self._db.transaction(user_id) as session:
                finished = await flows.finish_if_done(session, self._events, job_id)
                if finished is not None:
                    # The answer shows the job's documents, which that read leaves out.
                    await session.refresh(finished, ["document_ids"])
                    job = finished
        return job

    async def cancel(self, user_id: uuid.UUID, job_id: uuid.UUID) -> ProcessingJob:
        async with self._db.transaction(user_id) as session:
            return await flows.cancel_by_researcher(session, self._events, job_id)

    async def _wake_workers(self, user_id: uuid.UUID, job_id: uuid.UUID, documents: int) -> None:
        """Tasks that make workers take up the job now. The job does not depend on them: its
        work list is in PostgreSQL, and idle workers look there (server.jobs.supervisor), so
        a queue that is down or loses the tasks delays the job, and loses nothing."""
        try:
            await self._tasks.wake_workers(
                user_id, job_id, min(documents, self._settings.job_worker_tasks)
            )
        except (RedisError, OSError) as error:
            log.warning(
                "job %s: could not queue its tasks (%s); idle workers will take it up",
                job_id,
                error,
            )


def _check_event_id(last_event_id: str) -> None:
    if last_event_id and not is_event_id(last_event_id):
        raise InvalidArgument(
            "last_event_id is not an event id",
            [FieldViolation("last_event_id", "an id from a previous event")],
        )
