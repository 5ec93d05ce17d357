"""Extraction job benchmark: FULL jobs run by real `coderai worker` processes, calling
`coderai llm-server` (the local OpenAI-compatible server) with a fixed latency per call.

  1. Throughput: --docs documents x --variables variables in one FULL job (default 100 x 5 =
     500 model calls, 0.2 s each), once per worker setting: every combination of --workers
     (worker processes), --worker-concurrency (WORKER_CONCURRENCY: documents a process works
     on at once) and --llm-concurrency (WORKER_LLM_CONCURRENCY: model calls a process makes
     at once). Prints the calls per second achieved from the job's start_time to its end_time
     (the server counts the requests it receives) next to the ideal, min(calls at once ÷
     latency, LLM_REQUESTS_PER_MINUTE ÷ 60, LLM_TOKENS_PER_MINUTE ÷ tokens per call ÷ 60),
     and their ratio. Where the time went: the calls in flight on average and the latency the
     gateway saw (from the usage ledger), the CPU time per call of the workers, of the LLM
     server and of the gRPC server, how busy the machine's cores were, and the database
     transactions per document.
  2. SC-003: --sc003-docs documents x 5 variables at --sc003-latency s per call (default 20 x 5
     at 1.5 s): the job's wall time (the spec asks < 5 min).
  3. A large job: --large-docs small TXT documents (default 10,000) uploaded with unary
     UploadDocuments calls of --large-batch files while a worker parses them; then a FULL job
     over one variable at --large-latency s per call. Prints upload and parse times, the job's
     wall time and its rate over its first and last tenth, the database's size, and the peak
     resident memory (VmHWM) of each worker process (the children of `coderai worker`) while
     parsing and while extracting, and of the gRPC server. --skip-large leaves it out: parts
     1 and 2 take about 2 minutes, part 3 about 10-14 (see bench/README.md).

The script starts everything itself, like bench/ingestion.py: a fresh migrated database on the
local PostgreSQL, `coderai serve` on a free port with a Redis stream queue of its own
(TASK_QUEUE_NAME=coderai:bench:<id>), `coderai llm-server` on another, and `coderai worker`
processes started and stopped around each job (APP_DATABASE_URL, REDIS_URL, TASK_QUEUE_NAME,
LLM_PROVIDER=openai, LLM_BASE_URL pointing at the local server). Every variable's prompt
targets that server, since the gRPC server is configured the same way. The documents of parts
1 and 2 are parsed beforehand by a worker that is then stopped, so each job's worker does
nothing but the job; each job is preceded, on fresh workers, by a small unmeasured SAMPLE job
in a project of its own. The script follows a job with WatchJob, as a researcher's client
would, and reads figures the API does not give (ledger rows, document states, transaction
counts, sizes) as the PostgreSQL superuser, past row-level security. Afterwards it stops every
process, drops the database and deletes its Redis keys (queue, job events, the breaker's and
rate limiter's state for the local server). It writes nothing to the repository.

    .venv/bin/python -m bench.extraction [--docs 100] [--variables 5] [--latency 0.2]
        [--workers 1,2] [--llm-concurrency 16,32] [--worker-concurrency 10] [--skip-large]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import math
import os
import random
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import aiohttp
import asyncpg
import grpc
from coderai.v1 import auth_pb2, common_pb2, job_pb2, job_pb2_grpc
from redis.asyncio import Redis
from sqlalchemy.engine import make_url

from bench.crud_latency import (
    APP_ROLE,
    CALL_TIMEOUT_SECONDS,
    CODERAI_BIN,
    PASSWORD,
    POSTGRES_ADMIN_URL,
    REDIS_URL,
    free_port,
    fresh_database,
    machine_facts,
    process_cpu_seconds,
    server_environment,
    stop_server,
    wait_until_serving,
)
from bench.export import seed_documents
from bench.ingestion import (
    SampleFile,
    Uploader,
    api_server,
    megabytes,
    memory_kib,
    mib,
    print_table,
    quantiles,
    reset_peak,
)
from bench.parsing import prose
from server.core.config import Settings
from server.core.migrate import application_url
from server.jobs import events
from tests.processes import stop

SC003_VARIABLES = 5
SC003_LIMIT_SECONDS = 300.0  # the spec's bound; the aim is 30 s
STARTUP_SECONDS = 30.0
PARSE_TIMEOUT_SECONDS = 1200.0
JOB_TIMEOUT_SECONDS = 1800.0
# A larger job is given this long per document on top (a 50,000-document job: 2 h 10 min).
JOB_TIMEOUT_PER_DOCUMENT_SECONDS = 0.12
POLL_SECONDS = 0.25
UPLOADS_IN_FLIGHT = 4  # UploadDocuments calls at once in part 3
# An idle `coderai worker` does not exit on SIGTERM (its child process waits for ever on the
# cancelled read of the queue; plain taskiq-redis does the same), so it is killed after this.
WORKER_STOP_SECONDS = 3.0
SESSION_SAMPLE_SECONDS = 0.05
STATS_SETTLE_SECONDS = 0.5  # for exiting backends to report their transactions
TERMINAL_EVENTS = {
    events.EventType.JOB_COMPLETED,
    events.EventType.JOB_FAILED,
    events.EventType.PAUSED,
    events.EventType.CANCELLED,
}
ENDED = {
    common_pb2.JOB_STATUS_COMPLETED,
    common_pb2.JOB_STATUS_FAILED,
    common_pb2.JOB_STATUS_PAUSED,
    common_pb2.JOB_STATUS_CANCELLED,
}
MINUTES = (
    "Harbour council minutes, meeting {number}.\n\n"
    "On {day} March 2024 the city council approved the coastal protection plan for Town "
    "{number}. The plan has a budget of {budget} euros for new sea walls and dunes. The "
    "council said the works protect the harbour infrastructure from storm floods."
)


# --- the documents ------------------------------------------------------------------------------


def council_minutes(count: int, first: int) -> list[SampleFile]:
    """`count` TXT documents of 1-2.5 KB (minutes of a decision, then prose), each its own
    text, numbered from `first` so that no two documents of the run are alike."""
    files = []
    for number in range(first, first + count):
        rng = random.Random(number)
        text = MINUTES.format(
            number=number, day=rng.randint(1, 28), budget=rng.randint(100, 9_000) * 1000
        )
        paragraphs = [text, *(prose(rng, rng.randint(3, 6)) for _ in range(rng.randint(2, 4)))]
        files.append(SampleFile(f"minutes-{number}.txt", "TXT", "\n\n".join(paragraphs).encode()))
    return files


# --- processes ---------------------------------------------------------------------------------


def descendants(pid: int) -> list[int]:
    """The process's children, their children and so on (Linux /proc, 3.5+)."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            children = (task / "children").read_text().split()
        except OSError:
            continue
        for child in map(int, children):
            found += [child, *descendants(child)]
    return found


