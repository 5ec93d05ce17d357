"""The PDF reader: PyMuPDF's text blocks in reading order, without running heads, as
paragraphs whose line breaks and typesetting hyphens are undone."""

from __future__ import annotations

import re
from typing import Any

import pymupdf

from server.documents.archives import ParseLimits
from server.documents.detection import (
    CorruptDocument,
    DocumentTooLarge,
    EmptyDocument,
    EncryptedDocument,
    ScannedDocument,
)
from server.documents.formats.extraction import Extraction, check_text_length
from server.documents.formats.pdf_layout import (
    Block,
    Line,
    PdfPage,
    merge_table_columns,
    reading_order,
)
from server.documents.formats.pdf_running import drop_running_lines

# PyMuPDF's annotations are partial (untyped functions, a Document mypy cannot iterate), so
# it is used through Any.
_mupdf: Any = pymupdf
# Expanded ligatures, no images (the dict output would carry their bytes), text clipped to
# the page.
_PDF_TEXT_FLAGS = _mupdf.TEXT_MEDIABOX_CLIP
_HYPHENATED_END = re.compile(r"([^\W\d_]+)[-\u00ad\u2010]$")
_FIRST_WORD = re.compile(r"^([^\W\d_]+)")
_COMPOUND = re.compile(r"\b[^\W\d_]+-[^\W\d_]+\b")
_SENTENCE_END = re.compile(r"[.!?:;\"\u201d\u2019)]$")
# A line that starts a list item, never the continuation of the line before.
_LIST_ITEM = re.compile(
    r"^(\d{1,3}[.)]|[a-z][.)]|\([a-z0-9]{1,3}\)|[-*\u2022\u2013\u2014\u25aa\u25e6\u00b7])\s"
)
# A block that goes on with a lowercase word continues the paragraph before it.
_CONTINUATION = re.compile(r"^[^\W\d_A-Z]+[\s,;]")
_KEY_VALUE = re.compile(r"^[^\W\d_][\w ]{0,30}:\s")
_DOT_LEADERS = re.compile(r"(\.\s?){4,}")


def read_pdf(data: bytes, limits: ParseLimits) -> Extraction:
    """The text of each page of a PDF, and its title, author and what was dropped."""
    try:
        document = _mupdf.open(stream=data, filetype="pdf")
    except (RuntimeError, ValueError) as e:
        raise CorruptDocument("The PDF is damaged and cannot be opened.") from e
    with document:
        if document.needs_pass:
            raise EncryptedDocument(
                "The PDF is password-protected. Remove the password and upload it again."
            )
        if document.page_count == 0:
            raise CorruptDocument("The PDF has no readable pages: it is damaged or cut short.")
        if document.page_count > limits.max_pages:
            raise DocumentTooLarge(
                f"The PDF has {document.page_count} pages; the limit is {limits.max_pages}."
            )
        metadata = _pdf_metadata(document)
        if document.is_repaired:
            # MuPDF rebuilt a broken file: the text may be incomplete.
            metadata["repaired"] = True
        try:
            pages = _pdf_pages(document, limits)
        except (RuntimeError, ValueError, pymupdf.mupdf.FzErrorBase) as e:
            raise CorruptDocument("The PDF is damaged: some of its pages cannot be read.") from e
        page_count = document.page_count

    if not any(page.blocks for page in pages):
        if any(page.has_images for page in pages):
            raise ScannedDocument(
                "The PDF has no extractable text — scanned? Its pages are images only; run OCR "
                "on it (for example in Acrobat) and upload the result."
            )
        raise EmptyDocument("The PDF contains no text.")
    removed = drop_running_lines(pages)
    compounds = _hyphenated_compounds(pages)
    texts = [_page_text(page, compounds) for page in pages]
    image_only = sum(1 for page in pages if not page.blocks and page.has_images)
    if removed:
        metadata["running_lines_removed"] = removed
    if image_only:
        metadata["image_only_pages"] = image_only
    return Extraction(pages=texts, page_count=page_count, metadata=metadata)


def _pdf_pages(document: Any, limits: ParseLimits) -> list[PdfPage]:
    """The pages' blocks; refused as soon as their text passes the longest kept, so that a
    huge PDF is not read to its end first."""
    pages: list[PdfPage] = []
    chars = 0
    for page in document:
        pages.append(_pdf_page(page))
        chars += sum(len(line.text) for block in pages[-1].blocks for line in block.lines)
        check_text_length(chars, limits, so_far=True)
    return pages


def _pdf_metadata(document: Any) -> dict[str, Any]:
    found: dict[str, Any] = {}
    info = document.metadata or {}
    for key in ("title", "author", "subject", "creator", "producer"):
        value = (info.get(key) or "").strip()
        if value:
            found[key] = value
    return found


