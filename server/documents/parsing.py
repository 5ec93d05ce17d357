"""Turning an uploaded document into the plain text that extraction reads (FR-013, FR-014).

Pure and synchronous: workers call `parse_document` in a thread or process. Every failure is a
`DocumentParseError` whose message is stored as the document's error_message, so it speaks to
the researcher ("the PDF is password-protected"), never in library internals.
"""

from __future__ import annotations

import io
import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import docx
import pymupdf
from bs4 import BeautifulSoup
from bs4.element import Comment, NavigableString, Tag
from docx.opc.constants import RELATIONSHIP_TYPE as RT
from docx.opc.exceptions import PackageNotFoundError
from docx.oxml.parser import parse_xml

from server.documents.archives import (
    DEFAULT_LIMITS,
    MIB,
    ParseLimits,
    open_zip,
    verify_entries,
)
from server.documents.detection import (
    MIME_TYPES,
    CorruptDocument,
    DocumentParseError,
    DocumentTooLarge,
    DocumentType,
    EmptyDocument,
    EncryptedDocument,
    ScannedDocument,
    UnsupportedDocument,
    decode_text,
    detect_type,
)

__all__ = [
    "PAGE_SEPARATOR",
    "CorruptDocument",
    "DocumentParseError",
    "DocumentTooLarge",
    "DocumentType",
    "EmptyDocument",
    "EncryptedDocument",
    "ParseLimits",
    "ParsedDocument",
    "ScannedDocument",
    "UnsupportedDocument",
    "parse_document",
]

# Pages of a PDF are joined with a form feed, the plain-text page break (pdftotext's too), so
# the stored text keeps its pages; the newlines around it make it a paragraph break for any
# reader that splits on blank lines, and keep words apart where \f is not displayed.
PAGE_SEPARATOR = "\n\f\n"


@dataclass(frozen=True, slots=True)
class ParsedDocument:
    text: str
    document_type: DocumentType
    mime_type: str
    page_count: int
    # (start, end) offsets of each page in `text`: one span per PDF page (empty pages give
    # empty spans), one span for the other formats.
    pages: list[tuple[int, int]]
    word_count: int
    # Facts worth keeping with the document: title, author, encoding, what was dropped...
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class _Extraction:
    """What a format reader found, before normalisation and assembly."""

    pages: list[str]
    page_count: int
    metadata: dict[str, Any]


def parse_document(
    data: bytes, filename: str, *, limits: ParseLimits = DEFAULT_LIMITS
) -> ParsedDocument:
    """The text of a PDF, DOCX, HTML or plain-text document, with its pages and metadata.

    Raises a DocumentParseError subclass for anything that yields no usable text.
    """
    if len(data) > limits.max_document_bytes:
        raise DocumentTooLarge(
            f"The file is {len(data) // MIB} MiB; the limit is "
            f"{limits.max_document_bytes // MIB} MiB."
        )
    document_type = detect_type(data, filename)
    extraction = _READERS[document_type](data, limits)
    text, pages = _assemble(extraction.pages)
    if not text.strip():
        raise EmptyDocument("The document contains no text.")
    return ParsedDocument(
        text=text,
        document_type=document_type,
        mime_type=MIME_TYPES[document_type],
        page_count=extraction.page_count,
        pages=pages,
        word_count=len(text.split()),
        metadata=extraction.metadata,
    )


# --- Text normalisation ------------------------------------------------------------------

# Control characters other than tab, newline and form feed; soft hyphens and BOMs, which are
# invisible and split words for search and tokenisation.
_INVISIBLE = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f-\x84\x86-\x9f\u00ad\ufeff]")
_LINE_BREAKS = re.compile(r"\r\n?|[\x85\u2028\u2029]")
_TRAILING_SPACES = re.compile(r"[ \t]+(?=\n|\Z)")
_BLANK_LINE_RUNS = re.compile(r"\n{3,}")


def normalise_text(text: str) -> str:
    """NFC, Unix newlines, no control characters, no trailing spaces, at most one blank line
    in a row: the same text always gives the same bytes, tokens and offsets."""
    text = _LINE_BREAKS.sub("\n", text)
    text = unicodedata.normalize("NFC", text)
    text = _INVISIBLE.sub("", text)
    text = _TRAILING_SPACES.sub("", text)
    text = _BLANK_LINE_RUNS.sub("\n\n", text)
    return text.strip()


def _assemble(pages: list[str]) -> tuple[str, list[tuple[int, int]]]:
    normalised = [normalise_text(page) for page in pages]
    spans: list[tuple[int, int]] = []
    offset = 0
    for index, page in enumerate(normalised):
        if index:
            offset += len(PAGE_SEPARATOR)
        spans.append((offset, offset + len(page)))
        offset += len(page)
    return PAGE_SEPARATOR.join(normalised), spans


# --- PDF -----------------------------------------------------------------------------------