def command_of(pid: int) -> str:
    """The process's command name, or "" if there is no such process here."""
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def cpu_of(pids: Sequence[int]) -> float:
    return sum(process_cpu_seconds(pid) or 0.0 for pid in pids)


def machine_jiffies() -> tuple[int, int]:
    """Busy and total CPU time of the machine's cores so far (/proc/stat, clock ticks)."""
    fields = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle, iowait
    total = sum(fields[:8])  # guest time is counted in user time already
    return total - idle, total


# The process groups whose CPU time is measured over a job, in the order printed.
CPU_GROUPS = ("workers", "LLM server", "gRPC server", "PostgreSQL", "Redis")
# What the database's connections were doing during a job, in the order printed.
SESSION_STATES = ("active", "lock wait", "idle in xact")


@dataclass(frozen=True)
class CpuSnapshot:
    """CPU seconds so far of each process of each group, and of the machine's cores."""

    processes: dict[str, dict[int, float]]
    busy: int  # clock ticks
    total: int

    @classmethod
    def take(cls, groups: dict[str, Sequence[int]]) -> CpuSnapshot:
        busy, total = machine_jiffies()
        return cls(
            {
                name: {pid: process_cpu_seconds(pid) or 0.0 for pid in pids}
                for name, pids in groups.items()
            },
            busy,
            total,
        )

    def since(self, before: CpuSnapshot) -> tuple[dict[str, float], float]:
        """Each group's CPU seconds from `before` to this snapshot (a process that started in
        between counts whole), and the busy share of the machine's cores."""
        used = {
            name: sum(
                seconds - before.processes.get(name, {}).get(pid, 0.0)
                for pid, seconds in processes.items()
            )
            for name, processes in self.processes.items()
        }
        return used, (self.busy - before.busy) / max(self.total - before.total, 1)


class LocalModel:
    """`coderai llm-server` in a process of its own, driven through its /_control API."""

    def __init__(self, process: subprocess.Popen[bytes], port: int) -> None:
        self.process = process
        self.port = port
        self._http = aiohttp.ClientSession(f"http://127.0.0.1:{port}")

    @classmethod
    def start(cls, environment: dict[str, str], log: IO[bytes], cwd: str) -> LocalModel:
        port = free_port()
        process = subprocess.Popen(
            [str(CODERAI_BIN), "llm-server", "--port", str(port)],
            env=environment,
            cwd=cwd,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        return cls(process, port)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    async def wait_until_up(self) -> None:
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"the LLM server exited with status {self.process.returncode}")
            with contextlib.suppress(aiohttp.ClientError):
                await self.requests()
                return
            if time.monotonic() > deadline:
                raise RuntimeError("the LLM server did not answer in time")
            await asyncio.sleep(0.1)

    async def set_latency(self, seconds: float) -> None:
        """Every request is answered after `seconds` (0: at once)."""
        default = f"latency={seconds:g}" if seconds else None
        async with self._http.post("/_control/faults", json={"default": default}) as response:
            response.raise_for_status()

    async def requests(self) -> int:
        """Chat completion requests received since the server started."""
        async with self._http.get("/_control/stats") as response:
            response.raise_for_status()
            stats: dict[str, Any] = await response.json()
        return int(stats["requests"])

    async def close(self) -> None:
        await self._http.close()
        stop_server(self.process)


@contextlib.asynccontextmanager
async def local_model(
    environment: dict[str, str], log: IO[bytes], cwd: str
) -> AsyncIterator[LocalModel]:
    model = LocalModel.start(environment, log, cwd)
    try:
        await model.wait_until_up()
        yield model
    finally:
        await model.close()


@dataclass(frozen=True)
class WorkerSetting:
    processes: int
    concurrency: int  # WORKER_CONCURRENCY: documents (tasks) a process runs at once
    llm_concurrency: int  # WORKER_LLM_CONCURRENCY: model calls a process makes at once
    requests_per_minute: int  # 0: no limit
    tokens_per_minute: int  # 0: no limit

    def environment(self) -> dict[str, str]:
        return {
            "WORKER_CONCURRENCY": str(self.concurrency),
            "WORKER_LLM_CONCURRENCY": str(self.llm_concurrency),
            "LLM_REQUESTS_PER_MINUTE": str(self.requests_per_minute),
            "LLM_TOKENS_PER_MINUTE": str(self.tokens_per_minute),
        }

    def calls_at_once(self, calls_per_document: int) -> int:
        """The most model calls in flight: per process, the documents it runs times their
        calls, bounded by its semaphore."""
        per_process = min(self.llm_concurrency, self.concurrency * calls_per_document)
        return self.processes * per_process


class Workers:
    """`coderai worker --processes N` with the benchmark's environment; the parent only
    supervises, the work is done by its child processes."""

    def __init__(
        self, environment: dict[str, str], setting: WorkerSetting, log: IO[bytes], cwd: str
    ) -> None:
        self.setting = setting
        self.process = subprocess.Popen(
            [str(CODERAI_BIN), "worker", "--processes", str(setting.processes)],
            env={**environment, **setting.environment()},
            cwd=cwd,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, which stop() kills
        )

    def children(self) -> list[int]:
        return descendants(self.process.pid)

    async def wait_for_children(self) -> list[int]:
        deadline = time.monotonic() + STARTUP_SECONDS
        while len(children := self.children()) < self.setting.processes:
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the worker did not start its processes")
            await asyncio.sleep(0.05)
        return children

    def cpu_seconds(self) -> float:
        return cpu_of(self.children())

    def peaks_kib(self) -> list[int]:
        """The peak resident memory (VmHWM) of each worker process."""
        peaks = []
        for pid in self.children():
            with contextlib.suppress(OSError, RuntimeError):
                peaks.append(memory_kib(pid, "VmHWM"))
        return sorted(peaks, reverse=True)

    def stop(self) -> None:
        stop(self.process, timeout=WORKER_STOP_SECONDS)


# --- what PostgreSQL says ------------------------------------------------------------------------


@dataclass(frozen=True)
class LedgerFigures:
    """The usage ledger's rows of one job: one per request the workers sent."""

    calls: int
    latency_ms: list[float]  # per request, as the gateway timed it (the HTTP call and parsing)
    times: list[float]  # when each row was written (seconds since the epoch), in order


