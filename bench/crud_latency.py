"""CRUD latency benchmark: concurrent clients drive a CoderAI server over real gRPC.

Each client registers its own user (so every call runs under row-level security as one of many
tenants), opens its own grpc.aio channel (its own HTTP/2 connection) and then, phase by phase,
with all clients running each phase at the same time:

  CreateProject   each client creates --projects projects (enough for a full ListProjects page)
  CreateVariable  each client adds --variables variables to each of --iterations projects
  GetProject      each client reads those projects (with their variables), --iterations calls
  ListProjects    each client lists its projects, page_size 50, --iterations calls

Every call is timed on the client (from sending the request to receiving the response); a
phase's throughput is its calls divided by its wall time. A warm-up round of the same calls
runs first and is not measured.

Without --target the script starts its own server: a fresh database on the local PostgreSQL
(owned by a non-superuser owner role, migrated like tests/conftest.py does), `coderai serve` as
a subprocess against it and the local Redis; afterwards it stops the server (SIGTERM) and drops
the database. It writes nothing to the repository.

    .venv/bin/python bench/crud_latency.py [--clients 20] [--iterations 10] [--target host:port]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TypeVar, cast

import asyncpg
import grpc
from coderai.v1 import (
    auth_pb2,
    auth_pb2_grpc,
    common_pb2,
    project_pb2,
    project_pb2_grpc,
    schema_pb2,
    schema_pb2_grpc,
)
from google.protobuf import struct_pb2
from google.rpc import error_details_pb2, status_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc

REPOSITORY = Path(__file__).resolve().parents[1]
CODERAI_BIN = Path(sys.executable).with_name("coderai")  # the venv's console script
POSTGRES_ADMIN_URL = os.environ.get(
    "BENCH_POSTGRES_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
OWNER_ROLE = "coderai_bench_owner"
APP_ROLE = "coderai_bench_app"
LIST_PAGE_SIZE = 50
PASSWORD = "benchmark password 0123"
STARTUP_TIMEOUT_SECONDS = 30.0
STOP_TIMEOUT_SECONDS = 15.0
CALL_TIMEOUT_SECONDS = 30.0

T = TypeVar("T")


# --- measurements -----------------------------------------------------------------------------


@dataclass
class Phase:
    name: str
    note: str
    latencies_ms: list[float] = field(default_factory=list)
    wall_seconds: float = 0.0
    server_cpu_seconds: float | None = None  # CPU time the server process used in the phase
    client_cpu_seconds: float = 0.0  # CPU time this (client) process used in the phase

    def row(self) -> list[str]:
        data = sorted(self.latencies_ms)
        cuts = statistics.quantiles(data, n=100, method="inclusive") if len(data) > 1 else data * 99
        server_cpu = (
            "-"
            if self.server_cpu_seconds is None
            else f"{self.server_cpu_seconds * 1000 / len(data):.2f}"
        )
        return [
            self.name,
            str(len(data)),
            f"{cuts[49]:.1f}",
            f"{cuts[94]:.1f}",
            f"{cuts[98]:.1f}",
            f"{data[-1]:.1f}",
            f"{len(data) / self.wall_seconds:.0f}",
            server_cpu,
            f"{self.client_cpu_seconds * 1000 / len(data):.2f}",
            self.note,
        ]


def process_cpu_seconds(pid: int | None) -> float | None:
    """User plus system CPU time of a process (Linux /proc), or None when unknown."""
    if pid is None:
        return None
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None
    # After the command: state is field 3, utime and stime are fields 14 and 15.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def patiently(call: Callable[[], Awaitable[T]], attempts: int = 10) -> T:
    """The call, made again after the server's retry delay (google.rpc.RetryInfo) while it
    answers RESOURCE_EXHAUSTED, as a client should: many clients signing in at once wait
    for the server's password hashing."""
    for _ in range(attempts - 1):
        try:
            return await call()
        except grpc.aio.AioRpcError as error:
            delay = retry_delay(error)
            if error.code() != grpc.StatusCode.RESOURCE_EXHAUSTED or delay is None:
                raise
            await asyncio.sleep(delay)
    return await call()


