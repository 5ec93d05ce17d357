"""Hostile uploads benchmark: the API server's peak memory (issue 13, points 1 and 2) under

  a) --zip-uploads concurrent UploadDocument calls of one ZIP of --entries entries of
     --entry-mib MiB each that deflate about 70:1 (a random piece in every 64 KiB block,
     zeros after it: under the zip-bomb ratio and the size limits, so the server unpacks and
     stores all of it), one user, each into a project of its own;
  b) --stalled UploadDocument calls that each send their metadata and --stalled-mib MiB in
     1 MiB chunks, then nothing: held open for --hold seconds after the last of them has sent
     its bytes (or been refused), then cancelled by the client. Spread over --stalled-users
     users (1: the issue's case, one user's streams).

For each it prints the server's resident memory before, at its peak (VmHWM, reset through
/proc/<pid>/clear_refs before the scenario) and after, and how the calls ended (status codes).

The script starts its own server like bench/ingestion.py (a fresh migrated database, the
local Redis, a task queue of its own, no worker: parsing is not measured), running the code
under --server-root (default: this repository) as `python -m server.cli serve` with
PYTHONPATH set to that tree and its sdk/python; so the code before a change can be measured
from a worktree of HEAD (`git worktree add /tmp/before HEAD`), against a database migrated by
this tree. DATA_DIR is a temporary directory (where the server spools uploads). Afterwards
the server is stopped, the database dropped and the queue deleted. It writes nothing to the
repository.

    .venv/bin/python -m bench.hostile_uploads [--server-root PATH] [--zip-uploads 3]
        [--entries 16] [--entry-mib 60] [--stalled 60] [--stalled-mib 7] [--stalled-users 1]
        [--hold 5] [--skip-zip] [--skip-stalled]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import grpc
from coderai.v1 import document_pb2, document_pb2_grpc
from redis.asyncio import Redis

from bench.crud_latency import (
    REDIS_URL,
    REPOSITORY,
    Client,
    free_port,
    fresh_database,
    machine_facts,
    server_environment,
    serving,
    wait_until_serving,
)
from bench.ingestion import memory_kib, reset_peak, sampled_server
from tests.documents.files import padded_zip

MIB = 1024 * 1024
CHUNK_BYTES = MIB
ZIP_RATIO = 70
UPLOAD_TIMEOUT_SECONDS = 1800.0


@dataclass
class Scenario:
    name: str
    load: str
    rss_before_kib: int = 0
    peak_kib: int = 0
    rss_after_kib: int = 0
    # b) only: at the end of the hold, the streams still open.
    rss_held_kib: int | None = None
    seconds: float = 0.0
    outcomes: Counter[str] = field(default_factory=Counter)


@contextlib.contextmanager
def server_from(
    root: Path,
    owner_url: str,
    port: int,
    queue: str,
    scratch: str,
    log: IO[bytes],
    settings: list[str],
) -> Iterator[subprocess.Popen[bytes]]:
    """`python -m server.cli serve` running the code under `root`, with `settings` (NAME=VALUE)."""
    environment = {
        **server_environment(owner_url),
        "TASK_QUEUE_NAME": queue,
        "DATA_DIR": scratch,
        "PYTHONPATH": f"{root}{os.pathsep}{root / 'sdk' / 'python'}",
        **dict(setting.split("=", 1) for setting in settings),
    }
    with serving(environment, port, log, scratch, (sys.executable, "-m", "server.cli")) as server:
        yield server


async def researcher(target: str, number: int, run_id: str) -> Client:
    client = Client(target, number, run_id)
    await client.register()
    return client


def status_of(error: BaseException | None) -> str:
    if error is None:
        return "OK"
    if isinstance(error, grpc.aio.AioRpcError):
        return error.code().name
    return type(error).__name__


@contextlib.asynccontextmanager
async def measured(pid: int, scenario: Scenario) -> AsyncIterator[None]:
    """The server's RSS before, its peak during the block (VmHWM and 20 ms samples) and after
    (once the calls have ended and a second has passed)."""
    scenario.rss_before_kib = memory_kib(pid, "VmRSS")
    if not reset_peak(pid):
        print("cannot reset VmHWM: the peak is the process's since it started", file=sys.stderr)
    started = time.perf_counter()
    async with sampled_server(pid) as samples:
        yield
    scenario.seconds = time.perf_counter() - started
    scenario.peak_kib = max(memory_kib(pid, "VmHWM"), samples.peak().rss_kib)
    await asyncio.sleep(1.0)
    scenario.rss_after_kib = memory_kib(pid, "VmRSS")


async def zip_uploads(target: str, pid: int, options: argparse.Namespace) -> Scenario:
    heads = {
        f"scan-{n:02d}.pdf": f"%PDF-1.4\n% scan {n}\n".encode() for n in range(options.entries)
    }
    built = time.perf_counter()
    archive = padded_zip(heads, options.entry_mib * MIB, ratio=ZIP_RATIO)
    print(
        f"built the ZIP: {len(archive) / MIB:.1f} MiB, {options.entries} x "
        f"{options.entry_mib} MiB entries, in {time.perf_counter() - built:.1f} s",
        file=sys.stderr,
    )
    scenario = Scenario(
        "a) ZIP of large compressible entries",
        f"{options.zip_uploads} concurrent UploadDocument of a {len(archive) / MIB:.1f} MiB ZIP "
        f"({options.entries} x {options.entry_mib} MiB entries, about {ZIP_RATIO}:1), one user",
    )
    client = await researcher(target, 0, uuid.uuid4().hex[:8])
    documents = document_pb2_grpc.DocumentServiceStub(client.channel)
    projects = [await client.create_project(None) for _ in range(options.zip_uploads)]

    async def upload(project_id: str) -> str:
        async def requests() -> AsyncIterator[document_pb2.UploadDocumentRequest]:
            yield document_pb2.UploadDocumentRequest(
                metadata=document_pb2.UploadMetadata(project_id=project_id, filename="scans.zip")
            )
            view = memoryview(archive)
            for start in range(0, len(view), CHUNK_BYTES):
                yield document_pb2.UploadDocumentRequest(
                    chunk=bytes(view[start : start + CHUNK_BYTES])
                )

        try:
            response = await documents.UploadDocument(
                requests(), metadata=client.metadata, timeout=UPLOAD_TIMEOUT_SECONDS
            )
        except grpc.aio.AioRpcError as error:
            return f"{status_of(error)}: {error.details()}"
        stored = sum(1 for result in response.results if result.HasField("document"))
        return f"OK, {stored} documents stored"

    try:
        async with measured(pid, scenario):
            scenario.outcomes.update(
                await asyncio.gather(*(upload(project) for project in projects))
            )
    finally:
        await client.channel.close(None)
    return scenario


async def stalled_uploads(target: str, pid: int, options: argparse.Namespace) -> Scenario:
    scenario = Scenario(
        "b) streams that stall",
        f"{options.stalled} UploadDocument streams sending {options.stalled_mib} MiB each, "
        f"then nothing for {options.hold:g} s, from {options.stalled_users} user(s)",
    )
    run_id = uuid.uuid4().hex[:8]
    clients = [await researcher(target, n, run_id) for n in range(options.stalled_users)]
    projects = [await client.create_project(None) for client in clients]
    payload = os.urandom(options.stalled_mib * MIB // 2).hex().encode()  # text
    release = asyncio.Event()
    # Set when a call has sent its bytes, or ended before.
    sent_all = [asyncio.Event() for _ in range(options.stalled)]
    ended: list[str] = []

    async def stall(number: int) -> None:
        client = clients[number % len(clients)]
        sent = sent_all[number]

        async def requests() -> AsyncIterator[document_pb2.UploadDocumentRequest]:
            yield document_pb2.UploadDocumentRequest(
                metadata=document_pb2.UploadMetadata(
                    project_id=projects[number % len(projects)], filename=f"stalled-{number}.txt"
                )
            )
            for start in range(0, len(payload), CHUNK_BYTES):
                yield document_pb2.UploadDocumentRequest(chunk=payload[start : start + CHUNK_BYTES])
            sent.set()
            await release.wait()

        call = document_pb2_grpc.DocumentServiceStub(client.channel).UploadDocument(
            requests(), metadata=client.metadata, timeout=UPLOAD_TIMEOUT_SECONDS
        )
        try:
            await call
            ended.append("OK")
        except grpc.aio.AioRpcError as error:
            ended.append(f"{status_of(error)} ({(error.details() or '')[:70]})")
        finally:
            sent.set()

    try:
        async with measured(pid, scenario):
            calls = [asyncio.create_task(stall(n)) for n in range(options.stalled)]
            await asyncio.gather(*(sent.wait() for sent in sent_all))
            await asyncio.sleep(options.hold)
            scenario.rss_held_kib = memory_kib(pid, "VmRSS")
            ended_alone = Counter(ended)
            for task in calls:
                task.cancel()
            await asyncio.gather(*calls, return_exceptions=True)
            release.set()
        held = options.stalled - sum(ended_alone.values())
        scenario.outcomes.update(
            {f"ended by the server: {code}": n for code, n in ended_alone.items()}
        )
        scenario.outcomes[f"held open {options.hold:g} s, then cancelled by the client"] = held
    finally:
        await asyncio.gather(*(client.channel.close(None) for client in clients))
    return scenario


def describe_code(root: Path) -> str:
    revision = subprocess.run(
        ["git", "-C", str(root), "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    changed = subprocess.run(
        ["git", "-C", str(root), "status", "--porcelain", "--", "server"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return f"{root} at {revision}" + (" with uncommitted changes to server/" if changed else "")


async def benchmark(
    options: argparse.Namespace, root: Path
) -> tuple[list[Scenario], dict[str, str]]:
    facts = machine_facts()
    facts["server code"] = describe_code(root)
    queue = f"coderai:bench:{uuid.uuid4().hex[:10]}"
    scenarios: list[Scenario] = []
    redis = Redis.from_url(REDIS_URL)
    with tempfile.TemporaryDirectory(prefix="coderai-bench-") as scratch:
        log_path = Path(scratch) / "server.log"
        try:
            async with fresh_database() as owner_url:
                port = free_port()
                target = f"127.0.0.1:{port}"
                with (
                    log_path.open("wb") as log,
                    server_from(root, owner_url, port, queue, scratch, log, options.env) as server,
                ):
                    try:
                        await wait_until_serving(target, server)
                        facts["server"] = (
                            f"python -m server.cli serve on {target} (a subprocess), "
                            f"settings {' '.join(options.env) or 'all defaults'}; no worker"
                        )
                        facts["server RSS when SERVING"] = mib(memory_kib(server.pid, "VmRSS"))
                        if not options.skip_zip:
                            scenarios.append(await zip_uploads(target, server.pid, options))
                        if not options.skip_stalled:
                            scenarios.append(await stalled_uploads(target, server.pid, options))
                    except BaseException:
                        print(f"--- server output ---\n{tail(log_path)}", file=sys.stderr)
                        raise
            if complaints := tail(log_path, lines=60):
                facts["server log (last lines)"] = complaints
        finally:
            keys = [key async for key in redis.scan_iter(match=f"*{queue}*")]
            if keys:
                await redis.delete(*keys)
            await redis.aclose()
    facts["load after"] = " ".join(f"{value:.2f}" for value in os.getloadavg())
    return scenarios, facts


def tail(path: Path, lines: int = 40) -> str:
    with contextlib.suppress(OSError):
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    return ""


def mib(kib: int) -> str:
    return f"{kib / 1024:,.0f} MiB"


def print_report(scenarios: list[Scenario], facts: dict[str, str]) -> None:
    for name, value in facts.items():
        print(f"{name}: {value}")
    for scenario in scenarios:
        print(f"\n{scenario.name}: {scenario.load}")
        print(
            f"  server RSS before {mib(scenario.rss_before_kib)}, peak {mib(scenario.peak_kib)} "
            f"(+{mib(scenario.peak_kib - scenario.rss_before_kib)}), after "
            f"{mib(scenario.rss_after_kib)}; {scenario.seconds:.1f} s"
        )
        if scenario.rss_held_kib is not None:
            print(f"  server RSS at the end of the hold {mib(scenario.rss_held_kib)}")
        for outcome, count in sorted(scenario.outcomes.items()):
            print(f"  {count} x {outcome}")


def parse_options(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--server-root", default=str(REPOSITORY))
    parser.add_argument("--zip-uploads", type=int, default=3)
    parser.add_argument("--entries", type=int, default=16)
    parser.add_argument("--entry-mib", type=int, default=60)
    parser.add_argument("--stalled", type=int, default=60)
    parser.add_argument("--stalled-mib", type=int, default=7)
    parser.add_argument("--stalled-users", type=int, default=1)
    parser.add_argument("--hold", type=float, default=5.0)
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a setting for the server (e.g. UPLOAD_MAX_IN_FLIGHT_PER_USER=64); repeatable",
    )
    parser.add_argument("--skip-zip", action="store_true")
    parser.add_argument("--skip-stalled", action="store_true")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    options = parse_options(argv)
    scenarios, facts = asyncio.run(benchmark(options, Path(options.server_root).resolve()))
    print_report(scenarios, facts)
    return 0


if __name__ == "__main__":
    sys.exit(main())
