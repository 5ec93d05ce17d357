"""What every format reader returns, and what more than one reader recognises."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

# A line that is only a page number ("12", "iv", "Page 3 of 10"): a PDF's running footer, a
# Word footer's page field.
PAGE_NUMBER = re.compile(r"^\W*(page\s+)?(\d+|[ivxlc]+)(\s*(of|/)\s*\d+)?\W*$", re.IGNORECASE)


@dataclass(slots=True)
class Extraction:
    """What a format reader found, before normalisation and assembly."""

    pages: list[str]
    page_count: int
    metadata: dict[str, Any]
