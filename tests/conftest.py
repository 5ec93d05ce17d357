"""Shared fixtures: a fresh database per test session on the real PostgreSQL, migrated by a
non-superuser owner role; the real Redis; a real gRPC server on a loopback port."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

import asyncpg
import grpc
import pytest
from redis.asyncio import Redis

from server.core.config import Settings
from server.core.db import Database, create_engine
from server.core.infrastructure import connect_redis
from server.core.migrate import application_url, migrate
from server.main import RunningServer, start_server
from tests.processes import IDLE_WORKER_GRACE, PROCESS_LOG_DIR, coderai, stop
from tests.secrets_scan import ScanningHandler, SecretScanner

POSTGRES_ADMIN_URL = os.environ.get(
    "TEST_POSTGRES_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
OWNER_ROLE = "coderai_test_owner"
APP_ROLE = "coderai_test_app"


def with_database(url: str, database: str, user: str | None = None) -> str:
    from sqlalchemy.engine import make_url

    parsed = make_url(url).set(database=database)
    if user is not None:
        parsed = parsed.set(username=user, password=None)
    return parsed.render_as_string(hide_password=False)


@asynccontextmanager
async def roles_created_one_at_a_time() -> AsyncIterator[asyncpg.Connection]:
    """An admin connection holding a cluster-wide lock: roles belong to the whole cluster, and
    the suite's processes (pytest -n) each create this session's database and its roles if
    they are missing, so the first creates them and the others find them."""
    admin = await asyncpg.connect(POSTGRES_ADMIN_URL)
    try:
        await admin.execute("SELECT pg_advisory_lock(hashtext('coderai test roles'))")
        yield admin
    finally:
        await admin.close()  # which releases the lock


@pytest.fixture(scope="session")
def database_name() -> str:
    return f"coderai_test_{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="session")
async def owner_url(database_name: str) -> AsyncIterator[str]:
    """A new database owned by a plain (non-superuser) owner role, as in production."""
    async with roles_created_one_at_a_time() as admin:
        exists = await admin.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", OWNER_ROLE)
        if not exists:
            await admin.execute(f"CREATE ROLE {OWNER_ROLE} LOGIN CREATEROLE")
        await admin.execute(f"CREATE DATABASE {database_name} OWNER {OWNER_ROLE}")
    yield with_database(POSTGRES_ADMIN_URL, database_name, OWNER_ROLE)
    admin = await asyncpg.connect(POSTGRES_ADMIN_URL)
    try:
        await admin.execute(f"DROP DATABASE IF EXISTS {database_name} WITH (FORCE)")
    finally:
        await admin.close()


@pytest.fixture(scope="session")
def settings() -> Settings:
    return Settings(
        _env_file=None,
        environment="test",
        database_url="postgresql://unused@127.0.0.1/unused",
        redis_url=TEST_REDIS_URL,
        app_db_role=APP_ROLE,
        grpc_listen_addr="127.0.0.1",
        log_level="WARNING",
        # Whatever the machine's environment says: no LLM is configured, so prompts are made
        # for the offline baseline.
        llm_provider=None,
        llm_api_key=None,
        llm_base_url=None,
        # A queue of this session's own: other test runs may share the Redis.
        task_queue_name=f"coderai:test:{uuid.uuid4().hex[:10]}",
        # Every test signs in from 127.0.0.1, as do other test runs on the same Redis, and
        # they may hash many passwords at once on a busy machine: tests/auth/test_signin_
        # throttle.py checks these limits on servers of its own.
        signin_attempts_per_minute_per_address=0,
        refresh_per_minute_per_address=0,
        password_hash_queue=1000,
        password_hash_max_wait_seconds=120,
    )


@pytest.fixture(scope="session")
async def app_url(settings: Settings, owner_url: str) -> str:
    async with roles_created_one_at_a_time():
        await migrate(settings, owner_url)  # creates the application role if it is missing
    return application_url(settings, owner_url)


@pytest.fixture(scope="session")
async def database(app_url: str) -> AsyncIterator[Database]:
    db = Database(create_engine(app_url, pool_size=5, max_overflow=5))
    yield db
    await db.dispose()


@pytest.fixture(scope="session")
async def redis() -> AsyncIterator[Redis]:
    client = connect_redis(TEST_REDIS_URL)  # as the server's: a burst waits for a connection
    yield client
    await client.aclose()


@pytest.fixture(scope="session")
async def grpc_server(
    settings: Settings, database: Database, redis: Redis
) -> AsyncIterator[RunningServer]:
    running = await start_server(settings, database, redis, TEST_REDIS_URL, port=0)
    yield running
    await running.stop(grace=1)


@pytest.fixture(scope="session")
async def channel(grpc_server: RunningServer) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{grpc_server.port}") as chan:
        yield chan


@pytest.fixture(scope="session")
def worker(settings: Settings, app_url: str) -> Iterator[subprocess.Popen[bytes]]:
    """A real `coderai worker` process on this session's queue and database. Its supervisor
    does not look for jobs no task announced: the session's database also holds the job
    modules' jobs (tests.jobs.conftest), which are theirs to run against their model server."""
    process = coderai(
        "worker",
        "--processes",
        "1",
        APP_DATABASE_URL=app_url,
        REDIS_URL=TEST_REDIS_URL,
        TASK_QUEUE_NAME=settings.task_queue_name,
        JOB_SUPERVISOR_INTERVAL_SECONDS="86400",
    )
    yield process
    stop(process, timeout=IDLE_WORKER_GRACE)


