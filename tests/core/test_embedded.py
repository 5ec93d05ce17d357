"""The embedded PostgreSQL and Redis, with real processes: start, reuse, concurrent start, stop."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import asyncpg  # type: ignore[import-untyped,unused-ignore]
import pytest
import redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from server.core.embedded import (
    embedded_status,
    start_embedded_postgres,
    start_embedded_redis,
    stop_embedded,
)

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[Path]:
    # As root, pgserver itself opens the path prefix (e.g. /tmp/pytest-of-root, mode 700) to the
    # `pgserver` system user that runs postgres, so tmp_path works as is.
    path = tmp_path / "data"
    yield path
    stop_embedded(path)


def _child_command(data_dir: Path, *functions: str, go: Path | None = None) -> list[str]:
    """A separate interpreter calling start functions, as `coderai worker` would; prints URLs.

    With go, the child waits for that file to exist first, so several children start together.
    """
    calls = ", ".join(f"e.{name}(d)" for name in functions)
    wait = f"while not pathlib.Path({str(go)!r}).exists():\n    time.sleep(0.001)\n" if go else ""
    code = (
        "import pathlib, time, server.core.embedded as e\n"
        f"d = pathlib.Path({str(data_dir)!r})\n"
        f"{wait}print(*[{calls}], sep='\\n')\n"
    )
    return [sys.executable, "-c", code]


def _start_in_child(data_dir: Path, *functions: str) -> list[str]:
    result = subprocess.run(
        _child_command(data_dir, *functions),
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=90,
        check=True,
    )
    return result.stdout.split()


def _processes_mentioning(needle: str) -> list[int]:
    """Pids whose command line contains needle (Linux /proc)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if needle in cmdline:
            pids.append(int(entry.name))
    return pids


async def _postgres_facts(url: str) -> tuple[str, str, datetime, bool]:
    conn = await asyncpg.connect(url)
    try:
        version = await conn.fetchval("SELECT version()")
        database = await conn.fetchval("SELECT current_database()")
        started = await conn.fetchval("SELECT pg_postmaster_start_time()")
        superuser = await conn.fetchval(
            "SELECT rolsuper FROM pg_roles WHERE rolname = current_user"
        )
    finally:
        await conn.close()
    return version, database, started, superuser


async def _sqlalchemy_database(url: str) -> str:
    engine = create_async_engine(url.replace("postgresql://", "postgresql+asyncpg://", 1))
    try:
        async with engine.connect() as conn:
            return str((await conn.execute(text("SELECT current_database()"))).scalar_one())
    finally:
        await engine.dispose()


def _redis_pid(url: str) -> int:
    client = redis.Redis.from_url(url)
    try:
        assert client.ping()
        return int(client.info("server")["process_id"])
    finally:
        client.close()


def test_postgres_starts_with_coderai_database_and_is_reused(data_dir: Path) -> None:
    url = start_embedded_postgres(data_dir)

    version, database, started, superuser = asyncio.run(_postgres_facts(url))
    assert version.startswith("PostgreSQL 16")
    assert database == "coderai"
    assert superuser
    assert asyncio.run(_sqlalchemy_database(url)) == "coderai"

    # A second process gets the same running server, not a new one.
    (child_url,) = _start_in_child(data_dir, "start_embedded_postgres")
    assert child_url == url
    assert asyncio.run(_postgres_facts(child_url))[2] == started
    # And so does this process again.
    assert start_embedded_postgres(data_dir) == url
    assert asyncio.run(_postgres_facts(url))[2] == started


def test_redis_starts_and_is_reused(data_dir: Path) -> None:
    url = start_embedded_redis(data_dir)
    pid = _redis_pid(url)
    assert (data_dir / "redis" / "redis.pid").read_text().strip() == str(pid)

    (child_url,) = _start_in_child(data_dir, "start_embedded_redis")
    assert child_url == url
    assert _redis_pid(child_url) == pid
    assert _redis_pid(start_embedded_redis(data_dir)) == pid