class Observer:
    """A superuser connection to the benchmark's database: figures the API does not give,
    read past row-level security."""

    def __init__(self, connection: asyncpg.Connection, name: str) -> None:
        self._db = connection
        self.name = name

    async def seed_ready(self, project_id: str, count: int) -> float:
        """`count` READY documents for the project, written with COPY (bench.export's council
        minutes); returns the seconds it took."""
        started = time.perf_counter()
        project = uuid.UUID(project_id)
        user_id = await self._db.fetchval("SELECT user_id FROM projects WHERE id = $1", project)
        async with self._db.transaction():
            # No foreign-key triggers: the rows are consistent by construction.
            await self._db.execute("SET LOCAL session_replication_role = replica")
            await seed_documents(self._db, user_id, project, count, random.Random(count))
        await self._db.execute("ANALYZE documents")
        return time.perf_counter() - started

    async def text_megabytes(self, project_id: str) -> float:
        total = await self._db.fetchval(
            "SELECT sum(size_bytes) FROM documents WHERE project_id = $1", uuid.UUID(project_id)
        )
        return int(total or 0) / 1e6

    async def document_states(self, project_id: str) -> Counter[str]:
        rows = await self._db.fetch(
            "SELECT status::text AS status, count(*) AS n FROM documents "
            "WHERE project_id = $1 GROUP BY status",
            uuid.UUID(project_id),
        )
        return Counter({row["status"]: row["n"] for row in rows})

    async def wait_until_ready(self, project_ids: Sequence[str], expected: int) -> None:
        """Until the projects have `expected` READY documents; a FAILED one stops the run."""
        deadline = time.monotonic() + PARSE_TIMEOUT_SECONDS
        while True:
            states: Counter[str] = Counter()
            for project_id in project_ids:
                states += await self.document_states(project_id)
            if states["FAILED"]:
                raise AssertionError(f"documents failed to parse: {dict(states)}")
            if states["READY"] >= expected:
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"not all documents READY in time: {dict(states)}")
            await asyncio.sleep(POLL_SECONDS)

    async def last_ready(self, project_id: str) -> float:
        """When the project's last document became READY (seconds since the epoch)."""
        value = await self._db.fetchval(
            "SELECT extract(epoch FROM max(updated_at)) FROM documents "
            "WHERE project_id = $1 AND status = 'READY'",
            uuid.UUID(project_id),
        )
        return float(value)

    async def transactions(self) -> int:
        """Transactions committed and rolled back in the database so far. A backend reports
        its counts when it exits or, while it lives, at most once a second and up to 10 s late
        when idle, so counts are read after the workers have exited."""
        value = await self._db.fetchval(
            "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = $1",
            self.name,
        )
        return int(value)

    async def backends(self) -> list[int]:
        """The server processes of the database's connections (the workers' and the gRPC
        server's pools; this connection's too, which is idle meanwhile)."""
        rows = await self._db.fetch(
            "SELECT pid FROM pg_stat_activity WHERE datname = $1", self.name
        )
        return [row["pid"] for row in rows]

    async def session_states(self) -> Counter[str]:
        """What the database's other connections are doing now: running a statement, waiting
        for a lock (another transaction's row), or idle inside a transaction (waiting for
        their client: a transaction held open across the client's awaits)."""
        rows = await self._db.fetch(
            "SELECT CASE WHEN wait_event_type = 'Lock' THEN 'lock wait' "
            "WHEN state = 'idle in transaction' THEN 'idle in xact' "
            "WHEN state = 'active' THEN 'active' ELSE 'idle' END AS what, count(*) AS n "
            "FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid() GROUP BY 1",
            self.name,
        )
        return Counter({row["what"]: row["n"] for row in rows})

    @contextlib.asynccontextmanager
    async def sessions_sampled(self) -> AsyncIterator[Counter[str]]:
        """Sums session_states() every SESSION_SAMPLE_SECONDS while the block runs; the
        "samples" key counts the samples."""
        totals: Counter[str] = Counter()

        async def sample() -> None:
            while True:
                totals.update(await self.session_states())
                totals["samples"] += 1
                await asyncio.sleep(SESSION_SAMPLE_SECONDS)

        task = asyncio.create_task(sample())
        try:
            yield totals
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def size_bytes(self) -> int:
        return int(await self._db.fetchval("SELECT pg_database_size($1)", self.name))

    async def largest_tables(self, count: int) -> list[tuple[str, int]]:
        """The largest tables, with their indexes and TOAST."""
        rows = await self._db.fetch(
            "SELECT relname, pg_total_relation_size(oid) AS size FROM pg_class "
            "WHERE relkind = 'r' AND relnamespace = 'public'::regnamespace "
            "ORDER BY size DESC LIMIT $1",
            count,
        )
        return [(row["relname"], row["size"]) for row in rows]

    async def ledger(self, job_id: str) -> LedgerFigures:
        rows = await self._db.fetch(
            "SELECT latency_ms, extract(epoch FROM created_at) AS at FROM llm_calls "
            "WHERE job_id = $1 ORDER BY created_at",
            uuid.UUID(job_id),
        )
        return LedgerFigures(
            calls=len(rows),
            latency_ms=[float(row["latency_ms"]) for row in rows],
            times=[float(row["at"]) for row in rows],
        )


@contextlib.asynccontextmanager
async def observer_of(owner_url: str) -> AsyncIterator[Observer]:
    name = make_url(owner_url).database
    assert name is not None
    url = make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    connection = await asyncpg.connect(url)
    try:
        yield Observer(connection, name)
    finally:
        await connection.close()


# --- one researcher ------------------------------------------------------------------------------