def retry_delay(error: grpc.aio.AioRpcError) -> float | None:
    """The RetryInfo delay of a failed call, in seconds, if the server sent one."""
    # grpc.aio returns its Metadata here; the stubs still describe the sync API's tuple.
    trailing = cast(grpc.aio.Metadata, error.trailing_metadata())
    for value in trailing.get_all("grpc-status-details-bin"):
        for detail in status_pb2.Status.FromString(cast(bytes, value)).details:
            retry = error_details_pb2.RetryInfo()
            if detail.Unpack(retry):
                return float(retry.retry_delay.ToTimedelta().total_seconds())
    return None


async def timed(phase: Phase | None, call: Awaitable[T]) -> T:
    started = time.perf_counter()
    result = await call
    if phase is not None:
        phase.latencies_ms.append((time.perf_counter() - started) * 1000)
    return result


# --- one simulated researcher ------------------------------------------------------------------


def variable_request(project_id: str, index: int) -> schema_pb2.CreateVariableRequest:
    """A valid variable; the types cycle so that the stored rows vary like a real schema."""
    kind = index % 5
    variable = schema_pb2.Variable(
        project_id=project_id,
        name=f"variable_{index}",
        display_name=f"Variable {index}",
        instructions="Find the value the document states for this variable; quote nothing.",
    )
    if kind == 0:
        variable.type = common_pb2.VARIABLE_TYPE_TEXT
        variable.validation_rules.max_length = 500
    elif kind == 1:
        variable.type = common_pb2.VARIABLE_TYPE_NUMBER
        variable.validation_rules.min_value = 0
        variable.default_value.CopyFrom(struct_pb2.Value(number_value=0))
    elif kind == 2:
        variable.type = common_pb2.VARIABLE_TYPE_DATE
        variable.validation_rules.min_date = "1900-01-01"
    elif kind == 3:
        variable.type = common_pb2.VARIABLE_TYPE_BOOLEAN
    else:
        variable.type = common_pb2.VARIABLE_TYPE_CATEGORY
        for label in ("government", "opposition", "other"):
            variable.classification_rules.categories.add(
                label=label, definition=f"The speaker belongs to the {label}."
            )
    return schema_pb2.CreateVariableRequest(variable=variable)


class Client:
    def __init__(self, target: str, number: int, run_id: str) -> None:
        # A local subchannel pool gives every client its own TCP connection; without it,
        # channels with equal arguments in one process share one connection.
        self.channel = grpc.aio.insecure_channel(
            target, options=[("grpc.use_local_subchannel_pool", 1)]
        )
        self.auth = auth_pb2_grpc.AuthServiceStub(self.channel)
        self.projects = project_pb2_grpc.ProjectServiceStub(self.channel)
        self.schema = schema_pb2_grpc.SchemaServiceStub(self.channel)
        self.email = f"bench-{run_id}-{number}@example.org"
        self.metadata: tuple[tuple[str, str], ...] = ()
        self.project_ids: list[str] = []  # newest last

    async def register(self) -> None:
        """Registers and signs in (Register alone signs nobody in)."""
        await patiently(
            lambda: self.auth.Register(
                auth_pb2.RegisterRequest(email=self.email, password=PASSWORD),
                timeout=CALL_TIMEOUT_SECONDS,
            )
        )
        response = await patiently(
            lambda: self.auth.Login(
                auth_pb2.LoginRequest(email=self.email, password=PASSWORD),
                timeout=CALL_TIMEOUT_SECONDS,
            )
        )
        self.metadata = (("authorization", f"Bearer {response.tokens.access_token}"),)

    async def create_project(self, phase: Phase | None) -> str:
        n = len(self.project_ids)
        request = project_pb2.CreateProjectRequest(
            project=project_pb2.Project(
                name=f"Project {n}",
                description="Speeches in the national parliament, 1990-2020.",
                domain="parliamentary debates",
                language="en",
                unit_of_observation=common_pb2.UNIT_OF_OBSERVATION_DOCUMENT,
            )
        )
        response = await timed(
            phase,
            self.projects.CreateProject(
                request, metadata=self.metadata, timeout=CALL_TIMEOUT_SECONDS
            ),
        )
        self.project_ids.append(response.project.id)
        return response.project.id

    async def add_variables(self, phase: Phase | None, project_id: str, count: int) -> None:
        for index in range(count):
            await timed(
                phase,
                self.schema.CreateVariable(
                    variable_request(project_id, index),
                    metadata=self.metadata,
                    timeout=CALL_TIMEOUT_SECONDS,
                ),
            )

    async def get_project(self, phase: Phase | None, project_id: str, variables: int) -> None:
        response = await timed(
            phase,
            self.projects.GetProject(
                project_pb2.GetProjectRequest(project_id=project_id),
                metadata=self.metadata,
                timeout=CALL_TIMEOUT_SECONDS,
            ),
        )
        if len(response.variables) != variables:
            raise AssertionError(f"GetProject returned {len(response.variables)} variables")

    async def list_projects(self, phase: Phase | None) -> None:
        response = await timed(
            phase,
            self.projects.ListProjects(
                project_pb2.ListProjectsRequest(page_size=LIST_PAGE_SIZE),
                metadata=self.metadata,
                timeout=CALL_TIMEOUT_SECONDS,
            ),
        )
        # Row-level security: a tenant sees its own projects and nobody else's.
        expected = min(LIST_PAGE_SIZE, len(self.project_ids))
        if len(response.projects) != expected or any(
            p.id not in self.project_ids for p in response.projects
        ):
            raise AssertionError("ListProjects returned projects that are not the caller's")


