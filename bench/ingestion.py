"""Document ingestion benchmark: upload throughput over real gRPC, the server's memory during a
large upload, and the time from upload to READY with one worker process.

  1. --files small files (2-3 page PDFs, short TXT and DOCX; distinct contents) uploaded by
     --clients concurrent clients, each its own user with its own channel and project:
       a) one client-streaming UploadDocument call per file;
       b) unary UploadDocuments calls of --batch files each (into new projects).
     Prints files/s, MB/s and the p50/p95 latency of one call, timed by the client.
  2. Two files of --big-mb MB, each streamed in 1 MiB chunks by one client: a PDF (a scanned
     book: pages of incompressible images under a line of text; the server recognises it from
     its first kilobyte and stores it from the spooled upload) and a plain-text file (which the
     server reads whole to detect its type and encoding). Prints MB/s, the server's CPU time and
     temporary-file traffic, and its resident memory before, at its peak (VmHWM, reset before
     the upload through /proc/<pid>/clear_refs; VmRSS is also sampled every 20 ms) and after.
  3. The same small files uploaded as in 1a (into new projects) while
     `coderai worker --processes 1` runs: time from the first upload to the last document READY
     (parsed and chunked; from the documents' server timestamps), in documents/s.
  Last, the server's resident memory after each step and its peak during it.

The script starts its own server and worker like bench/crud_latency.py does (a fresh migrated
database, `coderai serve` on a free port, the local Redis) with a Redis stream queue of its own
(TASK_QUEUE_NAME=coderai:bench:<id>). Phases 1 and 2 run with no worker, so parsing does not
compete for the two cores; their queued tasks are trimmed from the stream before the worker
starts. Afterwards it stops the worker and the server, drops the database and deletes the
stream. It writes nothing to the repository.

    .venv/bin/python -m bench.ingestion [--files 200] [--big-mb 100] [--clients 8] [--batch 10]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import docx
import pymupdf
from coderai.v1 import common_pb2, document_pb2, document_pb2_grpc
from redis.asyncio import Redis

from bench.crud_latency import (
    APP_ROLE,
    CALL_TIMEOUT_SECONDS,
    CODERAI_BIN,
    REDIS_URL,
    Client,
    free_port,
    fresh_database,
    machine_facts,
    process_cpu_seconds,
    server_environment,
    serving,
    wait_until_serving,
)
from bench.parsing import prose
from server.core.config import Settings
from server.core.migrate import application_url
from tests.processes import stop

# PyMuPDF's and python-docx's annotations are partial: used through Any, as in parsing.py.
mupdf: Any = pymupdf
word: Any = docx

MB = 1_000_000
MIB = 1024 * 1024
CHUNK_BYTES = MIB
LARGE_UPLOAD_TIMEOUT_SECONDS = 600.0
READY_TIMEOUT_SECONDS = 300.0
POLL_SECONDS = 0.25
RSS_SAMPLE_SECONDS = 0.02
LIST_PAGE_SIZE = 200  # the server's maximum
SCAN_SIDE = 1000  # a scanned page: SCAN_SIDE x SCAN_SIDE 8-bit grey pixels, 1 MB


# --- the files ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class SampleFile:
    filename: str
    kind: str  # PDF, TXT or DOCX
    content: bytes


def small_pdf(rng: random.Random, number: int) -> SampleFile:
    """A 2-3 page report of prose; the seed makes every file's text its own."""
    document = mupdf.open()
    for page_number in range(rng.randint(2, 3)):
        page = document.new_page(width=595, height=842)
        page.insert_text((72, 60), f"Field report {number}, page {page_number + 1}", fontsize=9)
        page.insert_textbox(mupdf.Rect(72, 90, 523, 780), prose(rng, 22), fontsize=10)
    content = bytes(document.tobytes(garbage=3, deflate=True))
    return SampleFile(f"report-{number}.pdf", "PDF", content)


def small_txt(rng: random.Random, number: int) -> SampleFile:
    paragraphs = [f"Interview notes {number}"]
    paragraphs += [prose(rng, rng.randint(4, 8)) for _ in range(rng.randint(4, 8))]
    return SampleFile(f"notes-{number}.txt", "TXT", "\n\n".join(paragraphs).encode())


