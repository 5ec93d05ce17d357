"""Named queries for documents."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import undefer

from server.documents.models import Document


async def get(session: AsyncSession, document_id: uuid.UUID) -> Document | None:
    """The document with its text."""
    return await session.get(Document, document_id, options=[undefer(Document.text_content)])