# --- the benchmark -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Options:
    clients: int
    iterations: int
    projects: int
    variables: int
    warmup: int


async def run_phase(
    phase: Phase,
    clients: list[Client],
    server_pid: int | None,
    work: Callable[[Client], Awaitable[None]],
) -> None:
    server_cpu = process_cpu_seconds(server_pid)
    client_cpu = time.process_time()
    started = time.perf_counter()
    await asyncio.gather(*(work(client) for client in clients))
    phase.wall_seconds = time.perf_counter() - started
    phase.client_cpu_seconds = time.process_time() - client_cpu
    server_cpu_after = process_cpu_seconds(server_pid)
    if server_cpu is not None and server_cpu_after is not None:
        phase.server_cpu_seconds = server_cpu_after - server_cpu


async def warm_up(client: Client, options: Options) -> None:
    for _ in range(options.warmup):
        project_id = await client.create_project(None)
        await client.add_variables(None, project_id, options.variables)
        await client.get_project(None, project_id, options.variables)
        await client.list_projects(None)


async def benchmark(target: str, options: Options, server_pid: int | None) -> list[Phase]:
    run_id = uuid.uuid4().hex[:8]
    clients = [Client(target, number, run_id) for number in range(options.clients)]
    try:
        await asyncio.gather(*(client.register() for client in clients))
        await asyncio.gather(*(warm_up(client, options) for client in clients))

        create = Phase("CreateProject", f"{options.projects}/client")
        await run_phase(
            create,
            clients,
            server_pid,
            lambda c: _repeat(options.projects, lambda _: c.create_project(create)),
        )
        # The projects that get variables; the warm-up ones are older and stay out.
        targets = {c: c.project_ids[-options.iterations :] for c in clients}

        add = Phase("CreateVariable", f"{options.variables}/project, per call")

        async def add_all(c: Client) -> None:
            for project_id in targets[c]:
                await c.add_variables(add, project_id, options.variables)

        await run_phase(add, clients, server_pid, add_all)

        get = Phase("GetProject", f"{options.variables} variables")
        await run_phase(
            get,
            clients,
            server_pid,
            lambda c: _repeat(
                options.iterations,
                lambda i: c.get_project(get, targets[c][i], options.variables),
            ),
        )

        page = min(LIST_PAGE_SIZE, options.warmup + options.projects)
        listing = Phase("ListProjects", f"page_size {LIST_PAGE_SIZE}, {page} returned")
        await run_phase(
            listing,
            clients,
            server_pid,
            lambda c: _repeat(options.iterations, lambda _: c.list_projects(listing)),
        )
        return [create, add, get, listing]
    finally:
        await asyncio.gather(*(client.channel.close(None) for client in clients))


