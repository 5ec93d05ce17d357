"""What every format reader returns, and what more than one reader recognises."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from server.documents.archives import ParseLimits
from server.documents.detection import DocumentTooLarge

# A line that is only a page number ("12", "iv", "Page 3 of 10"): a PDF's running footer, a
# Word footer's page field.
PAGE_NUMBER = re.compile(r"^\W*(page\s+)?(\d+|[ivxlc]+)(\s*(of|/)\s*\d+)?\W*$", re.IGNORECASE)


@dataclass(slots=True)
class Extraction:
    """What a format reader found, before normalisation and assembly."""

    pages: list[str]
    page_count: int
    metadata: dict[str, Any]


def _amount(value: int) -> str:
    return f"{value / 1_000_000:.3g} million" if value >= 1_000_000 else f"{value:,}"


def check_text_length(chars: int, limits: ParseLimits, *, so_far: bool = False) -> None:
    """Refuses a text longer than the server keeps; `so_far`: a reader stopped counting
    there."""
    if chars > limits.max_text_chars:
        size = f"more than {_amount(chars)}" if so_far else _amount(chars)
        raise DocumentTooLarge(
            f"The document's text is {size} characters; the most this server reads is "
            f"{_amount(limits.max_text_chars)} (DOCUMENT_MAX_TEXT_CHARS)."
        )


def check_input_size(size: int, limit: int, *, what: str, setting: str) -> None:
    """Refuses, before it is parsed, an input of more than `limit` bytes: `what` names it
    ("text file", "Word document's unpacked XML"), `setting` the limit's setting."""
    if size > limit:
        raise DocumentTooLarge(
            f"The {what} is {size / 1_000_000:.1f} MB; the most this server reads is "
            f"{limit / 1_000_000:g} MB ({setting})."
        )