class Researcher:
    """One registered user (bench/ingestion.py's Uploader: own user, own channel) who builds
    projects, uploads documents and runs jobs."""

    def __init__(self, target: str, run_id: str) -> None:
        self.uploader = Uploader(target, 0, run_id)
        self.jobs = job_pb2_grpc.JobServiceStub(self.uploader.client.channel)

    @property
    def metadata(self) -> tuple[tuple[str, str], ...]:
        return self.uploader.client.metadata

    async def sign_in(self) -> None:
        """A fresh access token (they last 15 minutes; part 3 takes longer)."""
        client = self.uploader.client
        response = await client.auth.Login(
            auth_pb2.LoginRequest(email=client.email, password=PASSWORD),
            timeout=CALL_TIMEOUT_SECONDS,
        )
        client.metadata = (("authorization", f"Bearer {response.tokens.access_token}"),)

    async def project(self, variables: int) -> str:
        """A new DOCUMENT project with `variables` variables (their types cycle as in
        bench/crud_latency.py: text, number, date, boolean, category)."""
        project_id = await self.uploader.new_project()
        await self.uploader.client.add_variables(None, project_id, variables)
        return project_id

    async def upload(self, project_id: str, files: Sequence[SampleFile], batch: int) -> float:
        """Uploads the files in UploadDocuments calls of `batch`, UPLOADS_IN_FLIGHT at once;
        returns the wall time."""
        batches = [files[i : i + batch] for i in range(0, len(files), batch)]
        gate = asyncio.Semaphore(UPLOADS_IN_FLIGHT)

        async def send(chunk: Sequence[SampleFile]) -> None:
            async with gate:
                await self.uploader.batch(project_id, chunk)

        started = time.perf_counter()
        await asyncio.gather(*(send(chunk) for chunk in batches))
        return time.perf_counter() - started

    async def create_job(
        self, project_id: str, job_type: common_pb2.JobType, sample_size: int = 0
    ) -> job_pb2.ProcessingJob:
        selection = job_pb2.JobSelection(
            project_id=project_id, type=job_type, sample_size=sample_size
        )
        response = await self.jobs.CreateJob(
            job_pb2.CreateJobRequest(selection=selection),
            metadata=self.metadata,
            timeout=CALL_TIMEOUT_SECONDS * 4,  # a 50,000-document job lists 50,000 documents
        )
        return response.job

    async def estimate_full_job(self, project_id: str) -> job_pb2.JobEstimate:
        selection = job_pb2.JobSelection(project_id=project_id, type=common_pb2.JOB_TYPE_FULL)
        response = await self.jobs.EstimateJob(
            job_pb2.EstimateJobRequest(selection=selection),
            metadata=self.metadata,
            timeout=CALL_TIMEOUT_SECONDS * 4,
        )
        return response.estimate

    async def get_job(self, job_id: str) -> job_pb2.ProcessingJob:
        for attempt in range(3):
            try:
                response = await self.jobs.GetJob(
                    job_pb2.GetJobRequest(job_id=job_id),
                    metadata=self.metadata,
                    timeout=CALL_TIMEOUT_SECONDS,
                )
                return response.job
            except grpc.aio.AioRpcError as error:
                # A lost connection (seen as "Socket closed") is tried again, as a client would.
                if error.code() is not grpc.StatusCode.UNAVAILABLE or attempt == 2:
                    raise
                print(f"GetJob {job_id}: {error.details()}; trying again", file=sys.stderr)
                await asyncio.sleep(1)
        raise AssertionError("unreachable")


async def job_ended(
    researcher: Researcher, job_id: str, documents: int = 0
) -> job_pb2.ProcessingJob:
    """The job once it has ended: watched with WatchJob until its last event, then read with
    GetJob (the last event is published just before its transaction commits). A watch cut
    short by the access token's expiry is resumed after signing in again, one whose
    connection was lost at once."""
    within = JOB_TIMEOUT_SECONDS + documents * JOB_TIMEOUT_PER_DOCUMENT_SECONDS
    deadline = time.monotonic() + within
    last_event_id = ""
    watching = True
    while watching:
        watch = researcher.jobs.WatchJob(
            job_pb2.WatchJobRequest(job_id=job_id, last_event_id=last_event_id),
            metadata=researcher.metadata,
            timeout=max(deadline - time.monotonic(), 1.0),
        )
        try:
            async for event in watch:
                last_event_id = event.event_id
                if event.event_type in TERMINAL_EVENTS or event.job.status in ENDED:
                    watching = False
                    break
            else:
                watching = False
        except grpc.aio.AioRpcError as error:
            # A lost connection is resumed from the last event, as any client does.
            if error.code() is grpc.StatusCode.UNAVAILABLE:
                print(f"WatchJob {job_id}: {error.details()}; resuming", file=sys.stderr)
                continue
            if error.code() != grpc.StatusCode.UNAUTHENTICATED:
                raise
            await researcher.sign_in()
        finally:
            watch.cancel()
    while (job := await researcher.get_job(job_id)).status not in ENDED:
        if time.monotonic() > deadline:
            raise AssertionError(f"job {job_id} did not end within {within:.0f} s")
        await asyncio.sleep(0.02)
    return job


# --- measurements ------------------------------------------------------------------------------


@dataclass
class JobRun:
    """One FULL job and what its processes did meanwhile."""

    setting: WorkerSetting
    documents: int
    variables: int
    latency: float
    job: job_pb2.ProcessingJob
    calls: int  # requests the LLM server received during the job
    create_seconds: float  # the CreateJob call
    seen_seconds: float  # from sending CreateJob to seeing the job's last event
    cpu: dict[str, float]  # CPU seconds of each of CPU_GROUPS over the job
    machine_busy: float  # the share of all cores' time that was busy
    sessions: dict[str, float]  # the database's connections in each state, on average
    ledger: LedgerFigures
    transactions: int | None = None  # in the database, from CreateJob to the workers' exit

    @property
    def job_seconds(self) -> float:
        """From the job's start_time (its first document claimed) to its end_time."""
        return (self.job.end_time.ToNanoseconds() - self.job.start_time.ToNanoseconds()) / 1e9

    @property
    def rate(self) -> float:
        return self.calls / self.job_seconds

    def ideal(self) -> tuple[float, str]:
        """The calls per second the settings allow, and which bound it is."""
        bounds: list[tuple[float, str]] = []
        if self.latency > 0:
            at_once = self.setting.calls_at_once(self.variables)
            bounds.append((at_once / self.latency, f"{at_once} at once / {self.latency:g} s"))
        if self.setting.requests_per_minute:
            bounds.append((self.setting.requests_per_minute / 60, "requests/min"))
        if self.setting.tokens_per_minute and self.calls:
            per_call = self.job.tokens_used / self.calls
            bounds.append((self.setting.tokens_per_minute / 60 / per_call, "tokens/min"))
        return min(bounds) if bounds else (math.inf, "none")

    def in_flight(self) -> float:
        """Model calls in flight on average over the job (the ledger's latencies)."""
        return sum(self.ledger.latency_ms) / 1000 / self.job_seconds

    def check(self) -> None:
        """The job did what it was meant to: every document extracted, every call made."""
        job = self.job
        problems = []
        if job.status != common_pb2.JOB_STATUS_COMPLETED:
            problems.append(f"status {common_pb2.JobStatus.Name(job.status)}: {job.status_reason}")
        if (job.documents_processed, job.documents_failed) != (self.documents, 0):
            problems.append(
                f"{job.documents_processed} documents processed, {job.documents_failed} failed"
            )
        if self.calls != self.documents * self.variables or self.ledger.calls != self.calls:
            problems.append(f"{self.calls} calls received, {self.ledger.calls} in the ledger")
        if problems:
            raise AssertionError(f"job {job.id}: " + "; ".join(problems))


@dataclass
class LargeRun:
    documents: int
    megabytes: float
    batch: int  # files per UploadDocuments call
    upload_seconds: float
    ready_seconds: float  # from the first upload to the last document READY (server clock)
    parse_worker_peaks_kib: list[int]
    parse_worker_cpu: float
    size_before: int
    size_parsed: int
    server_peak_upload_kib: int
    job: JobRun | None = None
    job_worker_peaks_kib: list[int] = field(default_factory=list)
    server_peak_job_kib: int = 0
    size_after: int = 0
    tables: list[tuple[str, int]] = field(default_factory=list)
    seeded: bool = False  # written with COPY: upload_seconds is the seeding
    estimate_seconds: float = 0.0  # EstimateJob of the FULL job


