"""A whole extraction stack for job tests: the local OpenAI-compatible server (in the test's
event loop, so it serves while tests wait), a gRPC server whose prompts target it, and real
`coderai worker` processes on a queue of their own, all on the session's database and the
real Redis."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass

import asyncpg
import grpc
import pytest
from redis.asyncio import Redis

from server.core.config import Settings
from server.core.db import Database
from server.llm.breaker import CircuitBreaker
from server.llm.local_server import LocalLLMServer
from server.main import RunningServer, start_server
from tests.conftest import POSTGRES_ADMIN_URL, TEST_REDIS_URL, with_database
from tests.factories import Caller, signed_in
from tests.processes import IDLE_WORKER_GRACE, coderai, stop

# Retries wait milliseconds, not seconds; the other settings are the product's.
FAST_RETRIES = {
    "LLM_RETRY_INITIAL_WAIT_SECONDS": "0.01",
    "LLM_RETRY_MAX_WAIT_SECONDS": "0.05",
    "LLM_RETRY_JITTER_SECONDS": "0",
    "LLM_TIMEOUT_SECONDS": "2",
    "LLM_REQUESTS_PER_MINUTE": "0",
    "LLM_TOKENS_PER_MINUTE": "0",
    "JOB_LEASE_SECONDS": "4",
    "WORKER_CONCURRENCY": "8",
    "JOB_SUPERVISOR_INTERVAL_SECONDS": "0.5",
}


@dataclass
class Stack:
    llm: LocalLLMServer
    server: RunningServer
    settings: Settings
    app_url: str
    start_worker: Callable[..., subprocess.Popen[bytes]]

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.server.port}"


async def cancel_active_jobs(database_name: str) -> None:
    """Ends every tenant's active jobs (as the superuser, past row-level security). One
    database serves every module's stack in the session, and a worker's supervisor takes up
    any runnable job it finds there: jobs a module leaves behind would otherwise run on the
    next module's workers, against its model server."""
    admin = await asyncpg.connect(with_database(POSTGRES_ADMIN_URL, database_name))
    try:
        await admin.execute(
            "UPDATE processing_jobs SET status = 'CANCELLED', "
            "stop_reason = 'CANCELLED_BY_RESEARCHER', finished_at = now(), "
            "status_reason = 'cancelled when its test module ended' "
            "WHERE status IN ('PENDING', 'RUNNING', 'PAUSED')"
        )
    finally:
        await admin.close()


@pytest.fixture(scope="module")
async def stack(
    settings: Settings, database: Database, redis: Redis, app_url: str, database_name: str
) -> AsyncIterator[Stack]:
    await cancel_active_jobs(database_name)
    llm = LocalLLMServer()
    await llm.start()
    stack_settings = settings.model_copy(
        update={
            "llm_provider": "openai",
            "llm_base_url": llm.base_url,
            "task_queue_name": f"coderai:test-jobs:{uuid.uuid4().hex[:10]}",
        }
    )
    server = await start_server(stack_settings, database, redis, TEST_REDIS_URL, port=0)
    workers: list[subprocess.Popen[bytes]] = []

    def start_worker(**environment: str) -> subprocess.Popen[bytes]:
        process = coderai(
            "worker",
            "--processes",
            "1",
            APP_DATABASE_URL=app_url,
            REDIS_URL=TEST_REDIS_URL,
            TASK_QUEUE_NAME=stack_settings.task_queue_name,
            LLM_PROVIDER="openai",
            LLM_BASE_URL=llm.base_url,
            **{**FAST_RETRIES, **environment},
        )
        workers.append(process)
        return process

    yield Stack(llm, server, stack_settings, app_url, start_worker)
    for process in workers:
        stop(process, timeout=IDLE_WORKER_GRACE)
    await cancel_active_jobs(database_name)
    await server.stop(grace=1)
    await llm.stop()


@pytest.fixture(scope="module")
def worker(stack: Stack) -> Iterator[subprocess.Popen[bytes]]:
    """The module's shared worker."""
    process = stack.start_worker()
    yield process
    stop(process, timeout=IDLE_WORKER_GRACE)


@pytest.fixture
async def stack_channel(stack: Stack) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(stack.target) as channel:
        yield channel


@pytest.fixture
async def researcher(stack: Stack, stack_channel: grpc.aio.Channel, redis: Redis) -> Caller:
    """A new researcher, with the local LLM server answering normally and its breaker
    closed."""
    stack.llm.reset()
    await CircuitBreaker(redis, f"openai|{stack.llm.base_url}").reset()
    return await signed_in(stack_channel, f"jobs-{uuid.uuid4().hex[:10]}@example.org")