def test_concurrent_starts_share_one_server_each(data_dir: Path, tmp_path: Path) -> None:
    # Three children start both servers on a fresh data dir at the same moment.
    go = tmp_path / "go"
    command = _child_command(data_dir, "start_embedded_postgres", "start_embedded_redis", go=go)
    children = [
        subprocess.Popen(
            command, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(3)
    ]
    time.sleep(1.0)  # let them import; without the file lock this starts three redis-servers
    go.touch()
    outputs = []
    for child in children:
        stdout, stderr = child.communicate(timeout=90)
        assert child.returncode == 0, stderr
        outputs.append(stdout.split())
    assert outputs[0] == outputs[1] == outputs[2]

    pg_url, redis_url = outputs[0]
    assert asyncio.run(_postgres_facts(pg_url))[1] == "coderai"
    _redis_pid(redis_url)
    pgdata = data_dir.resolve() / "postgres"
    assert len(_processes_mentioning(f"postgres -D {pgdata} ")) == 1
    assert len(_processes_mentioning(f"unixsocket:{data_dir.resolve()}/redis/redis.sock")) == 1


def _coderai_embedded(action: str, data_dir: Path) -> str:
    finished = subprocess.run(
        [sys.executable, "-m", "server.cli", "embedded", action],
        env={**os.environ, "DATA_DIR": str(data_dir)},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return finished.stdout


def test_coderai_embedded_status_says_what_runs_and_where(data_dir: Path) -> None:
    stopped = _coderai_embedded("status", data_dir)
    assert "PostgreSQL: stopped" in stopped
    assert "Redis: stopped" in stopped

    start_embedded_postgres(data_dir)
    redis_pid = _redis_pid(start_embedded_redis(data_dir))
    status = embedded_status(data_dir)
    assert status.postgres_pid is not None
    assert status.redis_pid == redis_pid
    running = _coderai_embedded("status", data_dir)
    assert f"PostgreSQL: running (process {status.postgres_pid}" in running
    assert f"Redis: running (process {redis_pid}, socket {status.redis_socket})" in running
    assert str(data_dir.resolve() / "postgres") in running


def test_coderai_embedded_stop_stops_both(data_dir: Path) -> None:
    pg_url = start_embedded_postgres(data_dir)
    redis_url = start_embedded_redis(data_dir)
    redis_pid = _redis_pid(redis_url)

    stopped = _coderai_embedded("stop", data_dir)
    assert f"embedded PostgreSQL and Redis in {data_dir} are stopped" in stopped
    assert embedded_status(data_dir).postgres_pid is None

    with pytest.raises(OSError):
        asyncio.run(_postgres_facts(pg_url))
    client = redis.Redis.from_url(redis_url)
    with pytest.raises(redis.ConnectionError):
        client.ping()
    client.close()
    assert not _processes_mentioning(f"unixsocket:{data_dir.resolve()}/redis/redis.sock")

    stop_embedded(data_dir)  # stopping what is not running is fine
    # And the servers start again after a stop, in the same process.
    assert start_embedded_postgres(data_dir) == pg_url
    assert _redis_pid(start_embedded_redis(data_dir)) != redis_pid


def test_postgres_restarts_when_postmaster_pid_names_another_process(data_dir: Path) -> None:
    # After a reboot the pid recorded in postmaster.pid may belong to an unrelated process.
    url = start_embedded_postgres(data_dir)
    pidfile = data_dir / "postgres" / "postmaster.pid"
    lines = pidfile.read_text().splitlines(keepends=True)
    stop_embedded(data_dir)
    with subprocess.Popen(["sleep", "60"]) as unrelated:
        try:
            pidfile.write_text("".join([f"{unrelated.pid}\n", *lines[1:]]))
            assert start_embedded_postgres(data_dir) == url
            assert asyncio.run(_postgres_facts(url))[1] == "coderai"
        finally:
            unrelated.kill()
