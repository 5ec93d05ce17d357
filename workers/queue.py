"""The server's side of the task queue: puts tasks on the Taskiq stream for the workers."""

from __future__ import annotations

import uuid

from taskiq import AsyncBroker


class TaskiqQueue:
    """Sends tasks through the given broker (the server's own, connected to the same Redis
    stream the workers read)."""

    def __init__(self, broker: AsyncBroker) -> None:
        self._broker = broker

    async def parse_document(self, user_id: uuid.UUID, document_id: uuid.UUID) -> None:
        from workers.tasks import parse_document

        await parse_document.kicker().with_broker(self._broker).kiq(str(user_id), str(document_id))

    async def extract_document(
        self, user_id: uuid.UUID, job_id: uuid.UUID, document_id: uuid.UUID
    ) -> None:
        from workers.tasks import extraction_job

        await (
            extraction_job.kicker()
            .with_broker(self._broker)
            .kiq(str(user_id), str(job_id), str(document_id))
        )
