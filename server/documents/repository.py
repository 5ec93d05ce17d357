"""Named queries for documents, their stored bytes, chunks and upload sessions."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, any_, bindparam, delete, func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute, undefer

from server.core.db import NO_KEY_UPDATE, lock_for_user, table_of, uuid_array
from server.core.pagination import Cursor, newest_first
from server.documents.models import (
    Document,
    DocumentBlob,
    DocumentChunk,
    DocumentStatus,
    UploadPart,
    UploadSession,
)


async def get(session: AsyncSession, document_id: uuid.UUID) -> Document | None:
    """The document with its text."""
    return await session.get(Document, document_id, options=[undefer(Document.text_content)])


async def get_without_text(session: AsyncSession, document_id: uuid.UUID) -> Document | None:
    """The document; its text stays in the database (it may be millions of characters)."""
    return await session.get(Document, document_id)


@dataclass(frozen=True)
class TextSlice:
    """Part of a document's text, cut in the database: [offset, offset + len(text))."""

    status: DocumentStatus
    # None before the document is parsed, or when it failed.
    text_length: int | None
    text: str


async def text_length(session: AsyncSession, document_id: uuid.UUID) -> int:
    """The length of the document's text in characters (0 without one), counted in the
    database."""
    length = await session.scalar(
        select(func.length(Document.text_content)).where(Document.id == document_id)
    )
    return length or 0


async def text_slice(
    session: AsyncSession, document_id: uuid.UUID, offset: int, limit: int
) -> TextSlice | None:
    """At most `limit` characters of the document's text from `offset` (0-based), cut by
    substr in PostgreSQL so that only they reach this process."""
    found = (
        await session.execute(
            select(
                Document.status,
                func.length(Document.text_content),
                # substr takes int4 positions: an offset at int32's top, past any text's
                # end (a text holds fewer than 2**30 characters), reads from the end too.
                func.substr(Document.text_content, min(offset, 2**31 - 2) + 1, limit),
            ).where(Document.id == document_id)
        )
    ).first()
    if found is None:
        return None
    status, length, text = found
    return TextSlice(status, length, text or "")


async def get_for_update(session: AsyncSession, document_id: uuid.UUID) -> Document | None:
    return await session.get(Document, document_id, with_for_update=NO_KEY_UPDATE)


async def in_project(
    session: AsyncSession, project_id: uuid.UUID, document_ids: Sequence[uuid.UUID]
) -> Sequence[Document]:
    """Those of the documents that are in the project, in one query however many."""
    statement = select(Document).where(
        Document.project_id == project_id, Document.id == any_(uuid_array(document_ids))
    )
    return (await session.scalars(statement)).all()


async def find_by_hash(
    session: AsyncSession, project_id: uuid.UUID, content_hash: str
) -> Document | None:
    statement = select(Document).where(
        Document.project_id == project_id, Document.content_hash == content_hash
    )
    return await session.scalar(statement)


async def list_page(
    session: AsyncSession,
    project_id: uuid.UUID,
    status: DocumentStatus | None,
    limit: int,
    after: Cursor | None,
) -> Sequence[Document]:
    statement = select(Document).where(Document.project_id == project_id)
    if status is not None:
        statement = statement.where(Document.status == status)
    return (await session.scalars(newest_first(statement, Document, after, limit))).all()


async def add_blob_part(session: AsyncSession, document: Document, part: int, data: bytes) -> None:
    await session.execute(
        insert(DocumentBlob).values(
            document_id=document.id, part=part, user_id=document.user_id, data=data
        )
    )


async def _parts(
    session: AsyncSession,
    data: InstrumentedAttribute[bytes],
    part: InstrumentedAttribute[int],
    owner: ColumnElement[bool],
) -> AsyncIterator[bytes]:
    """The parts numbered 0, 1, 2... of the rows `owner` selects, one query each, so that one
    part at a time is in memory: a server-side cursor would not do, since the asyncpg dialect
    fetches 50 rows at a time from it (50 MiB of 1 MiB parts), and SQLAlchemy buffers more."""
    number = 0
    while (found := await session.scalar(select(data).where(owner, part == number))) is not None:
        yield found
        number += 1


async def blob_parts(session: AsyncSession, document_id: uuid.UUID) -> AsyncIterator[bytes]:
    """The document's original bytes, part after part."""
    async for data in _parts(
        session, DocumentBlob.data, DocumentBlob.part, DocumentBlob.document_id == document_id
    ):
        yield data


async def chunks(session: AsyncSession, document_id: uuid.UUID) -> Sequence[DocumentChunk]:
    statement = (
        select(DocumentChunk)
        .where(DocumentChunk.document_id == document_id)
        .order_by(DocumentChunk.ordinal)
    )
    return (await session.scalars(statement)).all()


_DOCUMENTS = table_of(Document)
_CHUNKS_TABLE = table_of(DocumentChunk)


@dataclass(frozen=True)
class ReadableText:
    """What extraction reads of a document: its text and, when it was chunked, its chunks
    as (start offset, end offset, text)."""

    status: DocumentStatus
    text: str
    # See models.text_hash; None before the document is parsed.
    text_hash: str | None
    chunks: list[tuple[int, int, str]]


