"""Large documents through the real server and a real worker: how much the worker grows while
it parses one, how long that takes, and whether its text can be read back.

For each file (an 18 MB plain-text transcript collection and one of 9 MB, an HTML page of
--html-mb MB, a Word document of --docx-paragraphs paragraphs and a PDF of --pdf-pages pages of
prose) a fresh `coderai worker --processes 1` is started, warmed up on a small document, and
the file is streamed to UploadDocument. The worker's task process (the child of `coderai
worker`) has its peak resident set (VmHWM) reset through /proc/<pid>/clear_refs just before
the upload; once the document is READY or FAILED the script prints that peak over the resident
set before the upload ("growth"), the resident set after, the parse time (the document's update
time minus its upload time, so queueing is included: about a poll), the status and the size of
the text, and whether the text comes back: GetDocument with include_text, then GetDocumentText
page by page when the server has it.

It starts its own server like bench/ingestion.py (a fresh migrated database, `coderai serve` on
a free port, the local Redis, a task stream of its own), with the server's default settings
unless --env NAME=VALUE pairs say otherwise (given to the server and the worker). It writes
nothing to the repository and drops its database and stream afterwards.

    .venv/bin/python -m bench.large_documents [--only txt-18mb,pdf] [--env NAME=VALUE]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import random
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import grpc
from coderai.v1 import common_pb2, document_pb2
from redis.asyncio import Redis

from bench.crud_latency import (
    REDIS_URL,
    free_port,
    fresh_database,
    machine_facts,
    server_environment,
    wait_until_serving,
)
from bench.ingestion import (
    MB,
    SampleFile,
    Uploader,
    Worker,
    api_server,
    large_txt,
    memory_kib,
    mib,
    print_table,
    reset_peak,
    word,
)
from bench.parsing import mupdf, prose

DONE = (common_pb2.DOCUMENT_STATUS_READY, common_pb2.DOCUMENT_STATUS_FAILED)
PARSE_TIMEOUT_SECONDS = 900.0
UPLOAD_TIMEOUT_SECONDS = 600.0
WORKER_START_TIMEOUT_SECONDS = 60.0
POLL_SECONDS = 0.25
# What a client may receive in one message (the server's default limit).
RECEIVE_LIMIT_BYTES = 16 * 1024 * 1024


# --- the files ---------------------------------------------------------------------------------


def large_html(megabytes: int) -> SampleFile:
    """About `megabytes` MB of an HTML page: numbered sections of paragraphs."""
    rng = random.Random(3)
    paragraphs = [prose(rng, rng.randint(3, 9)) for _ in range(500)]
    pieces = ["<!doctype html><html><head><title>Hearings</title></head><body>"]
    size = 0
    while size < megabytes * MB:
        index = len(pieces)
        piece = (
            f"<h2>Hearing {index}</h2>" if index % 40 == 0 else ""
        ) + f"<p>{paragraphs[index % len(paragraphs)]}</p>\n"
        pieces.append(piece)
        size += len(piece)
    pieces.append("</body></html>")
    return SampleFile(f"hearings-{megabytes}mb.html", "HTML", "".join(pieces).encode())


def large_docx(paragraphs: int) -> SampleFile:
    """A Word document of `paragraphs` paragraphs of prose under a heading every 100."""
    rng = random.Random(4)
    texts = [prose(rng, rng.randint(3, 9)) for _ in range(500)]
    document = word.Document()
    for index in range(paragraphs):
        if index % 100 == 0:
            document.add_heading(f"Interview {index // 100 + 1}", level=1)
        document.add_paragraph(texts[index % len(texts)])
    buffer = io.BytesIO()
    document.save(buffer)
    return SampleFile(f"interviews-{paragraphs}par.docx", "DOCX", buffer.getvalue())


def large_pdf_text(pages: int) -> SampleFile:
    """A PDF of `pages` pages of dense prose (a text report, not a scan)."""
    rng = random.Random(5)
    document = mupdf.open()
    for number in range(pages):
        page = document.new_page(width=595, height=842)
        page.insert_text((72, 50), f"Committee report, page {number + 1}", fontsize=9)
        page.insert_textbox(mupdf.Rect(60, 70, 535, 800), prose(rng, 40), fontsize=8)
    content = bytes(document.tobytes(garbage=3, deflate=True))
    return SampleFile(f"committee-report-{pages}p.pdf", "PDF", content)


# --- the worker's task process ---------------------------------------------------------------


def descendants(pid: int) -> list[int]:
    found: list[int] = []
    with contextlib.suppress(OSError):
        for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
            found += [int(child), *descendants(int(child))]
    return found


def task_process(worker: Worker) -> int:
    """The process that runs the tasks: `coderai worker`'s (only) child."""
    if worker.process is None:
        raise RuntimeError("the worker has not started")
    deadline = time.monotonic() + WORKER_START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if children := descendants(worker.process.pid):
            return children[0]
        time.sleep(0.1)
    raise RuntimeError("the worker started no task process")


