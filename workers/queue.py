"""The server's side of the task queue: puts tasks on the Taskiq stream for the workers, by
the tasks' names, so that the server imports no worker code (workers/tasks.py registers the
tasks under these names)."""

from __future__ import annotations

import uuid
from typing import Any

from taskiq.kicker import AsyncKicker

from workers.broker import ReclaimingStreamBroker

PARSE_DOCUMENT = "coderai.parse_document"
EXTRACTION_JOB = "coderai.extraction_job"
PROMPT_REFINEMENT_JOB = "coderai.prompt_refinement_job"
EXPORT_JOB = "coderai.export_job"


class TaskiqQueue:
    """Sends tasks through the given broker (the server's own, connected to the same Redis
    stream the workers read)."""

    def __init__(self, broker: ReclaimingStreamBroker) -> None:
        self._broker = broker

    def _task(self, name: str) -> AsyncKicker[Any, Any]:
        return AsyncKicker(name, self._broker, labels={})

    async def parse_document(self, user_id: uuid.UUID, document_id: uuid.UUID) -> None:
        await self._task(PARSE_DOCUMENT).kiq(str(user_id), str(document_id))

    async def wake_workers(self, user_id: uuid.UUID, job_id: uuid.UUID, tasks: int) -> None:
        kicker = self._task(EXTRACTION_JOB)
        async with self._broker.batched():
            for _ in range(tasks):
                await kicker.kiq(str(user_id), str(job_id))

    async def refine_prompt(self, user_id: uuid.UUID, refinement_id: uuid.UUID) -> None:
        await self._task(PROMPT_REFINEMENT_JOB).kiq(str(user_id), str(refinement_id))

    async def build_export(self, user_id: uuid.UUID, export_id: uuid.UUID) -> None:
        await self._task(EXPORT_JOB).kiq(str(user_id), str(export_id))
