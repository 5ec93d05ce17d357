"""Background tasks. Each calls a service; none runs SQL of its own.

A worker process connects to the database when it starts (as the application role, like the
server) and builds the services its tasks call.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import uuid
from dataclasses import dataclass
from types import FrameType

from redis.asyncio import Redis
from taskiq import TaskiqEvents, TaskiqState

# Every ORM model registered: flushing a row of one table needs the tables its foreign keys
# name to be known, whichever services this process happens to import.
import server.models  # noqa: F401
from server.core.config import get_settings
from server.core.db import Database
from server.core.infrastructure import connect_database, connect_redis, prepare
from server.core.startup import freeze_what_startup_built
from server.documents.service import DocumentService
from server.exports.service import ExportService
from server.jobs.events import JobEvents
from server.jobs.pipeline import ExtractionPipeline
from server.jobs.runner import JobRunner
from server.jobs.status import has_running_job
from server.jobs.supervisor import JobSupervisor
from server.llm.gateway import LLMGateway
from server.llm.ledger import DatabaseLedger
from server.quality.agent import RefinementAgent
from workers.broker import build_broker
from workers.queue import (
    EXPORT_JOB,
    EXTRACTION_JOB,
    PARSE_DOCUMENT,
    PROMPT_REFINEMENT_JOB,
    TaskiqQueue,
)

log = logging.getLogger(__name__)

# The worker processes' broker (taskiq's `workers.tasks:broker`). `coderai worker` sets
# REDIS_URL (embedded or not) before this module is imported; the server builds its own.
broker = build_broker(get_settings().redis_url or "redis://127.0.0.1:6379/0")


@dataclass
class WorkerServices:
    database: Database
    redis: Redis
    documents: DocumentService
    jobs: JobRunner
    supervisor: JobSupervisor
    supervising: asyncio.Task[None]
    exports: ExportService
    refinements: RefinementAgent
    job_task_seconds: float


_services: WorkerServices | None = None


@broker.on_event(TaskiqEvents.WORKER_STARTUP)
async def connect(state: TaskiqState) -> None:
    global _services
    settings = get_settings()
    infrastructure = await prepare(settings)
    database = await connect_database(settings, infrastructure)
    redis = connect_redis(infrastructure.redis_url)
    # One bound for every model request this process has open, whatever document it is for.
    gateway = LLMGateway(
        settings,
        redis,
        ledger=DatabaseLedger(database),
        max_in_flight=settings.worker_llm_concurrency,
    )
    pipeline = ExtractionPipeline(
        gateway, shared_response_schema=settings.llm_shared_response_schema
    )
    events = JobEvents(
        redis,
        max_length=settings.job_events_max_length,
        ttl_seconds=settings.job_events_ttl_seconds,
    )
    runner = JobRunner(database, settings, pipeline, events)
    supervisor = JobSupervisor(database, settings, runner, events, gateway.provider_answers)
    _services = WorkerServices(
        database=database,
        redis=redis,
        documents=DocumentService(
            database, settings, TaskiqQueue(broker), redis, has_running_job=has_running_job
        ),
        jobs=runner,
        supervisor=supervisor,
        supervising=asyncio.create_task(supervisor.run()),
        exports=ExportService(database, settings, TaskiqQueue(broker)),
        refinements=RefinementAgent(database, settings, gateway, events),
        job_task_seconds=settings.job_task_seconds,
    )
    _hand_back_when_told_to_stop(runner)
    freeze_what_startup_built()


def _hand_back_when_told_to_stop(runner: JobRunner) -> None:
    """On SIGTERM or SIGINT taskiq stops taking tasks and waits for those running to finish,
    and a job task works for up to job_task_seconds: the job loops are stopped at once
    instead, each handing its document back, and then taskiq's own handler runs."""
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        previous = signal.getsignal(signum)

        def stop(number: int, frame: FrameType | None, previous: object = previous) -> None:
            loop.call_soon_threadsafe(runner.hand_back)
            if callable(previous):
                previous(number, frame)

        signal.signal(signum, stop)


@broker.on_event(TaskiqEvents.WORKER_SHUTDOWN)
async def disconnect(state: TaskiqState) -> None:
    if _services is not None:
        _services.supervising.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await _services.supervising
        await _services.supervisor.stop()
        await _services.database.dispose()
        await _services.redis.aclose()


def services() -> WorkerServices:
    if _services is None:
        raise RuntimeError("the worker has not started")
    return _services


@broker.task(task_name="coderai.ping")
async def ping(message: str) -> str:
    """Answers its message back: a worker's liveness check through the real queue."""
    return f"pong: {message}"


@broker.task(task_name=PARSE_DOCUMENT)
async def parse_document(user_id: str, document_id: str) -> None:
    """Parses and chunks one uploaded document (its state is in PostgreSQL)."""
    document = await services().documents.parse(uuid.UUID(user_id), uuid.UUID(document_id))
    if document is not None:
        log.info("document %s: %s", document_id, document.status.value)


@broker.task(task_name=EXTRACTION_JOB)
async def extraction_job(user_id: str, job_id: str, document_id: str = "") -> None:
    """Works a job's documents (their state, and the job's, are in PostgreSQL) for up to
    job_task_seconds, then queues its continuation behind other jobs' tasks. document_id:
    tasks queued before a job's tasks woke workers carried one; any document is as good."""
    worker = services()
    unfinished = await worker.jobs.run_job(
        uuid.UUID(user_id), uuid.UUID(job_id), for_seconds=worker.job_task_seconds
    )
    if unfinished:
        await extraction_job.kiq(user_id, job_id)


@broker.task(task_name=PROMPT_REFINEMENT_JOB)
async def prompt_refinement_job(user_id: str, refinement_id: str) -> None:
    """Asks the model for a variable's better instructions (the refinement's state, and its
    job's, are in PostgreSQL)."""
    await services().refinements.run(uuid.UUID(user_id), uuid.UUID(refinement_id))


@broker.task(task_name=EXPORT_JOB)
async def export_job(user_id: str, export_id: str) -> None:
    """Builds a large export's file (its state is in PostgreSQL)."""
    await services().exports.build(uuid.UUID(user_id), uuid.UUID(export_id))
