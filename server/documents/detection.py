"""What kind of document some uploaded bytes are, and why a document cannot be read.

The content decides (a PDF renamed to .txt is still a PDF); the file name only breaks ties
between the text formats. The errors live here, with the first step that can raise them, so
that archives and parsing share one hierarchy whose messages a researcher can act on.
"""

from __future__ import annotations

import codecs
import enum
import io
import re
import zipfile
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import IO

import charset_normalizer


class DocumentParseError(Exception):
    """A document we could not turn into text; `message` is shown to the researcher."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UnsupportedDocument(DocumentParseError):
    pass


class CorruptDocument(DocumentParseError):
    pass


class EncryptedDocument(DocumentParseError):
    pass


class EmptyDocument(DocumentParseError):
    pass


class ScannedDocument(EmptyDocument):
    """Pages that are only images: there is text to read, but it needs OCR, which we lack."""


class DocumentTooLarge(DocumentParseError):
    pass


class DocumentArchive(UnsupportedDocument):
    """A plain ZIP: not a document, but an upload may be an archive of documents."""


class DocumentType(enum.Enum):
    PDF = "PDF"
    DOCX = "DOCX"
    HTML = "HTML"
    TXT = "TXT"


MIME_TYPES: dict[DocumentType, str] = {
    DocumentType.PDF: "application/pdf",
    DocumentType.DOCX: "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    DocumentType.HTML: "text/html",
    DocumentType.TXT: "text/plain",
}

SUPPORTED_FORMATS = "PDF, Word (.docx), HTML or plain text"


def document_type_of(mime_type: str) -> DocumentType | None:
    """The type a stored document was detected as, from its MIME type (one of MIME_TYPES)."""
    return next((kind for kind, mime in MIME_TYPES.items() if mime == mime_type), None)


# Signatures of formats researchers upload by mistake, so the refusal can say what the file is.
_FOREIGN_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF87a", "a GIF image"),
    (b"GIF89a", "a GIF image"),
    (b"II*\x00", "a TIFF image"),
    (b"MM\x00*", "a TIFF image"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "a legacy Office file (.doc, .xls or .ppt)"),
    (b"{\\rtf", "an RTF document"),
    (b"\x7fELF", "a program (executable)"),
    (b"\xcf\xfa\xed\xfe", "a program (executable)"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"Rar!\x1a\x07", "a RAR archive"),
    (b"%!PS", "a PostScript file"),
    (b"OggS", "an audio file"),
    (b"fLaC", "an audio file"),
    (b"\x00\x00\x00\x18ftyp", "a video file"),
    (b"\x00\x00\x00\x20ftyp", "a video file"),
    (b"SQLite format 3\x00", "a database file"),
)

# Two- or three-letter signatures that a text file could also start with: they only name a
# file that is not text anyway.
_WEAK_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"BM", "a BMP image"),
    (b"MZ", "a program (executable)"),
    (b"ID3", "an audio file"),
)

# Main-part content types of the OOXML family, to name the sibling formats we do not read.
_WORD_MAIN = "wordprocessingml.document.main+xml"
_OOXML_KINDS: tuple[tuple[str, str], ...] = (
    ("xl/workbook", "an Excel spreadsheet"),
    ("ppt/presentation", "a PowerPoint presentation"),
)

# How much of an uploaded file its type is judged by (a ZIP's directory is read apart): the
# formats' signatures sit in the first kilobyte, and a megabyte of text is plenty to tell text
# from binary, while its decoding (up to 4 bytes a character, more in charset-normalizer's
# trials) stays a few MiB whatever the file's size. The parser decodes the whole text later.
_SAMPLE_BYTES = 1024 * 1024
_PDF_MAGIC = b"%PDF-"
_ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")
_HTML_SNIFF = re.compile(
    rb"<!doctype\s+html|<html[\s>]|<head[\s>]|<body[\s>]|<meta\s|<title>|<p[\s>]|<div[\s>]"
    rb"|<article[\s>]|<table[\s>]|<br\s*/?>",
    re.IGNORECASE,
)
_HTML_SUFFIXES = {".html", ".htm", ".xhtml", ".shtml"}
# Control characters that never occur in text (tab, newlines and form feed do).
_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")


@dataclass(frozen=True, slots=True)
class DecodedText:
    text: str
    encoding: str


def detect_file_type(file: IO[bytes], filename: str) -> DocumentType:
    """detect_type for a file, reading no more than its first MiB (and a ZIP's directory, from
    the file), whatever its size: text is judged by its beginning. Leaves the file at its start.
    Blocking: call it from a thread."""
    file.seek(0)
    sample = file.read(_SAMPLE_BYTES + 1)
    file.seek(0)
    try:
        if len(sample) <= _SAMPLE_BYTES:
            return detect_type(sample, filename)
        if sample.startswith(_ZIP_MAGICS):
            return _detect_zip(file)
        return detect_type(sample[:_SAMPLE_BYTES], filename, complete=False)
    finally:
        file.seek(0)


def detect_type(data: bytes, filename: str, *, complete: bool = True) -> DocumentType:
    """The format of a document from its content, with its name as a hint for text formats.
    `complete` False: `data` is only the file's beginning (it may end inside a character).

    Raises EmptyDocument for no bytes and UnsupportedDocument for anything we cannot read,
    naming what the file seems to be.
    """
    if not data:
        raise EmptyDocument("The file is empty.")
    head = data[:1024]
    # Readers accept the PDF header anywhere in the first kilobyte (some files carry junk first).
    if _PDF_MAGIC in head:
        return DocumentType.PDF
    if data.startswith(_ZIP_MAGICS):
        return _detect_zip(io.BytesIO(data))
    for signature, kind in _FOREIGN_SIGNATURES:
        if data.startswith(signature):
            raise _unsupported(kind)
    if data[8:12] in (b"WEBP", b"AVI ", b"WAVE") and data.startswith(b"RIFF"):
        raise _unsupported("an image, audio or video file")
    decoded = decode_text(data, complete=complete)
    if decoded is None:
        kind = next((k for sig, k in _WEAK_SIGNATURES if data.startswith(sig)), "a binary file")
        raise _unsupported(kind)
    suffix = PurePosixPath(filename.replace("\\", "/")).suffix.lower()
    sniffed = decoded.text[:4096].lstrip().encode("utf-8", "replace")
    if suffix in _HTML_SUFFIXES or _looks_like_html(sniffed):
        return DocumentType.HTML
    return DocumentType.TXT


def _looks_like_html(start: bytes) -> bool:
    if start.lower().startswith((b"<!doctype html", b"<html")):
        return True
    # Markup anywhere near the start, but only when the text opens with a tag: a plain-text
    # note that mentions "<p>" in its third paragraph stays plain text.
    return start.startswith(b"<") and _HTML_SNIFF.search(start) is not None


def _detect_zip(source: IO[bytes]) -> DocumentType:
    try:
        with zipfile.ZipFile(source) as archive:
            names = set(archive.namelist())
            content_types = ""
            if "[Content_Types].xml" in names:
                # Small by nature; capped so that a crafted one cannot blow up detection.
                with archive.open("[Content_Types].xml") as part:
                    content_types = part.read(256 * 1024).decode("utf-8", "replace")
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, NotImplementedError) as e:
        raise CorruptDocument("The file looks like a ZIP or Word file but is damaged.") from e
    if "word/document.xml" in names or _WORD_MAIN in content_types:
        if "macroEnabled" in content_types and _WORD_MAIN not in content_types:
            raise _unsupported("a macro-enabled Word document (.docm); save it as .docx")
        return DocumentType.DOCX
    for part_prefix, kind in _OOXML_KINDS:
        if any(name.startswith(part_prefix) for name in names):
            raise _unsupported(kind)
    if "mimetype" in names and "content.xml" in names:
        raise _unsupported("an OpenDocument file; save it as .docx or PDF")
    raise DocumentArchive(
        "This file is a ZIP archive, which cannot be read as one document. Upload a "
        f"{SUPPORTED_FORMATS} file, or the archive as an upload of several documents."
    )


def _unsupported(kind: str) -> UnsupportedDocument:
    return UnsupportedDocument(
        f"This file is {kind}, which cannot be read. Upload a {SUPPORTED_FORMATS} file."
    )


def decode_text(data: bytes, *, complete: bool = True) -> DecodedText | None:
    """Bytes of a text file as text, or None when they are not text. `complete` False: the
    bytes are a file's beginning, and a character cut at their end is not held against them.

    Order: a byte-order mark; UTF-16 without a mark (recognised by its zero bytes); strict
    UTF-8 (most files); Windows-1252, the superset of Latin-1 that Western European tools write,
    when the result looks like Western text; charset-normalizer for the rest (Cyrillic, CJK...).
    """
    for bom, encoding in (
        (codecs.BOM_UTF32_LE, "utf-32-le"),
        (codecs.BOM_UTF32_BE, "utf-32-be"),
        (codecs.BOM_UTF8, "utf-8"),
        (codecs.BOM_UTF16_LE, "utf-16-le"),
        (codecs.BOM_UTF16_BE, "utf-16-be"),
    ):
        if data.startswith(bom):
            return _plausible(data[len(bom) :], encoding, with_bom=True, complete=complete)
    if (utf16 := _utf16_without_bom(data)) is not None and (
        decoded := _plausible(data, utf16, with_bom=False, complete=complete)
    ):
        return decoded
    try:
        decoded = _checked(_decode(data, "utf-8", complete), "utf-8")
    except UnicodeDecodeError:
        decoded = None
    if decoded is not None or b"\x00" in data:
        return decoded
    try:
        western = data.decode("cp1252")
    except UnicodeDecodeError:
        western = None
    if western is not None and _looks_western(western):
        return _checked(western, "cp1252")
    guess = charset_normalizer.from_bytes(data).best()
    if guess is None:
        return None
    return _checked(str(guess), guess.encoding)


def _decode(data: bytes, encoding: str, complete: bool) -> str:
    """data.decode(encoding); when not complete, an unfinished character at the end is left
    out rather than an error."""
    if complete:
        return data.decode(encoding)
    return codecs.getincrementaldecoder(encoding)().decode(data, final=False)


def _plausible(data: bytes, encoding: str, *, with_bom: bool, complete: bool) -> DecodedText | None:
    try:
        text = _decode(data, encoding, complete)
    except UnicodeDecodeError:
        return None
    label = f"{encoding} (with BOM)" if with_bom else encoding
    return _checked(text, label)


def _checked(text: str, encoding: str) -> DecodedText | None:
    """Text with more than a few stray control characters is binary that happened to decode."""
    sample = text[:65536]
    if sample and len(_CONTROL_CHARS.findall(sample)) > max(2, len(sample) // 200):
        return None
    return DecodedText(text=text, encoding=encoding)


def _utf16_without_bom(data: bytes) -> str | None:
    sample = data[:4096]
    if len(sample) < 4 or len(sample) % 2:
        return None
    even_zeros = sample[0::2].count(0)
    odd_zeros = sample[1::2].count(0)
    half = len(sample) // 2
    if odd_zeros > half * 0.3 and even_zeros < half * 0.05:
        return "utf-16-le"
    if even_zeros > half * 0.3 and odd_zeros < half * 0.05:
        return "utf-16-be"
    return None


def _looks_western(text: str) -> bool:
    """Western European text is mostly ASCII letters with a few accented ones; Cyrillic or
    Greek bytes read as Windows-1252 give words made only of accented letters."""
    letters = 0
    non_ascii = 0
    for char in text[:65536]:
        if char.isalpha():
            letters += 1
            if ord(char) > 127:
                non_ascii += 1
    return letters > 0 and non_ascii <= letters * 0.3