# --- one file ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    file: SampleFile
    status: str
    error: str
    rss_before_kib: int
    peak_kib: int
    rss_after_kib: int
    parse_seconds: float
    text_chars: int
    get_document: str
    paged_read: str


async def wait_done(uploader: Uploader, document_id: str) -> document_pb2.Document:
    deadline = time.monotonic() + PARSE_TIMEOUT_SECONDS
    while True:
        response = await uploader.documents.GetDocument(
            document_pb2.GetDocumentRequest(document_id=document_id),
            metadata=uploader.client.metadata,
        )
        if response.document.status in DONE:
            return response.document
        if time.monotonic() > deadline:
            raise AssertionError(f"{document_id} not parsed in {PARSE_TIMEOUT_SECONDS} s")
        await asyncio.sleep(POLL_SECONDS)


async def read_back(uploader: Uploader, document_id: str) -> tuple[int, str, str]:
    """The text's length and how GetDocument and (if the server has it) GetDocumentText did."""
    try:
        whole = await uploader.documents.GetDocument(
            document_pb2.GetDocumentRequest(document_id=document_id, include_text=True),
            metadata=uploader.client.metadata,
        )
    except grpc.aio.AioRpcError as error:
        return -1, f"{error.code().name}", "not available"
    omitted = bool(getattr(whole, "text_omitted", False))
    if not omitted:
        size = whole.ByteSize() / MB
        return len(whole.text), f"inline, {size:.1f} MB", "not needed"
    length = whole.text_length
    started = time.perf_counter()
    pieces: list[str] = []
    offset, pages = 0, 0
    while True:
        page = await uploader.documents.GetDocumentText(
            document_pb2.GetDocumentTextRequest(document_id=document_id, offset=offset),
            metadata=uploader.client.metadata,
        )
        pieces.append(page.text)
        pages += 1
        if not page.next_offset:
            break
        offset = page.next_offset
    text = "".join(pieces)
    if len(text) != length:
        raise AssertionError(f"GetDocumentText gave {len(text)} characters of {length}")
    seconds = time.perf_counter() - started
    return length, "omitted (text_omitted)", f"{pages} pages in {seconds:.1f} s"


async def measure_file(
    uploader: Uploader, file: SampleFile, worker: Worker, warm_up: SampleFile
) -> Outcome:
    worker.start()
    try:
        pid = task_process(worker)
        project = await uploader.new_project()
        [warm] = await uploader.stream(project, warm_up)
        await wait_done(uploader, warm.document.id)
        await asyncio.sleep(1)
        rss_before = memory_kib(pid, "VmRSS")
        if not reset_peak(pid):
            raise RuntimeError(f"cannot reset the peak of process {pid}")
        [result] = await uploader.stream(project, file, time_limit=UPLOAD_TIMEOUT_SECONDS)
        document = await wait_done(uploader, result.document.id)
        peak = memory_kib(pid, "VmHWM")
        rss_after = memory_kib(pid, "VmRSS")
    finally:
        worker.stop()
    seconds = (document.update_time.ToNanoseconds() - document.create_time.ToNanoseconds()) / 1e9
    status = common_pb2.DocumentStatus.Name(document.status).removeprefix("DOCUMENT_STATUS_")
    chars, inline, paged = -1, "-", "-"
    if document.status == common_pb2.DOCUMENT_STATUS_READY:
        chars, inline, paged = await read_back(uploader, document.id)
    return Outcome(
        file=file,
        status=status,
        error=document.error_message,
        rss_before_kib=rss_before,
        peak_kib=peak,
        rss_after_kib=rss_after,
        parse_seconds=seconds,
        text_chars=chars,
        get_document=inline,
        paged_read=paged,
    )


# --- the benchmark -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Options:
    only: list[str]
    html_mb: int
    docx_paragraphs: int
    pdf_pages: int
    environment: dict[str, str]


def build_files(options: Options) -> list[tuple[str, Any]]:
    makers: list[tuple[str, Any]] = [
        ("txt-18mb", lambda: large_txt(18)),
        ("txt-9mb", lambda: large_txt(9)),
        ("html", lambda: large_html(options.html_mb)),
        ("docx", lambda: large_docx(options.docx_paragraphs)),
        ("pdf", lambda: large_pdf_text(options.pdf_pages)),
    ]
    return [(name, make) for name, make in makers if not options.only or name in options.only]


def reading_uploader(target: str) -> Uploader:
    """An uploader whose channel takes answers as large as the server may send (a client's
    default is 4 MiB)."""
    uploader = Uploader(target, 0, uuid.uuid4().hex[:8])
    channel = grpc.aio.insecure_channel(
        target, options=[("grpc.max_receive_message_length", RECEIVE_LIMIT_BYTES)]
    )
    client = uploader.client
    client.channel = channel
    client.auth = type(client.auth)(channel)
    client.projects = type(client.projects)(channel)
    uploader.documents = type(uploader.documents)(channel)
    return uploader


