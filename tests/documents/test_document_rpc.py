"""User Story 3 over gRPC with a real worker: files are uploaded (streamed, several at once, a
.zip, or in resumable unary parts), stored once per project, parsed off the request path into
text and chunks, and bad files end FAILED with a message a researcher understands."""

from __future__ import annotations

import itertools
import subprocess
import uuid
from collections.abc import AsyncIterator, Awaitable

import grpc
import pytest
from coderai.v1 import common_pb2, document_pb2, project_pb2
from redis.asyncio import Redis
from sqlalchemy import select

from server.core.config import Settings
from server.core.db import Database
from server.core.processing_log import LogEventType, ProcessingLog
from server.main import RunningServer, start_server
from tests.conftest import TEST_REDIS_URL
from tests.documents.files import docx_bytes, pdf_bytes, png_bytes, word, zeros_zip, zip_bytes
from tests.factories import Caller, bad_request_fields, rpc_error, signed_in

READY = common_pb2.DOCUMENT_STATUS_READY
FAILED = common_pb2.DOCUMENT_STATUS_FAILED
SENTENCE = "The council approved the coastal protection budget on 12 March 2024. "


@pytest.fixture
async def researcher(
    channel: grpc.aio.Channel, unique_email: str, worker: subprocess.Popen[bytes]
) -> Caller:
    return await signed_in(channel, unique_email)


@pytest.fixture
async def project(researcher: Caller) -> project_pb2.Project:
    return await researcher.create_project()


def report_pdf(title: str, pages: int = 2) -> bytes:
    return pdf_bytes(
        [
            # Below the top margin: a line repeated in it on every page is a running header.
            [((72, 150), f"{title}, page {page + 1}"), ((72, 180), SENTENCE.strip())]
            for page in range(pages)
        ]
    )


