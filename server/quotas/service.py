"""What a user holds against each quota, for GetUsage."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from server.core.config import Settings
from server.core.db import Database
from server.core.quotas import QuotaLimits
from server.core.slots import Slots
from server.documents import repository as documents_held
from server.jobs import repository as jobs_held
from server.projects import repository as projects_held


@dataclass(frozen=True, slots=True)
class QuotaUse:
    used: int
    limit: int


@dataclass(frozen=True, slots=True)
class Usage:
    projects: QuotaUse
    documents: QuotaUse
    storage_bytes: QuotaUse
    active_jobs: QuotaUse
    open_streams: QuotaUse


class QuotaService:
    def __init__(self, db: Database, settings: Settings, open_streams: Slots) -> None:
        self._db = db
        self._limits = QuotaLimits.of(settings)
        self._open_streams = open_streams

    async def usage(self, user_id: uuid.UUID) -> Usage:
        """The counts are read in one transaction, under the user's row-level security."""
        async with self._db.transaction(user_id) as session:
            projects = await projects_held.count_for_user(session, user_id)
            documents, stored = await documents_held.held_by_user(session, user_id)
            active_jobs = await jobs_held.active_for_user(session, user_id)
        limits = self._limits
        return Usage(
            projects=QuotaUse(projects, limits.projects),
            documents=QuotaUse(documents, limits.documents),
            storage_bytes=QuotaUse(stored, limits.storage_bytes),
            active_jobs=QuotaUse(active_jobs, limits.active_jobs),
            open_streams=QuotaUse(await self._open_streams.in_use(user_id), limits.open_streams),
        )
