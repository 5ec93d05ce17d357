"""Claims on a job's documents against the real database, raced deterministically: each test
holds one transaction open at the point the race is about while another runs, instead of
hoping two workers collide. Rows are inserted directly (tests.factories.running_job_rows)."""

from __future__ import annotations

import asyncio
import uuid

from sqlalchemy import select

from server.core.db import Database
from server.jobs import worklist
from server.jobs.models import JobDocument, JobDocumentStatus
from tests.factories import JobRows, running_job_rows

LEASE_SECONDS = 60.0


async def work_row(database: Database, rows: JobRows, document_id: uuid.UUID) -> JobDocument:
    async with database.transaction(rows.user_id) as session:
        found = await session.scalar(
            select(JobDocument).where(
                JobDocument.job_id == rows.job_id, JobDocument.document_id == document_id
            )
        )
        assert found is not None
        return found


async def claim_next(
    database: Database, rows: JobRows, lease: float = LEASE_SECONDS
) -> tuple[uuid.UUID, int] | None:
    """The next document claimed in a transaction of its own, with its attempt; None when
    there is nothing to claim."""
    async with database.transaction(rows.user_id) as session:
        document_id = await worklist.next_claimable(session, rows.job_id)
        if document_id is None:
            return None
        attempt = await worklist.claim(session, rows.job_id, document_id, lease)
        return None if attempt is None else (document_id, attempt)


async def claimed(
    database: Database, rows: JobRows, lease: float = LEASE_SECONDS
) -> tuple[uuid.UUID, int]:
    found = await claim_next(database, rows, lease)
    assert found is not None
    return found


async def test_two_workers_claiming_at_once_take_different_documents(database: Database) -> None:
    rows = await running_job_rows(database)
    first_picked = asyncio.Event()
    second_done = asyncio.Event()

    async def first_worker() -> tuple[uuid.UUID | None, int | None]:
        async with database.transaction(rows.user_id) as session:
            document_id = await worklist.next_claimable(session, rows.job_id)
            assert document_id is not None
            first_picked.set()
            # The second worker looks while this one holds its pick, uncommitted.
            await second_done.wait()
            return document_id, await worklist.claim(
                session, rows.job_id, document_id, LEASE_SECONDS
            )

    async def second_worker() -> tuple[uuid.UUID | None, int | None]:
        await first_picked.wait()
        try:
            return await claimed(database, rows)
        finally:
            second_done.set()

    # Were the second worker to wait for the first one's pick, this would never end.
    (first, first_attempt), (second, second_attempt) = await asyncio.wait_for(
        asyncio.gather(first_worker(), second_worker()), timeout=10
    )

    assert first == rows.document_ids[0]
    assert second == rows.document_ids[1]
    assert (first_attempt, second_attempt) == (1, 1)


async def test_a_lapsed_claim_is_taken_over_and_can_no_longer_end_or_renew(
    database: Database,
) -> None:
    rows = await running_job_rows(database, documents=1)
    document_id, lapsed = await claimed(database, rows, lease=0.0)  # its worker died

    taken, current = await claimed(database, rows)
    async with database.transaction(rows.user_id) as session:
        await worklist.renew_lease(session, rows.job_id, document_id, lapsed, LEASE_SECONDS)
        late_end = await worklist.end_claim(
            session, rows.job_id, document_id, lapsed, JobDocumentStatus.DONE
        )
    still_held = await work_row(database, rows, document_id)
    async with database.transaction(rows.user_id) as session:
        ended = await worklist.end_claim(
            session, rows.job_id, document_id, current, JobDocumentStatus.DONE
        )

    assert (taken, lapsed, current) == (document_id, 1, 2)
    assert late_end is False
    assert (still_held.status, still_held.attempts) == (JobDocumentStatus.RUNNING, 2)
    assert ended is True
    assert (await work_row(database, rows, document_id)).status == JobDocumentStatus.DONE


async def test_a_live_claim_is_not_taken_over(database: Database) -> None:
    rows = await running_job_rows(database, documents=1)
    await claimed(database, rows)

    assert await claim_next(database, rows) is None


async def test_an_ended_claim_leaves_nothing_to_claim(database: Database) -> None:
    rows = await running_job_rows(database, documents=1)
    document_id, attempt = await claimed(database, rows)
    async with database.transaction(rows.user_id) as session:
        await worklist.end_claim(session, rows.job_id, document_id, attempt, JobDocumentStatus.DONE)

    async with database.transaction(rows.user_id) as session:
        again = await worklist.claim(session, rows.job_id, document_id, LEASE_SECONDS)
    assert again is None
    assert await claim_next(database, rows) is None
