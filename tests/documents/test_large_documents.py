"""Large documents stay usable, over gRPC with a real worker: a text longer than one message is
READY, GetDocument says it left the text out, GetDocumentText gives it back page by page, exactly;
a document beyond the documented size ends FAILED saying so. The limits are configured small
(a server and a worker of this module's own), so that the documents stay small."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator

import aiohttp
import grpc
import pytest
from coderai.v1 import common_pb2, document_pb2
from redis.asyncio import Redis

from gateway.grpcweb import Mode
from server.core.config import Settings
from server.core.db import Database
from server.main import RunningServer, start_server
from tests.conftest import TEST_REDIS_URL
from tests.documents.files import Line, docx_bytes, pdf_bytes, word
from tests.factories import Caller, bad_request_fields, rpc_error, signed_in
from tests.gateway.client import GrpcWebClient, base_url, local_gateway
from tests.processes import IDLE_WORKER_GRACE, coderai, stop

READY = common_pb2.DOCUMENT_STATUS_READY
FAILED = common_pb2.DOCUMENT_STATUS_FAILED
# The module's limits: what GetDocument returns inline, the longest text kept, the largest
# text file and HTML page (or Word XML) read; and what the test client accepts in one message,
# which a text of INLINE_CHARS fits and the long text below does not.
INLINE_CHARS = 20_000
MAX_TEXT_CHARS = 200_000
MAX_TEXT_FILE_BYTES = 400_000
MAX_MARKUP_BYTES = 300_000
RECEIVE_LIMIT_BYTES = 64 * 1024


def long_text(chars: int) -> str:
    """Paragraphs with accents, a dash and characters outside the BMP, so that offsets in
    characters and in bytes differ (an emoji is 4 bytes in UTF-8, 2 code units in UTF-16)."""
    paragraph = (
        "Paragraph {n}: the Conseil d'État met in Zürich \u2014 résumé attached \U0001f4c4. "
        "The council approved the coastal protection budget on 12 March 2024."
    )
    pieces: list[str] = []
    size = 0
    while size < chars:
        pieces.append(paragraph.format(n=len(pieces)))
        size += len(pieces[-1]) + 2
    return "\n\n".join(pieces)


@pytest.fixture(scope="module")
def limited_queue(settings: Settings) -> str:
    return f"{settings.task_queue_name}:limited"


@pytest.fixture(scope="module")
def limited_worker(app_url: str, limited_queue: str) -> Iterator[subprocess.Popen[bytes]]:
    """A real worker with the module's limits, on a queue of its own."""
    process = coderai(
        "worker",
        "--processes",
        "1",
        APP_DATABASE_URL=app_url,
        REDIS_URL=TEST_REDIS_URL,
        TASK_QUEUE_NAME=limited_queue,
        JOB_SUPERVISOR_INTERVAL_SECONDS="86400",
        DOCUMENT_MAX_TEXT_CHARS=str(MAX_TEXT_CHARS),
        DOCUMENT_MAX_TEXT_FILE_BYTES=str(MAX_TEXT_FILE_BYTES),
        DOCUMENT_MAX_MARKUP_BYTES=str(MAX_MARKUP_BYTES),
    )
    yield process
    stop(process, timeout=IDLE_WORKER_GRACE)


@pytest.fixture(scope="module")
async def limited_server(
    settings: Settings, database: Database, redis: Redis, limited_queue: str
) -> AsyncIterator[RunningServer]:
    """A second server on the same database, queueing for the limited worker."""
    limited = settings.model_copy(
        update={
            "task_queue_name": limited_queue,
            "document_inline_text_chars": INLINE_CHARS,
            "document_max_text_chars": MAX_TEXT_CHARS,
            "document_max_text_file_bytes": MAX_TEXT_FILE_BYTES,
            "document_max_markup_bytes": MAX_MARKUP_BYTES,
        }
    )
    running = await start_server(limited, database, redis, TEST_REDIS_URL, port=0)
    yield running
    await running.stop(grace=1)