@pytest.fixture
def unique_email() -> str:
    return f"researcher-{uuid.uuid4().hex[:12]}@example.org"


@pytest.fixture(scope="session")
def grpc_server_target(grpc_server: RunningServer) -> str:
    return f"127.0.0.1:{grpc_server.port}"


def _test_secrets() -> frozenset[str]:
    """The passwords and keys the tests use: their modules' constants (PASSWORD, ...) and
    the literal ones a few tests use inline."""
    found = {"a long enough password", "correct horse battery", "test-key"}
    for name, module in list(sys.modules.items()):
        if name == "tests" or name.startswith("tests."):
            for attribute, value in vars(module).items():
                if isinstance(value, str) and any(
                    word in attribute for word in ("PASSWORD", "API_KEY", "SECRET")
                ):
                    found.add(value)
    return frozenset(secret for secret in found if len(secret) >= 6)


def _show_process_errors() -> None:
    """After a failed run, the servers' and workers' errors where the run's output shows them
    (their output goes to files, to be scanned); the files are kept."""
    for log_file in sorted(PROCESS_LOG_DIR.glob("*.log")):
        lines = log_file.read_text(encoding="utf-8", errors="replace").splitlines()
        if any("Traceback" in line or " ERROR " in line for line in lines):
            tail = "\n".join(lines[-60:])
            print(f"\n--- {log_file} (last lines) ---\n{tail}", file=sys.stderr)


@pytest.fixture(scope="session", autouse=True)
def no_secret_in_any_log(request: pytest.FixtureRequest) -> Iterator[SecretScanner]:
    """Fails the run if any log line, of this process or of the servers and workers it
    started, holds a password hash, token, API key or one of the tests' passwords."""
    scanner = SecretScanner(_test_secrets())
    handler = ScanningHandler(scanner)
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    # INFO and above, so that access log lines are scanned too.
    root.setLevel(min(level, logging.INFO) if level else logging.INFO)
    yield scanner
    root.removeHandler(handler)
    root.setLevel(level)
    for log_file in sorted(PROCESS_LOG_DIR.glob("*.log")):
        with log_file.open(encoding="utf-8", errors="replace") as lines:
            scanner.scan(str(log_file), lines)
    if request.session.testsfailed or scanner.findings:
        _show_process_errors()
    else:
        shutil.rmtree(PROCESS_LOG_DIR, ignore_errors=True)
    if scanner.findings:
        shown = "\n".join(scanner.findings[:20])
        pytest.fail(f"{len(scanner.findings)} log lines hold secrets:\n{shown}", pytrace=False)