@contextlib.contextmanager
def scratch_logs(scratch: str) -> Iterator[tuple[IO[bytes], IO[bytes], Path, Path]]:
    server_log, worker_log = Path(scratch) / "server.log", Path(scratch) / "worker.log"
    with server_log.open("wb") as server_out, worker_log.open("wb") as worker_out:
        yield server_out, worker_out, server_log, worker_log


async def benchmark(options: Options) -> list[Outcome]:
    queue = f"coderai:bench:{uuid.uuid4().hex[:10]}"
    redis = Redis.from_url(REDIS_URL)
    outcomes: list[Outcome] = []
    warm_up = SampleFile("warm-up.txt", "TXT", b"A short note to warm the worker up.")
    try:
        with tempfile.TemporaryDirectory(prefix="coderai-bench-") as scratch:
            async with fresh_database() as owner_url:
                port = free_port()
                target = f"127.0.0.1:{port}"
                environment = {
                    **server_environment(owner_url),
                    "TASK_QUEUE_NAME": queue,
                    **options.environment,
                }
                with (
                    scratch_logs(scratch) as (server_out, worker_out, server_log, worker_log),
                    api_server(environment, port, server_out, scratch) as server,
                ):
                    worker = Worker(owner_url, queue, worker_out, scratch)
                    # Worker takes the benchmark's environment; --env adds to it.
                    worker._environment.update(options.environment)
                    try:
                        await wait_until_serving(target, server)
                        uploader = reading_uploader(target)
                        await uploader.client.register()
                        for number, (name, make) in enumerate(build_files(options)):
                            started = time.perf_counter()
                            file = make()
                            print(
                                f"{name}: {len(file.content) / MB:.1f} MB built in "
                                f"{time.perf_counter() - started:.1f} s",
                                file=sys.stderr,
                            )
                            warm = SampleFile(
                                f"warm-up-{number}.txt",
                                "TXT",
                                warm_up.content + bytes([65 + number]),
                            )
                            outcomes.append(await measure_file(uploader, file, worker, warm))
                            print(f"{name}: {outcomes[-1].status}", file=sys.stderr)
                        await uploader.client.channel.close(None)
                    except BaseException:
                        for label, path in (("server", server_log), ("worker", worker_log)):
                            tail = path.read_text(errors="replace").splitlines()[-40:]
                            print(f"--- {label} ---\n" + "\n".join(tail), file=sys.stderr)
                        raise
    finally:
        keys = [key async for key in redis.scan_iter(match=f"*{queue}*")]
        if keys:
            await redis.delete(*keys)
        await redis.aclose()
    return outcomes


def print_report(outcomes: list[Outcome], facts: dict[str, str]) -> None:
    for key, value in facts.items():
        print(f"{key + ':':<14}{value}")
    rows = [
        [
            "file",
            "MB",
            "status",
            "text chars",
            "worker RSS before MiB",
            "peak growth MiB",
            "RSS after MiB",
            "parse s",
            "GetDocument",
            "GetDocumentText",
        ]
    ]
    for o in outcomes:
        rows.append(
            [
                o.file.filename,
                f"{len(o.file.content) / MB:.1f}",
                o.status,
                f"{o.text_chars:,}" if o.text_chars >= 0 else "-",
                mib(o.rss_before_kib),
                mib(o.peak_kib - o.rss_before_kib),
                mib(o.rss_after_kib),
                f"{o.parse_seconds:.1f}",
                o.get_document,
                o.paged_read,
            ]
        )
    print_table(rows, left=(0, 2, 8, 9))
    for o in outcomes:
        if o.error:
            print(f"{o.file.filename}: {o.error}")


def parse_options(argv: list[str] | None) -> Options:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument(
        "--only", default="", help="comma-separated: txt-18mb,txt-9mb,html,docx,pdf"
    )
    parser.add_argument("--html-mb", type=int, default=18)
    parser.add_argument("--docx-paragraphs", type=int, default=20_000)
    parser.add_argument("--pdf-pages", type=int, default=2000)
    parser.add_argument(
        "--env", action="append", default=[], help="NAME=VALUE for the server and the worker"
    )
    args = parser.parse_args(argv)
    environment = dict(pair.split("=", 1) for pair in args.env)
    only = [name for name in args.only.split(",") if name]
    return Options(only, args.html_mb, args.docx_paragraphs, args.pdf_pages, environment)


async def main(argv: list[str] | None = None) -> int:
    options = parse_options(argv)
    facts = machine_facts()
    facts["settings"] = ", ".join(f"{k}={v}" for k, v in options.environment.items()) or (
        "server defaults"
    )
    started = time.perf_counter()
    outcomes = await benchmark(options)
    facts["total"] = f"{time.perf_counter() - started:.0f} s"
    print_report(outcomes, facts)
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