# PyMuPDF's annotations are partial (untyped functions, a Document mypy cannot iterate), so
# it is used through Any.
_mupdf: Any = pymupdf
# Expanded ligatures, no images (the dict output would carry their bytes), text clipped to
# the page.
_PDF_TEXT_FLAGS = _mupdf.TEXT_MEDIABOX_CLIP
# A block whose text recurs in the top or bottom margin of this many pages is a running head
# or footer (page numbers included, since digits are ignored when comparing).
_RUNNING_MIN_PAGES = 3
_MARGIN_SHARE = 0.1
_HYPHENATED_END = re.compile(r"([^\W\d_]+)[-\u00ad\u2010]$")
_FIRST_WORD = re.compile(r"^([^\W\d_]+)")
_COMPOUND = re.compile(r"\b[^\W\d_]+-[^\W\d_]+\b")
_SENTENCE_END = re.compile(r"[.!?:;\"\u201d\u2019)]$")
_DIGITS = re.compile(r"\d+")
_WORDS = re.compile(r"[\w#]+")
_PAGE_NUMBER = re.compile(r"^\W*(page\s+)?(\d+|[ivxlc]+)(\s*(of|/)\s*\d+)?\W*$", re.IGNORECASE)
# A line that starts a list item, never the continuation of the line before.
_LIST_ITEM = re.compile(
    r"^(\d{1,3}[.)]|[a-z][.)]|\([a-z0-9]{1,3}\)|[-*\u2022\u2013\u2014\u25aa\u25e6\u00b7])\s"
)
# A block that goes on with a lowercase word continues the paragraph before it.
_CONTINUATION = re.compile(r"^[^\W\d_A-Z]+[\s,;]")
_KEY_VALUE = re.compile(r"^[^\W\d_][\w ]{0,30}:\s")
_DOT_LEADERS = re.compile(r"(\.\s?){4,}")
_SPACES = re.compile(r"\s+")


@dataclass(slots=True)
class _Line:
    x0: float
    y0: float
    x1: float
    y1: float
    text: str


@dataclass(slots=True)
class _Block:
    x0: float
    y0: float
    x1: float
    y1: float
    lines: list[_Line]
    horizontal: bool

    @property
    def text(self) -> str:
        return " ".join(line.text for line in self.lines)


@dataclass(slots=True)
class _PdfPage:
    width: float
    height: float
    blocks: list[_Block]
    has_images: bool


def _read_pdf(data: bytes, limits: ParseLimits) -> _Extraction:
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
            pages = [_pdf_page(page) for page in document]
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
    removed = _drop_running_lines(pages)
    compounds = _hyphenated_compounds(pages)
    texts = [_page_text(page, compounds) for page in pages]
    image_only = sum(1 for page in pages if not page.blocks and page.has_images)
    if removed:
        metadata["running_lines_removed"] = removed
    if image_only:
        metadata["image_only_pages"] = image_only
    return _Extraction(pages=texts, page_count=page_count, metadata=metadata)


def _pdf_metadata(document: Any) -> dict[str, Any]:
    found: dict[str, Any] = {}
    info = document.metadata or {}
    for key in ("title", "author", "subject", "creator", "producer"):
        value = (info.get(key) or "").strip()
        if value:
            found[key] = value
    return found


def _pdf_page(page: Any) -> _PdfPage:
    """The page's text blocks in displayed coordinates (a rotated page is turned upright)."""
    matrix = page.rotation_matrix if page.rotation else None
    blocks: list[_Block] = []
    content = page.get_text("dict", flags=_PDF_TEXT_FLAGS)
    for raw in content["blocks"]:
        lines: list[_Line] = []
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
            lines.append(_Line(x0, y0, x1, y1, text))
        if not lines:
            continue
        x0, y0, x1, y1 = _upright(raw["bbox"], matrix)
        blocks.append(_Block(x0, y0, x1, y1, lines, horizontal * 2 >= len(lines)))
    rect = page.rect
    has_images = bool(not blocks and page.get_images())
    return _PdfPage(rect.width, rect.height, blocks, has_images)


def _upright(bbox: tuple[float, float, float, float], matrix: Any) -> tuple[float, ...]:
    """A box in displayed coordinates: turned with the page when the page is rotated."""
    if matrix is None:
        return tuple(bbox)
    box = _mupdf.Rect(bbox) * matrix
    return (box.x0, box.y0, box.x1, box.y1)


def _running_key(block: _Block) -> str:
    """What a running head has in common across pages: its words in any order (odd and even
    pages put the page number on different sides), numbers as "#"."""
    return " ".join(sorted(_WORDS.findall(_DIGITS.sub("#", block.text.lower()))))


def _in_margin(page: _PdfPage, block: _Block) -> str | None:
    if block.y1 <= page.height * _MARGIN_SHARE:
        return "top"
    if block.y0 >= page.height * (1 - _MARGIN_SHARE):
        return "bottom"
    # A page number set higher than the margin (LaTeX puts it at 85%) counts when nothing is
    # below it.
    if _PAGE_NUMBER.match(block.text) and all(
        other is block or other.y1 <= block.y0 for other in page.blocks
    ):
        return "bottom"
    return None


def _drop_running_lines(pages: list[_PdfPage]) -> int:
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


def _hyphenated_compounds(pages: list[_PdfPage]) -> set[str]:
    """Words written with a hyphen inside a line ("well-known"): their hyphen is kept when a
    line break falls on it, while typesetting hyphens ("adip-/iscing") are removed."""
    found: set[str] = set()
    for page in pages:
        for block in page.blocks:
            for line in block.lines:
                if "-" in line.text:
                    found.update(match.lower() for match in _COMPOUND.findall(line.text))
    return found


