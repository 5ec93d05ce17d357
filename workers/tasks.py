"""Background tasks. Each calls a service; none runs SQL of its own.

A worker process connects to the database when it starts (as the application role, like the
server) and builds the services its tasks call.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass

from taskiq import TaskiqEvents, TaskiqState

from server.core.config import get_settings
from server.core.db import Database
from server.core.infrastructure import connect_database, prepare
from server.documents.service import DocumentService
from workers.broker import broker
from workers.queue import TaskiqQueue

log = logging.getLogger(__name__)


@dataclass
class WorkerServices:
    database: Database
    documents: DocumentService


_services: WorkerServices | None = None


@broker.on_event(TaskiqEvents.WORKER_STARTUP)
async def connect(state: TaskiqState) -> None:
    global _services
    settings = get_settings()
    database = await connect_database(settings, await prepare(settings))
    _services = WorkerServices(
        database=database, documents=DocumentService(database, settings, TaskiqQueue(broker))
    )


@broker.on_event(TaskiqEvents.WORKER_SHUTDOWN)
async def disconnect(state: TaskiqState) -> None:
    if _services is not None:
        await _services.database.dispose()


def services() -> WorkerServices:
    if _services is None:
        raise RuntimeError("the worker has not started")
    return _services


@broker.task(task_name="coderai.ping")
async def ping(message: str) -> str:
    """Answers its message back: a worker's liveness check through the real queue."""
    return f"pong: {message}"


@broker.task(task_name="coderai.parse_document")
async def parse_document(user_id: str, document_id: str) -> None:
    """Parses and chunks one uploaded document (its state is in PostgreSQL)."""
    document = await services().documents.parse(uuid.UUID(user_id), uuid.UUID(document_id))
    if document is not None:
        log.info("document %s: %s", document_id, document.status.value)