@pytest.fixture
async def researcher(
    limited_server: RunningServer,
    limited_worker: subprocess.Popen[bytes],
    unique_email: str,
) -> AsyncIterator[Caller]:
    """A researcher whose client takes at most RECEIVE_LIMIT_BYTES in one message."""
    async with grpc.aio.insecure_channel(
        f"127.0.0.1:{limited_server.port}",
        options=[("grpc.max_receive_message_length", RECEIVE_LIMIT_BYTES)],
    ) as channel:
        yield await signed_in(channel, unique_email)


async def text_pages(
    caller: Caller, document_id: str, limit: int
) -> list[document_pb2.GetDocumentTextResponse]:
    pages: list[document_pb2.GetDocumentTextResponse] = []
    offset = 0
    while True:
        pages.append(
            await caller.documents.GetDocumentText(
                document_pb2.GetDocumentTextRequest(
                    document_id=document_id, offset=offset, limit=limit
                ),
                metadata=caller.metadata,
            )
        )
        if not pages[-1].next_offset:
            return pages
        offset = pages[-1].next_offset


async def test_a_text_longer_than_one_message_is_ready_and_read_back_page_by_page(
    researcher: Caller,
) -> None:
    text = long_text(150_000)
    assert len(text.encode()) > RECEIVE_LIMIT_BYTES  # it would not fit in one answer
    project = await researcher.create_project()
    [result] = await researcher.upload(project.id, "hansard.txt", text.encode())

    parsed = await researcher.parsed(result.document.id)
    pages = await text_pages(researcher, result.document.id, limit=30_000)
    listed = await researcher.documents.ListDocuments(
        document_pb2.ListDocumentsRequest(project_id=project.id), metadata=researcher.metadata
    )

    assert parsed.document.status == READY
    assert parsed.document.chunk_count > 1
    assert parsed.text_omitted
    assert parsed.text_length == len(text)
    assert parsed.text == ""
    assert list(parsed.chunks) == []
    assert "".join(page.text for page in pages) == text
    assert [page.offset for page in pages] == list(range(0, len(text), 30_000))
    assert all(page.text_length == len(text) for page in pages)
    assert [d.id for d in listed.documents] == [result.document.id]


async def test_text_pages_default_clamp_and_end(researcher: Caller) -> None:
    text = long_text(30_000)
    project = await researcher.create_project()
    [result] = await researcher.upload(project.id, "notes.txt", text.encode())
    await researcher.parsed(result.document.id)

    def request(offset: int, limit: int) -> document_pb2.GetDocumentTextRequest:
        return document_pb2.GetDocumentTextRequest(
            document_id=result.document.id, offset=offset, limit=limit
        )

    whole = await researcher.documents.GetDocumentText(request(0, 0), metadata=researcher.metadata)
    middle = await researcher.documents.GetDocumentText(
        request(101, 7), metadata=researcher.metadata
    )
    past_the_end = await researcher.documents.GetDocumentText(
        request(len(text) + 5, 10), metadata=researcher.metadata
    )
    negative = await rpc_error(
        researcher.documents.GetDocumentText(request(-1, -1), metadata=researcher.metadata)
    )

    # The default page (250,000 characters) holds all of it; the server's default is not the
    # client's limit, which a 30,000-character text fits in.
    assert (whole.text, whole.next_offset, whole.text_length) == (text, 0, len(text))
    assert (middle.text, middle.next_offset) == (text[101:108], 108)
    assert (past_the_end.text, past_the_end.next_offset) == ("", 0)
    assert negative.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert bad_request_fields(negative) == ["offset", "limit"]


async def test_a_text_within_the_inline_limit_still_comes_with_get_document(
    researcher: Caller,
) -> None:
    text = long_text(INLINE_CHARS - 200)
    project = await researcher.create_project()
    [result] = await researcher.upload(project.id, "short.txt", text.encode())

    parsed = await researcher.parsed(result.document.id)

    assert parsed.document.status == READY
    assert not parsed.text_omitted
    assert (parsed.text, parsed.text_length) == (text, len(text))