def _page_text(page: _PdfPage, compounds: set[str]) -> str:
    """Blocks in reading order, as paragraphs; a paragraph that a column break cut in two
    (the next block goes on in lowercase) is joined again."""
    text = ""
    previous_rows = 0
    for block in _reading_order(_merge_table_columns(page.blocks)):
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


def _merge_table_columns(blocks: list[_Block]) -> list[_Block]:
    """Joins side-by-side blocks of short lines whose lines share baselines: the columns of a
    borderless table, which MuPDF groups by column. Merged, each table row reads as one line.
    Text columns are left alone: their lines are long."""
    merged = list(blocks)
    changed = True
    while changed:
        changed = False
        for first in merged:
            partner = next(
                (
                    other
                    for other in merged
                    if other is not first and _table_neighbours(first, other)
                ),
                None,
            )
            if partner is not None:
                lines = sorted([*first.lines, *partner.lines], key=lambda line: (line.y0, line.x0))
                union = _Block(
                    min(first.x0, partner.x0),
                    min(first.y0, partner.y0),
                    max(first.x1, partner.x1),
                    max(first.y1, partner.y1),
                    lines,
                    first.horizontal,
                )
                merged = [block for block in merged if block is not first and block is not partner]
                merged.append(union)
                changed = True
                break
    return merged


def _table_neighbours(left: _Block, right: _Block) -> bool:
    if not (left.horizontal and right.horizontal) or left.x1 > right.x0:
        return False
    if len(left.lines) < 2 or len(right.lines) < 2:
        return False
    for block in (left, right):
        if sum(len(line.text.split()) for line in block.lines) >= 4 * len(block.lines):
            return False
    shorter, longer = sorted((left, right), key=lambda block: len(block.lines))
    aligned = sum(
        1 for line in shorter.lines if any(abs(line.y1 - other.y1) < 2 for other in longer.lines)
    )
    return aligned >= 0.8 * len(shorter.lines)


def _reading_order(blocks: list[_Block]) -> list[_Block]:
    """Blocks in reading order: a multi-column stretch column by column (left column top to
    bottom, then the next), with blocks that cross a column gap (titles, wide figures) read
    where they stand; text that runs sideways (margin stamps) comes last."""
    upright = [block for block in blocks if block.horizontal]
    sideways = sorted((block for block in blocks if not block.horizontal), key=_row_key)
    gutters = _column_gutters(upright)
    if not gutters:
        return _by_rows(upright) + sideways
    spanning: list[_Block] = []
    in_columns: list[_Block] = []
    for block in upright:
        crosses = any(block.x0 < end - 1 and block.x1 > start + 1 for start, end in gutters)
        (spanning if crosses else in_columns).append(block)
    spanning.sort(key=_row_key)
    ordered: list[_Block] = []
    remaining = in_columns
    for separator in [*spanning, None]:
        if separator is None:
            section, remaining = remaining, []
        else:
            section = [block for block in remaining if block.y0 < separator.y0]
            remaining = [block for block in remaining if block.y0 >= separator.y0]
        columns: dict[int, list[_Block]] = {}
        for block in section:
            middle = (block.x0 + block.x1) / 2
            column = sum(1 for start, _ in gutters if middle > start)
            columns.setdefault(column, []).append(block)
        for column in sorted(columns):
            ordered.extend(_by_rows(columns[column]))
        if separator is not None:
            ordered.append(separator)
    return ordered + sideways


def _row_key(block: _Block) -> tuple[float, float]:
    return (block.y0, block.x0)


def _by_rows(blocks: list[_Block]) -> list[_Block]:
    """Top to bottom; blocks whose tops are within a few points count as one row, left first."""
    ordered: list[_Block] = []
    row: list[_Block] = []
    for block in sorted(blocks, key=_row_key):
        if row and block.y0 - row[0].y0 > 3:
            ordered.extend(sorted(row, key=lambda b: b.x0))
            row = []
        row.append(block)
    ordered.extend(sorted(row, key=lambda b: b.x0))
    return ordered


def _column_gutters(blocks: list[_Block]) -> list[tuple[float, float]]:
    """Vertical gaps between text columns: x-ranges that column text leaves empty.

    Projects the blocks on the x axis, weighting each by its height; a gutter is a strip at
    least 4 pt wide covered by little text (only what spans columns, like a title) with
    well-filled, prose-like columns on both sides. A table's columns are not text columns:
    their blocks are one or two lines each.
    """
    if len(blocks) < 3:
        return []
    left = min(block.x0 for block in blocks)
    right = max(block.x1 for block in blocks)
    width = int(right - left)
    if width < 100:
        return []
    coverage = [0.0] * (width + 1)
    for block in blocks:
        height = block.y1 - block.y0
        for x in range(max(int(block.x0 - left), 0), min(int(block.x1 - left), width) + 1):
            coverage[x] += height
    peak = max(coverage)
    low = [value <= peak * 0.25 for value in coverage]
    runs: list[tuple[int, int]] = []
    start: int | None = None
    for x, is_low in enumerate(low):
        if is_low and start is None:
            start = x
        elif not is_low and start is not None:
            runs.append((start, x))
            start = None
    inner = [
        (start, end)
        for start, end in runs
        if end - start >= 4 and start > width * 0.1 and end < width * 0.9
    ]
    gutters: list[tuple[float, float]] = []
    edges = [0, *[x for run in inner for x in run], width]
    for index, (start, end) in enumerate(inner):
        column_left = (edges[2 * index], start)
        column_right = (end, edges[2 * index + 3])
        if _is_text_column(blocks, left, column_left, peak, width) and _is_text_column(
            blocks, left, column_right, peak, width
        ):
            gutters.append((left + start, left + end))
    return gutters