def small_docx(rng: random.Random, number: int) -> SampleFile:
    document = word.Document()
    document.add_heading(f"Minutes of meeting {number}", level=1)
    for _ in range(rng.randint(4, 8)):
        document.add_paragraph(prose(rng, rng.randint(3, 6)))
    buffer = io.BytesIO()
    document.save(buffer)
    return SampleFile(f"minutes-{number}.docx", "DOCX", buffer.getvalue())


def small_files(count: int, first: int = 0) -> list[SampleFile]:
    """Half PDFs, a quarter TXT, a quarter DOCX, interleaved so every client gets each kind."""
    makers = (small_pdf, small_pdf, small_txt, small_docx)
    files = []
    for number in range(first, first + count):
        files.append(makers[number % len(makers)](random.Random(number), number))
    return files


def large_pdf(megabytes: int) -> SampleFile:
    """A scanned book of `megabytes` pages: a 1 MB grey image of noise (scans barely compress)
    under one line of text each. Written by hand, since PyMuPDF would compress the images."""
    header = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"
    parts = [header]
    offsets: list[int] = []
    position = len(header)

    def add(body: bytes) -> None:
        nonlocal position
        offsets.append(position)
        data = f"{len(offsets)} 0 obj\n".encode() + body + b"\nendobj\n"
        parts.append(data)
        position += len(data)

    pages = max(1, megabytes)
    kids = " ".join(f"{4 + 3 * page} 0 R" for page in range(pages))
    add(b"<< /Type /Catalog /Pages 2 0 R >>")
    add(f"<< /Type /Pages /Kids [{kids}] /Count {pages} >>".encode())
    add(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    for page in range(pages):
        content_ref, image_ref = 5 + 3 * page, 6 + 3 * page
        add(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font "
            f"<< /F1 3 0 R >> /XObject << /Scan {image_ref} 0 R >> >> "
            f"/Contents {content_ref} 0 R >>".encode()
        )
        text = (
            f"q 495 0 0 495 50 200 cm /Scan Do Q BT /F1 11 Tf 50 760 Td "
            f"(Archive volume, scanned page {page + 1} of {pages}) Tj ET"
        ).encode()
        add(b"<< /Length %d >>\nstream\n%s\nendstream" % (len(text), text))
        add(
            b"<< /Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace /DeviceGray "
            b"/BitsPerComponent 8 /Length %d >>\nstream\n%s\nendstream"
            % (SCAN_SIDE, SCAN_SIDE, SCAN_SIDE * SCAN_SIDE, os.urandom(SCAN_SIDE * SCAN_SIDE))
        )
    xref = [b"xref\n0 %d\n0000000000 65535 f \n" % (len(offsets) + 1)]
    xref += [b"%010d 00000 n \n" % offset for offset in offsets]
    parts += xref
    parts.append(
        b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n"
        % (len(offsets) + 1, position)
    )
    return SampleFile(f"archive-volume-{pages}p.pdf", "PDF", b"".join(parts))


def large_txt(megabytes: int) -> SampleFile:
    """About `megabytes` MB of numbered paragraphs of prose (a transcript collection)."""
    rng = random.Random(megabytes)
    paragraphs = [prose(rng, rng.randint(3, 9)) for _ in range(500)]
    pieces: list[str] = []
    size = 0
    while size < megabytes * MB:
        piece = f"{len(pieces) + 1}. {paragraphs[len(pieces) % len(paragraphs)]}\n\n"
        pieces.append(piece)
        size += len(piece)
    return SampleFile(f"transcripts-{megabytes}mb.txt", "TXT", "".join(pieces).encode())


def megabytes(files: Sequence[SampleFile]) -> float:
    return sum(len(f.content) for f in files) / MB


# --- the server's memory -----------------------------------------------------------------------


def memory_kib(pid: int, name: str) -> int:
    """A field of /proc/<pid>/status in KiB: VmRSS (resident now) or VmHWM (its peak)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{name}:"):
            return int(line.split()[1])
    raise RuntimeError(f"/proc/{pid}/status has no {name}")


def reset_peak(pid: int) -> bool:
    """Sets the process's VmHWM back to its VmRSS (Linux 4.0+); False if not allowed."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def io_bytes(pid: int) -> tuple[int, int]:
    """Bytes the process has passed to read() and write() (/proc/<pid>/io rchar, wchar): its
    files; sockets, used through recv and send, are not counted."""
    values = dict(line.split(": ") for line in Path(f"/proc/{pid}/io").read_text().splitlines())
    return int(values["rchar"]), int(values["wchar"])


@dataclass(frozen=True)
class Sample:
    seconds: float  # since sampling started
    rss_kib: int
    written_bytes: int  # passed to write() since sampling started


@dataclass
class ServerSamples:
    started: float
    written_before: int
    samples: list[Sample] = field(default_factory=list)

    def take(self, pid: int) -> None:
        seconds = time.perf_counter() - self.started
        written = io_bytes(pid)[1] - self.written_before
        self.samples.append(Sample(seconds, memory_kib(pid, "VmRSS"), written))

    def peak(self) -> Sample:
        return max(self.samples, key=lambda sample: sample.rss_kib)

    def first_written(self, size: int) -> float | None:
        """When the process had written `size` bytes: an upload spooled to its temporary file
        is the whole upload received."""
        return next((s.seconds for s in self.samples if s.written_bytes >= size), None)


@contextlib.asynccontextmanager
async def sampled_server(pid: int) -> AsyncIterator[ServerSamples]:
    """The process's VmRSS and bytes written every RSS_SAMPLE_SECONDS while the block runs."""
    record = ServerSamples(time.perf_counter(), io_bytes(pid)[1])

    async def sample() -> None:
        while True:
            record.take(pid)
            await asyncio.sleep(RSS_SAMPLE_SECONDS)

    task = asyncio.create_task(sample())
    try:
        yield record
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        record.take(pid)


# --- one researcher uploading ------------------------------------------------------------------


class Uploader:
    """A registered researcher (crud_latency's Client: own user, own channel) who uploads."""

    def __init__(self, target: str, number: int, run_id: str) -> None:
        self.client = Client(target, number, run_id)
        self.documents = document_pb2_grpc.DocumentServiceStub(self.client.channel)

    async def new_project(self) -> str:
        return await self.client.create_project(None)

    async def stream(
        self,
        project_id: str,
        file: SampleFile,
        time_limit: float = CALL_TIMEOUT_SECONDS,
    ) -> Sequence[document_pb2.UploadResult]:
        async def requests() -> AsyncIterator[document_pb2.UploadDocumentRequest]:
            yield document_pb2.UploadDocumentRequest(
                metadata=document_pb2.UploadMetadata(project_id=project_id, filename=file.filename)
            )
            content = memoryview(file.content)
            for start in range(0, len(content), CHUNK_BYTES):
                yield document_pb2.UploadDocumentRequest(
                    chunk=bytes(content[start : start + CHUNK_BYTES])
                )

        response = await self.documents.UploadDocument(
            requests(), metadata=self.client.metadata, timeout=time_limit
        )
        return expect_new(response.results, [file])

    async def batch(
        self, project_id: str, files: Sequence[SampleFile]
    ) -> Sequence[document_pb2.UploadResult]:
        request = document_pb2.UploadDocumentsRequest(
            project_id=project_id,
            files=[document_pb2.UploadFile(filename=f.filename, content=f.content) for f in files],
        )
        response = await self.documents.UploadDocuments(
            request, metadata=self.client.metadata, timeout=CALL_TIMEOUT_SECONDS
        )
        return expect_new(response.results, files)

    async def documents_of(self, project_id: str) -> list[document_pb2.Document]:
        found: list[document_pb2.Document] = []
        token = ""
        while True:
            response = await self.documents.ListDocuments(
                document_pb2.ListDocumentsRequest(
                    project_id=project_id, page_size=LIST_PAGE_SIZE, page_token=token
                ),
                metadata=self.client.metadata,
                timeout=CALL_TIMEOUT_SECONDS,
            )
            found += response.documents
            token = response.next_page_token
            if not token:
                return found


def expect_new(
    results: Sequence[document_pb2.UploadResult], files: Sequence[SampleFile]
) -> Sequence[document_pb2.UploadResult]:
    """The results, checked: one stored, new document of the right size per file sent."""
    stored = [
        r.document.size_bytes
        for r in results
        if r.HasField("document") and not r.duplicate and not r.error_message
    ]
    if stored != [len(f.content) for f in files]:
        problems = [
            f"{r.filename}: {r.error_message or 'duplicate or wrong size'}" for r in results
        ]
        raise AssertionError(f"expected {len(files)} new documents, got {problems}")
    return results


# --- measurements -----------------------------------------------------------------------------


@dataclass
class Throughput:
    name: str
    files: int
    megabytes: float
    seconds: float
    latencies_ms: list[float]
    latency_of: str  # what one latency figure is: a file's call, a batch's call...

    def row(self) -> list[str]:
        cuts = quantiles(self.latencies_ms)
        return [
            self.name,
            str(self.files),
            f"{self.megabytes:.2f}",
            f"{self.seconds:.2f}",
            f"{self.files / self.seconds:.0f}",
            f"{self.megabytes / self.seconds:.2f}",
            f"{cuts[49]:.1f}",
            f"{cuts[94]:.1f}",
            self.latency_of,
        ]


@dataclass
class LargeUpload:
    file: SampleFile
    seconds: float
    server_cpu_seconds: float | None
    server_read_bytes: int
    server_written_bytes: int
    rss_before_kib: int
    peak_kib: int  # VmHWM after the upload (reset before it), or the sampled peak
    peak_source: str
    sampled_peak: Sample
    rss_after_kib: int
    spooled_seconds: float | None  # when the server had spooled the whole file


@dataclass
class Ingestion:
    documents: int
    uploads_seconds: float
    ready_seconds: float
    worker_start_seconds: float  # from starting the worker to its first document READY
    latencies_s: list[float]  # per document: READY time minus upload time (server clock)
    polls: int


def quantiles(values: Sequence[float]) -> list[float]:
    data = sorted(values)
    if len(data) == 1:
        return data * 99
    return statistics.quantiles(data, n=100, method="inclusive")


async def timed_calls(
    uploaders: Sequence[Uploader],
    work: dict[Uploader, list[Any]],
    call: Callable[[Uploader, Any], Awaitable[object]],
) -> tuple[float, list[float]]:
    """Every uploader makes its calls one after another, all uploaders at once; returns the
    wall time and each call's latency in ms."""
    latencies: list[float] = []

    async def run(uploader: Uploader) -> None:
        for item in work[uploader]:
            started = time.perf_counter()
            await call(uploader, item)
            latencies.append((time.perf_counter() - started) * 1000)

    started = time.perf_counter()
    await asyncio.gather(*(run(u) for u in uploaders))
    return time.perf_counter() - started, latencies


def shares(uploaders: Sequence[Uploader], files: Sequence[SampleFile]) -> dict[Uploader, list[Any]]:
    """Each uploader's files: every len(uploaders)-th one, so the kinds spread evenly."""
    return {u: list(files[i :: len(uploaders)]) for i, u in enumerate(uploaders)}


async def streamed_uploads(
    uploaders: Sequence[Uploader], files: Sequence[SampleFile]
) -> Throughput:
    projects = {u: await u.new_project() for u in uploaders}
    seconds, latencies = await timed_calls(
        uploaders, shares(uploaders, files), lambda u, f: u.stream(projects[u], f)
    )
    return Throughput(
        f"UploadDocument, 1 stream per file, {len(uploaders)} clients",
        len(files),
        megabytes(files),
        seconds,
        latencies,
        "per file",
    )


async def batched_uploads(
    uploaders: Sequence[Uploader], files: Sequence[SampleFile], batch: int
) -> Throughput:
    projects = {u: await u.new_project() for u in uploaders}
    batches = {
        u: [mine[i : i + batch] for i in range(0, len(mine), batch)]
        for u, mine in shares(uploaders, files).items()
    }
    seconds, latencies = await timed_calls(
        uploaders, batches, lambda u, chunk: u.batch(projects[u], chunk)
    )
    return Throughput(
        f"UploadDocuments, {batch} files per call, {len(uploaders)} clients",
        len(files),
        megabytes(files),
        seconds,
        latencies,
        f"per call of <= {batch}",
    )


async def large_upload(
    uploader: Uploader, project_id: str, file: SampleFile, pid: int
) -> LargeUpload:
    await asyncio.sleep(1)  # let the previous upload's memory settle
    rss_before = memory_kib(pid, "VmRSS")
    peak_reset = reset_peak(pid)
    cpu_before = process_cpu_seconds(pid)
    read_before, written_before = io_bytes(pid)
    async with sampled_server(pid) as samples:
        await uploader.stream(project_id, file, time_limit=LARGE_UPLOAD_TIMEOUT_SECONDS)
        seconds = time.perf_counter() - samples.started
    cpu_after = process_cpu_seconds(pid)
    read_after, written_after = io_bytes(pid)
    sampled_peak = samples.peak()
    await asyncio.sleep(1)
    return LargeUpload(
        file=file,
        seconds=seconds,
        server_read_bytes=read_after - read_before,
        server_written_bytes=written_after - written_before,
        server_cpu_seconds=None
        if cpu_before is None or cpu_after is None
        else cpu_after - cpu_before,
        rss_before_kib=rss_before,
        peak_kib=memory_kib(pid, "VmHWM") if peak_reset else sampled_peak.rss_kib,
        peak_source="VmHWM" if peak_reset else "sampled VmRSS",
        sampled_peak=sampled_peak,
        rss_after_kib=memory_kib(pid, "VmRSS"),
        spooled_seconds=samples.first_written(len(file.content)),
    )


async def wait_until_ready(
    uploaders: Sequence[Uploader], projects: dict[Uploader, str], expected: int
) -> tuple[list[document_pb2.Document], int]:
    """Polls ListDocuments until every document of the projects is READY; returns them and the
    number of polls. A FAILED document stops the benchmark: it would not be measuring parsing."""
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    polls = 0
    while True:
        polls += 1
        listed = await asyncio.gather(*(u.documents_of(projects[u]) for u in uploaders))
        documents = [d for page in listed for d in page]
        failed = [d for d in documents if d.status == common_pb2.DOCUMENT_STATUS_FAILED]
        if failed:
            raise AssertionError(f"{failed[0].filename} failed to parse: {failed[0].error_message}")
        ready = [d for d in documents if d.status == common_pb2.DOCUMENT_STATUS_READY]
        if len(ready) == expected:
            return ready, polls
        if time.monotonic() > deadline:
            counts = Counter(common_pb2.DocumentStatus.Name(d.status) for d in documents)
            raise AssertionError(f"not all documents READY in time: {dict(counts)}")
        await asyncio.sleep(POLL_SECONDS)


async def ingestion(
    uploaders: Sequence[Uploader],
    files: Sequence[SampleFile],
    warm_up: SampleFile,
    start_worker: Callable[[], None],
) -> Ingestion:
    """Starts the worker, waits for it to parse one document, then times the upload of `files`
    until all are READY."""
    warm_project = await uploaders[0].new_project()
    projects = {u: await u.new_project() for u in uploaders}
    worker_started = time.perf_counter()
    start_worker()
    await uploaders[0].stream(warm_project, warm_up)
    await wait_until_ready(uploaders[:1], {uploaders[0]: warm_project}, 1)
    worker_start_seconds = time.perf_counter() - worker_started

    started = time.time()  # the server stamps documents with this machine's wall clock
    uploads_seconds, _ = await timed_calls(
        uploaders, shares(uploaders, files), lambda u, f: u.stream(projects[u], f)
    )
    ready, polls = await wait_until_ready(uploaders, projects, len(files))
    # When each document became READY, exactly: its last update, not the poll that saw it.
    ready_at = [d.update_time.ToNanoseconds() / 1e9 for d in ready]
    latencies = [
        (d.update_time.ToNanoseconds() - d.create_time.ToNanoseconds()) / 1e9 for d in ready
    ]
    return Ingestion(
        documents=len(files),
        uploads_seconds=uploads_seconds,
        ready_seconds=max(ready_at) - started,
        worker_start_seconds=worker_start_seconds,
        latencies_s=latencies,
        polls=polls,
    )


# --- the server and the worker -----------------------------------------------------------------


def api_server(
    environment: dict[str, str], port: int, log: IO[bytes], cwd: str
) -> contextlib.AbstractContextManager[subprocess.Popen[bytes]]:
    """`coderai serve` on `port` with exactly `environment`, stopped afterwards."""
    return serving(environment, port, log, cwd)


def server_on_queue(
    owner_url: str, port: int, queue: str, log: IO[bytes], cwd: str
) -> contextlib.AbstractContextManager[subprocess.Popen[bytes]]:
    """`coderai serve` as crud_latency's server_process starts it, on our own task queue."""
    return api_server({**server_environment(owner_url), "TASK_QUEUE_NAME": queue}, port, log, cwd)


class Worker:
    """`coderai worker --processes 1` on the benchmark's database and queue, started on demand
    and stopped (with its child process) at the end of the block."""

    def __init__(self, owner_url: str, queue: str, log: IO[bytes], cwd: str) -> None:
        settings = Settings(
            _env_file=None,
            database_url=owner_url,
            app_database_url=None,
            redis_url=REDIS_URL,
            app_db_role=APP_ROLE,
        )
        environment = server_environment(owner_url)
        del environment["DATABASE_URL"]  # the worker needs only the application role
        environment.update(
            APP_DATABASE_URL=application_url(settings, owner_url), TASK_QUEUE_NAME=queue
        )
        self._environment = environment
        self._log = log
        self._cwd = cwd
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [str(CODERAI_BIN), "worker", "--processes", "1"],
            env=self._environment,
            cwd=self._cwd,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, which stop() kills
        )

    def stop(self) -> None:
        if self.process is not None:
            stop(self.process, timeout=10)


