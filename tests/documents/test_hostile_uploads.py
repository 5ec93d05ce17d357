"""Uploads that try to exhaust the server (issue 13): a large file, streamed or resumable, is
received into a disk spool, hashed as it arrives, judged by its first MiB and stored part by
part, so a few parts of it are in memory at once; a ZIP of large entries is unpacked one entry
at a time through disk spools; a stream that stalls ends DEADLINE_EXCEEDED and its spool is
deleted; uploads in flight are limited per user and per process, unfinished resumable uploads
per user, and expired ones are swept with their parts. Over real gRPC, against a server with
small limits."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import io
import os
import time
import tracemalloc
import uuid
import zipfile
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import pytest
from coderai.v1 import document_pb2
from google.rpc import error_details_pb2
from redis.asyncio import Redis
from sqlalchemy import func, select, update

from server.core.config import Settings
from server.core.db import Database
from server.documents.models import UploadPart, UploadSession
from server.main import RunningServer, start_server
from tests.conftest import TEST_REDIS_URL
from tests.documents.files import padded_zip
from tests.factories import Caller, rpc_error, signed_in, status_details

MIB = 1024 * 1024
# Several times what the server may hold of one upload at once.
LARGE_UPLOAD_BYTES = 24 * MIB
IDLE_SECONDS = 1.5
WAIT_SECONDS = 15.0


@pytest.fixture
def spool_dir(tmp_path: Path) -> Path:
    return tmp_path / "spool"


@pytest.fixture
async def guarded_server(
    settings: Settings, database: Database, redis: Redis, spool_dir: Path
) -> AsyncIterator[RunningServer]:
    """A server of its own on the shared database, with limits small enough to reach. Its parse
    tasks go to a queue no worker reads: nothing here is parsed (the session's worker would
    spend its time on these archives' large entries)."""
    queue = f"coderai:test:hostile:{uuid.uuid4().hex[:10]}"
    guarded = settings.model_copy(
        update={
            "task_queue_name": queue,
            "upload_spool_dir": spool_dir,
            "upload_idle_seconds": IDLE_SECONDS,
            "upload_max_in_flight_per_user": 1,
            "upload_max_in_flight_per_process": 2,
            "upload_max_open_sessions": 2,
            "upload_sweep_interval_seconds": 0.2,
        }
    )
    running = await start_server(guarded, database, redis, TEST_REDIS_URL, port=0)
    yield running
    await running.stop(grace=1)
    await redis.delete(queue)


@pytest.fixture
async def channel_to_guarded(guarded_server: RunningServer) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{guarded_server.port}") as channel:
        yield channel


@pytest.fixture
async def researcher(channel_to_guarded: grpc.aio.Channel, unique_email: str) -> Caller:
    return await signed_in(channel_to_guarded, unique_email)


def open_spools(directory: Path) -> list[int]:
    """The sizes of the spool files this process (the test server's) has open in directory:
    they have no name, so they are found through /proc/self/fd."""
    sizes = []
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            if os.readlink(f"/proc/self/fd/{fd}").startswith(f"{directory}/"):
                sizes.append(os.stat(f"/proc/self/fd/{fd}").st_size)
    return sizes


async def eventually(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while not condition():
        assert time.monotonic() < deadline, f"still waiting for {what}"
        await asyncio.sleep(0.02)


def retry_delay(error: grpc.aio.AioRpcError) -> float | None:
    """The google.rpc.RetryInfo delay in the error's details, in seconds."""
    status = status_details(error)
    for detail in status.details if status is not None else ():
        retry = error_details_pb2.RetryInfo()
        if detail.Unpack(retry):
            return float(retry.retry_delay.ToTimedelta().total_seconds())
    return None


class StalledUpload:
    """An UploadDocument call that sends its metadata and `sent` bytes, then nothing until
    resumed (when it ends the stream normally)."""

    def __init__(self, caller: Caller, project_id: str, sent: int) -> None:
        self.resume = asyncio.Event()
        self.data = os.urandom(sent // 2).hex().encode()  # text: stored once resumed

        async def messages() -> AsyncIterator[document_pb2.UploadDocumentRequest]:
            yield document_pb2.UploadDocumentRequest(
                metadata=document_pb2.UploadMetadata(project_id=project_id, filename="slow.bin")
            )
            for start in range(0, sent, 64 * 1024):
                yield document_pb2.UploadDocumentRequest(chunk=self.data[start : start + 64 * 1024])
            await self.resume.wait()

        self.call: Awaitable[document_pb2.UploadDocumentResponse] = asyncio.ensure_future(
            caller.documents.UploadDocument(messages(), metadata=caller.metadata, timeout=60)
        )


async def stalled_in(
    caller: Caller, project_id: str, spool_dir: Path, sent: int = 256 * 1024
) -> StalledUpload:
    """A stalled upload once the server holds its bytes in a spool (and so its slot)."""
    before = len(open_spools(spool_dir))
    upload = StalledUpload(caller, project_id, sent)
    await eventually(
        lambda: len([s for s in open_spools(spool_dir) if s >= sent]) > before,
        "the stalled upload's spool",
    )
    return upload


def transcripts(size: int) -> bytes:
    """`size` bytes of plain text, the kind of large file whose type is judged by decoding it."""
    line = f"Interview {uuid.uuid4()}: the respondent described the harbour works.\n".encode()
    return (line * (size // len(line) + 1))[:size]


@dataclass(repr=False)
class Traced:
    """The peak of Python's allocations during a block, in bytes: this process's, so the test
    server's and the client's."""

    peak: int = 0

    def __repr__(self) -> str:  # what a failed assertion shows
        return f"{self.peak / MIB:.1f} MiB traced at the peak"


@contextlib.contextmanager
def traced() -> Iterator[Traced]:
    memory = Traced()
    tracemalloc.start()
    try:
        yield memory
        memory.peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


async def test_a_zip_of_large_entries_is_stored_whole_while_one_entry_at_most_is_in_memory(
    researcher: Caller, spool_dir: Path
) -> None:
    project = await researcher.create_project()
    entry_bytes = 8 * MIB
    heads = {f"scan-{n}.pdf": f"%PDF-1.4\n% scan {n}\n".encode() for n in range(4)}
    archive = padded_zip(heads, entry_bytes)
    with zipfile.ZipFile(io.BytesIO(archive)) as unpacked:
        expected = {name: hashlib.sha256(unpacked.read(name)).hexdigest() for name in heads}

    with traced() as memory:
        results = await researcher.upload(project.id, "scans.zip", archive)

    assert {result.filename: result.document.content_hash for result in results} == expected
    assert all(result.document.size_bytes == entry_bytes for result in results)
    # Held at once before: every entry (32 MiB) and more. Now: one piece of one entry, the
    # first MiB of a file its type is judged by and a part on its way to PostgreSQL.
    assert memory.peak < 2 * entry_bytes, memory
    assert open_spools(spool_dir) == []


async def test_a_large_resumable_upload_is_finished_with_a_few_of_its_parts_in_memory(
    researcher: Caller,
) -> None:
    project = await researcher.create_project()
    data = transcripts(LARGE_UPLOAD_BYTES)
    upload_id = await begin(researcher, project.id, "transcripts.txt")
    for offset in range(0, len(data), MIB):
        await researcher.documents.AppendUpload(
            document_pb2.AppendUploadRequest(
                upload_id=upload_id, offset=offset, data=data[offset : offset + MIB]
            ),
            metadata=researcher.metadata,
        )

    with traced() as memory:
        response = await researcher.documents.FinishUpload(
            document_pb2.FinishUploadRequest(upload_id=upload_id), metadata=researcher.metadata
        )

    [result] = response.results
    assert result.document.content_hash == hashlib.sha256(data).hexdigest()
    assert result.document.size_bytes == len(data)
    assert result.document.mime_type == "text/plain"
    # Before, the parts came through a server-side cursor that fetched 50 at a time: all of
    # them at once. Now one part from the database, the first MiB its type is judged by (and
    # its decoding), and a part on its way back to PostgreSQL.
    assert memory.peak < 8 * MIB, memory


async def test_a_large_streamed_upload_is_stored_with_a_few_of_its_chunks_in_memory(
    researcher: Caller,
) -> None:
    project = await researcher.create_project()
    data = transcripts(LARGE_UPLOAD_BYTES)

    with traced() as memory:
        [result] = await researcher.upload(project.id, "transcripts.txt", data, chunk_bytes=MIB)

    assert result.document.content_hash == hashlib.sha256(data).hexdigest()
    assert result.document.size_bytes == len(data)
    assert result.document.mime_type == "text/plain"
    # Before, its first 4 MiB and their decoding were held to judge its type. The client's
    # chunks in flight are traced too.
    assert memory.peak < 8 * MIB, memory


async def test_a_stream_that_stalls_ends_deadline_exceeded_and_its_spool_is_deleted(
    researcher: Caller, spool_dir: Path
) -> None:
    project = await researcher.create_project()

    stalled = await stalled_in(researcher, project.id, spool_dir, sent=1 * MIB)
    error = await rpc_error(stalled.call)
    stalled.resume.set()  # lets the client's sending task end

    assert error.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert "sent nothing" in (error.details() or "")
    assert open_spools(spool_dir) == []
    # The slot it held is free again.
    [result] = await researcher.upload(project.id, "after.txt", b"Uploaded after the stall.")
    assert result.document.size_bytes == len(b"Uploaded after the stall.")


async def test_uploads_in_flight_past_the_users_limit_are_resource_exhausted_with_a_retry_delay(
    researcher: Caller, spool_dir: Path
) -> None:
    project = await researcher.create_project()
    begun = await researcher.documents.BeginUpload(
        document_pb2.BeginUploadRequest(
            metadata=document_pb2.UploadMetadata(project_id=project.id, filename="r.txt")
        ),
        metadata=researcher.metadata,
    )

    stalled = await stalled_in(researcher, project.id, spool_dir)
    refused = [
        await rpc_error(researcher.upload(project.id, "second.txt", b"Second file.")),
        await rpc_error(
            researcher.documents.UploadDocuments(
                document_pb2.UploadDocumentsRequest(
                    project_id=project.id,
                    files=[document_pb2.UploadFile(filename="b.txt", content=b"Batch file.")],
                ),
                metadata=researcher.metadata,
            )
        ),
        await rpc_error(
            researcher.documents.AppendUpload(
                document_pb2.AppendUploadRequest(
                    upload_id=begun.upload_id, offset=0, data=b"Resumable part."
                ),
                metadata=researcher.metadata,
            )
        ),
    ]
    stalled.resume.set()
    [finished] = (await stalled.call).results

    for error in refused:
        assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "uploads in flight" in (error.details() or "")
        assert (retry_delay(error) or 0) > 0
    assert finished.document.size_bytes == len(stalled.data)
    [after] = await researcher.upload(project.id, "second.txt", b"Second file.")
    assert after.document.filename == "second.txt"


async def test_uploads_in_flight_past_the_process_limit_are_resource_exhausted(
    researcher: Caller, channel_to_guarded: grpc.aio.Channel, spool_dir: Path
) -> None:
    second, third = [
        await signed_in(channel_to_guarded, f"other-{uuid.uuid4().hex[:8]}@example.org")
        for _ in range(2)
    ]
    projects = [await caller.create_project() for caller in (researcher, second, third)]

    stalls = [
        await stalled_in(researcher, projects[0].id, spool_dir),
        await stalled_in(second, projects[1].id, spool_dir),
    ]
    error = await rpc_error(third.upload(projects[2].id, "third.txt", b"Third user."))
    for stall in stalls:
        stall.resume.set()
        await stall.call

    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "this server has 2 uploads in flight" in (error.details() or "")
    assert (retry_delay(error) or 0) > 0


async def begin(caller: Caller, project_id: str, filename: str) -> str:
    begun = await caller.documents.BeginUpload(
        document_pb2.BeginUploadRequest(
            metadata=document_pb2.UploadMetadata(project_id=project_id, filename=filename)
        ),
        metadata=caller.metadata,
    )
    return begun.upload_id


async def test_unfinished_resumable_uploads_past_the_limit_are_refused_until_one_is_aborted(
    researcher: Caller, settings: Settings
) -> None:
    project = await researcher.create_project()
    first = await begin(researcher, project.id, "one.txt")
    await begin(researcher, project.id, "two.txt")

    refused = await rpc_error(begin(researcher, project.id, "three.txt"))
    await researcher.documents.AbortUpload(
        document_pb2.AbortUploadRequest(upload_id=first), metadata=researcher.metadata
    )
    third = await begin(researcher, project.id, "three.txt")

    assert refused.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "UPLOAD_MAX_OPEN_SESSIONS is 2" in (refused.details() or "")
    # Until the first of them expires.
    delay = retry_delay(refused) or 0
    assert settings.upload_session_ttl_seconds - 60 < delay <= settings.upload_session_ttl_seconds
    assert third


async def test_an_expired_resumable_upload_is_swept_with_its_parts(
    researcher: Caller, database: Database
) -> None:
    project = await researcher.create_project()
    expired = await begin(researcher, project.id, "abandoned.txt")
    live = await begin(researcher, project.id, "live.txt")
    for upload_id in (expired, live):
        await researcher.documents.AppendUpload(
            document_pb2.AppendUploadRequest(upload_id=upload_id, offset=0, data=b"A part."),
            metadata=researcher.metadata,
        )
    tenant = uuid.UUID(researcher.user_id)
    async with database.transaction(tenant) as session:
        await session.execute(
            update(UploadSession)
            .where(UploadSession.id == uuid.UUID(expired))
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )

    async def remaining() -> dict[str, int]:
        async with database.transaction(tenant) as session:
            rows = await session.execute(
                select(UploadPart.session_id, func.count()).group_by(UploadPart.session_id)
            )
            parts = {str(session_id): count for session_id, count in rows.all()}
            uploads = await session.scalars(select(UploadSession.id))
            return {str(upload_id): parts.get(str(upload_id), 0) for upload_id in uploads}

    deadline = time.monotonic() + WAIT_SECONDS
    while expired in (left := await remaining()):
        assert time.monotonic() < deadline, "the expired upload was not swept"
        await asyncio.sleep(0.1)
    async with database.transaction(tenant) as session:
        orphans = await session.scalar(
            select(func.count())
            .select_from(UploadPart)
            .where(UploadPart.session_id == uuid.UUID(expired))
        )
    gone = await rpc_error(
        researcher.documents.FinishUpload(
            document_pb2.FinishUploadRequest(upload_id=expired), metadata=researcher.metadata
        )
    )

    assert left == {live: 1}
    assert orphans == 0
    assert gone.code() == grpc.StatusCode.NOT_FOUND
