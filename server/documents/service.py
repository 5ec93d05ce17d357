"""Document use cases: upload (three ways, one path), inspection, deletion, and the parsing a
worker does; each use case owns its transactions.

An upload arrives as a file spooled to disk and hashed as it arrives (never held in memory: a
stream that stalls holds a file, and only until its idle deadline); its type is detected from
its first MiB, the same bytes already in the project are reported instead of stored twice, a
plain ZIP is unpacked into documents one entry at a time, and the bytes are stored in parts,
so the server's memory per upload is bounded whatever the file's size. Uploads in flight are
limited per user and per process, unfinished resumable ones per user. Parsing is queued for
the workers once the document is committed.
"""

from __future__ import annotations

import asyncio
import io
import logging
import time
import uuid
from collections.abc import AsyncIterable, AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from redis.asyncio import Redis
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from server.core import quotas
from server.core.config import Settings
from server.core.db import Database
from server.core.errors import (
    DeadlineExceeded,
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    NotFound,
    ResourceExhausted,
)
from server.core.pagination import decode_cursor, page_with_token
from server.core.processing_log import LogEventType, ProcessingLog
from server.core.quotas import Quota, QuotaLimits
from server.core.slots import SlotLimits, Slots
from server.core.streams import idle_limited
from server.documents import repository
from server.documents.archives import ParseLimits, ZipDocuments
from server.documents.chunking import TextChunk, chunk_text
from server.documents.detection import (
    MIME_TYPES,
    DocumentArchive,
    DocumentParseError,
    DocumentTooLarge,
    detect_file_type,
    document_type_of,
)
from server.documents.models import (
    Document,
    DocumentChunk,
    DocumentStatus,
    UploadSession,
    text_hash,
)
from server.documents.parsing import ParsedDocument, check_reader_input, parse_document
from server.documents.spool import UploadSpool
from server.projects import repository as projects
from server.projects.service import HasRunningJob, project_not_found

log = logging.getLogger(__name__)

_FILENAME_MAX = 500
# A page of text from GetDocumentText, in characters: at most 4 bytes each in UTF-8, so the
# largest page is 4 MB, well under the message limit.
TEXT_PAGE_DEFAULT_CHARS = 250_000
TEXT_PAGE_MAX_CHARS = 1_000_000


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
    # Asked for with the document, when it is at most DOCUMENT_INLINE_TEXT_CHARS long.
    text: str = ""
    text_length: int = 0
    # The text is longer than that: neither it nor the chunks were read (see get_text).
    text_omitted: bool = False


@dataclass(frozen=True)
class TextPage:
    """Characters [offset, offset + len(text)) of a document's text of text_length."""

    text: str
    offset: int
    text_length: int

    @property
    def next_offset(self) -> int:
        """Where the next page starts; 0 when this one reaches the end of the text."""
        end = self.offset + len(self.text)
        return end if end < self.text_length else 0


def document_not_found(document_id: uuid.UUID) -> NotFound:
    return NotFound(f"document {document_id} not found")


def upload_not_found(upload_id: uuid.UUID) -> NotFound:
    return NotFound(f"upload {upload_id} not found (finished, aborted or expired)")


@dataclass(frozen=True)
class UploadTarget:
    """Where a streamed upload goes: its first message."""

    project_id: uuid.UUID
    filename: str


@dataclass(frozen=True)
class UploadFile:
    """One file of a batch upload, whole."""

    filename: str
    content: bytes


