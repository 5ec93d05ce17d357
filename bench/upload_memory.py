"""Upload memory benchmark: how much the API server grows while it receives one large file, on
each upload path, for a --txt-mb MB plain-text file and a --pdf-mb MB PDF.

  stream     one client-streaming UploadDocument call, the file in 1 MiB chunks;
  resumable  BeginUpload, AppendUpload parts of the server's max_part_bytes, then FinishUpload
             (measured apart: the appends, and FinishUpload, which stores the parts as one
             document).

Each (path, file) runs on a server process of its own, after four small unmeasured uploads
(PDF, TXT, DOCX) on that path (imports, connections, caches): memory another run freed and
kept would hide this run's growth. Growth is the server's peak resident set during the call (VmHWM,
reset through /proc/<pid>/clear_refs just before it, and VmRSS sampled every 20 ms, whichever
is larger) over its resident set just before it.

The servers run like bench/hostile_uploads.py starts them (a fresh migrated database, the local
Redis, a task queue of their own, no worker: parsing is not measured) from --server-root, so
the code before a change can run from an export of HEAD (`mkdir /tmp/before && git archive
HEAD server sdk | tar -x -C /tmp/before`) against a database this tree migrated. Afterwards the
database is dropped and the queues deleted. It writes nothing to the repository.

    .venv/bin/python -m bench.upload_memory [--txt-mb 100] [--pdf-mb 100]
        [--paths stream,resumable] [--server-root PATH] [--env NAME=VALUE ...]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from coderai.v1 import document_pb2
from redis.asyncio import Redis

from bench.crud_latency import (
    CALL_TIMEOUT_SECONDS,
    REDIS_URL,
    REPOSITORY,
    free_port,
    fresh_database,
    machine_facts,
    wait_until_serving,
)
from bench.hostile_uploads import Scenario, describe_code, measured, server_from, tail
from bench.ingestion import (
    LARGE_UPLOAD_TIMEOUT_SECONDS,
    MB,
    SampleFile,
    Uploader,
    expect_new,
    large_pdf,
    large_txt,
    print_table,
    small_files,
)

# The target of the issue: growth under this for any file size.
TARGET_MIB = 64
PATHS = ("stream", "resumable")


@dataclass
class Run:
    """One large file on one path: a Scenario per measured window (the call, or the appends
    and FinishUpload)."""

    path: str
    file: SampleFile
    windows: list[Scenario]


async def upload_resumable(
    uploader: Uploader, project_id: str, file: SampleFile, pid: int | None = None
) -> Run:
    """BeginUpload, AppendUpload of every part, FinishUpload; with `pid`, the appends and
    FinishUpload are each measured as a window of the server's memory."""
    documents, metadata = uploader.documents, uploader.client.metadata
    begun = await documents.BeginUpload(
        document_pb2.BeginUploadRequest(
            metadata=document_pb2.UploadMetadata(project_id=project_id, filename=file.filename),
            size_bytes=len(file.content),
        ),
        metadata=metadata,
        timeout=CALL_TIMEOUT_SECONDS,
    )
    appends = Scenario("resumable: AppendUpload parts", file.filename)
    finish = Scenario("resumable: FinishUpload", file.filename)

    async def append_all() -> None:
        content = memoryview(file.content)
        for offset in range(0, len(content), begun.max_part_bytes):
            await documents.AppendUpload(
                document_pb2.AppendUploadRequest(
                    upload_id=begun.upload_id,
                    offset=offset,
                    data=bytes(content[offset : offset + begun.max_part_bytes]),
                ),
                metadata=metadata,
                timeout=CALL_TIMEOUT_SECONDS,
            )

    async def finish_upload() -> None:
        response = await documents.FinishUpload(
            document_pb2.FinishUploadRequest(upload_id=begun.upload_id),
            metadata=metadata,
            timeout=LARGE_UPLOAD_TIMEOUT_SECONDS,
        )
        expect_new(response.results, [file])

    if pid is None:
        await append_all()
        await finish_upload()
    else:
        async with measured(pid, appends):
            await append_all()
        async with measured(pid, finish):
            await finish_upload()
    return Run("resumable", file, [appends, finish])


async def upload_streamed(
    uploader: Uploader, project_id: str, file: SampleFile, pid: int | None = None
) -> Run:
    """One UploadDocument call; with `pid`, measured as a window of the server's memory."""
    call = Scenario("stream: UploadDocument", file.filename)
    if pid is None:
        await uploader.stream(project_id, file, time_limit=LARGE_UPLOAD_TIMEOUT_SECONDS)
    else:
        async with measured(pid, call):
            await uploader.stream(project_id, file, time_limit=LARGE_UPLOAD_TIMEOUT_SECONDS)
    return Run("stream", file, [call])