async def _repeat(times: int, call: Callable[[int], Awaitable[object]]) -> None:
    for i in range(times):
        await call(i)


# --- a server of our own -----------------------------------------------------------------------


def _database_url(database: str, user: str) -> str:
    from sqlalchemy.engine import make_url

    url = make_url(POSTGRES_ADMIN_URL).set(database=database, username=user, password=None)
    return url.render_as_string(hide_password=False)


@contextlib.asynccontextmanager
async def fresh_database() -> AsyncIterator[str]:
    """A new database owned by a plain owner role, migrated; yields the owner's URL."""
    from server.core.config import Settings
    from server.core.migrate import migrate

    name = f"coderai_bench_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(POSTGRES_ADMIN_URL)
    try:
        if not await admin.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", OWNER_ROLE):
            await admin.execute(f"CREATE ROLE {OWNER_ROLE} LOGIN CREATEROLE")
        await admin.execute(f"CREATE DATABASE {name} OWNER {OWNER_ROLE}")
    finally:
        await admin.close()
    owner_url = _database_url(name, OWNER_ROLE)
    try:
        settings = Settings(
            _env_file=None,
            database_url=owner_url,
            redis_url=REDIS_URL,
            app_db_role=APP_ROLE,
            log_level="WARNING",
        )
        await migrate(settings, owner_url)
        yield owner_url
    finally:
        admin = await asyncpg.connect(POSTGRES_ADMIN_URL)
        try:
            await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        finally:
            await admin.close()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def server_environment(owner_url: str) -> dict[str, str]:
    """This environment without CoderAI settings of its own, plus the benchmark's."""
    from server.core.config import Settings

    ours = {name.upper() for name in Settings.model_fields}
    environment = {k: v for k, v in os.environ.items() if k.upper() not in ours}
    environment.update(
        DATABASE_URL=owner_url,
        REDIS_URL=REDIS_URL,
        LOG_LEVEL="WARNING",
        APP_DB_ROLE=APP_ROLE,
        GRPC_LISTEN_ADDR="127.0.0.1",
        GRPC_SHUTDOWN_GRACE_SECONDS="2",
        PYTHONDONTWRITEBYTECODE="1",
    )
    return environment


