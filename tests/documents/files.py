"""Real files built for tests: PDFs with PyMuPDF, Word documents with python-docx, ZIPs with
zipfile (well-formed, and crafted: bombs, lying headers, encryption flags)."""

from __future__ import annotations

import io
import struct
import zipfile
from typing import Any

import docx
import pymupdf

# PyMuPDF's and python-docx's annotations are partial: used through Any, as in the format readers.
mupdf: Any = pymupdf
word: Any = docx

LEFT_MARK = "Alpha"
RIGHT_MARK = "Omega"


Line = tuple[tuple[float, float], str]


def pdf_bytes(pages: list[list[Line]]) -> bytes:
    """A PDF with one page per entry, each a list of (point, text) lines."""
    document = mupdf.open()
    for lines in pages:
        page = document.new_page(width=595, height=842)
        for point, text in lines:
            page.insert_text(point, text, fontsize=11)
    return bytes(document.tobytes())


def column_lines(x: float, label: str, count: int, paragraph: int) -> list[Line]:
    """`count` lines of prose at x, each naming its column and number, with a blank line after
    every `paragraph` lines (so the column is several blocks)."""
    return [
        ((x, 150 + 14 * (i + i // paragraph)), f"{label} line {i:02d} of the column text here.")
        for i in range(count)
    ]


def png_bytes() -> bytes:
    pixmap = mupdf.Pixmap(mupdf.csRGB, mupdf.IRect(0, 0, 60, 40), False)
    pixmap.clear_with(200)
    return bytes(pixmap.tobytes("png"))


def docx_bytes(document: Any) -> bytes:
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def zip_bytes(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in entries.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def zeros_zip(name: str, megabytes: int, extra: dict[str, bytes] | None = None) -> bytes:
    """A ZIP with an entry of `megabytes` MiB of zeros, written in pieces so the test stays
    fast and small (zeros compress about 1000:1)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for extra_name, content in (extra or {}).items():
            archive.writestr(extra_name, content)
        with archive.open(name, "w", force_zip64=True) as entry:
            piece = bytes(1024 * 1024)
            for _ in range(megabytes):
                entry.write(piece)
    return buffer.getvalue()


def with_declared_size(data: bytes, size: int) -> bytes:
    """The ZIP with its first entry's declared uncompressed size replaced: a lying header."""
    patched = bytearray(data)
    local = patched.index(b"PK\x03\x04")
    struct.pack_into("<I", patched, local + 22, size)
    central = patched.index(b"PK\x01\x02")
    struct.pack_into("<I", patched, central + 24, size)
    return bytes(patched)


def with_encrypted_flag(data: bytes) -> bytes:
    patched = bytearray(data)
    for signature, offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        at = patched.index(signature)
        (flags,) = struct.unpack_from("<H", patched, at + offset)
        struct.pack_into("<H", patched, at + offset, flags | 0x1)
    return bytes(patched)
