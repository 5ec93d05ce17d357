"""Job use cases (FR-017, FR-021, FR-029): estimate, create, inspect, pause, resume, cancel;
the job's log, the extractions, feedback. Each owns its transaction; the work itself is done
by the workers (server.jobs.runner), one queued task per document."""

from __future__ import annotations

import random
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Protocol

from sqlalchemy.exc import IntegrityError
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
from server.core.pagination import decode_cursor, page_with_token
from server.documents.models import Document, DocumentStatus
from server.jobs import events as event_types
from server.jobs import repository
from server.jobs.events import (
    TERMINAL,
    JobEvent,
    JobEvents,
    is_event_id,
    project_stream_key,
    stream_key,
)
from server.jobs.feed import EventFeed
from server.jobs.lifecycle import finish_if_done
from server.jobs.models import (
    ACTIVE_JOB_STATUSES,
    EvidenceMatch,
    Extraction,
    ExtractionFeedback,
    ExtractionStatus,
    FeedbackType,
    JobStatus,
    JobType,
    LogEventType,
    ProcessingJob,
    ProcessingLog,
)
from server.llm.factory import resolve_model
from server.llm.pricing import cost_usd
from server.llm.tokens import count_tokens
from server.projects import repository as projects
from server.projects.models import Project, ProjectStatus, UnitOfObservation
from server.projects.service import project_not_found
from server.schema import repository as schema
from server.schema.prompts import entity_prompt

# Characters per token when estimating documents' tokens without tokenising them.
_CHARS_PER_TOKEN = 4
# The rendered prompt around the document: markers, context, the closing request.
_TEMPLATE_TOKENS = 120
# A watch looks at the job itself when no event came for this long.
_WATCH_POLL_SECONDS = 15.0
SNAPSHOT = "snapshot"
_ENDED = (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED)


class TaskQueue(Protocol):
    async def extract_documents(
        self, user_id: uuid.UUID, job_id: uuid.UUID, document_ids: Sequence[uuid.UUID]
    ) -> None: ...


@dataclass(frozen=True)
class Selection:
    project_id: uuid.UUID
    job_type: JobType
    document_ids: Sequence[uuid.UUID] = ()
    sample_size: int = 0


@dataclass(frozen=True)
class Estimate:
    documents: int
    variables: int
    llm_calls: int
    prompt_tokens: int
    max_output_tokens: int
    max_cost_usd: float | None
    documents_already_done: int


@dataclass(frozen=True)
class ExtractionFilter:
    job_id: uuid.UUID | None = None
    document_id: uuid.UUID | None = None
    variable_id: uuid.UUID | None = None
    statuses: Sequence[ExtractionStatus] = ()
    evidence: Sequence[EvidenceMatch] = ()


