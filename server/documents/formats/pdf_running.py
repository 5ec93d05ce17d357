"""Running heads, footers and page numbers of a PDF: recognised by recurring on several
pages' margins, and dropped from the text."""

from __future__ import annotations

import re
from collections import Counter

from server.documents.formats.extraction import PAGE_NUMBER
from server.documents.formats.pdf_layout import Block, PdfPage

# A block whose text recurs in the top or bottom margin of this many pages is a running head
# or footer (page numbers included, since digits are ignored when comparing).
_RUNNING_MIN_PAGES = 3
_MARGIN_SHARE = 0.1
_DIGITS = re.compile(r"\d+")
_WORDS = re.compile(r"[\w#]+")


def _running_key(block: Block) -> str:
    """What a running head has in common across pages: its words in any order (odd and even
    pages put the page number on different sides), numbers as "#"."""
    return " ".join(sorted(_WORDS.findall(_DIGITS.sub("#", block.text.lower()))))


def _in_margin(page: PdfPage, block: Block) -> str | None:
    if block.y1 <= page.height * _MARGIN_SHARE:
        return "top"
    if block.y0 >= page.height * (1 - _MARGIN_SHARE):
        return "bottom"
    # A page number set higher than the margin (LaTeX puts it at 85%) counts when nothing is
    # below it.
    if PAGE_NUMBER.match(block.text) and all(
        other is block or other.y1 <= block.y0 for other in page.blocks
    ):
        return "bottom"
    return None


def drop_running_lines(pages: list[PdfPage]) -> int:
    """Drops page headers, footers and page numbers: short blocks in the top or bottom margin
    whose text, digits aside, recurs on at least three pages. Returns how many were dropped."""
    if len(pages) < _RUNNING_MIN_PAGES:
        return 0
    seen: Counter[tuple[str, str]] = Counter()
    for page in pages:
        keys = set()
        for block in page.blocks:
            zone = _in_margin(page, block)
            if zone is not None and len(block.lines) <= 3:
                keys.add((zone, _running_key(block)))
        seen.update(keys)
    running = {key for key, count in seen.items() if count >= _RUNNING_MIN_PAGES}
    if not running:
        return 0
    removed = 0
    for page in pages:
        kept = []
        for block in page.blocks:
            zone = _in_margin(page, block)
            if zone is not None and (zone, _running_key(block)) in running:
                removed += 1
            else:
                kept.append(block)
        page.blocks = kept
    return removed