# Run for every document a job extracts: built once (see table_of).
_TEXT = select(
    _DOCUMENTS.c.status, _DOCUMENTS.c.text, _DOCUMENTS.c.text_hash, _DOCUMENTS.c.chunk_count
).where(_DOCUMENTS.c.id == bindparam("document_id"))
_CHUNKS = (
    select(_CHUNKS_TABLE.c.start_offset, _CHUNKS_TABLE.c.end_offset, _CHUNKS_TABLE.c.text)
    .where(_CHUNKS_TABLE.c.document_id == bindparam("document_id"))
    .order_by(_CHUNKS_TABLE.c.ordinal)
)


async def readable_text(session: AsyncSession, document_id: uuid.UUID) -> ReadableText | None:
    found = (await session.execute(_TEXT, {"document_id": document_id})).first()
    if found is None:
        return None
    status, text, hashed, chunk_count = found
    chunks: list[tuple[int, int, str]] = []
    if chunk_count:
        rows = await session.execute(_CHUNKS, {"document_id": document_id})
        chunks = [(start, end, chunk) for start, end, chunk in rows.all()]
    return ReadableText(status, text or "", hashed, chunks)


async def delete_chunks(session: AsyncSession, document_id: uuid.UUID) -> None:
    await session.execute(delete(DocumentChunk).where(DocumentChunk.document_id == document_id))


# --- upload sessions ----------------------------------------------------------------------


async def get_upload(session: AsyncSession, upload_id: uuid.UUID) -> UploadSession | None:
    return await session.get(UploadSession, upload_id, with_for_update=True)


async def add_upload_part(
    session: AsyncSession, upload: UploadSession, part: int, data: bytes
) -> None:
    await session.execute(
        insert(UploadPart).values(
            session_id=upload.id, part=part, user_id=upload.user_id, data=data
        )
    )


async def upload_parts(session: AsyncSession, upload_id: uuid.UUID) -> AsyncIterator[bytes]:
    """The bytes received so far, part after part."""
    async for data in _parts(
        session, UploadPart.data, UploadPart.part, UploadPart.session_id == upload_id
    ):
        yield data


# Transaction-scoped: released at COMMIT or ROLLBACK, so a holder that dies frees it.
async def lock_upload_sessions(session: AsyncSession, user_id: uuid.UUID) -> None:
    """Counting the user's uploads and beginning one become one step."""
    await lock_for_user(session, "upload-sessions", user_id)


async def open_uploads(session: AsyncSession, now: datetime) -> tuple[int, datetime | None]:
    """The tenant's unfinished uploads that have not expired, and when the first expires."""
    count, first_expiry = (
        await session.execute(
            select(func.count(), func.min(UploadSession.expires_at)).where(
                UploadSession.expires_at > now
            )
        )
    ).one()
    return int(count), first_expiry


async def delete_expired_uploads(session: AsyncSession) -> int:
    """Deletes every tenant's expired unfinished uploads, their parts with them (through the
    definer function: the one statement that crosses tenants)."""
    return int(await session.scalar(text("SELECT delete_expired_upload_sessions()")) or 0)


async def held_by_user(session: AsyncSession, user_id: uuid.UUID) -> tuple[int, int]:
    """(documents, bytes stored) of the user (the DOCUMENTS and STORAGE_BYTES quotas): their
    documents and the bytes of the originals plus those received so far by unfinished
    resumable uploads."""
    count, stored = (
        await session.execute(
            select(func.count(), func.coalesce(func.sum(Document.size_bytes), 0)).where(
                Document.user_id == user_id
            )
        )
    ).one()
    uploading = await session.scalar(
        select(func.coalesce(func.sum(UploadSession.received_bytes), 0)).where(
            UploadSession.user_id == user_id
        )
    )
    return int(count), int(stored) + int(uploading or 0)


async def ready_document_ids(
    session: AsyncSession, project_id: uuid.UUID, among: Sequence[uuid.UUID] | None = None
) -> list[uuid.UUID]:
    """The project's READY documents (of `among`, when given), oldest first."""
    statement = select(Document.id).where(
        Document.project_id == project_id, Document.status == DocumentStatus.READY
    )
    if among is not None:
        statement = statement.where(Document.id == any_(uuid_array(among)))
    return list(await session.scalars(statement.order_by(Document.created_at, Document.id)))


async def segment_sizes(
    session: AsyncSession, document_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[int]]:
    """For each document, the size in characters of what each call reads: its chunks, or its
    whole text."""
    chunked = await session.execute(
        select(DocumentChunk.document_id, func.length(DocumentChunk.text_content)).where(
            DocumentChunk.document_id == any_(uuid_array(document_ids))
        )
    )
    sizes: dict[uuid.UUID, list[int]] = {}
    for document_id, length in chunked.all():
        sizes.setdefault(document_id, []).append(length)
    whole = await session.execute(
        select(Document.id, func.length(Document.text_content)).where(
            Document.id == any_(uuid_array([d for d in document_ids if d not in sizes]))
        )
    )
    for document_id, length in whole.all():
        sizes[document_id] = [length or 0]
    return sizes
