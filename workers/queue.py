"""The server's side of the task queue: puts tasks on the Taskiq stream for the workers."""

from __future__ import annotations

import uuid

from workers.broker import ReclaimingStreamBroker


class TaskiqQueue:
    """Sends tasks through the given broker (the server's own, connected to the same Redis
    stream the workers read)."""

    def __init__(self, broker: ReclaimingStreamBroker) -> None:
        self._broker = broker

    async def parse_document(self, user_id: uuid.UUID, document_id: uuid.UUID) -> None:
        from workers.tasks import parse_document

        await parse_document.kicker().with_broker(self._broker).kiq(str(user_id), str(document_id))

    async def wake_workers(self, user_id: uuid.UUID, job_id: uuid.UUID, tasks: int) -> None:
        from workers.tasks import extraction_job

        kicker = extraction_job.kicker().with_broker(self._broker)
        async with self._broker.batched():
            for _ in range(tasks):
                await kicker.kiq(str(user_id), str(job_id))

    async def refine_prompt(self, user_id: uuid.UUID, refinement_id: uuid.UUID) -> None:
        from workers.tasks import prompt_refinement_job

        kicker = prompt_refinement_job.kicker().with_broker(self._broker)
        await kicker.kiq(str(user_id), str(refinement_id))

    async def build_export(self, user_id: uuid.UUID, export_id: uuid.UUID) -> None:
        from workers.tasks import export_job

        await export_job.kicker().with_broker(self._broker).kiq(str(user_id), str(export_id))