# --- the benchmark -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Options:
    files: int
    big_mb: int
    clients: int
    batch: int


@dataclass(frozen=True)
class MemoryMark:
    """The server's resident memory after a step, and its peak during the step."""

    step: str
    rss_kib: int
    peak_kib: int


@dataclass
class Results:
    memory: list[MemoryMark] = field(default_factory=list)
    peaks_reset: bool = True  # False: each peak is the process's since it started
    throughputs: list[Throughput] = field(default_factory=list)
    large: list[LargeUpload] = field(default_factory=list)
    ingestion: Ingestion | None = None
    facts: dict[str, str] = field(default_factory=dict)

    def mark_memory(self, pid: int, step: str) -> None:
        self.memory.append(MemoryMark(step, memory_kib(pid, "VmRSS"), memory_kib(pid, "VmHWM")))
        self.peaks_reset = reset_peak(pid) and self.peaks_reset


@dataclass(frozen=True)
class Workload:
    files: list[SampleFile]
    warm_ups: list[SampleFile]  # 2 per client and 1 for the worker, apart from `files`
    large: list[SampleFile]


def build_workload(options: Options) -> Workload:
    large = [large_pdf(options.big_mb), large_txt(options.big_mb)] if options.big_mb else []
    return Workload(
        files=small_files(options.files),
        warm_ups=small_files(2 * options.clients + 1, first=options.files),
        large=large,
    )


