"""WatchJob fan-out benchmark: many subscribers watch one job, over native gRPC and through the
product's grpc-web gateway, and each event's delay from its append to Redis to its arrival is
measured.

Every measured run is one FULL job over --documents READY documents and one variable, with
`coderai llm-server` answering each model call after --latency seconds. The job is created and
paused at once; when its stream has been quiet for a second, the subscribers connect (each has
its snapshot before the job resumes), then ResumeJob lets the events flow until job_completed.
A subscriber records each event's id and its arrival time (time.time()); an event's delay is
its arrival time minus its id's millisecond part, the time Redis appended it (same machine,
same clock). A subscriber received "every event in order" when its event ids are exactly the
ids the job's stream holds after its snapshot's id, and its call ended with OK.

  1. native:        --subscribers grpc.aio calls, --per-channel calls per channel (each channel
                    its own HTTP/2 connection);
  2. grpc-web:      --subscribers calls through `coderai gateway` (aiohttp, binary mode, one
                    HTTP/1.1 connection per call, as a browser tab does);
  3. both at once:  1 and 2 together;
  4. native, one channel (and connection) per subscriber.

For each run it prints the delay percentiles per transport, the time it took every subscriber to
connect (all snapshots received), and the CPU seconds and peak resident memory (VmHWM, reset
before the run) of the gRPC server and of the gateway, the CPU seconds of this client process
and of Redis, the server's and the gateway's CPU per message delivered while the events flowed
(the gateway's over the messages it relayed), and how many connections the server held to Redis
(counted from its sockets) and Redis's connected_clients (INFO clients; the Redis server is
shared with whatever else uses it).

The watchers of a stream share one reader of it per server process (server.jobs.feed: one
blocking XREAD per watched stream) and each event's message is built once for all of them
(server.jobs.rpc). When each WatchJob held a Redis connection of its own in a blocking XREAD,
redis-py's pool (100 by default) ran out past about 100 watchers and WatchJob, ResumeJob (its
event) and the health check failed with MaxConnectionsError. A run records such failures
(subscribers with no snapshot, a failed ResumeJob) and goes on; --redis-max-connections N gives
the server REDIS_URL=...?max_connections=N (read by redis-py) to measure a smaller or larger pool.

The script starts everything itself, like bench/extraction.py: a fresh migrated database,
`coderai serve` on a queue of its own (TASK_QUEUE_NAME=coderai:bench:<id>), one `coderai worker`
process, `coderai llm-server` and `coderai gateway`, all as subprocesses, and one researcher who
owns every project and job. The documents are parsed before the first job; a warm-up job (5
documents, 10 subscribers of each kind) precedes the runs and is printed too, as the delay with
few subscribers. Afterwards it stops every process, drops the database and deletes its Redis
keys (the queue, the jobs' and the projects' event streams). It writes nothing to the
repository.

    .venv/bin/python -m bench.watch [--subscribers 200] [--documents 50] [--latency 0.05]
        [--per-channel 50] [--no-channel-each] [--redis-max-connections N]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import os
import re
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
from urllib.parse import urlsplit

import aiohttp
import grpc
from coderai.v1 import common_pb2, job_pb2, job_pb2_grpc
from grpc_health.v1 import health_pb2
from redis.asyncio import Redis

from bench.crud_latency import (
    CODERAI_BIN,
    REDIS_URL,
    free_port,
    fresh_database,
    machine_facts,
    process_cpu_seconds,
    server_environment,
    stop_server,
    wait_until_serving,
)
from bench.extraction import (
    LocalModel,
    Researcher,
    Workers,
    WorkerSetting,
    council_minutes,
    delete_keys,
    local_model,
    worker_environment,
)
from bench.ingestion import (
    api_server,
    memory_kib,
    mib,
    print_table,
    quantiles,
    reset_peak,
    wait_until_ready,
)
from gateway import grpcweb
from gateway.grpcweb import Mode
from server.jobs import events
from tests.gateway.client import CODES, GrpcWebClient, read_frames, request_body, request_headers

WATCH_JOB = "/coderai.v1.JobService/WatchJob"
EXCEPTION_LINE = re.compile(r"^[\w.]+(Error|Exception): ")
LOGGED_COMPLAINT = re.compile(r"^\S+ \S+ ((?:WARNING|ERROR|CRITICAL) .*)$")
HEALTH_CHECK = "/grpc.health.v1.Health/Check"
WARM_UP_DOCUMENTS = 5
WARM_UP_SUBSCRIBERS = 10  # of each transport
QUIET_SECONDS = 1.0  # the paused job's stream unchanged this long: nothing more in flight
CONNECT_TIMEOUT_SECONDS = 120.0
WATCH_TIMEOUT_SECONDS = 300.0
SAMPLE_SECONDS = 0.1
STARTUP_SECONDS = 30.0
UPLOAD_BATCH = 50
# One worker process as the product runs it, with no model rate limit: the job's events come
# as fast as the worker makes them.
WORKER = WorkerSetting(
    processes=1, concurrency=10, llm_concurrency=16, requests_per_minute=0, tokens_per_minute=0
)


# --- one subscriber ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Arrival:
    event_id: str
    event_type: str
    at: float  # time.time() when it arrived

    @property
    def delay_ms(self) -> float:
        """From Redis appending the event (its id's milliseconds) to its arrival."""
        return self.at * 1000 - int(self.event_id.split("-")[0])


@dataclass
class Subscription:
    """What one subscriber received: its snapshot's id, then each event as it arrived."""

    transport: str
    connected: asyncio.Event = field(default_factory=asyncio.Event)
    snapshot_id: str = ""
    arrivals: list[Arrival] = field(default_factory=list)
    status: str = ""  # the call's final status (a gRPC code name), or what broke it

    def receive(self, message: job_pb2.WatchJobResponse, at: float) -> None:
        if not self.connected.is_set():
            self.snapshot_id = message.event_id
            self.connected.set()
        else:
            self.arrivals.append(Arrival(message.event_id, message.event_type, at))

    def end(self, status: str) -> None:
        self.status = status
        self.connected.set()  # a call that ended before its snapshot must not be waited for

    def complete(self, stream_ids: Sequence[str]) -> bool:
        """Every event of the stream after the snapshot, in order, none twice, and OK."""
        return self.status == "OK" and [a.event_id for a in self.arrivals] == after(
            stream_ids, self.snapshot_id
        )


def after(stream_ids: Sequence[str], event_id: str) -> list[str]:
    """The ids of the stream that follow `event_id` ("0-0": all)."""
    if event_id == "0-0":
        return list(stream_ids)
    return list(stream_ids[stream_ids.index(event_id) + 1 :]) if event_id in stream_ids else []


async def watch_native(
    jobs: job_pb2_grpc.JobServiceAsyncStub,
    job_id: str,
    metadata: tuple[tuple[str, str], ...],
    subscription: Subscription,
) -> None:
    call = jobs.WatchJob(
        job_pb2.WatchJobRequest(job_id=job_id), metadata=metadata, timeout=WATCH_TIMEOUT_SECONDS
    )
    try:
        async for message in call:
            subscription.receive(message, time.time())
    except grpc.aio.AioRpcError as error:
        subscription.end(error.code().name)
    except asyncio.CancelledError:
        subscription.end("cancelled")
        raise
    else:
        subscription.end("OK")


async def watch_grpcweb(
    http: aiohttp.ClientSession,
    base_url: str,
    job_id: str,
    metadata: tuple[tuple[str, str], ...],
    subscription: Subscription,
) -> None:
    """WatchJob as a browser page sends it through the gateway (binary mode)."""
    headers = request_headers(Mode.BINARY, grpc_timeout=f"{WATCH_TIMEOUT_SECONDS:.0f}S")
    status = "no status"
    try:
        async with http.post(
            f"{base_url}{WATCH_JOB}",
            data=request_body(job_pb2.WatchJobRequest(job_id=job_id), Mode.BINARY),
            headers={**headers, **dict(metadata)},
        ) as response:
            async for frame in read_frames(response, Mode.BINARY):
                at = time.time()
                if frame.is_trailers:
                    trailers = dict(grpcweb.decode_trailers(frame.payload))
                    status = CODES[int(trailers[grpcweb.GRPC_STATUS])].name
                else:
                    subscription.receive(job_pb2.WatchJobResponse.FromString(frame.payload), at)
            if grpcweb.GRPC_STATUS in response.headers:  # a trailers-only answer
                status = CODES[int(response.headers[grpcweb.GRPC_STATUS])].name
    except (aiohttp.ClientError, TimeoutError) as error:
        status = f"{type(error).__name__}: {error}"
    except asyncio.CancelledError:
        subscription.end("cancelled")
        raise
    subscription.end(status)


# --- what the processes use ---------------------------------------------------------------------


def connections_to(pid: int, port: int) -> int:
    """The process's established TCP connections to `port` (its sockets' inodes, found in
    /proc/net/tcp and tcp6): for the server and Redis's port, its Redis connections."""
    inodes: set[str] = set()
    with contextlib.suppress(OSError):
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            with contextlib.suppress(OSError):
                target = os.readlink(fd)
                if target.startswith("socket:["):
                    inodes.add(target[len("socket:[") : -1])
    count = 0
    for table in ("tcp", "tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
                columns = line.split()
                remote_port = int(columns[2].rsplit(":", 1)[1], 16)
                # State 01 is ESTABLISHED; column 10 is the socket's inode.
                if remote_port == port and columns[3] == "01" and columns[9] in inodes:
                    count += 1
    return count


@dataclass
class ProcessUse:
    """A process's CPU seconds while subscribers connected and while the events flowed, and its
    resident memory before the run and at its peak during it."""

    connect_cpu: float = 0.0
    events_cpu: float = 0.0
    rss_before_kib: int = 0
    peak_kib: int = 0


class Meter:
    """Measures a process (or, with pid None, this one) over a run's two phases."""

    def __init__(self, pid: int | None) -> None:
        self.pid = pid
        self.use = ProcessUse()
        self._cpu = 0.0

    def cpu(self) -> float:
        if self.pid is None:
            return time.process_time()
        return process_cpu_seconds(self.pid) or 0.0

    def start(self) -> None:
        pid = self.pid if self.pid is not None else os.getpid()
        self.use.rss_before_kib = memory_kib(pid, "VmRSS")
        reset_peak(pid)
        self._cpu = self.cpu()

    def connected(self) -> None:
        now = self.cpu()
        self.use.connect_cpu, self._cpu = now - self._cpu, now

    def finish(self) -> None:
        self.use.events_cpu = self.cpu() - self._cpu
        self.use.peak_kib = memory_kib(self.pid if self.pid is not None else os.getpid(), "VmHWM")


@dataclass
class RedisUse:
    server_connections_before: int = 0
    server_connections_peak: int = 0
    clients_before: int = 0
    clients_peak: int = 0
    cpu_seconds: float = 0.0  # used_cpu_user + used_cpu_sys over the run


async def redis_cpu(redis: Redis) -> float:
    info: dict[str, Any] = await redis.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


async def connected_clients(redis: Redis) -> int:
    info: dict[str, Any] = await redis.info("clients")
    return int(info["connected_clients"])


@contextlib.asynccontextmanager
async def redis_sampled(redis: Redis, server_pid: int) -> AsyncIterator[RedisUse]:
    """The server's connections to Redis and Redis's clients, every SAMPLE_SECONDS."""
    port = urlsplit(REDIS_URL).port or 6379
    use = RedisUse(
        server_connections_before=connections_to(server_pid, port),
        clients_before=await connected_clients(redis),
    )
    cpu_before = await redis_cpu(redis)

    async def sample() -> None:
        while True:
            use.server_connections_peak = max(
                use.server_connections_peak, connections_to(server_pid, port)
            )
            use.clients_peak = max(use.clients_peak, await connected_clients(redis))
            await asyncio.sleep(SAMPLE_SECONDS)

    task = asyncio.create_task(sample())
    try:
        yield use
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        use.cpu_seconds = await redis_cpu(redis) - cpu_before


# --- one run -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    name: str
    native: int  # subscribers over native gRPC
    per_channel: int  # native subscribers per channel
    grpcweb: int  # subscribers through the gateway


@dataclass
class Group:
    """The subscribers of one transport in a run."""

    transport: str
    connections: str
    subscriptions: list[Subscription]


@dataclass
class Run:
    plan: Plan
    groups: list[Group]
    problems: list[str]  # what went wrong with the job's control calls
    stream_ids: list[str]  # the job's whole stream, read after it ended
    connect_seconds: float  # from the first WatchJob call to the last snapshot received
    watch_seconds: float  # from ResumeJob to the last subscriber's end
    server: ProcessUse
    gateway: ProcessUse
    client: ProcessUse
    redis: RedisUse

    def delivered(self, transport: str | None = None) -> int:
        """Messages received after the snapshots, by every subscriber (of `transport`)."""
        return sum(
            len(s.arrivals)
            for group in self.groups
            if transport in (None, group.transport)
            for s in group.subscriptions
        )

    def job_seconds(self, subscription: Subscription) -> float:
        """From the first event after the snapshot to the last (their ids' times)."""
        ids = after(self.stream_ids, subscription.snapshot_id)
        if not ids:
            return 0.0
        return (int(ids[-1].split("-")[0]) - int(ids[0].split("-")[0])) / 1000


@dataclass
class Stack:
    """The running processes and the researcher who owns every job."""

    target: str
    gateway_url: str
    researcher: Researcher
    redis: Redis
    server: subprocess.Popen[bytes]
    gateway: subprocess.Popen[bytes]
    job_ids: list[str] = field(default_factory=list)
    project_ids: list[str] = field(default_factory=list)


async def ready_project(stack: Stack, documents: int, first: int) -> str:
    """A project with one variable and `documents` uploaded (parsed by the running worker)."""
    project_id = await stack.researcher.project(1)
    stack.project_ids.append(project_id)
    await stack.researcher.upload(project_id, council_minutes(documents, first), UPLOAD_BATCH)
    return project_id


async def paused_job(stack: Stack, project_id: str) -> str:
    """A FULL job over the project, paused at once; returns when its stream has been quiet for
    QUIET_SECONDS (what the worker had in hand at the pause has been published)."""
    researcher = stack.researcher
    job = await researcher.create_job(project_id, common_pb2.JOB_TYPE_FULL)
    stack.job_ids.append(job.id)
    await researcher.jobs.PauseJob(
        job_pb2.PauseJobRequest(job_id=job.id), metadata=researcher.metadata
    )
    key = events.stream_key(uuid.UUID(job.id))
    last: Any = None
    quiet_since = time.monotonic()
    while time.monotonic() - quiet_since < QUIET_SECONDS:
        newest = await stack.redis.xrevrange(key, count=1)
        if newest != last:
            last, quiet_since = newest, time.monotonic()
        await asyncio.sleep(0.1)
    return job.id


async def stream_ids(redis: Redis, job_id: str) -> list[str]:
    entries: list[tuple[bytes, object]] = await redis.xrange(  # type: ignore[assignment]
        events.stream_key(uuid.UUID(job_id))
    )
    return [raw.decode() for raw, _ in entries]


def native_channels(target: str, subscribers: int, per_channel: int) -> list[grpc.aio.Channel]:
    # A local subchannel pool gives every channel its own TCP connection (crud_latency.py).
    return [
        grpc.aio.insecure_channel(target, options=[("grpc.use_local_subchannel_pool", 1)])
        for _ in range(math.ceil(subscribers / per_channel))
    ]


async def run(stack: Stack, plan: Plan, project_id: str) -> Run:
    """One job, watched as the plan says, measured from the first WatchJob call to the last
    subscriber's end."""
    job_id = await paused_job(stack, project_id)
    metadata = stack.researcher.metadata
    channels = native_channels(stack.target, plan.native, plan.per_channel) if plan.native else []
    # No connection limit: every watch holds its own connection to the gateway.
    http = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=0),
        timeout=aiohttp.ClientTimeout(total=WATCH_TIMEOUT_SECONDS + 30),
    )
    groups: list[Group] = []
    problems: list[str] = []
    if plan.native:
        connections = f"{len(channels)} channel{'s' if len(channels) > 1 else ''}"
        native = [Subscription("native") for _ in range(plan.native)]
        groups.append(Group("native", connections, native))
    if plan.grpcweb:
        web = [Subscription("grpc-web") for _ in range(plan.grpcweb)]
        groups.append(Group("grpc-web", f"gateway, {plan.grpcweb} HTTP/1.1", web))
    meters = {
        "server": Meter(stack.server.pid),
        "gateway": Meter(stack.gateway.pid),
        "client": Meter(None),
    }
    try:
        async with redis_sampled(stack.redis, stack.server.pid) as redis_use:
            for meter in meters.values():
                meter.start()
            started = time.perf_counter()
            tasks = []
            for group in groups:
                for number, subscription in enumerate(group.subscriptions):
                    if group.transport == "native":
                        jobs = job_pb2_grpc.JobServiceStub(channels[number // plan.per_channel])
                        watch = watch_native(jobs, job_id, metadata, subscription)
                    else:
                        watch = watch_grpcweb(
                            http, stack.gateway_url, job_id, metadata, subscription
                        )
                    tasks.append(asyncio.create_task(watch))
            subscriptions = [s for group in groups for s in group.subscriptions]
            await asyncio.wait_for(
                asyncio.gather(*(s.connected.wait() for s in subscriptions)),
                CONNECT_TIMEOUT_SECONDS,
            )
            connect_seconds = time.perf_counter() - started
            for meter in meters.values():
                meter.connected()
            resumed = time.perf_counter()
            try:
                await stack.researcher.jobs.ResumeJob(
                    job_pb2.ResumeJobRequest(job_id=job_id), metadata=metadata
                )
            except grpc.aio.AioRpcError as error:
                # The events will not flow: the subscribers are stopped and the run reported.
                problems.append(f"ResumeJob failed: {error.code().name} {error.details()}")
                for task in tasks:
                    task.cancel()
            outcomes = await asyncio.wait_for(
                asyncio.gather(*tasks, return_exceptions=True), WATCH_TIMEOUT_SECONDS + 60
            )
            for subscription, outcome in zip(subscriptions, outcomes, strict=True):
                if isinstance(outcome, Exception):  # a failure of the client: recorded
                    subscription.end(f"{type(outcome).__name__}: {outcome}")
            watch_seconds = time.perf_counter() - resumed
            for meter in meters.values():
                meter.finish()
    finally:
        await http.close()
        await asyncio.gather(*(channel.close(None) for channel in channels))
    return Run(
        plan=plan,
        groups=groups,
        problems=problems,
        stream_ids=await stream_ids(stack.redis, job_id),
        connect_seconds=connect_seconds,
        watch_seconds=watch_seconds,
        server=meters["server"].use,
        gateway=meters["gateway"].use,
        client=meters["client"].use,
        redis=redis_use,
    )


# --- the processes -----------------------------------------------------------------------------


@contextlib.contextmanager
def gateway_process(
    environment: dict[str, str], backend: str, port: int, log: IO[bytes], cwd: str
) -> Iterator[subprocess.Popen[bytes]]:
    """`coderai gateway` in front of the server, as a process of its own (its CPU and memory
    apart from the subscribers')."""
    process = subprocess.Popen(
        [str(CODERAI_BIN), "gateway", "--backend", backend, "--port", str(port)],
        env={**environment, "GATEWAY_HOST": "127.0.0.1"},
        cwd=cwd,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        yield process
    finally:
        stop_server(process)


@contextlib.contextmanager
def worker_process(environment: dict[str, str], log: IO[bytes], cwd: str) -> Iterator[Workers]:
    """`coderai worker` as WORKER says, stopped (with its children) at the end of the block."""
    workers = Workers(environment, WORKER, log, cwd)
    try:
        yield workers
    finally:
        workers.stop()


async def wait_until_forwarding(base_url: str, gateway: subprocess.Popen[bytes]) -> None:
    """Until a health check through the gateway answers SERVING."""
    deadline = time.monotonic() + STARTUP_SECONDS
    async with aiohttp.ClientSession() as http:
        client = GrpcWebClient(http, base_url)
        while True:
            if gateway.poll() is not None:
                raise RuntimeError(f"the gateway exited with status {gateway.returncode}")
            with contextlib.suppress(aiohttp.ClientError):
                reply = await client.call(HEALTH_CHECK, health_pb2.HealthCheckRequest())
                if reply.code == grpc.StatusCode.OK:
                    answer = reply.message(health_pb2.HealthCheckResponse)
                    if answer.status == health_pb2.HealthCheckResponse.SERVING:
                        return
            if time.monotonic() > deadline:
                raise RuntimeError("the gateway did not forward a health check in time")
            await asyncio.sleep(0.1)


@dataclass(frozen=True)
class Options:
    subscribers: int
    documents: int
    latency: float
    per_channel: int
    channel_each: bool
    redis_max_connections: int | None  # the server's Redis pool; None: the product's default


def plans(options: Options) -> list[Plan]:
    s, per = options.subscribers, options.per_channel
    chosen = [
        Plan("native", s, per, 0),
        Plan("grpc-web", 0, per, s),
        Plan("both at once", s, per, s),
    ]
    if options.channel_each:
        chosen.append(Plan("native, a channel each", s, 1, 0))
    return chosen


@dataclass
class Results:
    runs: list[Run] = field(default_factory=list)
    facts: dict[str, str] = field(default_factory=dict)


async def measure(stack: Stack, model: LocalModel, options: Options, results: Results) -> None:
    chosen = plans(options)
    warm_up = await ready_project(stack, WARM_UP_DOCUMENTS, first=0)
    projects = [
        await ready_project(stack, options.documents, WARM_UP_DOCUMENTS + i * options.documents)
        for i in range(len(chosen))
    ]
    uploader = stack.researcher.uploader
    for project_id, count in [
        (warm_up, WARM_UP_DOCUMENTS),
        *((p, options.documents) for p in projects),
    ]:
        await wait_until_ready([uploader], {uploader: project_id}, count)
    await model.set_latency(options.latency)
    # Printed too: the first job, with few subscribers, is the baseline of the delays.
    warm_up_plan = Plan(
        f"warm-up ({WARM_UP_DOCUMENTS} docs)",
        WARM_UP_SUBSCRIBERS,
        WARM_UP_SUBSCRIBERS,
        WARM_UP_SUBSCRIBERS,
    )
    results.runs.append(await run(stack, warm_up_plan, warm_up))
    for plan, project_id in zip(chosen, projects, strict=True):
        results.runs.append(await run(stack, plan, project_id))


async def benchmark(options: Options) -> Results:
    queue = f"coderai:bench:{uuid.uuid4().hex[:10]}"
    results = Results()
    redis = Redis.from_url(REDIS_URL)
    job_ids: list[str] = []
    project_ids: list[str] = []
    model_port: int | None = None
    with tempfile.TemporaryDirectory(prefix="coderai-bench-") as scratch:
        names = ("server", "worker", "llm", "gateway")
        logs = {name: Path(scratch) / f"{name}.log" for name in names}
        try:
            async with fresh_database() as owner_url:
                environment = server_environment(owner_url)
                with contextlib.ExitStack() as files:
                    server_log, worker_log, llm_log, gateway_log = (
                        files.enter_context(path.open("wb")) for path in logs.values()
                    )
                    async with local_model(environment, llm_log, scratch) as model:
                        model_port = model.port
                        llm = {"LLM_PROVIDER": "openai", "LLM_BASE_URL": model.base_url}
                        port, gateway_port = free_port(), free_port()
                        target = f"127.0.0.1:{port}"
                        gateway_url = f"http://127.0.0.1:{gateway_port}"
                        # One researcher holds every subscriber's stream (run 3: both kinds).
                        streams = str(2 * options.subscribers + 10)
                        server_environ = {
                            **environment,
                            **llm,
                            "TASK_QUEUE_NAME": queue,
                            "QUOTA_MAX_OPEN_STREAMS": streams,
                            "SERVER_MAX_OPEN_STREAMS": streams,
                        }
                        if options.redis_max_connections is not None:
                            separator = "&" if "?" in REDIS_URL else "?"
                            server_environ["REDIS_URL"] = (
                                f"{REDIS_URL}{separator}max_connections="
                                f"{options.redis_max_connections}"
                            )
                        workers_environ = worker_environment(owner_url, queue, model.base_url)
                        with (
                            api_server(server_environ, port, server_log, scratch) as server,
                            gateway_process(
                                environment, target, gateway_port, gateway_log, scratch
                            ) as gateway,
                            worker_process(workers_environ, worker_log, scratch) as workers,
                        ):
                            researcher = Researcher(target, uuid.uuid4().hex[:8])
                            try:
                                await wait_until_serving(target, server)
                                await wait_until_forwarding(gateway_url, gateway)
                                await workers.wait_for_children()
                                await researcher.uploader.client.register()
                                stack = Stack(
                                    target,
                                    gateway_url,
                                    researcher,
                                    redis,
                                    server,
                                    gateway,
                                    job_ids,
                                    project_ids,
                                )
                                await measure(stack, model, options, results)
                            except BaseException:
                                for name, path in logs.items():
                                    print(f"--- {name} output ---\n{_tail(path)}", file=sys.stderr)
                                raise
                            finally:
                                await researcher.uploader.client.channel.close(None)
                        results.facts["processes"] = (
                            f"coderai serve on {target}, coderai gateway on {gateway_url}, "
                            f"coderai llm-server on 127.0.0.1:{model.port}, coderai worker "
                            f"--processes 1 (WORKER_CONCURRENCY={WORKER.concurrency}, no model "
                            f"rate limit); queue {queue}"
                        )
            if complaints := log_complaints(logs["server"]):
                results.facts["server log"] = "; ".join(
                    f"{count} x {line}" for line, count in complaints.most_common(4)
                )
        finally:
            await delete_keys(redis, queue, job_ids, model_port)
            # Every job event is also appended to its project's stream (WatchProject).
            project_keys = [events.project_stream_key(uuid.UUID(p)) for p in project_ids]
            if project_keys:
                await redis.delete(*project_keys)
            await redis.aclose()
    return results


def log_complaints(path: Path) -> Counter[str]:
    """The log's warnings and errors (without their times) and the exceptions its tracebacks
    end with ("redis.exceptions.X: message"), counted."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return Counter()
    found: Counter[str] = Counter()
    for line in text.splitlines():
        if logged := LOGGED_COMPLAINT.match(line):
            found[logged.group(1)] += 1
        elif EXCEPTION_LINE.match(line):
            found[line] += 1
    return found


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


# --- output ------------------------------------------------------------------------------------


def print_report(results: Results, facts: dict[str, str]) -> None:
    for key, value in {**facts, **results.facts}.items():
        print(f"{key + ':':<14}{value}")

    print(
        "\ndelivery: events per subscriber (expected: the job's events after the snapshot),\n"
        "subscribers that received every event in order (and OK), delay = arrival time minus\n"
        "the event's append time (its id), over every event of every subscriber"
    )
    header = ["run", "transport", "subs", "connections", "events", "got", "in order"]
    header += ["connect s", "job s", "p50 ms", "p95 ms", "p99 ms", "max ms"]
    rows = [header]
    for result in results.runs:
        for group in result.groups:
            subscriptions = group.subscriptions
            connected = [s for s in subscriptions if s.snapshot_id]
            expected = {len(after(result.stream_ids, s.snapshot_id)) for s in connected}
            got = sorted(len(s.arrivals) for s in subscriptions)
            delays = [a.delay_ms for s in subscriptions for a in s.arrivals]
            if delays:
                cuts = quantiles(delays)
                delay_cells = [f"{cuts[49]:.1f}", f"{cuts[94]:.1f}", f"{cuts[98]:.1f}"]
                delay_cells.append(f"{max(delays):.1f}")
            else:
                delay_cells = ["-"] * 4
            complete = sum(s.complete(result.stream_ids) for s in subscriptions)
            rows.append(
                [
                    result.plan.name,
                    group.transport,
                    str(len(subscriptions)),
                    group.connections,
                    "/".join(str(n) for n in sorted(expected)) or "-",
                    f"{got[0]}" if got[0] == got[-1] else f"{got[0]}-{got[-1]}",
                    f"{complete}/{len(subscriptions)}",
                    f"{result.connect_seconds:.2f}",
                    f"{result.job_seconds(connected[0]):.2f}" if connected else "-",
                    *delay_cells,
                ]
            )
    print_table(rows, left=(0, 1, 3))
    for result in results.runs:
        for problem in problem_lines(result):
            print(f"   [{result.plan.name}] {problem}")
    print(
        "   connect s: from the first WatchJob call to every snapshot received; job s: from the\n"
        "   job's first event after the snapshot (resumed) to job_completed (their ids' times)."
    )

    print(
        "\nresources: CPU seconds while the subscribers connected + while the events flowed;\n"
        "resident memory (MiB) before the run and its peak during it (VmHWM)"
    )
    header = ["run", "server CPU s", "server MiB", "gateway CPU s", "gateway MiB"]
    header += ["client CPU s", "server us/msg", "gateway us/msg", "Redis CPU s"]
    header += ["server-Redis conns", "Redis clients", "watch s"]
    rows = [header]
    for result in results.runs:
        r = result.redis
        rows.append(
            [
                result.plan.name,
                cpu_cells(result.server),
                memory_cells(result.server),
                cpu_cells(result.gateway),
                memory_cells(result.gateway),
                cpu_cells(result.client),
                per_message(result.server.events_cpu, result.delivered()),
                per_message(result.gateway.events_cpu, result.delivered("grpc-web")),
                f"{r.cpu_seconds:.2f}",
                f"{r.server_connections_before} -> {r.server_connections_peak}",
                f"{r.clients_before} -> {r.clients_peak}",
                f"{result.watch_seconds:.2f}",
            ]
        )
    print_table(rows)
    print(
        "   us/msg: CPU while the events flowed over the messages delivered (the gateway's: over\n"
        "   those it relayed); server-Redis conns: the gRPC server's TCP connections to Redis\n"
        "   before the run and at their peak (sampled every 0.1 s); Redis clients: INFO clients\n"
        "   connected_clients (all of Redis's clients); watch s: from ResumeJob to the last\n"
        "   subscriber's end."
    )


def problem_lines(result: Run) -> list[str]:
    """The subscribers that missed events, by transport and how their calls ended."""
    lines = list(result.problems)
    for group in result.groups:
        missed = [s for s in group.subscriptions if not s.complete(result.stream_ids)]
        for connected, label in ((False, "got no snapshot"), (True, "missed events")):
            statuses = Counter(s.status for s in missed if bool(s.snapshot_id) == connected)
            if statuses:
                ended = ", ".join(f"{status} x {n}" for status, n in statuses.most_common())
                lines.append(
                    f"{group.transport}: {statuses.total()} {label}; the calls ended {ended}"
                )
    return lines


def cpu_cells(use: ProcessUse) -> str:
    return f"{use.connect_cpu:.2f} + {use.events_cpu:.2f}"


def per_message(cpu_seconds: float, messages: int) -> str:
    return f"{cpu_seconds / messages * 1e6:.0f}" if messages else "-"


def memory_cells(use: ProcessUse) -> str:
    return f"{mib(use.rss_before_kib)} -> {mib(use.peak_kib)}"


def parse_options(argv: list[str] | None) -> Options:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subscribers", type=int, default=200, help="subscribers per transport")
    parser.add_argument("--documents", type=int, default=50, help="documents in each job")
    parser.add_argument("--latency", type=float, default=0.05, help="seconds per model call")
    parser.add_argument(
        "--per-channel", type=int, default=50, help="native subscribers per grpc.aio channel"
    )
    parser.add_argument(
        "--no-channel-each",
        dest="channel_each",
        action="store_false",
        help="leave out the run with one native channel per subscriber",
    )
    parser.add_argument(
        "--redis-max-connections",
        type=int,
        help="the server's Redis connection pool size, as ?max_connections= on its REDIS_URL "
        "(default: none given, redis-py's 100)",
    )
    args = parser.parse_args(argv)
    if min(args.subscribers, args.documents, args.per_channel) < 1 or args.latency < 0:
        parser.error("--subscribers, --documents and --per-channel must be at least 1")
    if args.redis_max_connections is not None and args.redis_max_connections < 1:
        parser.error("--redis-max-connections must be at least 1")
    return Options(
        subscribers=args.subscribers,
        documents=args.documents,
        latency=args.latency,
        per_channel=args.per_channel,
        channel_each=args.channel_each,
        redis_max_connections=args.redis_max_connections,
    )


async def main(argv: list[str] | None = None) -> int:
    options = parse_options(argv)
    facts = machine_facts()
    facts["settings"] = (
        f"subscribers={options.subscribers} documents={options.documents} (1 variable) "
        f"latency={options.latency:g} s per model call, {options.per_channel} native "
        "subscribers per channel; the server's Redis pool: "
        + (
            "redis-py's default (100 connections)"
            if options.redis_max_connections is None
            else f"max_connections={options.redis_max_connections}"
        )
    )
    started = time.perf_counter()
    results = await benchmark(options)
    results.facts["total"] = f"{time.perf_counter() - started:.0f} s"
    print_report(results, facts)
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
