"""Quota checks run inside the transaction of the use case that adds what is counted (the
use case owns it). Those that guard an insert take the quota's lock first (see
repository.lock), so that concurrent creates of one user cannot both pass the last place."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from server.quotas import repository
from server.quotas.limits import Quota, QuotaLimits, check


async def room_for_project(session: AsyncSession, user_id: uuid.UUID, limits: QuotaLimits) -> None:
    """Before a project is added."""
    await repository.lock(session, user_id, Quota.PROJECTS)
    check(Quota.PROJECTS, limits.projects, await repository.projects(session, user_id))


async def room_for_active_job(
    session: AsyncSession, user_id: uuid.UUID, limits: QuotaLimits
) -> None:
    """Before a job is added (it begins PENDING, which counts)."""
    await repository.lock(session, user_id, Quota.ACTIVE_JOBS)
    check(Quota.ACTIVE_JOBS, limits.active_jobs, await repository.active_jobs(session, user_id))


async def room_for_documents(
    session: AsyncSession,
    user_id: uuid.UUID,
    limits: QuotaLimits,
    documents: int,
    size_bytes: int,
) -> None:
    """Whether `documents` more holding `size_bytes` fit, without the lock: an early answer
    before anything is stored; `holds_documents` decides."""
    used, stored = await repository.documents(session, user_id)
    check(Quota.DOCUMENTS, limits.documents, used, documents)
    check(Quota.STORAGE_BYTES, limits.storage_bytes, stored, size_bytes)


async def holds_documents(
    session: AsyncSession,
    user_id: uuid.UUID,
    limits: QuotaLimits,
    documents: int,
    size_bytes: int,
) -> None:
    """After this transaction added `documents` documents (or upload parts) holding
    `size_bytes`, just before it commits: refuses (the caller rolls back) when the user's
    documents or bytes, these included, pass a quota. Locking last keeps the lock for the
    commit only, not while the bytes are written."""
    await repository.lock(session, user_id, Quota.DOCUMENTS)
    await session.flush()
    used, stored = await repository.documents(session, user_id)
    check(Quota.DOCUMENTS, limits.documents, used - documents, documents)
    check(Quota.STORAGE_BYTES, limits.storage_bytes, stored - size_bytes, size_bytes)
