"""The quotas a user's resources are held to: what each counts, the setting that sets it, the
error a use case answers when it would pass one, and the per-user lock that makes a check and
the insert after it one step. Each domain counts its own resources (its repository) and checks
them here, inside the transaction of the use case that adds them (the use case owns it)."""

from __future__ import annotations

import enum
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from server.core.config import Settings
from server.core.db import lock_for_user
from server.core.errors import ResourceExhausted
from server.core.slots import SlotLimits, Slots


class Quota(enum.StrEnum):
    """One quota; the value is the plural noun that names its unit in messages."""

    PROJECTS = "projects"
    DOCUMENTS = "documents"
    STORAGE_BYTES = "bytes stored"
    ACTIVE_JOBS = "active jobs"
    OPEN_STREAMS = "open streams"


@dataclass(frozen=True, slots=True)
class _Rule:
    setting: str
    remedy: str


_RULES = {
    Quota.PROJECTS: _Rule("QUOTA_MAX_PROJECTS", "delete one"),
    Quota.DOCUMENTS: _Rule("QUOTA_MAX_DOCUMENTS", "delete some"),
    Quota.STORAGE_BYTES: _Rule("QUOTA_MAX_STORAGE_BYTES", "delete documents"),
    Quota.ACTIVE_JOBS: _Rule("QUOTA_MAX_ACTIVE_JOBS", "let one end or cancel one"),
    Quota.OPEN_STREAMS: _Rule("QUOTA_MAX_OPEN_STREAMS", "close one"),
}


@dataclass(frozen=True, slots=True)
class QuotaLimits:
    """The most of each a user may hold (the QUOTA_MAX_* settings)."""

    projects: int
    documents: int
    storage_bytes: int
    active_jobs: int
    open_streams: int

    @classmethod
    def of(cls, settings: Settings) -> QuotaLimits:
        return cls(
            projects=settings.quota_max_projects,
            documents=settings.quota_max_documents,
            storage_bytes=settings.quota_max_storage_bytes,
            active_jobs=settings.quota_max_active_jobs,
            open_streams=settings.quota_max_open_streams,
        )


async def lock(session: AsyncSession, user_id: uuid.UUID, quota: Quota) -> None:
    """Waits until no other transaction of the user holds this quota's lock, kept to the
    commit: two creates cannot both take the last free place."""
    await lock_for_user(session, f"quota:{quota.name}", user_id)


async def room_for(
    session: AsyncSession,
    user_id: uuid.UUID,
    quota: Quota,
    limit: int,
    held: Callable[[AsyncSession, uuid.UUID], Awaitable[int]],
) -> None:
    """Before one more is added: takes the quota's lock, then counts what the user holds
    (`held`, the domain's count) and refuses past `limit`."""
    await lock(session, user_id, quota)
    check(quota, limit, await held(session, user_id))


def check(quota: Quota, limit: int, used: int, adding: int = 1) -> None:
    """ResourceExhausted when `adding` more would take the user past `limit`; it names the
    quota, its setting, the limit and the current use. Nothing added never fails."""
    if adding <= 0 or used + adding <= limit:
        return
    rule = _RULES[quota]
    if used >= limit and adding == 1:
        what = f"you have {used:,} {quota}, the most allowed ({rule.setting} is {limit:,})"
    else:
        what = (
            f"this would bring you from {used:,} to {used + adding:,} {quota}, past the most "
            f"allowed ({rule.setting} is {limit:,})"
        )
    raise ResourceExhausted(f"{what}; {rule.remedy} or ask your operator to raise it")


def open_streams(redis: Redis, settings: Settings) -> Slots:
    """The slots WatchJob, WatchProject and DownloadExport hold for the life of their stream:
    QUOTA_MAX_OPEN_STREAMS per user on all servers, SERVER_MAX_OPEN_STREAMS per process."""
    return Slots(
        redis,
        "open-streams",
        SlotLimits(
            what=Quota.OPEN_STREAMS,
            per_user=settings.quota_max_open_streams,
            per_process=settings.server_max_open_streams,
            per_user_setting="QUOTA_MAX_OPEN_STREAMS",
            per_process_setting="SERVER_MAX_OPEN_STREAMS",
        ),
    )
