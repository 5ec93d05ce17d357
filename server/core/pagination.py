"""Keyset pagination (AIP-158): opaque page tokens over (created_at, id), newest first."""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from dataclasses import dataclass
from datetime import datetime

from server.core.errors import FieldViolation, InvalidArgument

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200


@dataclass(frozen=True)
class Cursor:
    """The position after the last row of a page."""

    created_at: datetime
    id: uuid.UUID


def page_size(requested: int) -> int:
    if requested < 0:
        raise InvalidArgument(
            "page_size must not be negative", [FieldViolation("page_size", "must be >= 0")]
        )
    return min(requested or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)


def encode_cursor(cursor: Cursor) -> str:
    raw = json.dumps({"t": cursor.created_at.isoformat(), "id": str(cursor.id)})
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(token: str) -> Cursor | None:
    if not token:
        return None
    try:
        raw = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        return Cursor(created_at=datetime.fromisoformat(raw["t"]), id=uuid.UUID(raw["id"]))
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise InvalidArgument(
            "page_token is not a token from a previous page",
            [FieldViolation("page_token", "not a token from a previous page")],
        ) from None