UPLOADS = {"stream": upload_streamed, "resumable": upload_resumable}


async def one_run(
    options: argparse.Namespace, owner_url: str, scratch: str, path: str, file: SampleFile
) -> Run:
    """A server of its own: warmed up on `path` with small files, then `file` measured."""
    upload = UPLOADS[path]
    port = free_port()
    target = f"127.0.0.1:{port}"
    queue = f"coderai:bench:{uuid.uuid4().hex[:10]}"
    log_path = Path(scratch) / f"server-{port}.log"
    redis = Redis.from_url(REDIS_URL)
    try:
        with (
            log_path.open("wb") as log,
            server_from(options.root, owner_url, port, queue, scratch, log, options.env) as server,
        ):
            try:
                await wait_until_serving(target, server)
                uploader = Uploader(target, 0, uuid.uuid4().hex[:8])
                try:
                    await uploader.client.register()
                    warm_project = await uploader.new_project()
                    # One small file of each kind, as a different number so none is a duplicate.
                    for warm_up in small_files(4, first=port):
                        await upload(uploader, warm_project, warm_up)
                    project = await uploader.new_project()
                    await asyncio.sleep(1)  # the warm-up's memory settles
                    return await upload(uploader, project, file, server.pid)
                finally:
                    await uploader.client.channel.close(None)
            except BaseException:
                print(f"--- server output ---\n{tail(log_path)}", file=sys.stderr)
                raise
    finally:
        keys = [key async for key in redis.scan_iter(match=f"*{queue}*")]
        if keys:
            await redis.delete(*keys)
        await redis.aclose()


async def benchmark(options: argparse.Namespace, files: Sequence[SampleFile]) -> list[Run]:
    runs: list[Run] = []
    with tempfile.TemporaryDirectory(prefix="coderai-bench-") as scratch:
        async with fresh_database() as owner_url:
            for path in options.paths:
                for file in files:
                    runs.append(await one_run(options, owner_url, scratch, path, file))
                    print(f"measured {path} {file.filename}", file=sys.stderr)
    return runs


def mib(kib: int) -> str:
    return f"{kib / 1024:,.0f}"


def print_report(runs: Sequence[Run], facts: dict[str, str]) -> None:
    for name, value in facts.items():
        print(f"{name}: {value}")
    rows = [["call", "file", "MB", "s", "RSS before", "peak", "growth", "after", "under target"]]
    for run in runs:
        for window in run.windows:
            growth = window.peak_kib - window.rss_before_kib
            rows.append(
                [
                    window.name,
                    f"{run.file.kind} {run.file.filename}",
                    f"{len(run.file.content) / MB:.0f}",
                    f"{window.seconds:.1f}",
                    mib(window.rss_before_kib),
                    mib(window.peak_kib),
                    f"+{mib(growth)}",
                    mib(window.rss_after_kib),
                    "yes" if growth < TARGET_MIB * 1024 else "NO",
                ]
            )
    print()
    print_table(rows, left=(0, 1, 8))
    print(
        f"\nserver RSS in MiB: just before the call, its peak during it (VmHWM reset before it,\n"
        f"or VmRSS sampled every 20 ms), 1 s after it; target: growth under {TARGET_MIB} MiB."
    )


def parse_options(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--txt-mb", type=int, default=100, help="0: no text file")
    parser.add_argument("--pdf-mb", type=int, default=100, help="0: no PDF")
    parser.add_argument("--paths", default=",".join(PATHS), help="stream, resumable or both")
    parser.add_argument("--server-root", default=str(REPOSITORY))
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a setting for the server (e.g. UPLOAD_PART_BYTES=4194304); repeatable",
    )
    options = parser.parse_args(argv)
    options.paths = [path for path in options.paths.split(",") if path]
    if unknown := set(options.paths) - set(PATHS):
        parser.error(f"unknown paths {sorted(unknown)}; choose from {', '.join(PATHS)}")
    options.root = Path(options.server_root).resolve()
    return options


def main(argv: list[str] | None = None) -> int:
    options = parse_options(argv)
    facts = machine_facts()
    facts["server code"] = describe_code(options.root)
    files = [large_txt(options.txt_mb)] if options.txt_mb else []
    files += [large_pdf(options.pdf_mb)] if options.pdf_mb else []
    runs = asyncio.run(benchmark(options, files))
    facts["load after"] = " ".join(f"{value:.2f}" for value in os.getloadavg())
    print_report(runs, facts)
    return 0


if __name__ == "__main__":
    sys.exit(main())