async def measure(
    target: str,
    server_pid: int,
    options: Options,
    workload: Workload,
    trim_queue: Callable[[], Awaitable[None]],
    worker: Worker,
    results: Results,
) -> None:
    run_id = uuid.uuid4().hex[:8]
    uploaders = [Uploader(target, number, run_id) for number in range(options.clients)]
    results.mark_memory(server_pid, "start, until SERVING")
    try:
        await asyncio.gather(*(u.client.register() for u in uploaders))
        results.mark_memory(server_pid, f"{len(uploaders)} Register calls at once")
        # One unmeasured stream and batch per client: connections, caches, the DB pool.
        warm = {u: await u.new_project() for u in uploaders}
        await asyncio.gather(
            *(u.stream(warm[u], workload.warm_ups[2 * i]) for i, u in enumerate(uploaders)),
            *(
                u.batch(warm[u], workload.warm_ups[2 * i + 1 :][:1])
                for i, u in enumerate(uploaders)
            ),
        )
        results.mark_memory(server_pid, "warm-up uploads")
        results.throughputs.append(await streamed_uploads(uploaders, workload.files))
        results.throughputs.append(await batched_uploads(uploaders, workload.files, options.batch))
        results.mark_memory(server_pid, "small uploads (1a and 1b)")
        large_project = await uploaders[0].new_project()
        for file in workload.large:
            results.large.append(await large_upload(uploaders[0], large_project, file, server_pid))
        # Phases 1 and 2 queued parse tasks the worker would otherwise start with.
        await trim_queue()
        reset_peak(server_pid)
        results.ingestion = await ingestion(
            uploaders, workload.files, workload.warm_ups[-1], worker.start
        )
        results.mark_memory(server_pid, "uploads with the worker running (3)")
    finally:
        await asyncio.gather(*(u.client.channel.close(None) for u in uploaders))