def _pdf_page(page: Any) -> PdfPage:
    """The page's text blocks in displayed coordinates (a rotated page is turned upright)."""
    matrix = page.rotation_matrix if page.rotation else None
    blocks: list[Block] = []
    content = page.get_text("dict", flags=_PDF_TEXT_FLAGS)
    for raw in content["blocks"]:
        lines: list[Line] = []
        horizontal = 0
        for raw_line in raw.get("lines", ()):
            # U+FFFD stands for glyphs whose font has no Unicode mapping: nothing to read.
            text = "".join(span["text"] for span in raw_line["spans"]).replace("\ufffd", "")
            text = text.strip()
            if not text:
                continue
            x0, y0, x1, y1 = _upright(raw_line["bbox"], matrix)
            dx, dy = raw_line["dir"]
            if matrix is not None:
                # The direction turned with the page, as pymupdf reports it unrotated.
                dx = dx * matrix.a + dy * matrix.c
            if abs(dx) > 0.9:
                horizontal += 1
            lines.append(Line(x0, y0, x1, y1, text))
        if not lines:
            continue
        x0, y0, x1, y1 = _upright(raw["bbox"], matrix)
        blocks.append(Block(x0, y0, x1, y1, lines, horizontal * 2 >= len(lines)))
    rect = page.rect
    has_images = bool(not blocks and page.get_images())
    return PdfPage(rect.width, rect.height, blocks, has_images)


def _upright(bbox: tuple[float, float, float, float], matrix: Any) -> tuple[float, ...]:
    """A box in displayed coordinates: turned with the page when the page is rotated."""
    if matrix is None:
        return tuple(bbox)
    box = _mupdf.Rect(bbox) * matrix
    return (box.x0, box.y0, box.x1, box.y1)


def _hyphenated_compounds(pages: list[PdfPage]) -> set[str]:
    """Words written with a hyphen inside a line ("well-known"): their hyphen is kept when a
    line break falls on it, while typesetting hyphens ("adip-/iscing") are removed."""
    found: set[str] = set()
    for page in pages:
        for block in page.blocks:
            for line in block.lines:
                if "-" in line.text:
                    found.update(match.lower() for match in _COMPOUND.findall(line.text))
    return found


def _page_text(page: PdfPage, compounds: set[str]) -> str:
    """Blocks in reading order, as paragraphs; a paragraph that a column break cut in two
    (the next block goes on in lowercase) is joined again."""
    text = ""
    previous_rows = 0
    for block in reading_order(merge_table_columns(page.blocks)):
        block_text = _block_text(block, compounds)
        if not text:
            text = block_text
        elif (
            previous_rows > 1
            and _CONTINUATION.match(block_text)
            and not _SENTENCE_END.search(text, max(len(text) - 8, 0))
        ):
            text = _continue_line(text, block_text, compounds, wrapped=True)
        else:
            text += "\n\n" + block_text
        previous_rows = len({round(line.y0) for line in block.lines})
    return text


def _block_text(block: Block, compounds: set[str]) -> str:
    """A block's lines as text. Lines on one row are joined by a space. A line break inside a
    paragraph becomes a space: when the next line goes on in lowercase, or when the block is
    prose (most lines run to its right edge) and the line does too. Other breaks (lists,
    addresses, key-value lines, tables of contents) are kept."""
    rows: list[list[Line]] = []
    for line in block.lines:
        if rows and _same_row(rows[-1][-1], line):
            rows[-1].append(line)
        else:
            rows.append([line])
    texts = [" ".join(line.text for line in sorted(row, key=lambda line: line.x0)) for row in rows]
    ends = [max(line.x1 for line in row) for row in rows]
    edge = block.x1 - (block.x1 - block.x0) * 0.05
    full = sum(1 for end in ends[:-1] if end >= edge)
    words = sum(len(text.split()) for text in texts)
    prose = len(rows) >= 3 and full >= 0.7 * (len(rows) - 1) and words >= 5 * len(rows)
    text = texts[0]
    for index in range(1, len(rows)):
        previous, following = texts[index - 1], texts[index]
        wrapped = not (
            _LIST_ITEM.match(following)
            or _DOT_LEADERS.search(previous)
            or (_KEY_VALUE.match(previous) and _KEY_VALUE.match(following))
        )
        wrapped = wrapped and (
            (following[:1].islower() and not _SENTENCE_END.search(previous))
            or (prose and ends[index - 1] >= edge)
        )
        text = _continue_line(text, following, compounds, wrapped=wrapped)
    return text


def _same_row(a: Line, b: Line) -> bool:
    overlap = min(a.y1, b.y1) - max(a.y0, b.y0)
    return overlap > 0.5 * min(a.y1 - a.y0, b.y1 - b.y0) and b.x0 >= a.x1 - 1


def _continue_line(text: str, line: str, compounds: set[str], *, wrapped: bool) -> str:
    """Appends the next line; a word hyphenated across the break is joined without its hyphen
    unless the document also writes it with one ("well-known")."""
    # Only the end of the text matters; searching all of it would be quadratic.
    tail_start = max(len(text) - 64, 0)
    hyphen = _HYPHENATED_END.search(text, tail_start)
    if hyphen and line[:1].islower():
        first = _FIRST_WORD.match(line)
        compound = f"{hyphen.group(1)}-{first.group(1) if first else ''}".lower()
        if compound in compounds:
            return text + line
        return text[: hyphen.end(1)] + line
    return text + (" " if wrapped else "\n") + line