@dataclass
class Results:
    throughput: list[JobRun] = field(default_factory=list)
    sc003: JobRun | None = None
    large: LargeRun | None = None
    facts: dict[str, str] = field(default_factory=dict)


# --- the benchmark -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Options:
    documents: int
    variables: int
    latency: float
    settings: list[WorkerSetting]
    sc003_documents: int
    sc003_latency: float
    large_documents: int
    large_latency: float
    large_batch: int
    skip_large: bool
    # Part 3's documents written READY with COPY instead of uploaded and parsed.
    large_seeded: bool = False


@dataclass
class Bench:
    """The running stack and the one researcher who drives it."""

    options: Options
    researcher: Researcher
    model: LocalModel
    observer: Observer
    server: subprocess.Popen[bytes]
    redis_pid: int | None  # the Redis server's process, when it runs on this machine
    worker_environment: dict[str, str]
    worker_log: IO[bytes]
    scratch: str
    job_ids: list[str] = field(default_factory=list)
    next_number: int = 0  # of the next document, so that every document is new
    started: float = field(default_factory=time.perf_counter)

    def say(self, text: str) -> None:
        """Progress on stderr, for a run that takes minutes."""
        print(f"[{time.perf_counter() - self.started:5.0f} s] {text}", file=sys.stderr, flush=True)

    def documents(self, count: int) -> list[SampleFile]:
        first, self.next_number = self.next_number, self.next_number + count
        return council_minutes(count, first)

    @contextlib.contextmanager
    def workers(self, setting: WorkerSetting) -> Iterator[Workers]:
        workers = Workers(self.worker_environment, setting, self.worker_log, self.scratch)
        try:
            yield workers
        finally:
            workers.stop()

    async def ready_project(self, variables: int, documents: int, batch: int = 50) -> str:
        """A project with its documents uploaded (parsed by whichever worker runs)."""
        project_id = await self.researcher.project(variables)
        await self.researcher.upload(project_id, self.documents(documents), batch)
        return project_id

    async def warm_up(self, workers: Workers, project_id: str) -> None:
        """An unmeasured SAMPLE job: the processes have started, connected and made calls."""
        await workers.wait_for_children()
        await self.model.set_latency(0)
        job = await self.researcher.create_job(project_id, common_pb2.JOB_TYPE_SAMPLE, 100)
        self.job_ids.append(job.id)
        ended = await job_ended(self.researcher, job.id)
        if ended.status != common_pb2.JOB_STATUS_COMPLETED:
            raise AssertionError(f"the warm-up job ended {ended.status}: {ended.status_reason}")

    async def cpu_groups(self, workers: Sequence[int]) -> dict[str, Sequence[int]]:
        groups: dict[str, Sequence[int]] = {
            "workers": workers,
            "LLM server": [self.model.process.pid],
            "gRPC server": [self.server.pid],
            "PostgreSQL": await self.observer.backends(),
        }
        if self.redis_pid is not None:
            groups["Redis"] = [self.redis_pid]
        return groups

    async def full_job(
        self, workers: Workers, project_id: str, documents: int, variables: int, latency: float
    ) -> JobRun:
        """A FULL job over the project, measured; the caller counts its transactions once the
        workers have exited."""
        await self.model.set_latency(latency)
        requests = await self.model.requests()
        children = await workers.wait_for_children()
        before = CpuSnapshot.take(await self.cpu_groups(children))
        started = time.perf_counter()
        async with self.observer.sessions_sampled() as sessions:
            created = await self.researcher.create_job(project_id, common_pb2.JOB_TYPE_FULL)
            create_seconds = time.perf_counter() - started
            self.job_ids.append(created.id)
            job = await job_ended(self.researcher, created.id, documents)
        seen_seconds = time.perf_counter() - started
        cpu, busy = CpuSnapshot.take(await self.cpu_groups(children)).since(before)
        run = JobRun(
            setting=workers.setting,
            documents=documents,
            variables=variables,
            latency=latency,
            job=job,
            calls=await self.model.requests() - requests,
            create_seconds=create_seconds,
            seen_seconds=seen_seconds,
            cpu=cpu,
            machine_busy=busy,
            sessions={
                what: count / max(sessions["samples"], 1)
                for what, count in sessions.items()
                if what != "samples"
            },
            ledger=await self.observer.ledger(job.id),
        )
        run.check()
        return run

    async def measured_job(
        self,
        setting: WorkerSetting,
        project_id: str,
        warm_project_id: str,
        documents: int,
        variables: int,
        latency: float,
    ) -> JobRun:
        """Fresh workers, a warm-up job, then the FULL job; its transactions are counted from
        just before CreateJob to the workers' exit."""
        await self.researcher.sign_in()  # a fresh token: they last 15 minutes
        with self.workers(setting) as workers:
            await self.warm_up(workers, warm_project_id)
            transactions = await self.observer.transactions()
            run = await self.full_job(workers, project_id, documents, variables, latency)
        await asyncio.sleep(STATS_SETTLE_SECONDS)
        run.transactions = await self.observer.transactions() - transactions
        return run


async def throughput_and_sc003(bench: Bench, results: Results) -> None:
    """Parts 1 and 2: every project's documents parsed first, by a worker that then stops."""
    options = bench.options
    warm_size = 2 * max(setting.processes for setting in options.settings)
    projects: list[tuple[WorkerSetting, str, str]] = []
    for setting in options.settings:
        project_id = await bench.ready_project(options.variables, options.documents)
        projects.append((setting, project_id, await bench.ready_project(1, warm_size)))
    sc003 = await bench.ready_project(SC003_VARIABLES, options.sc003_documents)
    sc003_warm = await bench.ready_project(1, warm_size)
    every = [p for _, project_id, warm in projects for p in (project_id, warm)]
    expected = (len(projects) + 1) * warm_size
    expected += len(projects) * options.documents + options.sc003_documents
    with bench.workers(options.settings[0]):
        await bench.observer.wait_until_ready([*every, sc003, sc003_warm], expected)
    bench.say(f"parts 1 and 2: {expected} documents READY")

    for setting, project_id, warm in projects:
        run = await bench.measured_job(
            setting, project_id, warm, options.documents, options.variables, options.latency
        )
        results.throughput.append(run)
        bench.say(
            f"part 1: workers={setting.processes} WORKER_CONCURRENCY={setting.concurrency} "
            f"WORKER_LLM_CONCURRENCY={setting.llm_concurrency}: {run.rate:.1f} calls/s"
        )
    results.sc003 = await bench.measured_job(
        options.settings[0],
        sc003,
        sc003_warm,
        options.sc003_documents,
        SC003_VARIABLES,
        options.sc003_latency,
    )
    bench.say(f"part 2: job wall time {results.sc003.job_seconds:.1f} s")