async def benchmark(options: Options, workload: Workload) -> Results:
    queue = f"coderai:bench:{uuid.uuid4().hex[:10]}"
    results = Results()
    redis = Redis.from_url(REDIS_URL)

    async def trim_queue() -> None:
        await redis.xtrim(queue, maxlen=0, approximate=False)

    with tempfile.TemporaryDirectory(prefix="coderai-bench-") as scratch:
        server_log, worker_log = Path(scratch) / "server.log", Path(scratch) / "worker.log"
        try:
            async with fresh_database() as owner_url:
                port = free_port()
                target = f"127.0.0.1:{port}"
                with (
                    server_log.open("wb") as log,
                    worker_log.open("wb") as worker_output,
                    server_on_queue(owner_url, port, queue, log, scratch) as server,
                ):
                    worker = Worker(owner_url, queue, worker_output, scratch)
                    try:
                        await wait_until_serving(target, server)
                        results.facts["server"] = (
                            f"coderai serve on {target} (a subprocess), queue {queue}, "
                            "defaults otherwise"
                        )
                        await measure(
                            target, server.pid, options, workload, trim_queue, worker, results
                        )
                    except BaseException:
                        for name, path in (("server", server_log), ("worker", worker_log)):
                            print(f"--- {name} output ---\n{_tail(path)}", file=sys.stderr)
                        raise
                    finally:
                        worker.stop()
            if warnings := _tail(server_log, lines=5):
                results.facts["server log"] = warnings
            # The worker logs each task at INFO whatever LOG_LEVEL says: only its complaints.
            if warnings := _tail(worker_log, lines=5, containing=("WARNING", "ERROR", "Trace")):
                results.facts["worker log"] = warnings
        finally:
            # The stream, and any key taskiq named after it (its autoclaim lock).
            keys = [key async for key in redis.scan_iter(match=f"*{queue}*")]
            if keys:
                await redis.delete(*keys)
            await redis.aclose()
    return results


