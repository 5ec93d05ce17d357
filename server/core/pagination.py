"""Keyset pagination (AIP-158): opaque page tokens over (created_at, id), or over a position
for lists kept in an order of their own."""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, TypeVar, cast

from sqlalchemy import Select, tuple_

from server.core.errors import FieldViolation, InvalidArgument

T = TypeVar("T")

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


def _encode(raw: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(raw).encode()).decode().rstrip("=")


def _decode(token: str) -> Any:
    return json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))


def _not_a_page_token() -> InvalidArgument:
    return InvalidArgument(
        "page_token is not a token from a previous page",
        [FieldViolation("page_token", "not a token from a previous page")],
    )


def encode_cursor(cursor: Cursor) -> str:
    return _encode({"t": cursor.created_at.isoformat(), "id": str(cursor.id)})


def decode_cursor(token: str) -> Cursor | None:
    if not token:
        return None
    try:
        raw = _decode(token)
        return Cursor(created_at=datetime.fromisoformat(raw["t"]), id=uuid.UUID(raw["id"]))
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise _not_a_page_token() from None


def encode_position(position: int) -> str:
    return _encode({"p": position})


def decode_position(token: str) -> int | None:
    """The position after the last row of the previous page; None for the first page."""
    if not token:
        return None
    try:
        position = _decode(token)["p"]
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise _not_a_page_token() from None
    if not isinstance(position, int) or isinstance(position, bool):
        raise _not_a_page_token()
    return position


class _Keyed(Protocol):
    created_at: Any
    id: Any


def newest_first(statement: Select[Any], model: Any, after: Cursor | None, limit: int) -> Any:
    """The statement ordered newest first by (created_at, id), after the cursor, limited."""
    ordered = statement.order_by(model.created_at.desc(), model.id.desc()).limit(limit)
    if after is None:
        return ordered
    return ordered.where(tuple_(model.created_at, model.id) < tuple_(after.created_at, after.id))


def oldest_first(statement: Select[Any], model: Any, after: Cursor | None, limit: int) -> Any:
    """The statement ordered oldest first by (created_at, id), after the cursor, limited."""
    ordered = statement.order_by(model.created_at, model.id).limit(limit)
    if after is None:
        return ordered
    return ordered.where(tuple_(model.created_at, model.id) > tuple_(after.created_at, after.id))


def page_with_token(rows: Sequence[T], size: int) -> tuple[Sequence[T], str]:
    """A page from rows fetched with limit size + 1 (the extra row says whether another page
    follows) and the token of the next page ("" on the last)."""
    page = rows[:size]
    if len(rows) <= size:
        return page, ""
    last = cast(_Keyed, page[-1])
    return page, encode_cursor(Cursor(created_at=last.created_at, id=last.id))