def long_pdf(chars: int) -> bytes:
    """Pages of 50 lines of 80 characters until the text has `chars` characters."""
    line = "The committee heard evidence from the harbour master and the coastal engineers."
    pages: list[list[Line]] = []
    for page in range(chars // (50 * len(line)) + 1):
        pages.append([((40, 40 + 15 * row), f"{page:03d}{row:02d} {line}") for row in range(50)])
    return pdf_bytes(pages)


def long_docx(paragraphs: int) -> bytes:
    document = word.Document()
    for index in range(paragraphs):
        document.add_paragraph(f"{index}: the council approved the coastal protection budget.")
    return docx_bytes(document)


SPEECHES = long_text(MAX_TEXT_CHARS + 10_000)


@pytest.mark.parametrize(
    ("filename", "make", "message"),
    [
        (
            "speeches.txt",
            lambda: SPEECHES.encode(),
            f"The document's text is {len(SPEECHES):,} characters",
        ),
        ("archive.txt", lambda: b"word " * (MAX_TEXT_FILE_BYTES // 5 + 1), "text file is 0.4 MB"),
        (
            "page.html",
            lambda: b"<html><body>" + b"<p>Hearing.</p>" * (MAX_MARKUP_BYTES // 15),
            "HTML page is 0.3",
        ),
        ("report.pdf", lambda: long_pdf(MAX_TEXT_CHARS + 10_000), "text is more than 20"),
        ("minutes.docx", lambda: long_docx(6_000), "Word document's unpacked XML is"),
    ],
    ids=["text", "text file bytes", "html bytes", "pdf pages", "docx xml"],
)
async def test_a_document_beyond_the_documented_size_ends_failed_saying_so(
    researcher: Caller, filename: str, make: object, message: str
) -> None:
    project = await researcher.create_project()
    assert callable(make)
    [result] = await researcher.upload(project.id, filename, make())

    parsed = await researcher.parsed(result.document.id)

    assert parsed.document.status == FAILED
    assert message in parsed.document.error_message
    assert "the most this server reads is" in parsed.document.error_message
    assert "DOCUMENT_MAX_" in parsed.document.error_message


async def test_the_text_of_a_document_without_one_is_a_failed_precondition(
    researcher: Caller,
) -> None:
    project = await researcher.create_project()
    [result] = await researcher.upload(project.id, "blank.txt", b"  \n ")
    await researcher.parsed(result.document.id)

    error = await rpc_error(
        researcher.documents.GetDocumentText(
            document_pb2.GetDocumentTextRequest(document_id=result.document.id),
            metadata=researcher.metadata,
        )
    )

    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION


async def test_another_researchers_document_text_is_not_found(
    researcher: Caller, limited_server: RunningServer
) -> None:
    project = await researcher.create_project()
    [result] = await researcher.upload(project.id, "private.txt", b"Private notes.")
    await researcher.parsed(result.document.id)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{limited_server.port}") as channel:
        intruder = await signed_in(channel, f"intruder-{uuid.uuid4().hex[:8]}@example.org")
        error = await rpc_error(
            intruder.documents.GetDocumentText(
                document_pb2.GetDocumentTextRequest(document_id=result.document.id),
                metadata=intruder.metadata,
            )
        )

    assert error.code() == grpc.StatusCode.NOT_FOUND


async def test_a_browser_reads_a_long_text_page_by_page_through_grpc_web(
    researcher: Caller, limited_server: RunningServer
) -> None:
    text = long_text(50_000)
    project = await researcher.create_project()
    [result] = await researcher.upload(project.id, "letters.txt", text.encode())
    await researcher.parsed(result.document.id)
    token = dict(researcher.metadata)["authorization"].removeprefix("Bearer ")
    gateway = await local_gateway(f"127.0.0.1:{limited_server.port}")
    try:
        async with aiohttp.ClientSession() as http:
            browser = GrpcWebClient(http, base_url(gateway))
            pages: list[str] = []
            offset = 0
            while True:
                reply = await browser.call(
                    "/coderai.v1.DocumentService/GetDocumentText",
                    document_pb2.GetDocumentTextRequest(
                        document_id=result.document.id, offset=offset, limit=20_000
                    ),
                    mode=Mode.TEXT,
                    token=token,
                )
                page = reply.message(document_pb2.GetDocumentTextResponse)
                pages.append(page.text)
                if not page.next_offset:
                    break
                offset = page.next_offset
    finally:
        await gateway.stop()

    assert len(pages) == 3
    assert "".join(pages) == text