def job_not_found(job_id: uuid.UUID) -> NotFound:
    return NotFound(f"job {job_id} not found")


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

    # --- creating -------------------------------------------------------------------------

    async def estimate(self, user_id: uuid.UUID, selection: Selection) -> Estimate:
        async with self._db.transaction(user_id) as session:
            project, document_ids = await self._select(session, selection)
            return await self._estimate(session, project, document_ids)

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
            if await self._active_job(session, project.id) is not None:
                raise _already_active()
            estimate = await self._estimate(session, project, document_ids)
            job = ProcessingJob(
                user_id=user_id,
                project_id=project.id,
                job_type=selection.job_type,
                status=JobStatus.PENDING,
                document_ids=list(document_ids),
                documents_total=len(document_ids),
                token_budget=token_budget or None,
                cost_budget_usd=cost_budget_usd,
            )
            session.add(job)
            try:
                await session.flush()
            except IntegrityError as error:
                if "uq_processing_jobs_project_id_active" in str(error.orig):
                    raise _already_active() from error
                raise
            await repository.add_work(session, job, document_ids)
            project.status = (
                ProjectStatus.SAMPLING
                if selection.job_type is JobType.SAMPLE
                else ProjectStatus.PROCESSING
            )
            await repository.add_log(
                session,
                job,
                LogEventType.JOB_CREATED,
                f"{selection.job_type.value} job over {len(document_ids)} documents: up to "
                f"{estimate.llm_calls} model calls",
                details={"estimate": estimate.__dict__},
            )
        await self._tasks.extract_documents(user_id, job.id, document_ids)
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
        ready = await repository.ready_document_ids(session, project.id)
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
            for document in [await session.get(Document, d) for d in unique]
            if document is not None and document.project_id == project.id
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
        self, session: AsyncSession, project: Project, document_ids: Sequence[uuid.UUID]
    ) -> Estimate:
        variables = await schema.list_for_project(session, project.id)
        prompts = list((await schema.active_prompts(session, [v.id for v in variables])).values())
        done = await repository.documents_with_current_extractions(
            session, document_ids, [p.id for p in prompts], len(variables)
        )
        todo = [d for d in document_ids if d not in done]
        sizes = await repository.segment_sizes(session, todo)
        calls = prompt_tokens = output_tokens = 0
        cost: float | None = 0.0
        calls_per_segment = [
            (count_tokens(p.system_prompt), p.max_tokens, p.model) for p in prompts
        ]
        if project.unit_of_observation is UnitOfObservation.ENTITY:
            entity = entity_prompt(project, resolve_model(self._settings, project.llm_config))
            calls_per_segment.append(
                (count_tokens(entity.system_prompt), entity.max_tokens, entity.model)
            )
        for document_id in todo:
            for characters in sizes.get(document_id, [0]):
                document_tokens = characters // _CHARS_PER_TOKEN + _TEMPLATE_TOKENS
                for system_tokens, max_tokens, model in calls_per_segment:
                    tokens = system_tokens + document_tokens
                    calls += 1
                    prompt_tokens += tokens
                    output_tokens += max_tokens
                    price = cost_usd(self._settings.llm_prices, model, tokens, max_tokens)
                    cost = None if price is None or cost is None else cost + price
        return Estimate(
            documents=len(document_ids),
            variables=len(variables),
            llm_calls=calls,
            prompt_tokens=prompt_tokens,
            max_output_tokens=output_tokens,
            max_cost_usd=cost,
            documents_already_done=len(done),
        )

    async def _active_job(
        self, session: AsyncSession, project_id: uuid.UUID
    ) -> ProcessingJob | None:
        status = await projects.processing_status(session, project_id)
        if status.active_job_id is None:
            return None
        return await repository.get(session, status.active_job_id)

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
            rows = await repository.list_logs(session, job_id, page_size + 1, after)
        return page_with_token(rows, page_size)

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
            rows = await repository.list_extractions(
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

    async def add_feedback(
        self,
        user_id: uuid.UUID,
        extraction_id: uuid.UUID,
        feedback_type: FeedbackType,
        corrected_value: Any,
        note: str,
    ) -> ExtractionFeedback:
        async with self._db.transaction(user_id) as session:
            extraction = await repository.get_extraction(session, extraction_id)
            if extraction is None:
                raise NotFound(f"extraction {extraction_id} not found")
            feedback = ExtractionFeedback(
                user_id=user_id,
                extraction_id=extraction_id,
                feedback_type=feedback_type,
                corrected_value=corrected_value,
                user_note=note[:5000],
                prompt_version=extraction.prompt_version,
            )
            session.add(feedback)
            await session.flush()
        return feedback

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
        job = await self.get(user_id, job_id)
        key = stream_key(job_id)
        after = last_event_id or await self._events.last_id(key)
        yield JobEvent(id=after, type=SNAPSHOT, job=job, document_id="", message="")
        ended = job.status in _ENDED
        async for event in self._follow(key, after, expires_at):
            if event is None:
                if ended:
                    return  # the job had ended: what followed last_event_id has been sent
                # Quiet: the job may have ended with its last events past retention.
                job = await self.get(user_id, job_id)
                if job.status in _ENDED:
                    yield JobEvent(id=after, type=SNAPSHOT, job=job, document_id="", message="")
                    return
                continue
            yield event
            after = event.id
            if event.type in TERMINAL:
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
        async with self._db.transaction(user_id) as session:
            if await projects.get(session, project_id) is None:
                raise project_not_found(project_id)
            active = await self._active_job(session, project_id)
        key = project_stream_key(project_id)
        after = last_event_id or await self._events.last_id(key)
        yield JobEvent(id=after, type=SNAPSHOT, job=active, document_id="", message="")
        async for event in self._follow(key, after, expires_at):
            if event is not None:
                yield event

    async def _follow(
        self, key: str, after: str, expires_at: datetime
    ) -> AsyncIterator[JobEvent | None]:
        """The stream's events after `after` as they come; None after each quiet spell.
        Ends with Unauthenticated when the access token expires."""
        remaining = (expires_at - datetime.now(UTC)).total_seconds()
        quiet = max(0.05, min(_WATCH_POLL_SECONDS, remaining))
        async for batch in self._feed.follow(key, after, quiet):
            if datetime.now(UTC) >= expires_at:
                raise Unauthenticated("access token expired; reconnect with a new one")
            if not batch:
                yield None
            for event in batch:
                yield event

    # --- controlling ----------------------------------------------------------------------

    async def pause(self, user_id: uuid.UUID, job_id: uuid.UUID) -> ProcessingJob:
        return await self._change(
            user_id,
            job_id,
            allowed=(JobStatus.PENDING, JobStatus.RUNNING),
            to=JobStatus.PAUSED,
            reason="paused by the researcher",
            event=LogEventType.JOB_PAUSED,
            event_type=event_types.PAUSED,
        )

    async def resume(self, user_id: uuid.UUID, job_id: uuid.UUID) -> ProcessingJob:
        job = await self._change(
            user_id,
            job_id,
            allowed=(JobStatus.PAUSED,),
            to=JobStatus.RUNNING,
            reason=None,
            event=LogEventType.JOB_RESUMED,
            event_type=event_types.RESUMED,
        )
        async with self._db.transaction(user_id) as session:
            unfinished = await repository.unfinished_document_ids(session, job_id)
        await self._tasks.extract_documents(user_id, job_id, unfinished)
        if not unfinished:
            # Paused after its last document: nothing left but to complete it.
            await finish_if_done(self._db, self._events, user_id, job_id)
        return job

    async def cancel(self, user_id: uuid.UUID, job_id: uuid.UUID) -> ProcessingJob:
        return await self._change(
            user_id,
            job_id,
            allowed=ACTIVE_JOB_STATUSES,
            to=JobStatus.CANCELLED,
            reason="cancelled by the researcher",
            event=LogEventType.JOB_CANCELLED,
            event_type=event_types.CANCELLED,
        )

    async def _change(
        self,
        user_id: uuid.UUID,
        job_id: uuid.UUID,
        *,
        allowed: Sequence[JobStatus],
        to: JobStatus,
        reason: str | None,
        event: LogEventType,
        event_type: str,
    ) -> ProcessingJob:
        async with self._db.transaction(user_id) as session:
            job = await repository.get(session, job_id, lock=True)
            if job is None:
                raise job_not_found(job_id)
            if job.status not in allowed:
                raise FailedPrecondition(
                    f"the job is {job.status.value}; only a "
                    f"{' or '.join(s.value for s in allowed)} job can be "
                    f"{to.value.lower().replace('running', 'resumed')}"
                )
            job.status = to
            job.status_reason = reason
            if to is JobStatus.RUNNING:
                job.consecutive_failures = 0
                job.started_at = job.started_at or datetime.now(UTC)
            if to is JobStatus.CANCELLED:
                job.finished_at = datetime.now(UTC)
            message = reason or f"the job is {to.value.lower()}"
            await repository.add_log(session, job, event, message)
            await session.flush()
            # While the job's row is locked, as the workers do: the stream keeps the order.
            await self._events.publish(job, event_type, message=reason or "")
        return job


def _check_event_id(last_event_id: str) -> None:
    if last_event_id and not is_event_id(last_event_id):
        raise InvalidArgument(
            "last_event_id is not an event id",
            [FieldViolation("last_event_id", "an id from a previous event")],
        )


def _already_active() -> FailedPrecondition:
    return FailedPrecondition(
        "the project already has an active job; pause, resume or cancel it first"
    )
