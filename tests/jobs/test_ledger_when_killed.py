"""The usage ledger matches the provider's bill when a worker dies mid-request: a request is
in the ledger before it is sent, and one whose answer never came back stays there, unsettled,
at its estimate."""

from __future__ import annotations

import asyncio
import os
import signal
import uuid

from sqlalchemy import select

from server.core.db import Database
from server.llm.ledger import LLMCall
from server.llm.local_server import Fault, LocalLLMServer
from tests.factories import Caller
from tests.jobs.conftest import Stack
from tests.jobs.test_jobs import COMPLETED, VARIABLES, project_with_schema, ready_documents, reports
from tests.jobs.test_resumability import TAKEOVER, stopped


async def ledger(database: Database, caller: Caller, job_id: str) -> list[LLMCall]:
    async with database.transaction(uuid.UUID(caller.user_id)) as session:
        statement = select(LLMCall).where(LLMCall.job_id == uuid.UUID(job_id))
        return list((await session.scalars(statement.order_by(LLMCall.created_at))).all())


async def holding(llm: LocalLLMServer, requests: int) -> None:
    """Returns once the provider has seen `requests` requests and is working on one."""
    for _ in range(600):
        if len(llm.requests) >= requests and llm.open_requests:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"the provider never held request {requests}")


async def test_a_request_the_provider_held_when_its_worker_was_killed_is_in_the_ledger(
    researcher: Caller, stack: Stack, database: Database
) -> None:
    # One document at a time: when the third request is held, no other is on its way.
    first = stack.start_worker(WORKER_CONCURRENCY="1", **TAKEOVER)
    project = await project_with_schema(researcher, VARIABLES[:1])
    documents = await ready_documents(researcher, project.id, reports(3))
    # Two answers; then a request the provider works on (and bills) while the worker dies.
    stack.llm.script(Fault(), Fault(), Fault.parse("timeout"))
    created = await researcher.create_job(project.id, document_ids=documents)
    await holding(stack.llm, requests=3)

    os.killpg(first.pid, signal.SIGKILL)
    await asyncio.to_thread(first.wait, 10)
    at_the_kill = await ledger(database, researcher, created.job.id)
    second = stack.start_worker(WORKER_CONCURRENCY="1", **TAKEOVER)
    try:
        job = await researcher.job_ended(created.job.id, within=90)
    finally:
        await stopped(second)

    assert len(at_the_kill) == 3
    assert [row.outcome for row in at_the_kill] == ["ok", "ok", None]
    held = at_the_kill[-1]
    # Unsettled, at the estimate of its prompt and what that costs.
    assert held.prompt_tokens > 0
    assert held.completion_tokens == 0
    assert (held.cost_usd or 0) > 0
    # The job finished on the second worker; every request the provider saw has its row.
    assert job.status == COMPLETED, job.status_reason
    rows = await ledger(database, researcher, created.job.id)
    assert len(rows) == len(stack.llm.requests) == 4
    assert [row.outcome for row in rows].count(None) == 1