async def wait_until_serving(target: str, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    async with grpc.aio.insecure_channel(target) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        while True:
            if server.poll() is not None:
                raise RuntimeError(f"the server exited with status {server.returncode}")
            with contextlib.suppress(grpc.aio.AioRpcError):
                response = await health.Check(health_pb2.HealthCheckRequest(), timeout=1)
                if response.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            if time.monotonic() > deadline:
                raise RuntimeError("the server did not report SERVING in time")
            await asyncio.sleep(0.1)


def stop_server(server: subprocess.Popen[bytes]) -> None:
    if server.poll() is not None:
        return
    server.send_signal(signal.SIGTERM)
    try:
        server.wait(STOP_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


@contextlib.contextmanager
def serving(
    environment: dict[str, str],
    port: int,
    log: IO[bytes],
    cwd: str,
    command: Sequence[str] = (str(CODERAI_BIN),),
) -> Iterator[subprocess.Popen[bytes]]:
    """`coderai serve` on `port` with exactly `environment`, stopped afterwards. `command`
    starts the CLI: the installed one, or `python -m server.cli` to run another checkout's
    code (a benchmark's "before"). cwd should be an empty directory, so that no .env is read."""
    server = subprocess.Popen(
        [*command, "serve", "--port", str(port)],
        env=environment,
        cwd=cwd,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        yield server
    finally:
        stop_server(server)


def server_process(
    owner_url: str, port: int, log: IO[bytes], cwd: str
) -> contextlib.AbstractContextManager[subprocess.Popen[bytes]]:
    return serving(server_environment(owner_url), port, log, cwd)


async def run_with_own_server(options: Options) -> tuple[list[Phase], dict[str, str]]:
    with tempfile.TemporaryDirectory(prefix="coderai-bench-") as scratch:
        log_path = Path(scratch) / "server.log"
        async with fresh_database() as owner_url:
            port = free_port()
            target = f"127.0.0.1:{port}"
            with (
                log_path.open("wb") as log,
                server_process(owner_url, port, log, scratch) as server,
            ):
                try:
                    await wait_until_serving(target, server)
                    phases = await benchmark(target, options, server.pid)
                except BaseException:
                    print(f"--- server output ---\n{_tail(log_path)}", file=sys.stderr)
                    raise
            warnings = _tail(log_path, lines=5)
        facts = {
            "server": f"coderai serve --port {port}, a subprocess of this script; "
            "LOG_LEVEL=WARNING, DB pool 10 + 10 overflow (defaults)",
            "database": "a fresh one on PostgreSQL 127.0.0.1:5432, dropped afterwards",
        }
        if warnings:
            facts["server log"] = warnings
        return phases, facts


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


# --- output ------------------------------------------------------------------------------------


def machine_facts() -> dict[str, str]:
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    load = " ".join(f"{value:.2f}" for value in os.getloadavg())
    return {
        "nproc": f"{os.cpu_count()} ({cpu})",
        "load before": f"{load} (1/5/15 min; other work on the machine skews the figures)",
        "python": platform.python_version(),
        "grpcio": grpc.__version__,
    }


def print_report(phases: list[Phase], facts: dict[str, str]) -> None:
    for key, value in facts.items():
        print(f"{key + ':':<14}{value}")
    header = [
        "rpc",
        "calls",
        "p50 ms",
        "p95 ms",
        "p99 ms",
        "max ms",
        "calls/s",
        "srv cpu ms/call",
        "cli cpu ms/call",
        "",
    ]
    rows = [header, *(phase.row() for phase in phases)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    print()
    for row in rows:
        cells = [
            cell.ljust(width) if i in (0, len(row) - 1) else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        ]
        print("  ".join(cells).rstrip())


def parse_options(argv: list[str] | None) -> tuple[argparse.Namespace, Options]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=20, help="concurrent clients (users)")
    parser.add_argument(
        "--iterations",
        type=int,
        default=10,
        help="per client: projects given variables, GetProject and ListProjects calls",
    )
    parser.add_argument(
        "--projects", type=int, default=LIST_PAGE_SIZE, help="CreateProject calls per client"
    )
    parser.add_argument("--variables", type=int, default=10, help="variables per project")
    parser.add_argument("--warmup", type=int, default=1, help="unmeasured rounds per client")
    parser.add_argument("--target", help="host:port of a running server (default: start one)")
    args = parser.parse_args(argv)
    options = Options(
        clients=args.clients,
        iterations=args.iterations,
        projects=args.projects,
        variables=args.variables,
        warmup=args.warmup,
    )
    if min(options.clients, options.iterations, options.projects) < 1 or options.warmup < 0:
        parser.error("--clients, --iterations and --projects must be at least 1")
    if options.iterations > options.projects:
        parser.error("--iterations must not exceed --projects")
    return args, options


async def main(argv: list[str] | None = None) -> int:
    args, options = parse_options(argv)
    machine = machine_facts()
    started = time.perf_counter()
    if args.target:
        phases = await benchmark(args.target, options, None)
        server_facts = {"server": f"{args.target} (given with --target)"}
    else:
        phases, server_facts = await run_with_own_server(options)
    settings = (
        f"clients={options.clients} iterations={options.iterations} "
        f"projects={options.projects} variables={options.variables} warmup={options.warmup}"
    )
    facts = {
        **machine,
        "settings": settings,
        "channels": "one grpc.aio channel (own TCP connection) per client, client in 1 process",
        **server_facts,
        "total": f"{time.perf_counter() - started:.1f} s",
    }
    print_report(phases, facts)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(REPOSITORY))  # `server` when run from elsewhere than the repository
    raise SystemExit(asyncio.run(main()))
