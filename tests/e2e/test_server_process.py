"""The `coderai` command as a user runs it: real processes, real ports, real servers."""

from __future__ import annotations

import asyncio
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from coderai.v1 import auth_pb2, auth_pb2_grpc, common_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from redis.asyncio import Redis

from server.core.embedded import stop_embedded
from tests.conftest import TEST_REDIS_URL
from tests.factories import signed_in
from tests.processes import IDLE_WORKER_GRACE, coderai, free_port, stop


@dataclass
class ServerProcess:
    process: subprocess.Popen[bytes]
    port: int

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"


async def wait_until_serving(server: ServerProcess, within: float) -> None:
    deadline = time.monotonic() + within
    async with grpc.aio.insecure_channel(server.target) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        while time.monotonic() < deadline:
            assert server.process.poll() is None, "the server exited before serving"
            try:
                reply = await health.Check(health_pb2.HealthCheckRequest(), timeout=1)
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.aio.AioRpcError:
                pass
            await asyncio.sleep(0.2)
    raise AssertionError(f"not SERVING within {within}s")


async def register_and_get_me(target: str) -> str:
    async with grpc.aio.insecure_channel(target) as channel:
        auth = auth_pb2_grpc.AuthServiceStub(channel)
        email = f"process-{uuid.uuid4().hex[:8]}@example.org"
        await auth.Register(
            auth_pb2.RegisterRequest(email=email, password="a long enough password")
        )
        registered = await auth.Login(
            auth_pb2.LoginRequest(email=email, password="a long enough password")
        )
        me = await auth.GetMe(
            auth_pb2.GetMeRequest(),
            metadata=[("authorization", f"Bearer {registered.tokens.access_token}")],
        )
        return me.user.email


@pytest.fixture
def embedded_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    data_dir = tmp_path_factory.mktemp("coderai-data")
    yield data_dir
    stop_embedded(data_dir)


async def test_serve_and_a_worker_with_no_settings_run_on_the_embedded_servers(
    embedded_data_dir: Path,
) -> None:
    """What `./scripts/run` does on a machine with nothing installed: the server and a worker
    share the embedded PostgreSQL and Redis, and an upload is parsed."""
    server = ServerProcess(
        coderai("serve", "--port", str(port := free_port()), DATA_DIR=str(embedded_data_dir)),
        port,
    )
    worker = None
    try:
        await wait_until_serving(server, within=90)
        assert (embedded_data_dir / "postgres").is_dir()
        assert (embedded_data_dir / "redis").is_dir()
        email = await register_and_get_me(server.target)
        assert email.startswith("process-")
        worker = coderai("worker", "--processes", "1", DATA_DIR=str(embedded_data_dir))
        async with grpc.aio.insecure_channel(server.target) as channel:
            caller = await signed_in(channel, f"embedded-{uuid.uuid4().hex[:8]}@example.org")
            project = await caller.create_project()
            [result] = await caller.upload(project.id, "note.txt", b"Parsed by the worker.")
            parsed = await caller.parsed(result.document.id, within=60)
        assert parsed.document.status == common_pb2.DOCUMENT_STATUS_READY
        assert parsed.text == "Parsed by the worker."
    finally:
        if worker is not None:
            stop(worker, timeout=IDLE_WORKER_GRACE)
        assert stop(server.process) == 0, "SIGTERM shuts down gracefully with status 0"


async def test_serve_with_database_and_redis_urls_uses_those_servers(
    owner_url: str, app_url: str
) -> None:
    server = ServerProcess(
        coderai(
            "serve",
            "--port",
            str(port := free_port()),
            APP_DATABASE_URL=app_url,
            REDIS_URL=TEST_REDIS_URL,
        ),
        port,
    )
    try:
        await wait_until_serving(server, within=30)
        assert (await register_and_get_me(server.target)).startswith("process-")
    finally:
        assert stop(server.process) == 0


async def test_serve_refuses_a_role_that_bypasses_row_level_security(owner_url: str) -> None:
    """The test owner can create roles but the admin URL is a superuser: serving as it fails."""
    from tests.conftest import POSTGRES_ADMIN_URL

    process = coderai(
        "serve",
        "--port",
        str(free_port()),
        APP_DATABASE_URL=POSTGRES_ADMIN_URL,
        REDIS_URL=TEST_REDIS_URL,
    )
    try:
        assert process.wait(timeout=30) != 0
    finally:
        if process.poll() is None:
            process.kill()


async def test_reflection_lists_the_services(grpc_server_target: str) -> None:
    async with grpc.aio.insecure_channel(grpc_server_target) as channel:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        responses = stub.ServerReflectionInfo(
            iter([reflection_pb2.ServerReflectionRequest(list_services="")])
        )
        names = set()
        async for response in responses:
            names = {service.name for service in response.list_services_response.service}
            break
    assert {
        "coderai.v1.AuthService",
        "coderai.v1.ProjectService",
        "coderai.v1.SchemaService",
        "grpc.health.v1.Health",
    } <= names


async def test_worker_consumes_and_acknowledges_tasks_from_redis(app_url: str) -> None:
    # A Redis database of its own, so that no other run's messages interfere.
    redis_url = TEST_REDIS_URL.rsplit("/", 1)[0] + "/9"
    redis = Redis.from_url(redis_url)
    await redis.flushdb()
    worker = coderai("worker", "--processes", "1", APP_DATABASE_URL=app_url, REDIS_URL=redis_url)
    try:
        from workers.broker import build_broker
        from workers.tasks import ping

        broker = build_broker(redis_url)
        await broker.startup()
        await ping.kicker().with_broker(broker).kiq("hello")
        deadline = time.monotonic() + 30
        acknowledged = False
        while time.monotonic() < deadline and not acknowledged:
            await asyncio.sleep(0.3)
            groups = await redis.xinfo_groups("coderai:tasks")
            acknowledged = (
                bool(groups) and groups[0]["entries-read"] == 1 and (groups[0]["pending"] == 0)
            )
        await broker.shutdown()
        assert acknowledged, "the worker read the task and acknowledged it"
    finally:
        # Not asserted: taskiq 0.13's worker child can linger after SIGTERM
        # (taskiq-python/taskiq#646); clean hand-back on SIGTERM belongs to the pipeline work.
        stop(worker, timeout=IDLE_WORKER_GRACE)
        await redis.flushdb()
        await redis.aclose()