class DocumentService:
    def __init__(
        self,
        db: Database,
        settings: Settings,
        tasks: TaskQueue,
        redis: Redis,
        *,
        has_running_job: HasRunningJob,
    ) -> None:
        self._db = db
        self._settings = settings
        self._tasks = tasks
        self._has_running_job = has_running_job
        self._in_flight = Slots(
            redis,
            "uploads",
            SlotLimits(
                what="uploads in flight",
                per_user=settings.upload_max_in_flight_per_user,
                per_process=settings.upload_max_in_flight_per_process,
                per_user_setting="UPLOAD_MAX_IN_FLIGHT_PER_USER",
                per_process_setting="UPLOAD_MAX_IN_FLIGHT_PER_PROCESS",
            ),
        )
        self._spool_dir = settings.upload_spool_dir or settings.data_dir / "uploads"
        self._spool_dir.mkdir(parents=True, exist_ok=True)
        self._quotas = QuotaLimits.of(settings)
        self.limits = ParseLimits(
            max_document_bytes=settings.upload_max_bytes,
            max_decompressed_bytes=settings.upload_max_unpacked_bytes,
            max_text_chars=settings.document_max_text_chars,
            max_text_file_bytes=settings.document_max_text_file_bytes,
            max_markup_bytes=settings.document_max_markup_bytes,
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

    async def check_room(self, user_id: uuid.UUID, documents: int, size_bytes: int) -> None:
        """RESOURCE_EXHAUSTED before anything is stored when `documents` more documents of
        `size_bytes` in all would pass the user's document or storage quota. Counted as
        offered: files whose bytes the project already holds, or that cannot be read, count
        too (each document is checked again, exactly, as it is stored)."""
        async with self._db.transaction(user_id) as session:
            await _room_for_documents(session, user_id, self._quotas, documents, size_bytes)

    def check_size(self, size: int) -> None:
        if size > self._settings.upload_max_bytes:
            raise ResourceExhausted(
                f"the file is larger than the upload limit of "
                f"{self._settings.upload_max_bytes} bytes"
            )

    def spool(self) -> UploadSpool:
        """A temporary file for upload bytes in the spool directory, hashed as it is written."""
        return UploadSpool(self._spool_dir)

    async def upload_stream(
        self, user_id: uuid.UUID, messages: AsyncIterator[UploadTarget | bytes]
    ) -> list[UploadOutcome]:
        """UploadDocument: the target, then the file's bytes, spooled to disk as they arrive.
        Holds one of the user's uploads in flight (RESOURCE_EXHAUSTED with a retry delay when
        none is free); a stream that sends nothing for UPLOAD_IDLE_SECONDS ends
        DEADLINE_EXCEEDED, and its spool is deleted."""
        async with self._in_flight.hold(user_id):
            messages = idle_limited(messages, self._settings.upload_idle_seconds, self._stalled)
            target = await anext(messages, None)
            if not isinstance(target, UploadTarget):
                raise InvalidArgument(
                    "the first message of an upload carries its metadata",
                    [FieldViolation("metadata", "required in the first message")],
                )
            await self.check_project(user_id, target.project_id)
            with self.spool() as spool:
                await self._receive(_file_bytes(messages), spool)
                return await self._upload(user_id, target.project_id, target.filename, spool)

    async def upload_files(
        self, user_id: uuid.UUID, project_id: uuid.UUID, files: Sequence[UploadFile]
    ) -> list[UploadOutcome]:
        """UploadDocuments: each file stored in turn from a spool, holding one upload in flight
        (RESOURCE_EXHAUSTED with a retry delay when none is free)."""
        async with self._in_flight.hold(user_id):
            await self.check_room(user_id, len(files), sum(len(upload.content) for upload in files))
            outcomes: list[UploadOutcome] = []
            for upload in files:
                self.check_size(len(upload.content))
                with self.spool() as spool:
                    spool.write(upload.content)
                    outcomes += await self._upload(user_id, project_id, upload.filename, spool)
            return outcomes

    def _stalled(self) -> DeadlineExceeded:
        return DeadlineExceeded(
            f"the upload sent nothing for {self._settings.upload_idle_seconds:g} s and was "
            "dropped; send it again (BeginUpload/AppendUpload resume after an interruption)"
        )

    async def _receive(self, chunks: AsyncIterable[bytes], spool: UploadSpool) -> None:
        """The chunks of a streamed file, written to `spool`; RESOURCE_EXHAUSTED as soon as
        they pass the limit."""
        async for chunk in chunks:
            self.check_size(spool.size + len(chunk))
            spool.write(chunk)

    async def _upload(
        self, user_id: uuid.UUID, project_id: uuid.UUID, filename: str, spool: UploadSpool
    ) -> list[UploadOutcome]:
        """Stores a spooled file (a .zip: each document in it) and queues its parsing.

        A single file of a type that cannot be read is INVALID_ARGUMENT; inside a .zip such a
        file is reported in its outcome and skipped, the others are stored."""
        filename = _clean_filename(filename)
        await self.check_project(user_id, project_id)
        try:
            document_type = await asyncio.to_thread(detect_file_type, spool.file, filename)
        except DocumentArchive:
            outcomes = await self._upload_archive(user_id, project_id, spool)
        except DocumentParseError as error:
            raise _unreadable(filename, error) from None
        else:
            outcomes = [
                await self._store(user_id, project_id, filename, spool, MIME_TYPES[document_type])
            ]
        for outcome in outcomes:
            if outcome.document is not None and not outcome.duplicate:
                await self._queue_parse(user_id, outcome.document.id)
        return outcomes

    async def _upload_archive(
        self, user_id: uuid.UUID, project_id: uuid.UUID, spool: UploadSpool
    ) -> list[UploadOutcome]:
        """Each document of a ZIP, unpacked from the file into a spool of its own and stored
        before the next is unpacked."""
        try:
            archive = await asyncio.to_thread(ZipDocuments, spool.file, self.limits)
        except DocumentTooLarge as error:
            raise ResourceExhausted(error.message) from None
        except DocumentParseError as error:
            raise _unreadable("the archive", error) from None
        with archive:
            if not archive.entries:
                raise InvalidArgument(
                    "the ZIP archive holds no documents", [FieldViolation("file", "no documents")]
                )
            # Refused whole, before anything is stored, when all it offers would not fit.
            await self.check_room(
                user_id, len(archive.entries), sum(info.file_size for _, info in archive.entries)
            )
            outcomes: list[UploadOutcome] = []
            for name, info in archive.entries:
                with self.spool() as entry:
                    # Verified on opening: within the limits, so no error is expected here.
                    await asyncio.to_thread(archive.extract, info, entry)
                    outcomes.append(await self._store_entry(user_id, project_id, name, entry))
        return outcomes

    async def _store_entry(
        self, user_id: uuid.UUID, project_id: uuid.UUID, name: str, entry: UploadSpool
    ) -> UploadOutcome:
        """One document of an archive; one that cannot be read is reported, not stored."""
        name = _clean_filename(name)
        try:
            document_type = await asyncio.to_thread(detect_file_type, entry.file, name)
        except DocumentParseError as error:
            return UploadOutcome(filename=name, document=None, error_message=error.message)
        try:
            return await self._store(user_id, project_id, name, entry, MIME_TYPES[document_type])
        except ResourceExhausted as error:
            # A concurrent upload took the room left when the archive was checked: the
            # quota holds, and this document is left out and says why.
            return UploadOutcome(filename=name, document=None, error_message=error.message)

    async def _store(
        self,
        user_id: uuid.UUID,
        project_id: uuid.UUID,
        filename: str,
        spool: UploadSpool,
        mime_type: str,
    ) -> UploadOutcome:
        """One document with its bytes in parts, in one transaction; or the existing document
        with the same bytes."""
        content_hash, size = spool.content_hash, spool.size
        async with self._db.transaction(user_id) as session:
            existing = await repository.find_by_hash(session, project_id, content_hash)
            if existing is not None:
                return UploadOutcome(filename=filename, document=existing, duplicate=True)
            if size > self._settings.upload_part_bytes:
                # Refused before its bytes are written, not after; a small file is checked
                # once, below (the count costs about as much as writing it).
                await _room_for_documents(session, user_id, self._quotas, 1, size)
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
                spool.file.seek(0)
                while data := spool.file.read(self._settings.upload_part_bytes):
                    await repository.add_blob_part(session, document, part, data)
                    part += 1
                _log(
                    session,
                    document,
                    LogEventType.DOCUMENT_UPLOADED,
                    f"{filename} uploaded ({size} bytes)",
                    {"size_bytes": size, "mime_type": mime_type},
                )
                await _holds_documents(session, user_id, self._quotas, 1, size)
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
            await _room_for_documents(session, user_id, self._quotas, 1, expected_bytes)
            await self._room_for_session(session, user_id)
            upload = UploadSession(
                user_id=user_id,
                project_id=project_id,
                filename=_clean_filename(filename),
                mime_type_hint=mime_type_hint[:200],
                expected_bytes=max(expected_bytes, 0),
                expires_at=datetime.now(UTC)
                + timedelta(seconds=self._settings.upload_session_ttl_seconds),
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
        async with self._in_flight.hold(user_id), self._db.transaction(user_id) as session:
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
            # The bytes of an unfinished upload count as stored (they are).
            await _holds_documents(session, user_id, self._quotas, 0, len(data))
            return upload.received_bytes

    async def finish_upload(self, user_id: uuid.UUID, upload_id: uuid.UUID) -> list[UploadOutcome]:
        """Stores the parts received as one file, like a streamed upload of it (holding one
        upload in flight while it is stored)."""
        async with self._in_flight.hold(user_id):
            with self.spool() as spool:
                async with self._db.transaction(user_id) as session:
                    upload = await self._live_upload(session, upload_id)
                    if upload.expected_bytes and upload.received_bytes != upload.expected_bytes:
                        raise FailedPrecondition(
                            f"the upload has {upload.received_bytes} of "
                            f"{upload.expected_bytes} bytes"
                        )
                    project_id, filename = upload.project_id, upload.filename
                    async for data in repository.upload_parts(session, upload_id):
                        spool.write(data)
                    await session.delete(upload)
                return await self._upload(user_id, project_id, filename, spool)

    async def abort_upload(self, user_id: uuid.UUID, upload_id: uuid.UUID) -> None:
        async with self._db.transaction(user_id) as session:
            await session.delete(await self._live_upload(session, upload_id))

    async def _live_upload(self, session: AsyncSession, upload_id: uuid.UUID) -> UploadSession:
        upload = await repository.get_upload(session, upload_id)
        if upload is None or upload.expires_at <= datetime.now(UTC):
            raise upload_not_found(upload_id)
        return upload

    async def _room_for_session(self, session: AsyncSession, user_id: uuid.UUID) -> None:
        """RESOURCE_EXHAUSTED when the user has UPLOAD_MAX_OPEN_SESSIONS unfinished resumable
        uploads; the retry delay is when the first of them expires. The lock is kept to the
        commit, so two BeginUploads cannot both take the last place."""
        await repository.lock_upload_sessions(session, user_id)
        count, first_expiry = await repository.open_uploads(session, datetime.now(UTC))
        limit = self._settings.upload_max_open_sessions
        if count >= limit and first_expiry is not None:
            raise ResourceExhausted(
                f"you have {count} unfinished resumable uploads, the most allowed "
                f"(UPLOAD_MAX_OPEN_SESSIONS is {limit}); finish or abort one (AbortUpload)",
                retry_after_seconds=(first_expiry - datetime.now(UTC)).total_seconds(),
            )

    async def sweep_uploads(self) -> int:
        """Deletes every tenant's expired resumable uploads with their parts; how many. Any
        server may run it at any time: the delete is idempotent."""
        async with self._db.transaction(None) as session:
            return await repository.delete_expired_uploads(session)

    # --- reading and deleting ------------------------------------------------------------

    async def get(
        self, user_id: uuid.UUID, document_id: uuid.UUID, include_text: bool
    ) -> DocumentDetails:
        """The document; with include_text, its text and chunks too unless the text is longer
        than DOCUMENT_INLINE_TEXT_CHARS (the answer must fit in one message): then only its
        length, and the text is read page by page with get_text."""
        inline_limit = self._settings.document_inline_text_chars
        async with self._db.transaction(user_id) as session:
            document = await repository.get_without_text(session, document_id)
            if document is None:
                raise document_not_found(document_id)
            if not include_text:
                return DocumentDetails(document=document, chunks=[])
            # Counted first, so that a long text is not read only to be left out.
            length = await repository.text_length(session, document_id)
            text = ""
            if length <= inline_limit:
                found = await repository.text_slice(session, document_id, 0, inline_limit + 1)
                if found is not None:  # parsed again since it was counted: the new length
                    text, length = found.text, found.text_length or 0
            if length > inline_limit:
                return DocumentDetails(document, [], text_length=length, text_omitted=True)
            chunks = await repository.chunks(session, document_id)
        return DocumentDetails(document, chunks, text=text, text_length=length)

    async def get_text(
        self, user_id: uuid.UUID, document_id: uuid.UUID, offset: int, limit: int
    ) -> TextPage:
        """Up to `limit` characters of the document's text from `offset` (0: the default
        page; more than TEXT_PAGE_MAX_CHARS: that many), cut in the database."""
        violations = [
            FieldViolation(name, "must be >= 0")
            for name, value in (("offset", offset), ("limit", limit))
            if value < 0
        ]
        if violations:
            raise InvalidArgument.from_violations(violations)
        limit = min(limit or TEXT_PAGE_DEFAULT_CHARS, TEXT_PAGE_MAX_CHARS)
        async with self._db.transaction(user_id) as session:
            found = await repository.text_slice(session, document_id, offset, limit)
        if found is None:
            raise document_not_found(document_id)
        if found.text_length is None:
            raise FailedPrecondition(
                f"document {document_id} has no text yet: it is {found.status.value}"
            )
        return TextPage(text=found.text, offset=offset, text_length=found.text_length)

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
            if await self._has_running_job(session, document.project_id):
                raise FailedPrecondition("the project has a running job; pause or cancel it first")
            await session.delete(document)

    async def reparse(self, user_id: uuid.UUID, document_id: uuid.UUID) -> Document:
        """Parses the stored bytes again (after a parser improvement, or a failure)."""
        async with self._db.transaction(user_id) as session:
            document = await repository.get_for_update(session, document_id)
            if document is None:
                raise document_not_found(document_id)
            if await self._has_running_job(session, document.project_id):
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
            document = await repository.get_without_text(session, document_id)
            if document is None:
                return None
            filename = document.filename
            refusal = self._refused_unread(document)
            # Written into one growing buffer that becomes the bytes without a copy: a list of
            # parts joined would hold the document twice.
            buffer = io.BytesIO()
            if refusal is None:
                async for part in repository.blob_parts(session, document_id):
                    buffer.write(part)
        if refusal is not None:
            return await self._fail(user_id, document_id, refusal)
        data = buffer.getvalue()
        del buffer
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

    def _refused_unread(self, document: Document) -> str | None:
        """Why a stored document is refused before its bytes are read, if it is: a text file or
        HTML page too large for its reader (a 200 MB text file is not loaded to learn that),
        with the message parse_document would give after reading all of it."""
        stored_type = document_type_of(document.mime_type)
        if stored_type is None:
            return None
        try:
            check_reader_input(document.size_bytes, stored_type, self.limits)
        except DocumentParseError as error:
            return error.message
        return None

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


async def _file_bytes(messages: AsyncIterator[UploadTarget | bytes]) -> AsyncIterator[bytes]:
    """The messages after a streamed upload's first: the file's bytes, nothing else."""
    async for message in messages:
        if not isinstance(message, bytes):
            raise InvalidArgument(
                "only the first message of an upload carries metadata",
                [FieldViolation("chunk", "expected the file's bytes")],
            )
        yield message


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


async def _room_for_documents(
    session: AsyncSession,
    user_id: uuid.UUID,
    limits: QuotaLimits,
    documents: int,
    size_bytes: int,
) -> None:
    """Whether `documents` more holding `size_bytes` fit, without the lock: an early answer
    before anything is stored; _holds_documents decides."""
    used, stored = await repository.held_by_user(session, user_id)
    quotas.check(Quota.DOCUMENTS, limits.documents, used, documents)
    quotas.check(Quota.STORAGE_BYTES, limits.storage_bytes, stored, size_bytes)


async def _holds_documents(
    session: AsyncSession,
    user_id: uuid.UUID,
    limits: QuotaLimits,
    documents: int,
    size_bytes: int,
) -> None:
    """After this transaction added `documents` documents (or upload parts) holding
    `size_bytes`, just before it commits: refuses (the caller rolls back) when the user's
    documents or bytes, these included, pass a quota. Locking last keeps the lock for the
    commit only, not while the bytes are written."""
    await quotas.lock(session, user_id, Quota.DOCUMENTS)
    await session.flush()
    used, stored = await repository.held_by_user(session, user_id)
    quotas.check(Quota.DOCUMENTS, limits.documents, used - documents, documents)
    quotas.check(Quota.STORAGE_BYTES, limits.storage_bytes, stored - size_bytes, size_bytes)