def _tail(path: Path, lines: int = 40, containing: tuple[str, ...] = ("",)) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    kept = [line for line in text.splitlines() if any(part in line for part in containing)]
    return "\n".join(kept[-lines:])


# --- output ------------------------------------------------------------------------------------


def print_table(rows: list[list[str]], left: Sequence[int] = (0,)) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        cells = [
            cell.ljust(width) if i in left else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        ]
        print("  ".join(cells).rstrip())


def mib(kib: int) -> str:
    return f"{kib / 1024:.0f}"


def print_report(results: Results, facts: dict[str, str]) -> None:
    for key, value in {**facts, **results.facts}.items():
        print(f"{key + ':':<14}{value}")

    print("\n1. small files (latency timed by the client, one call)")
    header = ["rpc", "files", "MB", "s", "files/s", "MB/s", "p50 ms", "p95 ms", "latency"]
    print_table([header, *(t.row() for t in results.throughputs)], left=(0, 8))

    if results.large:
        print(f"\n2. one large file, UploadDocument in {CHUNK_BYTES // MIB} MiB chunks, 1 client")
        header = ["file", "type", "MB", "s", "MB/s", "spooled at s", "srv CPU s"]
        header += ["file read MB", "written MB"]
        header += ["RSS before", "peak", "+", "after", "sampled peak at"]
        rows = [header]
        for upload in results.large:
            cpu, spooled = upload.server_cpu_seconds, upload.spooled_seconds
            rows.append(
                [
                    upload.file.filename,
                    upload.file.kind,
                    f"{len(upload.file.content) / MB:.1f}",
                    f"{upload.seconds:.2f}",
                    f"{len(upload.file.content) / MB / upload.seconds:.1f}",
                    "-" if spooled is None else f"{spooled:.2f}",
                    "-" if cpu is None else f"{cpu:.2f}",
                    f"{upload.server_read_bytes / MB:.0f}",
                    f"{upload.server_written_bytes / MB:.0f}",
                    mib(upload.rss_before_kib),
                    mib(upload.peak_kib),
                    mib(upload.peak_kib - upload.rss_before_kib),
                    mib(upload.rss_after_kib),
                    f"{upload.sampled_peak.seconds:.2f} s ({mib(upload.sampled_peak.rss_kib)})",
                ]
            )
        print_table(rows, left=(0, 1))
        peak = results.large[0].peak_source
        print(
            f"   server RSS in MiB: before the upload, its peak during it ({peak}), 1 s after it;\n"
            "   the peak of VmRSS sampled every 20 ms, and when from the call's start.\n"
            "   spooled at: when the server had written the whole file to its temporary file,\n"
            "   i.e. had received it; the rest of the call is the server storing it.\n"
            "   file read/written: the server's read() and write() calls, i.e. its spooled\n"
            "   temporary files (/proc/<pid>/io rchar, wchar; socket traffic is not counted)."
        )

    if results.ingestion is not None:
        run = results.ingestion
        cuts = quantiles(run.latencies_s)
        print("\n3. upload to READY, coderai worker --processes 1 (worker concurrency 10)")
        print(f"   worker start to its first document READY: {run.worker_start_seconds:.1f} s")
        print(
            f"   {run.documents} documents: uploads done after {run.uploads_seconds:.2f} s, "
            f"all READY after {run.ready_seconds:.2f} s: "
            f"{run.documents / run.ready_seconds:.1f} documents/s end to end"
        )
        print(
            f"   per document, upload to READY (server clock): p50 {cuts[49]:.2f} s, "
            f"p95 {cuts[94]:.2f} s, max {max(run.latencies_s):.2f} s "
            f"({run.polls} ListDocuments polls every {POLL_SECONDS} s)"
        )

    scope = "during the step" if results.peaks_reset else "since start (VmHWM reset refused)"
    print(f"\nserver memory (MiB): resident after each step, and its peak {scope}")
    rows = [["step", "RSS", "peak"]]
    rows += [[m.step, mib(m.rss_kib), mib(m.peak_kib)] for m in results.memory]
    print_table(rows)


