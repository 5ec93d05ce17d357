"""FR-039..041, NFR-010: workers that die or stop mid-job lose and duplicate nothing, and
several workers share one job without processing a document twice."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import uuid
from collections import Counter

from sqlalchemy import select

from server.core.db import Database
from server.core.processing_log import LogEventType, ProcessingLog
from server.jobs.models import JobDocument
from server.llm.local_server import Fault
from tests.factories import Caller
from tests.jobs.conftest import Stack
from tests.jobs.test_jobs import VARIABLES, project_with_schema, ready_documents, reports
from tests.processes import stop

# Quick takeover: a dead worker's document after 3 s, its unacknowledged task after 2 s.
TAKEOVER = {"JOB_LEASE_SECONDS": "3", "TASK_REDELIVERY_TIMEOUT_MS": "2000"}


async def stopped(process: subprocess.Popen[bytes], within: float = 10) -> int | None:
    """SIGTERM and wait, without blocking the event loop the local LLM server runs in."""
    return await asyncio.to_thread(stop, process, within)


async def work_list(database: Database, caller: Caller, job_id: str) -> list[JobDocument]:
    async with database.transaction(uuid.UUID(caller.user_id)) as session:
        statement = select(JobDocument).where(JobDocument.job_id == uuid.UUID(job_id))
        return list((await session.scalars(statement)).all())


async def workers_in_log(database: Database, caller: Caller, job_id: str) -> Counter[str]:
    async with database.transaction(uuid.UUID(caller.user_id)) as session:
        statement = select(ProcessingLog.details).where(
            ProcessingLog.job_id == uuid.UUID(job_id),
            ProcessingLog.event_type == LogEventType.DOCUMENT_PROCESSED,
        )
        return Counter(details["worker"] for details in (await session.scalars(statement)))


async def wait_for_processed(caller: Caller, job_id: str, at_least: int) -> None:
    for _ in range(600):
        job = await caller.get_job(job_id)
        if job.documents_processed >= at_least:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"fewer than {at_least} documents processed")


async def assert_every_row_once(caller: Caller, project_id: str, documents: list[str]) -> None:
    extractions = await caller.extractions(project_id)
    rows = Counter((e.document_id, e.entity_key, e.variable_id) for e in extractions)
    assert set(d for d, _, _ in rows) == set(documents), "no document is missing"
    assert len(rows) == len(documents) * 1, "one row per (document, entity, variable)"
    assert max(rows.values()) == 1, "none is duplicated"


async def test_a_worker_killed_mid_job_is_replaced_and_the_job_finishes_whole(
    researcher: Caller, stack: Stack, database: Database
) -> None:
    first = stack.start_worker(WORKER_CONCURRENCY="2", **TAKEOVER)
    project = await project_with_schema(researcher, VARIABLES[:1])
    documents = await ready_documents(researcher, project.id, reports(16))
    stack.llm.set_default(Fault.parse("latency=0.25"))
    created = await researcher.create_job(project.id, document_ids=documents)
    await wait_for_processed(researcher, created.job.id, at_least=4)

    os.killpg(first.pid, signal.SIGKILL)
    await asyncio.to_thread(first.wait, 10)
    killed_at = (await researcher.get_job(created.job.id)).documents_processed
    second = stack.start_worker(WORKER_CONCURRENCY="2", **TAKEOVER)
    try:
        job = await researcher.job_ended(created.job.id, within=90)
    finally:
        await stopped(second)

    assert job.status == 4, job.status_reason  # COMPLETED
    assert killed_at < 16
    assert (job.documents_processed, job.documents_failed) == (16, 0)
    await assert_every_row_once(researcher, project.id, documents)
    work = await work_list(database, researcher, created.job.id)
    # Only documents in flight when the worker died were started twice, and only those
    # were called twice: nothing already saved was paid for again.
    retried = [item for item in work if item.attempts > 1]
    assert len(retried) <= 2
    assert len(stack.llm.requests) <= 16 + len(retried)
    assert len(await workers_in_log(database, researcher, created.job.id)) == 2


async def test_a_worker_stopped_with_sigterm_hands_back_its_document(
    researcher: Caller, stack: Stack, database: Database
) -> None:
    first = stack.start_worker(WORKER_CONCURRENCY="2", **TAKEOVER)
    project = await project_with_schema(researcher, VARIABLES[:1])
    documents = await ready_documents(researcher, project.id, reports(10))
    stack.llm.set_default(Fault.parse("latency=0.4"))
    created = await researcher.create_job(project.id, document_ids=documents)
    await wait_for_processed(researcher, created.job.id, at_least=2)

    # Off the event loop: the local LLM server answers the worker while it stops.
    exit_status = await stopped(first, within=15)
    work = await work_list(database, researcher, created.job.id)
    second = stack.start_worker(WORKER_CONCURRENCY="2", **TAKEOVER)
    try:
        job = await researcher.job_ended(created.job.id, within=90)
    finally:
        await stopped(second)

    # A worker killed after the wait would leave its documents claimed: a different fault.
    assert exit_status is not None, "the worker did not stop within 15 s of SIGTERM"
    # After the stop nothing is left claimed: a document was finished or handed back.
    assert all(item.status.value != "RUNNING" for item in work), work
    assert (job.documents_processed, job.documents_failed) == (10, 0)
    await assert_every_row_once(researcher, project.id, documents)


async def test_two_workers_share_one_job_and_never_process_a_document_twice(
    researcher: Caller, stack: Stack, database: Database
) -> None:
    workers = [stack.start_worker(WORKER_CONCURRENCY="3") for _ in range(2)]
    project = await project_with_schema(researcher, VARIABLES[:1])
    documents = await ready_documents(researcher, project.id, reports(20))
    stack.llm.set_default(Fault.parse("latency=0.2"))
    try:
        created = await researcher.create_job(project.id, document_ids=documents)
        job = await researcher.job_ended(created.job.id, within=90)
    finally:
        for process in workers:
            await stopped(process)

    assert (job.documents_processed, job.documents_failed) == (20, 0)
    shares = await workers_in_log(database, researcher, created.job.id)
    assert len(shares) == 2, shares
    assert all(item.attempts == 1 for item in await work_list(database, researcher, job.id))
    assert len(stack.llm.requests) == 20
    await assert_every_row_once(researcher, project.id, documents)
