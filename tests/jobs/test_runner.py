"""A worker's runner in the test's process, against the real database, Redis and local LLM
server, for what a worker process cannot be made to do on cue: raise an unexpected error, lose
PostgreSQL while it saves a document's result, and be told to stop as it commits a claim."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from redis.asyncio import Redis
from sqlalchemy import event, select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from server.core.db import Database, create_engine
from server.core.processing_log import LogEventType, ProcessingLog
from server.jobs.events import JobEvents
from server.jobs.models import JobDocument, JobDocumentStatus
from server.jobs.pipeline import DocumentResult, DocumentWork, ExtractionPipeline
from server.jobs.runner import JobRunner
from server.llm.gateway import LLMGateway
from server.llm.ledger import DatabaseLedger
from tests.factories import Caller
from tests.jobs.conftest import Stack
from tests.jobs.test_jobs import COMPLETED, VARIABLES, project_with_schema, ready_documents, reports
from tests.processes import IDLE_WORKER_GRACE, stop


class Gate:
    """A TCP relay to PostgreSQL that can be shut (its connections cut, new ones refused)
    and opened again on the same port."""

    def __init__(self, host: str, port: int) -> None:
        self._target = (host, port)
        self._server: asyncio.Server | None = None
        self._pipes: set[asyncio.StreamWriter] = set()
        self.port = 0

    async def open(self) -> None:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    def shut(self) -> None:
        assert self._server is not None
        self._server.close()
        for writer in self._pipes:
            writer.transport.abort()
        self._pipes.clear()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream_reader, upstream_writer = await asyncio.open_connection(*self._target)
        self._pipes |= {writer, upstream_writer}

        async def pump(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            with contextlib.suppress(ConnectionError, OSError):
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            sink.transport.abort()

        await asyncio.gather(pump(reader, upstream_writer), pump(upstream_reader, writer))


class FailingPipeline(ExtractionPipeline):
    """The real pipeline, except that it raises for one document."""

    def __init__(self, *args: Any, fails_for: uuid.UUID) -> None:
        super().__init__(*args)
        self.fails_for = fails_for

    async def extract(self, work: DocumentWork) -> DocumentResult:
        if work.document_id == self.fails_for:
            raise RuntimeError("a bug")
        return await super().extract(work)


class OutagePipeline(ExtractionPipeline):
    """The real pipeline; when it has the document's result, PostgreSQL goes away for a while."""

    def __init__(self, *args: Any, gate: Gate, outage: float) -> None:
        super().__init__(*args)
        self.gate = gate
        self.outage = outage
        self.reopened: asyncio.Task[None] | None = None

    async def extract(self, work: DocumentWork) -> DocumentResult:
        result = await super().extract(work)
        self.gate.shut()

        async def reopen() -> None:
            await asyncio.sleep(self.outage)
            await self.gate.open()

        self.reopened = asyncio.create_task(reopen())
        return result


def runner_with(
    stack: Stack,
    database: Database,
    redis: Redis,
    pipeline_class: type[ExtractionPipeline],
    **how: Any,
) -> tuple[JobRunner, ExtractionPipeline]:
    settings = stack.settings
    gateway = LLMGateway(settings, redis, ledger=DatabaseLedger(database), max_in_flight=4)
    pipeline = pipeline_class(gateway, **how)
    events = JobEvents(
        redis,
        max_length=settings.job_events_max_length,
        ttl_seconds=settings.job_events_ttl_seconds,
    )
    return JobRunner(database, settings, pipeline, events), pipeline


@pytest.fixture
async def documents_and_job(stack: Stack, researcher: Caller) -> tuple[str, list[str], str]:
    """A project of three READY documents and a job over them that no worker process runs
    (the one that parsed them has stopped)."""
    parser = stack.start_worker()
    project = await project_with_schema(researcher, VARIABLES[:1])
    documents = await ready_documents(researcher, project.id, reports(3))
    await asyncio.to_thread(stop, parser, IDLE_WORKER_GRACE)
    created = await researcher.create_job(project.id, document_ids=documents)
    return project.id, documents, created.job.id


async def work_states(database: Database, user_id: uuid.UUID, job_id: str) -> dict[str, Any]:
    async with database.transaction(user_id) as session:
        rows = await session.execute(
            select(JobDocument.document_id, JobDocument.status, JobDocument.attempts).where(
                JobDocument.job_id == uuid.UUID(job_id)
            )
        )
        return {str(document): (status, attempts) for document, status, attempts in rows.all()}