async def upload_large(bench: Bench, project_id: str, size_before: int) -> LargeRun:
    """Part 3's documents uploaded while a worker parses them."""
    options = bench.options
    setting = options.settings[0]
    server = bench.server.pid
    files = bench.documents(options.large_documents)
    reset_peak(server)
    with bench.workers(setting) as workers:
        await workers.wait_for_children()
        started = time.time()  # the server stamps documents with this machine's clock
        upload_seconds = await bench.researcher.upload(project_id, files, options.large_batch)
        bench.say(f"part 3: {len(files)} documents uploaded in {upload_seconds:.0f} s")
        await bench.observer.wait_until_ready([project_id], len(files))
        bench.say(f"part 3: {len(files)} documents READY")
        ready_seconds = await bench.observer.last_ready(project_id) - started
        parse_peaks = workers.peaks_kib()
        parse_cpu = workers.cpu_seconds()
    return LargeRun(
        documents=len(files),
        megabytes=megabytes(files),
        batch=options.large_batch,
        upload_seconds=upload_seconds,
        ready_seconds=ready_seconds,
        parse_worker_peaks_kib=parse_peaks,
        parse_worker_cpu=parse_cpu,
        size_before=size_before,
        size_parsed=await bench.observer.size_bytes(),
        server_peak_upload_kib=memory_kib(server, "VmHWM"),
    )


async def large_job(bench: Bench, results: Results) -> None:
    """Part 3: upload --large-docs documents while a worker parses them (or seed them READY
    with --large-seeded), then EstimateJob and one FULL job on fresh workers."""
    options = bench.options
    setting = options.settings[0]
    server = bench.server.pid
    size_before = await bench.observer.size_bytes()
    await bench.researcher.sign_in()
    project_id = await bench.researcher.project(1)
    if options.large_seeded:
        seconds = await bench.observer.seed_ready(project_id, options.large_documents)
        bench.say(f"part 3: {options.large_documents} READY documents seeded in {seconds:.0f} s")
        large = LargeRun(
            documents=options.large_documents,
            megabytes=await bench.observer.text_megabytes(project_id),
            batch=0,
            upload_seconds=seconds,
            ready_seconds=seconds,
            parse_worker_peaks_kib=[],
            parse_worker_cpu=0.0,
            size_before=size_before,
            size_parsed=await bench.observer.size_bytes(),
            server_peak_upload_kib=memory_kib(server, "VmHWM"),
            seeded=True,
        )
    else:
        large = await upload_large(bench, project_id, size_before)
    results.large = large
    warm = await bench.ready_project(1, 2 * setting.processes)
    with bench.workers(setting) as workers:
        await bench.observer.wait_until_ready([warm], 2 * setting.processes)
        await bench.warm_up(workers, warm)
        await bench.researcher.sign_in()  # before the reset: Login hashes with 64 MiB
        reset_peak(server)
        started = time.perf_counter()
        estimate = await bench.researcher.estimate_full_job(project_id)
        large.estimate_seconds = time.perf_counter() - started
        assert estimate.documents == large.documents, estimate
        transactions = await bench.observer.transactions()
        bench.say(f"part 3: FULL job over {large.documents} documents")
        large.job = await bench.full_job(
            workers, project_id, large.documents, 1, options.large_latency
        )
        bench.say(f"part 3: job wall time {large.job.job_seconds:.0f} s")
        large.job_worker_peaks_kib = workers.peaks_kib()
        large.server_peak_job_kib = memory_kib(server, "VmHWM")
    await asyncio.sleep(STATS_SETTLE_SECONDS)
    large.job.transactions = await bench.observer.transactions() - transactions
    large.size_after = await bench.observer.size_bytes()
    large.tables = await bench.observer.largest_tables(6)


async def benchmark(options: Options) -> Results:
    queue = f"coderai:bench:{uuid.uuid4().hex[:10]}"
    results = Results()
    redis = Redis.from_url(REDIS_URL)
    job_ids: list[str] = []
    model_port: int | None = None
    with tempfile.TemporaryDirectory(prefix="coderai-bench-") as scratch:
        logs = {name: Path(scratch) / f"{name}.log" for name in ("server", "worker", "llm")}
        try:
            async with fresh_database() as owner_url:
                environment = server_environment(owner_url)
                with contextlib.ExitStack() as files:
                    server_log, worker_log, llm_log = (
                        files.enter_context(path.open("wb")) for path in logs.values()
                    )
                    async with (
                        local_model(environment, llm_log, scratch) as model,
                        observer_of(owner_url) as observer,
                    ):
                        model_port = model.port
                        llm = {"LLM_PROVIDER": "openai", "LLM_BASE_URL": model.base_url}
                        port = free_port()
                        target = f"127.0.0.1:{port}"
                        server_environ = {**environment, **llm, "TASK_QUEUE_NAME": queue}
                        with api_server(server_environ, port, server_log, scratch) as server:
                            try:
                                await wait_until_serving(target, server)
                                researcher = Researcher(target, uuid.uuid4().hex[:8])
                                await researcher.uploader.client.register()
                                bench = Bench(
                                    options=options,
                                    researcher=researcher,
                                    model=model,
                                    observer=observer,
                                    server=server,
                                    worker_environment=worker_environment(
                                        owner_url, queue, model.base_url
                                    ),
                                    redis_pid=await redis_process(redis),
                                    worker_log=worker_log,
                                    scratch=scratch,
                                    job_ids=job_ids,
                                )
                                try:
                                    await throughput_and_sc003(bench, results)
                                    if not options.skip_large:
                                        await large_job(bench, results)
                                finally:
                                    await researcher.uploader.client.channel.close(None)
                            except BaseException:
                                for name, path in logs.items():
                                    print(f"--- {name} output ---\n{_tail(path)}", file=sys.stderr)
                                raise
                        results.facts["processes"] = (
                            f"coderai serve on {target}, coderai llm-server on "
                            f"127.0.0.1:{model.port}, coderai worker; queue {queue}"
                        )
            # The worker logs each task at INFO whatever LOG_LEVEL says: only its complaints.
            if warnings := _tail(logs["worker"], lines=5, containing=("WARNING", "ERROR", "Trace")):
                results.facts["worker log"] = warnings
        finally:
            await delete_keys(redis, queue, job_ids, model_port)
            await redis.aclose()
    return results


async def redis_process(redis: Redis) -> int | None:
    """The Redis server's process id, if it runs on this machine (shared with whatever else
    uses it)."""
    info: dict[str, Any] = await redis.info("server")
    pid = int(info.get("process_id", 0))
    return pid if command_of(pid).startswith("redis") else None


