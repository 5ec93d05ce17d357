"""Document use cases: upload (three ways, one path), inspection, deletion, and the parsing a
worker does; each use case owns its transactions.

An upload arrives as a file object (spooled to disk past a few MiB, so a large upload is not
held in memory while it arrives); its type is detected from the content, the same bytes
already in the project are reported instead of stored twice, a plain ZIP is unpacked into
documents, and the bytes are stored in parts. Parsing is queued for the workers once the
document is committed.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import tempfile
import time
import uuid
from collections.abc import AsyncIterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import IO, Protocol

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from server.core.config import Settings
from server.core.db import Database
from server.core.errors import (
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    NotFound,
    ResourceExhausted,
)
from server.core.pagination import decode_cursor, page_with_token
from server.documents import repository
from server.documents.archives import ParseLimits, unpack_zip
from server.documents.chunking import TextChunk, chunk_text
from server.documents.detection import (
    MIME_TYPES,
    DocumentArchive,
    DocumentParseError,
    DocumentTooLarge,
    detect_type,
)
from server.documents.models import (
    Document,
    DocumentChunk,
    DocumentStatus,
    UploadSession,
    text_hash,
)
from server.documents.parsing import ParsedDocument, parse_document
from server.jobs.models import LogEventType, ProcessingLog
from server.projects import repository as projects
from server.projects.service import project_not_found

log = logging.getLogger(__name__)

# Uploads stay in memory up to this size, then spill to a temporary file.
_SPOOL_BYTES = 8 * 1024 * 1024
# Enough of a file to recognise a PDF without reading the rest.
_HEAD_BYTES = 1024
_FILENAME_MAX = 500


class TaskQueue(Protocol):
    """Where parsing work goes: the Taskiq queue in the server, something else in tests of
    logic above it."""

    async def parse_document(self, user_id: uuid.UUID, document_id: uuid.UUID) -> None: ...


@dataclass(frozen=True)
class UploadOutcome:
    filename: str
    document: Document | None
    duplicate: bool = False
    error_message: str = ""


@dataclass(frozen=True)
class DocumentDetails:
    document: Document
    chunks: Sequence[DocumentChunk]


def document_not_found(document_id: uuid.UUID) -> NotFound:
    return NotFound(f"document {document_id} not found")


def upload_not_found(upload_id: uuid.UUID) -> NotFound:
    return NotFound(f"upload {upload_id} not found (finished, aborted or expired)")


def spooled_file() -> IO[bytes]:
    return tempfile.SpooledTemporaryFile(max_size=_SPOOL_BYTES)


class DocumentService:
    def __init__(self, db: Database, settings: Settings, tasks: TaskQueue) -> None:
        self._db = db
        self._settings = settings
        self._tasks = tasks
        self.limits = ParseLimits(
            max_document_bytes=settings.upload_max_bytes,
            max_decompressed_bytes=settings.upload_max_unpacked_bytes,
        )

    @property
    def max_part_bytes(self) -> int:
        return self._settings.upload_part_bytes

    # --- upload -----------------------------------------------------------------------------

    async def check_project(self, user_id: uuid.UUID, project_id: uuid.UUID) -> None:
        """NOT_FOUND before any bytes are received for a project that is not the caller's."""
        async with self._db.transaction(user_id) as session:
            if await projects.get(session, project_id) is None:
                raise project_not_found(project_id)

    def check_size(self, size: int) -> None:
        if size > self._settings.upload_max_bytes:
            raise ResourceExhausted(
                f"the file is larger than the upload limit of "
                f"{self._settings.upload_max_bytes} bytes"
            )

    async def receive(self, chunks: AsyncIterable[bytes]) -> IO[bytes]:
        """The chunks of a streamed file, spooled; RESOURCE_EXHAUSTED as soon as they pass
        the limit."""
        file = spooled_file()
        size = 0
        async for chunk in chunks:
            size += len(chunk)
            self.check_size(size)
            file.write(chunk)
        file.seek(0)
        return file

    async def upload(
        self, user_id: uuid.UUID, project_id: uuid.UUID, filename: str, file: IO[bytes]
    ) -> list[UploadOutcome]:
        """Stores an uploaded file (a .zip: each document in it) and queues its parsing.

        A single file of a type that cannot be read is INVALID_ARGUMENT; inside a .zip such a
        file is reported in its outcome and skipped, the others are stored."""
        filename = _clean_filename(filename)
        await self.check_project(user_id, project_id)
        head = file.read(_HEAD_BYTES)
        file.seek(0)
        if b"%PDF-" in head:
            # Recognised from its first kilobyte: stored straight from the file.
            outcomes = [await self._store(user_id, project_id, filename, file, "application/pdf")]
        else:
            outcomes = await self._upload_other(user_id, project_id, filename, file)
        for outcome in outcomes:
            if outcome.document is not None and not outcome.duplicate:
                await self._queue_parse(user_id, outcome.document.id)
        return outcomes

    async def _upload_other(
        self, user_id: uuid.UUID, project_id: uuid.UUID, filename: str, file: IO[bytes]
    ) -> list[UploadOutcome]:
        """A file that is not a PDF: its type needs all of it (a ZIP's directory is at its
        end; text must decode), so it is read whole, once; it is stored from the file."""
        data = file.read()
        try:
            document_type = detect_type(data, filename)
        except DocumentArchive:
            return await self._upload_archive(user_id, project_id, data)
        except DocumentParseError as error:
            raise _unreadable(filename, error) from None
        del data
        file.seek(0)
        return [await self._store(user_id, project_id, filename, file, MIME_TYPES[document_type])]

    async def _upload_archive(
        self, user_id: uuid.UUID, project_id: uuid.UUID, data: bytes
    ) -> list[UploadOutcome]:
        try:
            entries = await asyncio.to_thread(unpack_zip, data, self.limits)
        except DocumentTooLarge as error:
            raise ResourceExhausted(error.message) from None
        except DocumentParseError as error:
            raise _unreadable("the archive", error) from None
        if not entries:
            raise InvalidArgument(
                "the ZIP archive holds no documents", [FieldViolation("file", "no documents")]
            )
        outcomes: list[UploadOutcome] = []
        for name, content in entries:
            name = _clean_filename(name)
            try:
                document_type = detect_type(content, name)
            except DocumentParseError as error:
                outcomes.append(
                    UploadOutcome(filename=name, document=None, error_message=error.message)
                )
                continue
            with spooled_file() as file:
                file.write(content)
                file.seek(0)
                outcomes.append(
                    await self._store(user_id, project_id, name, file, MIME_TYPES[document_type])
                )
        return outcomes

    async def _store(
        self,
        user_id: uuid.UUID,
        project_id: uuid.UUID,
        filename: str,
        file: IO[bytes],
        mime_type: str,
    ) -> UploadOutcome:
        """One document with its bytes in parts, in one transaction; or the existing document
        with the same bytes."""
        content_hash, size = _digest(file)
        async with self._db.transaction(user_id) as session:
            existing = await repository.find_by_hash(session, project_id, content_hash)
            if existing is not None:
                return UploadOutcome(filename=filename, document=existing, duplicate=True)
            document = Document(
                user_id=user_id,
                project_id=project_id,
                filename=filename,
                mime_type=mime_type,
                size_bytes=size,
                content_hash=content_hash,
                status=DocumentStatus.UPLOADED,
            )
            session.add(document)
            try:
                await session.flush()
            except IntegrityError as error:
                if "uq_documents_project_id_content_hash" not in str(error.orig):
                    raise
                concurrent = True
            else:
                concurrent = False
                part = 0
                while data := file.read(self._settings.upload_part_bytes):
                    await repository.add_blob_part(session, document, part, data)
                    part += 1
                _log(
                    session,
                    document,
                    LogEventType.DOCUMENT_UPLOADED,
                    f"{filename} uploaded ({size} bytes)",
                    {"size_bytes": size, "mime_type": mime_type},
                )
        if concurrent:
            # The same bytes arrived twice at once: the other upload stored them.
            async with self._db.transaction(user_id) as session:
                existing = await repository.find_by_hash(session, project_id, content_hash)
            return UploadOutcome(filename=filename, document=existing, duplicate=True)
        return UploadOutcome(filename=filename, document=document)

    # --- resumable upload in unary calls -------------------------------------------------

    async def begin_upload(
        self,
        user_id: uuid.UUID,
        project_id: uuid.UUID,
        filename: str,
        expected_bytes: int,
        mime_type_hint: str,
    ) -> UploadSession:
        self.check_size(expected_bytes)
        async with self._db.transaction(user_id) as session:
            if await projects.get(session, project_id) is None:
                raise project_not_found(project_id)
            # Abandoned uploads of this tenant go when a new one begins.
            cutoff = datetime.now(UTC) - timedelta(
                seconds=self._settings.upload_session_ttl_seconds
            )
            await repository.delete_uploads_before(session, cutoff)
            upload = UploadSession(
                user_id=user_id,
                project_id=project_id,
                filename=_clean_filename(filename),
                mime_type_hint=mime_type_hint[:200],
                expected_bytes=max(expected_bytes, 0),
            )
            session.add(upload)
            await session.flush()
        return upload

    async def append_upload(
        self, user_id: uuid.UUID, upload_id: uuid.UUID, offset: int, data: bytes
    ) -> int:
        """Adds the part at offset; returns the bytes received. A part sent again after a lost
        response (its offset already passed) is acknowledged, not stored twice."""
        if len(data) > self._settings.upload_part_bytes:
            raise ResourceExhausted(
                f"a part may hold at most {self._settings.upload_part_bytes} bytes"
            )
        async with self._db.transaction(user_id) as session:
            upload = await self._live_upload(session, upload_id)
            if offset < upload.received_bytes:
                return upload.received_bytes
            if offset > upload.received_bytes:
                raise FailedPrecondition(
                    f"the upload has {upload.received_bytes} bytes; the next part must start "
                    f"there, not at {offset}"
                )
            self.check_size(upload.received_bytes + len(data))
            await repository.add_upload_part(session, upload, upload.part_count, data)
            upload.part_count += 1
            upload.received_bytes += len(data)
            return upload.received_bytes

    async def finish_upload(self, user_id: uuid.UUID, upload_id: uuid.UUID) -> list[UploadOutcome]:
        async with self._db.transaction(user_id) as session:
            upload = await self._live_upload(session, upload_id)
            if upload.expected_bytes and upload.received_bytes != upload.expected_bytes:
                raise FailedPrecondition(
                    f"the upload has {upload.received_bytes} of {upload.expected_bytes} bytes"
                )
            project_id, filename = upload.project_id, upload.filename
            file = spooled_file()
            async for data in repository.upload_parts(session, upload_id):
                file.write(data)
            await session.delete(upload)
        with file:
            file.seek(0)
            return await self.upload(user_id, project_id, filename, file)

    async def abort_upload(self, user_id: uuid.UUID, upload_id: uuid.UUID) -> None:
        async with self._db.transaction(user_id) as session:
            await session.delete(await self._live_upload(session, upload_id))

    async def _live_upload(self, session: AsyncSession, upload_id: uuid.UUID) -> UploadSession:
        upload = await repository.get_upload(session, upload_id)
        expiry = timedelta(seconds=self._settings.upload_session_ttl_seconds)
        if upload is None or upload.created_at < datetime.now(UTC) - expiry:
            raise upload_not_found(upload_id)
        return upload

    # --- reading and deleting ------------------------------------------------------------

    async def get(
        self, user_id: uuid.UUID, document_id: uuid.UUID, include_text: bool
    ) -> DocumentDetails:
        async with self._db.transaction(user_id) as session:
            document = await repository.get(session, document_id)
            if document is None:
                raise document_not_found(document_id)
            found = await repository.chunks(session, document_id) if include_text else []
        return DocumentDetails(document=document, chunks=found)

    async def list(
        self,
        user_id: uuid.UUID,
        project_id: uuid.UUID,
        status: DocumentStatus | None,
        page_size: int,
        page_token: str,
    ) -> tuple[Sequence[Document], str]:
        after = decode_cursor(page_token)
        async with self._db.transaction(user_id) as session:
            if await projects.get(session, project_id) is None:
                raise project_not_found(project_id)
            rows = await repository.list_page(session, project_id, status, page_size + 1, after)
        return page_with_token(rows, page_size)

    async def delete(self, user_id: uuid.UUID, document_id: uuid.UUID) -> None:
        async with self._db.transaction(user_id) as session:
            document = await repository.get_for_update(session, document_id)
            if document is None:
                raise document_not_found(document_id)
            if await projects.has_running_job(session, document.project_id):
                raise FailedPrecondition("the project has a running job; pause or cancel it first")
            await session.delete(document)

    async def reparse(self, user_id: uuid.UUID, document_id: uuid.UUID) -> Document:
        """Parses the stored bytes again (after a parser improvement, or a failure)."""
        async with self._db.transaction(user_id) as session:
            document = await repository.get_for_update(session, document_id)
            if document is None:
                raise document_not_found(document_id)
            if await projects.has_running_job(session, document.project_id):
                raise FailedPrecondition("the project has a running job; pause or cancel it first")
            document.status = DocumentStatus.UPLOADED
            document.error_message = None
            await session.flush()
        await self._queue_parse(user_id, document_id)
        return document

    async def _queue_parse(self, user_id: uuid.UUID, document_id: uuid.UUID) -> None:
        await self._tasks.parse_document(user_id, document_id)

    # --- parsing (the worker's side) --------------------------------------------------------

    async def parse(self, user_id: uuid.UUID, document_id: uuid.UUID) -> Document | None:
        """UPLOADED → PARSED (text) → READY (chunked), or FAILED with a message a researcher
        understands. Parsing runs in a thread; a document deleted meanwhile is skipped."""
        started = time.perf_counter()
        async with self._db.transaction(user_id) as session:
            document = await repository.get(session, document_id)
            if document is None:
                return None
            filename = document.filename
            parts = [data async for data in repository.blob_parts(session, document_id)]
        data = b"".join(parts)
        del parts
        try:
            parsed = await asyncio.to_thread(parse_document, data, filename, limits=self.limits)
        except DocumentParseError as error:
            return await self._fail(user_id, document_id, error.message)
        finally:
            del data
        parsed_document = await self._save_text(user_id, document_id, parsed)
        if parsed_document is None:
            return None
        chunks = await asyncio.to_thread(chunk_text, parsed.text)
        return await self._save_chunks(user_id, document_id, chunks, started)

    async def _save_text(
        self, user_id: uuid.UUID, document_id: uuid.UUID, parsed: ParsedDocument
    ) -> Document | None:
        async with self._db.transaction(user_id) as session:
            document = await repository.get_for_update(session, document_id)
            if document is None:
                return None
            document.text_content = parsed.text
            document.text_hash = text_hash(parsed.text)
            document.word_count = parsed.word_count
            document.page_count = parsed.page_count
            document.mime_type = parsed.mime_type
            document.parse_metadata = {
                **parsed.metadata,
                "pages": [list(span) for span in parsed.pages],
            }
            document.status = DocumentStatus.PARSED
            document.error_message = None
            await repository.delete_chunks(session, document_id)
            document.chunk_count = 0
        return document

    async def _save_chunks(
        self,
        user_id: uuid.UUID,
        document_id: uuid.UUID,
        chunks: Sequence[TextChunk],
        started: float,
    ) -> Document | None:
        async with self._db.transaction(user_id) as session:
            document = await repository.get_for_update(session, document_id)
            if document is None:
                return None
            session.add_all(
                DocumentChunk(
                    user_id=user_id,
                    document_id=document_id,
                    ordinal=chunk.ordinal,
                    text_content=chunk.text,
                    token_count=chunk.token_count,
                    start_offset=chunk.start,
                    end_offset=chunk.end,
                )
                for chunk in chunks
            )
            document.chunk_count = len(chunks)
            document.status = DocumentStatus.READY
            _log(
                session,
                document,
                LogEventType.DOCUMENT_PARSED,
                f"{document.filename}: {document.word_count} words, "
                f"{document.page_count} pages, {len(chunks)} chunks",
                {
                    "word_count": document.word_count,
                    "page_count": document.page_count,
                    "chunk_count": len(chunks),
                    "seconds": round(time.perf_counter() - started, 3),
                },
            )
        return document

    async def _fail(
        self, user_id: uuid.UUID, document_id: uuid.UUID, message: str
    ) -> Document | None:
        async with self._db.transaction(user_id) as session:
            document = await repository.get_for_update(session, document_id)
            if document is None:
                return None
            document.status = DocumentStatus.FAILED
            document.error_message = message
            _log(
                session,
                document,
                LogEventType.DOCUMENT_FAILED,
                f"{document.filename}: {message}",
                {},
            )
        log.info("document %s failed to parse: %s", document_id, message)
        return document


def _digest(file: IO[bytes]) -> tuple[str, int]:
    """SHA-256 and size of the file, read in blocks; leaves it at its start."""
    digest = hashlib.sha256()
    size = 0
    file.seek(0)
    while block := file.read(1024 * 1024):
        digest.update(block)
        size += len(block)
    file.seek(0)
    return digest.hexdigest(), size


def _clean_filename(filename: str) -> str:
    name = filename.replace("\\", "/").rsplit("/", 1)[-1].strip()
    name = "".join(ch for ch in name if ch.isprintable())
    if not name:
        raise InvalidArgument("filename is required", [FieldViolation("filename", "required")])
    return name[:_FILENAME_MAX]


def _unreadable(filename: str, error: DocumentParseError) -> InvalidArgument:
    return InvalidArgument(
        f"{filename} cannot be read: {error.message}",
        [FieldViolation("filename", error.message)],
    )


def _log(
    session: AsyncSession,
    document: Document,
    event: LogEventType,
    message: str,
    details: dict[str, object],
) -> None:
    session.add(
        ProcessingLog(
            user_id=document.user_id,
            project_id=document.project_id,
            document_id=document.id,
            event_type=event,
            message=message,
            details=details,
        )
    )