def _is_text_column(
    blocks: list[_Block], left: float, span: tuple[int, int], peak: float, width: int
) -> bool:
    lo, hi = left + span[0], left + span[1]
    if hi - lo < width * 0.2:
        return False
    inside = [block for block in blocks if block.x0 >= lo - 1 and block.x1 <= hi + 1]
    height = sum(block.y1 - block.y0 for block in inside)
    lines = sum(len(block.lines) for block in inside)
    return height >= peak * 0.4 and lines >= 3 * max(len(inside), 1) * 0.5 and lines >= 6


def _block_text(block: _Block, compounds: set[str]) -> str:
    """A block's lines as text. Lines on one row are joined by a space. A line break inside a
    paragraph becomes a space: when the next line goes on in lowercase, or when the block is
    prose (most lines run to its right edge) and the line does too. Other breaks (lists,
    addresses, key-value lines, tables of contents) are kept."""
    rows: list[list[_Line]] = []
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


def _same_row(a: _Line, b: _Line) -> bool:
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


# --- DOCX ----------------------------------------------------------------------------------

# python-docx's Document() is unannotated; used through Any like PyMuPDF.
_docx: Any = docx
_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
_R_ID = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}id"
_MC_FALLBACK = "{http://schemas.openxmlformats.org/markup-compatibility/2006}Fallback"
_EXTENDED_PROPERTIES = "{http://schemas.openxmlformats.org/officeDocument/2006/extended-properties}"
# Containers whose children are paragraphs and tables in reading order.
_BLOCK_CONTAINERS = {f"{_W}{tag}" for tag in ("sdt", "sdtContent", "customXml", "ins", "smartTag")}
# Parts of a paragraph that hold no reading text: properties (their w:tab are tab stops),
# deleted and moved-away revisions, field codes, and the fallback copy of drawings.
_SKIPPED_IN_PARAGRAPH = {
    *(f"{_W}{tag}" for tag in ("pPr", "rPr", "del", "moveFrom", "instrText", "delInstrText")),
    _MC_FALLBACK,
}


def _read_docx(data: bytes, limits: ParseLimits) -> _Extraction:
    what = "Word document"
    with open_zip(data, limits, what=what) as archive:
        verify_entries(archive, limits, what=what)
    try:
        document = _docx.Document(io.BytesIO(data))
        reader = _DocxReader(document)
        pages = ["\n\n".join(reader.blocks())]
    # lxml's XMLSyntaxError is a SyntaxError.
    except (PackageNotFoundError, KeyError, ValueError, SyntaxError) as e:
        raise CorruptDocument(f"The {what} is damaged: {e}") from e
    return _Extraction(pages=pages, page_count=reader.page_count(), metadata=reader.metadata())