def worker_environment(owner_url: str, queue: str, model_url: str) -> dict[str, str]:
    """Like bench/ingestion.py's Worker: the application role's URL only, the benchmark's
    queue, and the local LLM server."""
    settings = Settings(
        _env_file=None,
        database_url=owner_url,
        app_database_url=None,
        redis_url=REDIS_URL,
        app_db_role=APP_ROLE,
    )
    environment = server_environment(owner_url)
    del environment["DATABASE_URL"]
    environment.update(
        APP_DATABASE_URL=application_url(settings, owner_url),
        TASK_QUEUE_NAME=queue,
        LLM_PROVIDER="openai",
        LLM_BASE_URL=model_url,
    )
    return environment


async def delete_keys(
    redis: Redis, queue: str, job_ids: Sequence[str], model_port: int | None
) -> None:
    """The queue's stream (and any key taskiq named after it), the jobs' event streams, and the
    breaker's and rate limiter's state for the local LLM server's address."""
    keys = [key async for key in redis.scan_iter(match=f"*{queue}*")]
    keys += [events.stream_key(uuid.UUID(job_id)) for job_id in job_ids]
    if model_port is not None:
        keys += [key async for key in redis.scan_iter(match=f"*|http://127.0.0.1:{model_port}/v1")]
    if keys:
        await redis.delete(*keys)


def _tail(path: Path, lines: int = 40, containing: tuple[str, ...] = ("",)) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    kept = [line for line in text.splitlines() if any(part in line for part in containing)]
    return "\n".join(kept[-lines:])


# --- output ------------------------------------------------------------------------------------


def setting_cells(setting: WorkerSetting) -> list[str]:
    return [str(setting.processes), str(setting.concurrency), str(setting.llm_concurrency)]


def print_throughput(runs: Sequence[JobRun]) -> None:
    first = runs[0]
    print(
        f"\n1. throughput: FULL job of {first.documents} documents x {first.variables} "
        f"variables = {first.documents * first.variables} calls, {first.latency:g} s per call"
    )
    header = ["workers", "WORKER_CONC", "LLM_CONC", "at once", "job s", "calls", "calls/s"]
    header += ["ideal/s", "ratio", "bound"]
    rows = [header]
    for run in runs:
        ideal, bound = run.ideal()
        rows.append(
            [
                *setting_cells(run.setting),
                str(run.setting.calls_at_once(run.variables)),
                f"{run.job_seconds:.2f}",
                str(run.calls),
                f"{run.rate:.1f}",
                f"{ideal:.1f}",
                f"{run.rate / ideal:.2f}",
                bound,
            ]
        )
    print_table(rows, left=(len(header) - 1,))
    print("   where the time went (CPU in ms per call)")
    header = ["workers", "WORKER_CONC", "LLM_CONC", "in flight", "call p50 ms", "p95"]
    header += [*CPU_GROUPS, "cores: ours", "all", "DB xacts/doc", *SESSION_STATES]
    rows = [header]
    for run in runs:
        rows.append([*setting_cells(run.setting), *time_cells(run, run.calls)])
    print_table(rows, left=())
    print(
        "   at once: the most calls in flight, workers x min(LLM_CONC, WORKER_CONC x variables).\n"
        "   job s: from the job's start_time (its first document claimed) to its end_time;\n"
        "   calls: the requests the LLM server received. in flight: the calls in flight on\n"
        "   average (the ledger's latencies over the job's time); call ms: the latency the\n"
        "   gateway timed per request (the server's fixed delay plus the client's own delays:\n"
        "   HTTP, parsing, waiting for the event loop). CPU: of the worker processes, the LLM\n"
        "   server, the gRPC server (which streams WatchJob), the database's PostgreSQL\n"
        "   backends and the Redis server (shared with anything else that uses it). cores:\n"
        "   those processes' CPU time over the job's time, and the machine's busy cores (every\n"
        "   process; other work on the machine shows as the difference). DB xacts/doc:\n"
        "   transactions in the database from CreateJob to the workers' exit, per document.\n"
        "   active, lock wait, idle in xact: the database's connections running a statement,\n"
        "   waiting for a lock (another transaction's row), or inside a transaction waiting for\n"
        "   their client, on average (pg_stat_activity every 50 ms)."
    )


def time_cells(run: JobRun, per: int) -> list[str]:
    """In flight, latencies, CPU per `per` (calls or documents), cores, transactions."""
    cuts = quantiles(run.ledger.latency_ms)
    transactions = "-" if run.transactions is None else f"{run.transactions / run.documents:.1f}"
    return [
        f"{run.in_flight():.1f}",
        f"{cuts[49]:.0f}",
        f"{cuts[94]:.0f}",
        *(f"{run.cpu.get(name, 0.0) * 1000 / max(per, 1):.2f}" for name in CPU_GROUPS),
        f"{sum(run.cpu.values()) / run.seen_seconds:.2f}",
        f"{run.machine_busy * (os.cpu_count() or 1):.2f}",
        transactions,
        *(f"{run.sessions.get(what, 0.0):.1f}" for what in SESSION_STATES),
    ]


def print_sc003(run: JobRun) -> None:
    verdict = "within" if run.job_seconds < SC003_LIMIT_SECONDS else "OVER"
    ideal, bound = run.ideal()
    print(
        f"\n2. SC-003: FULL job of {run.documents} documents x {run.variables} variables = "
        f"{run.calls} calls, {run.latency:g} s per call, workers={run.setting.processes} "
        f"WORKER_CONCURRENCY={run.setting.concurrency} "
        f"WORKER_LLM_CONCURRENCY={run.setting.llm_concurrency}"
    )
    print(
        f"   job wall time {run.job_seconds:.1f} s (start_time to end_time; "
        f"{verdict} the spec's {SC003_LIMIT_SECONDS / 60:.0f} min, aim 30 s); "
        f"{run.seen_seconds:.1f} s from CreateJob to the job's last event"
    )
    rounds = math.ceil(run.calls / run.setting.calls_at_once(run.variables))
    print(
        f"   {run.rate:.1f} calls/s, ideal {ideal:.1f} ({bound}), ratio {run.rate / ideal:.2f}; "
        f"the calls in {rounds} rounds of {run.setting.calls_at_once(run.variables)} "
        f"take at least {rounds * run.latency:.1f} s"
    )


