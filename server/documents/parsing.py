"""Turning an uploaded document into the plain text that extraction reads (FR-013, FR-014).

Pure and synchronous: workers call `parse_document` in a thread or process. Every failure is a
`DocumentParseError` whose message is stored as the document's error_message, so it speaks to
the researcher ("the PDF is password-protected"), never in library internals.

The format readers live in `server.documents.formats`; this module picks the reader for the
detected type, then normalises and assembles the pages it returns.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from server.documents.archives import DEFAULT_LIMITS, MIB, ParseLimits
from server.documents.chunking import count_words
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
    detect_type,
)
from server.documents.formats.docx import read_docx
from server.documents.formats.extraction import (
    Extraction,
    check_input_size,
    check_text_length,
)
from server.documents.formats.html import read_html
from server.documents.formats.pdf import read_pdf
from server.documents.formats.text import read_text

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
    "check_reader_input",
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


_READERS: dict[DocumentType, Callable[[bytes, ParseLimits], Extraction]] = {
    DocumentType.PDF: read_pdf,
    DocumentType.DOCX: read_docx,
    DocumentType.HTML: read_html,
    DocumentType.TXT: read_text,
}


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
    check_reader_input(len(data), document_type, limits)
    extraction = _READERS[document_type](data, limits)
    check_text_length(sum(len(page) for page in extraction.pages), limits)
    text, pages = _assemble(extraction.pages)
    if not text.strip():
        raise EmptyDocument("The document contains no text.")
    return ParsedDocument(
        text=text,
        document_type=document_type,
        mime_type=MIME_TYPES[document_type],
        page_count=extraction.page_count,
        pages=pages,
        word_count=count_words(text),
        metadata=extraction.metadata,
    )


def check_reader_input(size: int, document_type: DocumentType, limits: ParseLimits) -> None:
    """Refuses a plain-text file or HTML page of `size` bytes that its reader, which holds it
    whole (decoded, or as a tree), may not take: before the reader builds anything from it,
    and before a worker reads a stored one at all. A DOCX's XML is checked as it is opened, a
    PDF's text page by page."""
    if document_type is DocumentType.TXT:
        check_input_size(
            size,
            limits.max_text_file_bytes,
            what="text file",
            setting="DOCUMENT_MAX_TEXT_FILE_BYTES",
        )
    elif document_type is DocumentType.HTML:
        check_input_size(
            size, limits.max_markup_bytes, what="HTML page", setting="DOCUMENT_MAX_MARKUP_BYTES"
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
