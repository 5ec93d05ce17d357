"""Uploaded documents, their original bytes and their chunks."""

from __future__ import annotations

import enum
import hashlib
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, deferred, mapped_column

from server.core.db import Base, TenantOwnedMixin, pg_enum
from server.core.tenancy import same_tenant_fk


class DocumentStatus(enum.Enum):
    UPLOADED = "UPLOADED"
    PARSED = "PARSED"
    READY = "READY"
    FAILED = "FAILED"


class Document(TenantOwnedMixin, Base):
    __tablename__ = "documents"
    __table_args__ = (
        same_tenant_fk("project_id", "projects"),
        UniqueConstraint("id", "user_id"),
        # The same bytes are stored once per project.
        UniqueConstraint("project_id", "content_hash"),
        Index("ix_documents_project_id_status_created_at", "project_id", "status", "created_at"),
        Index("ix_documents_project_id_created_at", "project_id", "created_at"),
        # The document and storage quotas count and sum a user's documents from it alone
        # (an index-only scan).
        Index("ix_documents_user_id_size_bytes", "user_id", postgresql_include=["size_bytes"]),
        CheckConstraint("size_bytes >= 0", name="size_non_negative"),
    )

    project_id: Mapped[uuid.UUID] = mapped_column(nullable=False)
    filename: Mapped[str] = mapped_column(String(500), nullable=False)
    mime_type: Mapped[str] = mapped_column(String(200), nullable=False)
    size_bytes: Mapped[int] = mapped_column(BigInteger, nullable=False)
    content_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    status: Mapped[DocumentStatus] = mapped_column(
        pg_enum(DocumentStatus, "document_status"), nullable=False, default=DocumentStatus.UPLOADED
    )
    error_message: Mapped[str | None] = mapped_column(Text)
    # The extracted text; deferred so that listings do not load whole documents.
    text_content: Mapped[str | None] = deferred(mapped_column("text", Text))
    # The SHA-256 of text_content (see text_hash): extractions record the one they read.
    text_hash: Mapped[str | None] = mapped_column(String(64))
    word_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    page_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    chunk_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    # Parser facts worth keeping (title, author, encoding, ...).
    parse_metadata: Mapped[dict[str, Any]] = mapped_column(
        JSONB, nullable=False, default=dict, server_default=text("'{}'::jsonb")
    )


class DocumentBlob(Base):
    """The original bytes of a document, in parts of at most UPLOAD_PART_BYTES, kept apart so
    that document rows stay small and no single value has to be built whole in memory."""

    __tablename__ = "document_blobs"
    __table_args__ = (
        ForeignKeyConstraint(
            ["document_id", "user_id"], ["documents.id", "documents.user_id"], ondelete="CASCADE"
        ),
        CheckConstraint("part >= 0", name="part_non_negative"),
    )

    document_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    part: Mapped[int] = mapped_column(Integer, primary_key=True, default=0)
    user_id: Mapped[uuid.UUID] = mapped_column(nullable=False, index=True)
    data: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)


class UploadSession(TenantOwnedMixin, Base):
    """A file being uploaded in several unary calls (the browser's way): its parts are kept
    until it is finished, aborted or expires."""

    __tablename__ = "upload_sessions"
    __table_args__ = (
        same_tenant_fk("project_id", "projects"),
        UniqueConstraint("id", "user_id"),
        Index("ix_upload_sessions_expires_at", "expires_at"),
        CheckConstraint("received_bytes >= 0", name="received_non_negative"),
    )

    project_id: Mapped[uuid.UUID] = mapped_column(nullable=False)
    filename: Mapped[str] = mapped_column(String(500), nullable=False)
    mime_type_hint: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    # As announced by the client (0 when unknown).
    expected_bytes: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    received_bytes: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    part_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    # UPLOAD_SESSION_TTL_SECONDS after it began; the sweeper deletes it (and its parts) then.
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)


class UploadPart(Base):
    __tablename__ = "upload_parts"
    __table_args__ = (
        ForeignKeyConstraint(
            ["session_id", "user_id"],
            ["upload_sessions.id", "upload_sessions.user_id"],
            ondelete="CASCADE",
        ),
    )

    session_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    part: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(nullable=False, index=True)
    data: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)


class DocumentChunk(TenantOwnedMixin, Base):
    """A span of a long document's text sized for one model call."""

    __tablename__ = "document_chunks"
    __table_args__ = (
        same_tenant_fk("document_id", "documents"),
        UniqueConstraint("document_id", "ordinal"),
        CheckConstraint("start_offset >= 0 AND end_offset >= start_offset", name="offsets_valid"),
    )

    document_id: Mapped[uuid.UUID] = mapped_column(nullable=False)
    ordinal: Mapped[int] = mapped_column(Integer, nullable=False)
    text_content: Mapped[str] = mapped_column("text", Text, nullable=False)
    token_count: Mapped[int] = mapped_column(Integer, nullable=False)
    start_offset: Mapped[int] = mapped_column(Integer, nullable=False)
    end_offset: Mapped[int] = mapped_column(Integer, nullable=False)


# Characters encoded at a time for hashing, so that a long text is never copied whole.
_HASH_PIECE_CHARS = 1 << 20


def text_hash(text: str) -> str:
    """The hash a document's text and the extractions read from it are compared by: the
    SHA-256 of its UTF-8 bytes."""
    digest = hashlib.sha256()
    for start in range(0, len(text), _HASH_PIECE_CHARS):
        digest.update(text[start : start + _HASH_PIECE_CHARS].encode())
    return digest.hexdigest()