def long_text(words: int) -> bytes:
    paragraph = (SENTENCE * 10).strip()
    count = len(paragraph.split())
    return "\n\n".join([paragraph] * (words // count + 1)).encode()


async def test_a_streamed_pdf_is_stored_then_parsed_to_ready_text(
    researcher: Caller, project: project_pb2.Project
) -> None:
    [result] = await researcher.upload(project.id, "report.pdf", report_pdf("Annual report", 3))

    assert result.document.status == common_pb2.DOCUMENT_STATUS_UPLOADED
    assert result.document.mime_type == "application/pdf"
    assert not result.duplicate
    parsed = await researcher.parsed(result.document.id)
    assert parsed.document.status == READY
    assert parsed.document.page_count == 3
    assert "Annual report, page 3" in parsed.text
    assert parsed.document.word_count == len(parsed.text.split())
    assert parsed.document.chunk_count == 0  # short documents are not chunked


async def test_the_same_bytes_twice_are_stored_once_and_reported_as_a_duplicate(
    researcher: Caller, project: project_pb2.Project
) -> None:
    data = report_pdf("Minutes")
    [first] = await researcher.upload(project.id, "minutes.pdf", data)
    [second] = await researcher.upload(project.id, "minutes-copy.pdf", data)

    assert second.duplicate
    assert second.document.id == first.document.id
    listed = await researcher.documents.ListDocuments(
        document_pb2.ListDocumentsRequest(project_id=project.id), metadata=researcher.metadata
    )
    assert [d.id for d in listed.documents] == [first.document.id]


async def test_a_file_that_cannot_be_read_is_invalid_and_nothing_is_stored(
    researcher: Caller, project: project_pb2.Project
) -> None:
    error = await rpc_error(researcher.upload(project.id, "scan.pdf", png_bytes()))

    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "PNG" in (error.details() or "")
    assert bad_request_fields(error) == ["filename"]
    listed = await researcher.documents.ListDocuments(
        document_pb2.ListDocumentsRequest(project_id=project.id), metadata=researcher.metadata
    )
    assert list(listed.documents) == []


async def test_several_files_and_a_zip_in_one_call(
    researcher: Caller, project: project_pb2.Project
) -> None:
    document = word.Document()
    document.add_paragraph("Interview with the harbour master about the storm of 2023.")
    archive = zip_bytes(
        {
            "batch/first.txt": b"First letter from the ministry.",
            "batch/second.html": b"<html><body><p>Second letter, as a web page.</p></body></html>",
            "batch/photo.png": png_bytes(),
            "__MACOSX/._first.txt": b"resource fork",
        }
    )
    response = await researcher.documents.UploadDocuments(
        document_pb2.UploadDocumentsRequest(
            project_id=project.id,
            files=[
                document_pb2.UploadFile(filename="interview.docx", content=docx_bytes(document)),
                document_pb2.UploadFile(filename="letters.zip", content=archive),
            ],
        ),
        metadata=researcher.metadata,
    )

    results = {result.filename: result for result in response.results}
    assert set(results) == {"interview.docx", "first.txt", "second.html", "photo.png"}
    assert "PNG" in results["photo.png"].error_message
    assert not results["photo.png"].HasField("document")
    texts = {}
    for name in ("interview.docx", "first.txt", "second.html"):
        parsed = await researcher.parsed(results[name].document.id)
        assert parsed.document.status == READY
        texts[name] = parsed.text
    assert "harbour master" in texts["interview.docx"]
    assert texts["second.html"] == "Second letter, as a web page."


async def test_a_resumable_upload_in_unary_parts(
    researcher: Caller, project: project_pb2.Project
) -> None:
    data = report_pdf("Hearing transcript", 5)
    begun = await researcher.documents.BeginUpload(
        document_pb2.BeginUploadRequest(
            metadata=document_pb2.UploadMetadata(project_id=project.id, filename="hearing.pdf"),
            size_bytes=len(data),
        ),
        metadata=researcher.metadata,
    )
    part = 700
    for offset in range(0, len(data), part):
        request = document_pb2.AppendUploadRequest(
            upload_id=begun.upload_id, offset=offset, data=data[offset : offset + part]
        )
        await researcher.documents.AppendUpload(request, metadata=researcher.metadata)
        # A part sent again after a lost answer is acknowledged, not stored twice.
        again = await researcher.documents.AppendUpload(request, metadata=researcher.metadata)
        assert again.received_bytes == min(offset + part, len(data))
    gap = await rpc_error(
        researcher.documents.AppendUpload(
            document_pb2.AppendUploadRequest(
                upload_id=begun.upload_id, offset=len(data) + 10, data=b"x"
            ),
            metadata=researcher.metadata,
        )
    )
    finished = await researcher.documents.FinishUpload(
        document_pb2.FinishUploadRequest(upload_id=begun.upload_id), metadata=researcher.metadata
    )

    assert gap.code() == grpc.StatusCode.FAILED_PRECONDITION
    [result] = finished.results
    assert result.document.size_bytes == len(data)
    parsed = await researcher.parsed(result.document.id)
    assert parsed.document.page_count == 5
    gone = await rpc_error(
        researcher.documents.FinishUpload(
            document_pb2.FinishUploadRequest(upload_id=begun.upload_id),
            metadata=researcher.metadata,
        )
    )
    assert gone.code() == grpc.StatusCode.NOT_FOUND


@pytest.mark.parametrize(
    ("filename", "data", "message"),
    [
        ("broken.pdf", b"%PDF-1.7\n" + bytes(range(256)) * 40, "damaged"),
        ("blank.pdf", pdf_bytes([[]]), "no text"),
        ("empty.txt", b"   \n\n  ", "no text"),
    ],
)
async def test_a_bad_file_ends_failed_with_a_message(
    researcher: Caller, project: project_pb2.Project, filename: str, data: bytes, message: str
) -> None:
    [result] = await researcher.upload(project.id, filename, data)

    parsed = await researcher.parsed(result.document.id)

    assert parsed.document.status == FAILED
    assert message in parsed.document.error_message.lower()


async def test_a_long_document_is_chunked_with_offsets_into_its_text(
    researcher: Caller, project: project_pb2.Project
) -> None:
    [result] = await researcher.upload(project.id, "hansard.txt", long_text(12_000))

    parsed = await researcher.parsed(result.document.id)

    assert parsed.document.status == READY
    assert parsed.document.word_count > 12_000
    chunks = list(parsed.chunks)
    assert len(chunks) == parsed.document.chunk_count >= 4
    for chunk in chunks:
        assert parsed.text[chunk.start_offset : chunk.end_offset] == chunk.text
        assert chunk.token_count <= 3000
    assert chunks[0].start_offset == 0
    assert chunks[-1].end_offset == len(parsed.text)
    for before, after in itertools.pairwise(chunks):
        assert after.start_offset < before.end_offset  # they overlap


async def test_documents_are_listed_by_status_page_by_page(
    researcher: Caller, project: project_pb2.Project
) -> None:
    for index in range(3):
        [result] = await researcher.upload(
            project.id, f"note-{index}.txt", f"Note {index}.".encode()
        )
        await researcher.parsed(result.document.id)
    [bad] = await researcher.upload(project.id, "nothing.txt", b"\n")
    await researcher.parsed(bad.document.id)

    ready = await researcher.documents.ListDocuments(
        document_pb2.ListDocumentsRequest(project_id=project.id, status=READY, page_size=2),
        metadata=researcher.metadata,
    )
    rest = await researcher.documents.ListDocuments(
        document_pb2.ListDocumentsRequest(
            project_id=project.id, status=READY, page_size=2, page_token=ready.next_page_token
        ),
        metadata=researcher.metadata,
    )
    status = (await researcher.get_project(project.id)).processing_status

    assert [d.filename for d in [*ready.documents, *rest.documents]] == [
        "note-2.txt",
        "note-1.txt",
        "note-0.txt",
    ]
    assert rest.next_page_token == ""
    assert (status.document_count, status.documents_ready, status.documents_failed) == (4, 3, 1)


async def test_deleting_and_reparsing_a_document(
    researcher: Caller, project: project_pb2.Project
) -> None:
    [first] = await researcher.upload(project.id, "a.txt", b"Alpha text.")
    [second] = await researcher.upload(project.id, "b.txt", b"Beta text.")
    await researcher.parsed(first.document.id)
    await researcher.parsed(second.document.id)

    await researcher.documents.DeleteDocument(
        document_pb2.DeleteDocumentRequest(document_id=first.document.id),
        metadata=researcher.metadata,
    )
    reparsed = await researcher.documents.ReparseDocument(
        document_pb2.ReparseDocumentRequest(document_id=second.document.id),
        metadata=researcher.metadata,
    )

    missing = await rpc_error(researcher.get_document(first.document.id))
    assert missing.code() == grpc.StatusCode.NOT_FOUND
    assert reparsed.document.status == common_pb2.DOCUMENT_STATUS_UPLOADED
    assert (await researcher.parsed(second.document.id)).text == "Beta text."


async def test_ingestion_events_are_logged(
    researcher: Caller, project: project_pb2.Project, database: Database
) -> None:
    [good] = await researcher.upload(project.id, "good.txt", b"Some text.")
    [bad] = await researcher.upload(project.id, "bad.txt", b" ")
    await researcher.parsed(good.document.id)
    await researcher.parsed(bad.document.id)

    async with database.transaction(uuid.UUID(researcher.user_id)) as session:
        rows = (
            await session.scalars(
                select(ProcessingLog).where(ProcessingLog.project_id == uuid.UUID(project.id))
            )
        ).all()
    events = {(str(row.document_id), row.event_type) for row in rows}

    assert (good.document.id, LogEventType.DOCUMENT_UPLOADED) in events
    assert (good.document.id, LogEventType.DOCUMENT_PARSED) in events
    assert (bad.document.id, LogEventType.DOCUMENT_FAILED) in events


async def test_another_researchers_documents_are_not_found(
    researcher: Caller, project: project_pb2.Project, channel: grpc.aio.Channel
) -> None:
    [result] = await researcher.upload(project.id, "private.txt", b"Private notes.")
    intruder = await signed_in(channel, f"intruder-{uuid.uuid4().hex[:8]}@example.org")

    calls: list[Awaitable[object]] = [
        intruder.get_document(result.document.id),
        intruder.upload(project.id, "x.txt", b"Planted."),
        intruder.documents.ListDocuments(
            document_pb2.ListDocumentsRequest(project_id=project.id), metadata=intruder.metadata
        ),
        intruder.documents.DeleteDocument(
            document_pb2.DeleteDocumentRequest(document_id=result.document.id),
            metadata=intruder.metadata,
        ),
    ]
    for call in calls:
        assert (await rpc_error(call)).code() == grpc.StatusCode.NOT_FOUND


@pytest.fixture
async def small_limit_server(
    settings: Settings, database: Database, redis: Redis
) -> AsyncIterator[RunningServer]:
    """A second server on the same database whose uploads are limited to 200 KB."""
    limited = settings.model_copy(
        update={"upload_max_bytes": 200_000, "upload_max_unpacked_bytes": 2_000_000}
    )
    running = await start_server(limited, database, redis, TEST_REDIS_URL, port=0)
    yield running
    await running.stop(grace=1)


async def test_uploads_over_the_limit_are_refused_as_resource_exhausted(
    small_limit_server: RunningServer, unique_email: str, worker: subprocess.Popen[bytes]
) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{small_limit_server.port}") as channel:
        caller = await signed_in(channel, unique_email)
        project = await caller.create_project()

        too_big = await rpc_error(caller.upload(project.id, "big.txt", b"word " * 50_000))
        bomb = await rpc_error(caller.upload(project.id, "bomb.zip", zeros_zip("inner.txt", 50)))
        announced = await rpc_error(
            caller.documents.BeginUpload(
                document_pb2.BeginUploadRequest(
                    metadata=document_pb2.UploadMetadata(project_id=project.id, filename="x"),
                    size_bytes=10_000_000,
                ),
                metadata=caller.metadata,
            )
        )

    assert too_big.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert bomb.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert announced.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