def parse_options(argv: list[str] | None) -> Options:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=200, help="small files per phase")
    parser.add_argument(
        "--big-mb", type=int, default=100, help="size of the large files in MB (0: skip them)"
    )
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients (users)")
    parser.add_argument("--batch", type=int, default=10, help="files per UploadDocuments call")
    args = parser.parse_args(argv)
    options = Options(files=args.files, big_mb=args.big_mb, clients=args.clients, batch=args.batch)
    if min(options.files, options.clients, options.batch) < 1 or options.big_mb < 0:
        parser.error("--files, --clients and --batch must be at least 1, --big-mb at least 0")
    return options


async def main(argv: list[str] | None = None) -> int:
    options = parse_options(argv)
    facts = machine_facts()
    facts["settings"] = (
        f"files={options.files} clients={options.clients} batch={options.batch} "
        f"big-mb={options.big_mb} chunk={CHUNK_BYTES // MIB} MiB"
    )
    started = time.perf_counter()
    workload = build_workload(options)
    kinds = Counter(f.kind for f in workload.files)
    facts["small files"] = (
        f"{len(workload.files)} ({', '.join(f'{n} {k}' for k, n in kinds.items())}), "
        f"{megabytes(workload.files):.2f} MB, "
        f"{megabytes(workload.files) * 1000 / len(workload.files):.1f} KB on average; "
        f"built in {time.perf_counter() - started:.1f} s"
    )
    results = await benchmark(options, workload)
    results.facts["total"] = f"{time.perf_counter() - started:.1f} s"
    print_report(results, facts)
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