async def test_an_unexpected_error_fails_its_document_and_the_job_goes_on(
    stack: Stack,
    database: Database,
    redis: Redis,
    researcher: Caller,
    documents_and_job: tuple[str, list[str], str],
) -> None:
    _, documents, job_id = documents_and_job
    user_id = uuid.UUID(researcher.user_id)
    runner, _ = runner_with(
        stack, database, redis, FailingPipeline, fails_for=uuid.UUID(documents[1])
    )

    await runner.run_job(user_id, uuid.UUID(job_id))

    job = await researcher.get_job(job_id)
    assert job.status == COMPLETED
    assert (job.documents_processed, job.documents_failed) == (2, 1)
    states = await work_states(database, user_id, job_id)
    assert states[documents[1]] == (JobDocumentStatus.FAILED, 1)
    async with database.transaction(user_id) as session:
        failures = list(
            await session.scalars(
                select(ProcessingLog.message).where(
                    ProcessingLog.job_id == uuid.UUID(job_id),
                    ProcessingLog.event_type == LogEventType.DOCUMENT_PROCESSING_FAILED,
                )
            )
        )
    assert failures == ["internal error: RuntimeError('a bug')"]


@pytest.fixture
async def gated_database(stack: Stack) -> AsyncIterator[tuple[Database, Gate]]:
    url = make_url(stack.app_url)
    gate = Gate(url.host or "127.0.0.1", url.port or 5432)
    await gate.open()
    gated = Database(create_engine(url.set(port=gate.port).render_as_string(False), pool_size=2))
    yield gated, gate
    await gated.dispose()


async def test_a_result_is_saved_once_postgresql_is_back(
    stack: Stack,
    redis: Redis,
    researcher: Caller,
    database: Database,
    gated_database: tuple[Database, Gate],
    documents_and_job: tuple[str, list[str], str],
) -> None:
    project_id, documents, job_id = documents_and_job
    user_id = uuid.UUID(researcher.user_id)
    gated, gate = gated_database
    runner, pipeline = runner_with(stack, gated, redis, OutagePipeline, gate=gate, outage=1.5)
    assert isinstance(pipeline, OutagePipeline)

    # The job's first document, in the order it was given.
    assert await runner.work_next(user_id, uuid.UUID(job_id))

    assert pipeline.reopened is not None
    assert pipeline.reopened.done()
    states = await work_states(database, user_id, job_id)
    assert states[documents[0]] == (JobDocumentStatus.DONE, 1)
    extractions = await researcher.extractions(project_id)
    assert [e.document_id for e in extractions] == [documents[0]]
    job = await researcher.get_job(job_id)
    assert (job.documents_processed, job.documents_failed) == (1, 0)


async def test_a_job_whose_tasks_were_lost_is_taken_up_by_an_idle_worker(
    stack: Stack,
    redis: Redis,
    researcher: Caller,
    documents_and_job: tuple[str, list[str], str],
) -> None:
    """The job's work list is in PostgreSQL: a queue that loses the tasks (a flushed or
    trimmed stream, a restored Redis) delays the job until a worker is idle, and no more."""
    _, documents, job_id = documents_and_job
    assert await redis.delete(stack.settings.task_queue_name) == 1

    worker = stack.start_worker(JOB_SUPERVISOR_INTERVAL_SECONDS="0.3")
    try:
        job = await researcher.job_ended(job_id, within=30)
    finally:
        await asyncio.to_thread(stop, worker, IDLE_WORKER_GRACE)

    assert job.status == COMPLETED, job.status_reason
    assert job.documents_processed == len(documents)


async def test_a_worker_told_to_stop_while_it_commits_a_claim_hands_the_document_back(
    stack: Stack,
    database: Database,
    redis: Redis,
    researcher: Caller,
    documents_and_job: tuple[str, list[str], str],
) -> None:
    """The stop comes as the claim's COMMIT is sent: the database commits it while the loop
    that asked is cancelled, and the document must not stay RUNNING under a claim no one
    holds (seen with Ctrl-C while a job's loops were starting)."""
    _, _, job_id = documents_and_job
    user_id = uuid.UUID(researcher.user_id)
    runner, _ = runner_with(stack, database, redis, ExtractionPipeline)
    stops = 0

    def stop_at_the_first_commit(session: Session) -> None:
        nonlocal stops
        if stops == 0:
            stops += 1
            runner.hand_back()

    event.listen(Session, "before_commit", stop_at_the_first_commit)
    try:
        with pytest.raises(asyncio.CancelledError):
            await asyncio.create_task(runner.run_job(user_id, uuid.UUID(job_id)))
    finally:
        event.remove(Session, "before_commit", stop_at_the_first_commit)

    assert stops == 1
    states = await work_states(database, user_id, job_id)
    assert sorted((status.value, attempts) for status, attempts in states.values()) == [
        ("PENDING", 0),
        ("PENDING", 0),
        ("PENDING", 1),
    ], "one document claimed, then handed back"