class _DocxReader:
    """Reads a Word document's XML in document order, so tables appear where they stand.

    python-docx opens the package and resolves its parts; the text comes from the XML
    directly because paragraph.text misses tracked insertions, content controls and text
    boxes, and numbered headings and lists need their numbers computed.
    """

    def __init__(self, document: Any) -> None:
        self._document = document
        self._part = document.part
        self._numbering = _Numbering(self._related_xml(RT.NUMBERING), self._related_xml(RT.STYLES))

    def blocks(self) -> Iterator[str]:
        """Headers, body, footnotes, endnotes, footers; repeated headers and footers once."""
        body = self._document.element.body
        yield from self._unique(self._furniture(body, "headerReference"))
        yield from self._container(body)
        for kind, reltype in (("footnote", RT.FOOTNOTES), ("endnote", RT.ENDNOTES)):
            notes = self._related_xml(reltype)
            if notes is not None:
                yield from self._notes(notes, kind)
        yield from self._unique(self._furniture(body, "footerReference"))

    def _container(self, element: Any) -> Iterator[str]:
        for child in element:
            tag = child.tag
            if tag == f"{_W}p":
                text = self._paragraph(child)
                if text.strip():
                    yield text
            elif tag == f"{_W}tbl":
                table = self._table(child)
                if table:
                    yield table
            elif tag in _BLOCK_CONTAINERS:
                yield from self._container(child)

    def _paragraph(self, paragraph: Any) -> str:
        parts: list[str] = []
        _runs_text(paragraph, parts)
        text = "".join(parts).strip()
        label = self._numbering.label(paragraph) if text else ""
        return f"{label} {text}" if label else text

    def _table(self, table: Any) -> str:
        """Rows as lines of " | "-separated cells; a merged cell repeats its text in each grid
        cell it covers, so every row reads on its own."""
        rows: list[str] = []
        above: dict[int, str] = {}
        for row in table.iter(f"{_W}tr"):
            if _parent_table(row) is not table:
                continue
            column = _int_attr(row.find(f"{_W}trPr/{_W}gridBefore"), 0)
            cells: list[str] = [""] * column
            for cell in row.iterchildren(f"{_W}tc"):
                span = max(_int_attr(cell.find(f"{_W}tcPr/{_W}gridSpan"), 1), 1)
                merge = cell.find(f"{_W}tcPr/{_W}vMerge")
                if merge is not None and merge.get(f"{_W}val") != "restart":
                    text = above.get(column, "")
                else:
                    text = " ".join(" ".join(self._container(cell)).split())
                    above[column] = text
                cells.extend([text] * span)
                column += span
            if any(cells):
                rows.append(" | ".join(cells).rstrip(" |"))
        return "\n".join(rows)

    def _notes(self, notes: Any, kind: str) -> Iterator[str]:
        for note in notes.iterchildren(f"{_W}{kind}"):
            if note.get(f"{_W}type"):
                continue  # separators between body and notes
            text = " ".join(self._container(note)).strip()
            if text:
                yield f"[{note.get(f'{_W}id')}] {text}"

    def _furniture(self, body: Any, reference: str) -> Iterator[str]:
        for section in body.iter(f"{_W}sectPr"):
            for ref in section.iterchildren(f"{_W}{reference}"):
                part = self._part.related_parts.get(ref.get(_R_ID))
                if part is not None:
                    text = "\n".join(self._container(_part_xml(part)))
                    # A page-number field alone says nothing once the pages are gone.
                    if not _PAGE_NUMBER.match(text):
                        yield text

    @staticmethod
    def _unique(texts: Iterator[str]) -> Iterator[str]:
        seen: set[str] = set()
        for text in texts:
            if text.strip() and text not in seen:
                seen.add(text)
                yield text

    def _related_xml(self, reltype: str) -> Any:
        for rel in self._part.rels.values():
            if rel.reltype == reltype and not rel.is_external:
                return _part_xml(rel.target_part)
        return None

    def metadata(self) -> dict[str, Any]:
        properties = self._document.core_properties
        found: dict[str, Any] = {}
        for key in ("title", "author", "subject", "language"):
            value = (getattr(properties, key) or "").strip()
            if value:
                found[key] = value
        if properties.created is not None:
            found["created"] = properties.created.isoformat()
        return found

    def page_count(self) -> int:
        """The page count Word saved in docProps/app.xml (1 when it is absent)."""
        for part in self._part.package.iter_parts():
            if str(part.partname) == "/docProps/app.xml":
                pages = _part_xml(part).find(f"{_EXTENDED_PROPERTIES}Pages")
                if pages is not None and (pages.text or "").strip().isdigit():
                    return max(int(pages.text), 1)
        return 1


def _part_xml(part: Any) -> Any:
    element = getattr(part, "element", None)
    return element if element is not None else parse_xml(part.blob)


def _parent_table(row: Any) -> Any:
    parent = row.getparent()
    while parent is not None and parent.tag != f"{_W}tbl":
        parent = parent.getparent()
    return parent


def _int_attr(element: Any, default: int) -> int:
    if element is None:
        return default
    value = element.get(f"{_W}val", "")
    return int(value) if value.isdigit() else default


def _runs_text(element: Any, parts: list[str]) -> None:
    """Appends the reading text under a paragraph: runs, hyperlinks, insertions, content
    controls, fields' results and text boxes (their paragraphs on lines of their own)."""
    for child in element:
        tag = child.tag
        if not isinstance(tag, str) or tag in _SKIPPED_IN_PARAGRAPH:
            continue
        if tag == f"{_W}t":
            parts.append(child.text or "")
        elif tag == f"{_W}tab":
            parts.append("\t")
        elif tag in (f"{_W}br", f"{_W}cr"):
            parts.append("\n")
        elif tag == f"{_W}noBreakHyphen":
            parts.append("-")
        elif tag == f"{_W}p":
            parts.append("\n")
            _runs_text(child, parts)
        else:
            _runs_text(child, parts)