def print_large(large: LargeRun) -> None:
    print(
        f"\n3. large job: {large.documents} TXT documents, {large.megabytes:.1f} MB "
        f"({large.megabytes * 1000 / large.documents:.1f} KB on average)"
    )
    if large.seeded:
        print(f"   seeded READY with COPY in {large.upload_seconds:.1f} s (not uploaded)")
    else:
        print(
            f"   upload: UploadDocuments of {large.batch} files, {UPLOADS_IN_FLIGHT} calls at "
            f"once: {large.upload_seconds:.1f} s, "
            f"{large.documents / large.upload_seconds:.0f} files/s"
        )
        print(
            f"   parse: all READY {large.ready_seconds:.1f} s after the first upload "
            f"({large.documents / large.ready_seconds:.0f} documents/s, the worker parsing while "
            f"the uploads went on); worker CPU {large.parse_worker_cpu:.0f} s"
        )
    print(f"   EstimateJob (FULL, every document): {large.estimate_seconds:.2f} s")
    run = large.job
    if run is not None:
        tenth = max(len(run.ledger.times) // 10, 2)
        times = run.ledger.times
        first_rate = (tenth - 1) / max(times[tenth - 1] - times[0], 1e-9)
        last_rate = (tenth - 1) / max(times[-1] - times[-tenth], 1e-9)
        print(
            f"   job: FULL, 1 variable, {run.latency:g} s per call, "
            f"workers={run.setting.processes} WORKER_CONCURRENCY={run.setting.concurrency} "
            f"WORKER_LLM_CONCURRENCY={run.setting.llm_concurrency}; CreateJob took "
            f"{run.create_seconds:.2f} s"
        )
        print(
            f"   job wall time {run.job_seconds:.1f} s (start_time to end_time): "
            f"{run.documents / run.job_seconds:.1f} documents/s; first tenth "
            f"{first_rate:.1f}/s, last tenth {last_rate:.1f}/s (calls, by the ledger)"
        )
        header = ["at once", "in flight", "call p50 ms", "p95"]
        header += [*CPU_GROUPS, "cores: ours", "all", "DB xacts/doc", *SESSION_STATES]
        print("   where the time went (CPU in ms per document)")
        rows = [header, [str(run.setting.calls_at_once(1)), *time_cells(run, run.documents)]]
        print_table([["  ", *row] for row in rows], left=())
    print(
        f"   database size: {large.size_before / 2**20:.0f} MiB before, "
        f"{large.size_parsed / 2**20:.0f} MiB with the documents parsed, "
        f"{large.size_after / 2**20:.0f} MiB after the job"
    )
    if large.tables:
        print(
            "   largest tables: "
            + ", ".join(f"{name} {size / 2**20:.1f} MiB" for name, size in large.tables)
        )
    parse = " ".join(mib(kib) for kib in large.parse_worker_peaks_kib)
    job = " ".join(mib(kib) for kib in large.job_worker_peaks_kib)
    print(
        f"   peak RSS (VmHWM, MiB): worker process(es) parsing {parse}, extracting {job}; "
        f"gRPC server during upload and parsing {mib(large.server_peak_upload_kib)}, "
        f"during the job {mib(large.server_peak_job_kib)}"
    )


def print_report(results: Results, facts: dict[str, str]) -> None:
    for key, value in {**facts, **results.facts}.items():
        print(f"{key + ':':<14}{value}")
    if results.throughput:
        print_throughput(results.throughput)
    if results.sc003 is not None:
        print_sc003(results.sc003)
    if results.large is not None:
        print_large(results.large)


def integers(text: str) -> list[int]:
    values = [int(part) for part in text.split(",") if part.strip()]
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"a comma-separated list of positive numbers: {text!r}")
    return values


def parse_options(argv: list[str] | None) -> Options:
    defaults = Settings(_env_file=None)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--docs", type=int, default=100, help="documents in part 1's jobs")
    parser.add_argument("--variables", type=int, default=5, help="variables in part 1's jobs")
    parser.add_argument("--latency", type=float, default=0.2, help="seconds per call, part 1")
    parser.add_argument(
        "--workers", type=integers, default=[1, 2], help="worker processes, e.g. 1,2"
    )
    parser.add_argument(
        "--worker-concurrency",
        type=integers,
        default=[defaults.worker_concurrency],
        help="WORKER_CONCURRENCY values (documents a process runs at once)",
    )
    parser.add_argument(
        "--llm-concurrency",
        type=integers,
        default=[16, 32],
        help="WORKER_LLM_CONCURRENCY values (model calls a process makes at once)",
    )
    parser.add_argument(
        "--rpm",
        type=int,
        default=60_000,
        help="LLM_REQUESTS_PER_MINUTE (0: none; the product's default is "
        f"{defaults.llm_requests_per_minute}, which would bound part 1 at "
        f"{defaults.llm_requests_per_minute / 60:.1f} calls/s)",
    )
    parser.add_argument(
        "--tpm",
        type=int,
        default=0,
        help="LLM_TOKENS_PER_MINUTE (0: none; the product's default is "
        f"{defaults.llm_tokens_per_minute})",
    )
    parser.add_argument("--sc003-docs", type=int, default=20, help="documents in part 2")
    parser.add_argument("--sc003-latency", type=float, default=1.5, help="seconds per call")
    parser.add_argument("--large-docs", type=int, default=10_000, help="documents in part 3")
    parser.add_argument("--large-latency", type=float, default=0.05, help="seconds per call")
    parser.add_argument("--large-batch", type=int, default=50, help="files per UploadDocuments")
    parser.add_argument("--skip-large", action="store_true", help="leave part 3 out")
    parser.add_argument(
        "--large-seeded",
        action="store_true",
        help="part 3's documents written READY with COPY instead of uploaded (for 50,000)",
    )
    args = parser.parse_args(argv)
    if min(args.docs, args.variables, args.sc003_docs, args.large_docs, args.large_batch) < 1:
        parser.error("document, variable and batch counts must be at least 1")
    if min(args.latency, args.sc003_latency, args.large_latency, args.rpm, args.tpm) < 0:
        parser.error("latencies and limits must not be negative")
    settings = [
        WorkerSetting(processes, concurrency, llm, args.rpm, args.tpm)
        for processes, concurrency, llm in itertools.product(
            args.workers, args.worker_concurrency, args.llm_concurrency
        )
    ]
    return Options(
        documents=args.docs,
        variables=args.variables,
        latency=args.latency,
        settings=settings,
        sc003_documents=args.sc003_docs,
        sc003_latency=args.sc003_latency,
        large_documents=args.large_docs,
        large_latency=args.large_latency,
        large_batch=args.large_batch,
        skip_large=args.skip_large,
        large_seeded=args.large_seeded,
    )


async def main(argv: list[str] | None = None) -> int:
    options = parse_options(argv)
    facts = machine_facts()
    first = options.settings[0]
    facts["settings"] = (
        f"docs={options.documents} variables={options.variables} latency={options.latency:g} s; "
        f"LLM_REQUESTS_PER_MINUTE={first.requests_per_minute} "
        f"LLM_TOKENS_PER_MINUTE={first.tokens_per_minute} (0: none); parts 2 and 3 with "
        f"workers={first.processes} WORKER_CONCURRENCY={first.concurrency} "
        f"WORKER_LLM_CONCURRENCY={first.llm_concurrency}"
    )
    started = time.perf_counter()
    results = await benchmark(options)
    results.facts["total"] = f"{time.perf_counter() - started:.0f} s"
    print_report(results, facts)
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