class _Numbering:
    """The numbers Word shows before numbered headings and list items ("2.1", "a)", "•").

    Word computes them when displaying: the paragraph (or its style) names a numbering
    instance and a level; the level has a format and a template such as "%1.%2".
    """

    _ROMAN = (
        (1000, "m"),
        (900, "cm"),
        (500, "d"),
        (400, "cd"),
        (100, "c"),
        (90, "xc"),
        (50, "l"),
        (40, "xl"),
        (10, "x"),
        (9, "ix"),
        (5, "v"),
        (4, "iv"),
        (1, "i"),
    )

    def __init__(self, numbering: Any, styles: Any) -> None:
        # abstract id -> level -> (start, format, template)
        self._levels: dict[str, dict[int, tuple[int, str, str]]] = {}
        self._style_levels: dict[str, tuple[str, int]] = {}  # style id -> (abstract id, level)
        self._instances: dict[str, tuple[str, dict[int, int]]] = {}  # num id -> abstract, starts
        self._styles: dict[str, tuple[str | None, int | None, str | None]] = {}
        self._counters: dict[str, dict[int, int]] = {}
        if numbering is not None:
            self._read_numbering(numbering)
        if styles is not None:
            self._read_styles(styles)

    def _read_numbering(self, numbering: Any) -> None:
        for abstract in numbering.iterchildren(f"{_W}abstractNum"):
            abstract_id = abstract.get(f"{_W}abstractNumId", "")
            levels: dict[int, tuple[int, str, str]] = {}
            for level in abstract.iterchildren(f"{_W}lvl"):
                index = int(level.get(f"{_W}ilvl", "0") or 0)
                start = _int_attr(level.find(f"{_W}start"), 1)
                fmt_element = level.find(f"{_W}numFmt")
                fmt = fmt_element.get(f"{_W}val", "decimal") if fmt_element is not None else ""
                text_element = level.find(f"{_W}lvlText")
                template = text_element.get(f"{_W}val", "") if text_element is not None else ""
                if level.find(f"{_W}isLgl") is not None and fmt != "bullet":
                    fmt = "decimal"
                levels[index] = (start, fmt, template)
                style = level.find(f"{_W}pStyle")
                if style is not None:
                    self._style_levels[style.get(f"{_W}val", "")] = (abstract_id, index)
            self._levels[abstract_id] = levels
        for instance in numbering.iterchildren(f"{_W}num"):
            abstract_ref = instance.find(f"{_W}abstractNumId")
            if abstract_ref is None:
                continue
            starts: dict[int, int] = {}
            for override in instance.iterchildren(f"{_W}lvlOverride"):
                start = override.find(f"{_W}startOverride")
                if start is not None:
                    starts[int(override.get(f"{_W}ilvl", "0") or 0)] = _int_attr(start, 1)
            self._instances[instance.get(f"{_W}numId", "")] = (
                abstract_ref.get(f"{_W}val", ""),
                starts,
            )

    def _read_styles(self, styles: Any) -> None:
        for style in styles.iterchildren(f"{_W}style"):
            num_pr = style.find(f"{_W}pPr/{_W}numPr")
            num_id = level = None
            if num_pr is not None:
                num_element = num_pr.find(f"{_W}numId")
                num_id = num_element.get(f"{_W}val") if num_element is not None else None
                level_element = num_pr.find(f"{_W}ilvl")
                level = _int_attr(level_element, 0) if level_element is not None else None
            based_on = style.find(f"{_W}basedOn")
            self._styles[style.get(f"{_W}styleId", "")] = (
                num_id,
                level,
                based_on.get(f"{_W}val") if based_on is not None else None,
            )

    def _style_numbering(self, style_id: str) -> tuple[str | None, int | None, str]:
        """The numbering a paragraph style gives, following its basedOn chain."""
        seen: set[str] = set()
        current: str | None = style_id
        while current is not None and current not in seen:
            seen.add(current)
            num_id, level, based_on = self._styles.get(current, (None, None, None))
            if num_id is not None:
                return num_id, level, current
            current = based_on
        return None, None, style_id

    def label(self, paragraph: Any) -> str:
        if not self._levels:
            return ""
        style_element = paragraph.find(f"{_W}pPr/{_W}pStyle")
        style_id = style_element.get(f"{_W}val", "") if style_element is not None else ""
        num_id, level, numbered_style = (
            self._style_numbering(style_id)
            if style_id
            else (
                None,
                None,
                "",
            )
        )
        num_pr = paragraph.find(f"{_W}pPr/{_W}numPr")
        if num_pr is not None:
            num_element = num_pr.find(f"{_W}numId")
            if num_element is not None:
                num_id = num_element.get(f"{_W}val")
            level_element = num_pr.find(f"{_W}ilvl")
            if level_element is not None:
                level = _int_attr(level_element, 0)
        if num_id is None or num_id == "0" or num_id not in self._instances:
            return ""
        abstract_id, starts = self._instances[num_id]
        levels = self._levels.get(abstract_id, {})
        if level is None:
            linked = self._style_levels.get(numbered_style)
            level = linked[1] if linked and linked[0] == abstract_id else 0
        if level not in levels:
            return ""
        counters = self._counters.setdefault(num_id, {})
        start = starts.get(level, levels[level][0])
        counters[level] = counters[level] + 1 if level in counters else start
        for deeper in [key for key in counters if key > level]:
            del counters[deeper]
        _, fmt, template = levels[level]
        if fmt == "bullet":
            return "•"
        if fmt == "none":
            return ""

        def number(match: re.Match[str]) -> str:
            index = int(match.group(1)) - 1
            level_start, level_format, _ = levels.get(index, (1, "decimal", ""))
            value = counters.get(index, starts.get(index, level_start))
            return self._format(value, level_format)

        return re.sub(r"%([1-9])", number, template).strip()

    @classmethod
    def _format(cls, value: int, fmt: str) -> str:
        if fmt in ("lowerLetter", "upperLetter") and value > 0:
            letter = chr(ord("a") + (value - 1) % 26) * ((value - 1) // 26 + 1)
            return letter.upper() if fmt == "upperLetter" else letter
        if fmt in ("lowerRoman", "upperRoman") and 0 < value < 4000:
            roman = ""
            for amount, numeral in cls._ROMAN:
                while value >= amount:
                    roman += numeral
                    value -= amount
            return roman.upper() if fmt == "upperRoman" else roman
        if fmt == "decimalZero":
            return f"{value:02d}"
        return str(value)


# --- HTML ----------------------------------------------------------------------------------

# Never content: code, styling, embedded objects, form controls, document head.
_HTML_DROPPED_TAGS = (
    *("script", "style", "noscript", "template", "svg", "canvas", "iframe", "object"),
    *("embed", "head", "button", "input", "select", "textarea", "option", "dialog"),
    *("menu",),
)
# Page furniture, dropped unless it holds the main content (some sites wrap the whole page
# in a <form>).
_HTML_FURNITURE_TAGS = ("nav", "aside", "form", "header", "footer")
_HTML_FURNITURE_ROLES = {
    *("navigation", "banner", "contentinfo", "complementary", "search", "menu"),
    *("menubar", "toolbar", "dialog", "alertdialog", "tablist"),
}
# Class or id words of boilerplate: consent banners, sharing, promotion, related links...
_HTML_BOILERPLATE_WORDS = {
    *("ad", "ads", "advert", "advertisement", "banner", "breadcrumb", "breadcrumbs"),
    *("comment", "comments", "consent", "cookie", "cookies", "donate", "donation"),
    *("gdpr", "masthead", "menu", "modal", "nav", "navbar", "navigation", "newsletter"),
    *("pagination", "paywall", "popup", "promo", "promotion", "recommendations"),
    *("recommended", "related", "share", "sharing", "sidebar", "skip", "social"),
    *("sponsored", "subscribe", "subscription", "toolbar", "sr-only"),
    *("visually-hidden", "visuallyhidden", "screen-reader-text"),
}
_HTML_BOILERPLATE_ROOTS = ("cookie", "newsletter", "advert", "sponsor", "breadcrumb", "paywall")
_HTML_BLOCK_TAGS = {
    *("address", "article", "blockquote", "body", "caption", "dd", "details", "div"),
    *("dl", "dt", "fieldset", "figcaption", "figure", "footer", "h1", "h2", "h3", "h4"),
    *("h5", "h6", "header", "hr", "html", "li", "main", "nav", "ol", "p", "pre"),
    *("section", "summary", "table", "ul"),
}
# A <br> inside a paragraph, kept apart from source whitespace until the paragraph is done.
_BR = "\u2028"
_WORD_SPLIT = re.compile(r"[\s_]+|(?<=[a-z])(?=[A-Z])")


def _read_html(data: bytes, limits: ParseLimits) -> _Extraction:
    soup = BeautifulSoup(data, "lxml")
    metadata = _html_metadata(soup)
    if soup.original_encoding:
        metadata["encoding"] = soup.original_encoding
    try:
        root = _main_content(soup)
        lines = _HtmlText().render(root)
    except RecursionError as e:
        raise CorruptDocument("The HTML page is nested too deeply to be read.") from e
    return _Extraction(pages=[lines], page_count=1, metadata=metadata)


def _html_metadata(soup: BeautifulSoup) -> dict[str, Any]:
    found: dict[str, Any] = {}

    def meta(*names: str) -> str:
        for name in names:
            tag = soup.find("meta", attrs={"property": name}) or soup.find(
                "meta", attrs={"name": name}
            )
            if isinstance(tag, Tag):
                content = tag.get("content")
                if isinstance(content, str) and content.strip():
                    return content.strip()
        return ""

    title = meta("og:title", "twitter:title")
    if not title and soup.title is not None:
        title = soup.title.get_text(" ", strip=True)
    for key, value in (
        ("title", title),
        ("author", meta("author", "article:author")),
        ("description", meta("description", "og:description")),
        ("published", meta("article:published_time", "date")),
    ):
        if value:
            found[key] = value
    html = soup.find("html")
    if isinstance(html, Tag) and isinstance(html.get("lang"), str):
        found["language"] = html["lang"]
    return found


def _text_length(tag: Tag) -> int:
    return len(_SPACES.sub("", tag.get_text()))


def _main_content(soup: BeautifulSoup) -> Tag:
    """The element holding the readable content, after dropping boilerplate.

    The largest <article> outside page furniture (comment threads also use <article>) when it
    holds a fair share of the page's text or clearly outweighs the other articles (teaser
    cards); else <main>; else the body.
    """
    for tag in soup.find_all(_HTML_DROPPED_TAGS):
        tag.decompose()
    for figure in soup.find_all("figure"):
        # Images with captions and credits; a figure that wraps a table or quote is content.
        if not figure.decomposed and figure.find(["table", "blockquote", "pre"]) is None:
            figure.decompose()
    body = soup.body if soup.body is not None else soup
    for comment in body.find_all(string=lambda s: isinstance(s, Comment)):
        comment.extract()
    total = max(_text_length(body), 1)
    articles = sorted(
        (
            (_text_length(tag), tag)
            for tag in soup.find_all("article")
            + soup.find_all(True, attrs={"itemprop": "articleBody"})
            if not any(_is_furniture(parent) for parent in tag.parents if parent is not body)
        ),
        key=lambda pair: pair[0],
        reverse=True,
    )
    mains = soup.find_all("main") + soup.find_all(True, attrs={"role": "main"})
    best_main = max(mains, key=_text_length, default=None)
    root: Tag = body
    if articles and (
        articles[0][0] >= total * 0.3
        or (articles[0][0] >= 1000 and (len(articles) == 1 or articles[0][0] >= 2 * articles[1][0]))
    ):
        root = articles[0][1]
    elif best_main is not None and _text_length(best_main) >= total * 0.3:
        root = best_main
    _drop_furniture(root, _text_length(root))
    return root


def _drop_furniture(root: Tag, root_length: int) -> None:
    """Removes navigation, banners, link lists and other boilerplate inside the content root;
    never an element holding most of the content, whatever its name says."""
    candidates = [tag for tag in root.find_all(True) if _is_furniture(tag) or _is_link_list(tag)]
    for tag in candidates:
        if tag.decomposed or _inside_any(tag, candidates):
            continue
        if _text_length(tag) > root_length * 0.5:
            continue
        tag.decompose()


def _is_link_list(tag: Tag) -> bool:
    """A list whose every item is only a link: related stories, tags, "see also"."""
    if tag.name not in ("ul", "ol"):
        return False
    items = tag.find_all("li", recursive=False)
    if len(items) < 2:
        return False
    for item in items:
        text = _text_length(item)
        linked = sum(_text_length(link) for link in item.find_all("a"))
        if text == 0 or linked < text:
            return False
    return True


def _inside_any(tag: Tag, candidates: list[Tag]) -> bool:
    return any(parent in candidates for parent in tag.parents)


def _is_furniture(tag: Tag) -> bool:
    if tag.name in _HTML_FURNITURE_TAGS:
        # An article's own header holds its title and byline.
        return not (tag.name == "header" and tag.find_parent("article") is not None)
    if tag.has_attr("hidden") or tag.get("aria-hidden") == "true":
        return True
    role = tag.get("role")
    if isinstance(role, str) and role.lower() in _HTML_FURNITURE_ROLES:
        return True
    style = tag.get("style")
    if isinstance(style, str) and re.search(r"display\s*:\s*none|visibility\s*:\s*hidden", style):
        return True
    names: list[str] = []
    for attribute in ("class", "id"):
        value = tag.get(attribute)
        if isinstance(value, str):
            names.append(value)
        elif isinstance(value, list):
            names.extend(value)
    for name in names:
        lowered = name.lower()
        if lowered in _HTML_BOILERPLATE_WORDS or any(
            root in lowered for root in _HTML_BOILERPLATE_ROOTS
        ):
            return True
        words = {word.lower() for word in _WORD_SPLIT.split(name) for word in word.split("-")}
        if words & _HTML_BOILERPLATE_WORDS:
            return True
    return False


class _HtmlText:
    """Renders an element as paragraphs: block elements separated by blank lines, table rows
    as " | "-separated cells, list items prefixed with "- ", <pre> kept as it is."""

    def __init__(self) -> None:
        self._paragraphs: list[str] = []
        self._inline: list[str] = []

    def render(self, root: Tag) -> str:
        self._walk(root)
        self._flush()
        return "\n\n".join(self._paragraphs)

    def _flush(self) -> None:
        lines = (_SPACES.sub(" ", line).strip() for line in "".join(self._inline).split(_BR))
        text = "\n".join(line for line in lines if line)
        if text:
            self._paragraphs.append(text)
        self._inline = []

    def _walk(self, element: Tag) -> None:
        for child in element.children:
            if isinstance(child, Tag):
                self._element(child)
            elif type(child) is NavigableString:
                self._inline.append(str(child))

    def _element(self, tag: Tag) -> None:
        name = tag.name
        if name == "br":
            self._inline.append(_BR)
        elif name == "pre":
            self._flush()
            text = tag.get_text().strip("\n")
            if text.strip():
                self._paragraphs.append(text)
        elif name == "table":
            self._flush()
            table = self._table(tag)
            if table:
                self._paragraphs.append(table)
        elif name == "li":
            self._flush()
            self._inline.append("- ")
            self._walk(tag)
            self._flush()
        elif name in _HTML_BLOCK_TAGS:
            self._flush()
            self._walk(tag)
            self._flush()
        else:
            self._walk(tag)

    def _table(self, table: Tag) -> str:
        rows: list[str] = []
        for row in table.find_all("tr"):
            if row.find_parent("table") is not table:
                continue
            cells = [
                _SPACES.sub(" ", cell.get_text(" ")).strip()
                for cell in row.find_all(["td", "th"])
                if cell.find_parent("tr") is row
            ]
            if any(cells):
                rows.append(" | ".join(cells))
        caption = table.find("caption")
        if caption is not None:
            rows.insert(0, _SPACES.sub(" ", caption.get_text(" ")).strip())
        return "\n".join(rows)


# --- Plain text ----------------------------------------------------------------------------


def _read_txt(data: bytes, limits: ParseLimits) -> _Extraction:
    decoded = decode_text(data)
    if decoded is None:
        raise UnsupportedDocument("The file is not text in an encoding we recognise.")
    return _Extraction(pages=[decoded.text], page_count=1, metadata={"encoding": decoded.encoding})


_READERS: dict[DocumentType, Callable[[bytes, ParseLimits], _Extraction]] = {
    DocumentType.PDF: _read_pdf,
    DocumentType.DOCX: _read_docx,
    DocumentType.HTML: _read_html,
    DocumentType.TXT: _read_txt,
}
