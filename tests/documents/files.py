"""Real files built for tests: PDFs with PyMuPDF, Word documents with python-docx, ZIPs with
zipfile (well-formed, and crafted: bombs, lying headers, encryption flags)."""

from __future__ import annotations

import io
import random
import struct
import textwrap
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
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


# Letter paper, 11 pt text on 14 pt leading with one-inch side margins, as Word sets a contract.
LETTER = (612.0, 792.0)
LEADING = 14.0
CLAUSES = [
    "The Supplier shall deliver the Goods to the Delivery Address on the dates set out in the "
    "Order, and shall notify the Customer in writing of any expected delay without undue delay.",
    "Title to the Goods passes to the Customer when the Supplier has received payment in full.",
    "Either party may terminate this Agreement by giving not less than {n} days' written notice "
    "to the other party, without prejudice to any rights that have accrued before termination.",
    "The Customer shall pay each undisputed invoice within {n} days of the date of the invoice "
    "into the bank account nominated by the Supplier.",
    "Neither party shall be liable for any failure or delay in performing its obligations where "
    "the failure or delay results from events beyond its reasonable control.",
    "The Supplier warrants that the Services will be performed with reasonable skill and care, "
    "in accordance with good industry practice and all applicable laws and regulations.",
    "Any notice given under this Agreement shall be in writing and delivered by hand, by "
    "pre-paid courier or by email to the address of the other party set out in Schedule {n}.",
    "This Agreement and any dispute arising out of it shall be governed by the laws of the "
    "State of New York.",
]
# What a page prints outside its body: (page number from 1, page count) -> lines.
MarginLines = Callable[[int, int], list[Line]]


@dataclass(frozen=True, slots=True)
class GeneratedPdf:
    data: bytes
    # The body's text, as a reader should get it: clauses as paragraphs, no margins.
    body: str


def contract_pdf(
    pages: int, margins: MarginLines, *, seed: int = 1, body_top: float = 90.0
) -> GeneratedPdf:
    """A contract of numbered clauses on `pages` letter pages, whose sentences run on from one
    page to the next, with `margins(n, pages)` drawn on page n (heads, footers, numbers)."""
    rng = random.Random(seed)
    width, height = LETTER
    rows_per_page = int((height - 72 - body_top) // LEADING) + 1
    rows: list[str] = []
    clause = 0
    while len(rows) < pages * rows_per_page:
        clause += 1
        sentences = (rng.choice(CLAUSES).format(n=rng.randint(2, 90)) for _ in range(3))
        paragraph = f"{clause}. " + " ".join(sentences)
        rows.extend(textwrap.wrap(paragraph, 88, break_on_hyphens=False))
        rows.append("")
    document = mupdf.open()
    taken = 0
    for number in range(1, pages + 1):
        page = document.new_page(width=width, height=height)
        # Drawn top to bottom, as most producers do: MuPDF groups a head or a footer set close
        # to the text with the paragraph next to it.
        margin_lines = margins(number, pages)
        for point, text in margin_lines:
            if point[1] < body_top:
                page.insert_text(point, text, fontsize=9)
        for row, text in enumerate(rows[taken : taken + rows_per_page]):
            if text:
                page.insert_text((72, body_top + LEADING * row), text, fontsize=11)
        for point, text in margin_lines:
            if point[1] >= body_top:
                page.insert_text(point, text, fontsize=9)
        taken += rows_per_page
    # The body as far as the last page reaches (the last paragraph may be cut).
    body = " ".join(text for text in rows[:taken] if text)
    return GeneratedPdf(bytes(document.tobytes()), body)


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


def padded_zip(heads: dict[str, bytes], size: int, ratio: int = 60) -> bytes:
    """A ZIP of entries that start with their head and are filled to `size` bytes with data
    that deflates about ratio:1 (a random piece in every 64 KiB block, zeros after it; distinct
    per entry): below a zip bomb's ratio, so the whole of it is unpacked. Written block by
    block, so only the archive is held in memory."""
    block = 64 * 1024
    noise = block // ratio
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, head in heads.items():
            rng = random.Random(name)
            with archive.open(name, "w", force_zip64=True) as entry:
                entry.write(head)
                written = len(head)
                while written < size:
                    piece = (rng.randbytes(noise) + bytes(block - noise))[: size - written]
                    entry.write(piece)
                    written += len(piece)
    return buffer.getvalue()


def with_encrypted_flag(data: bytes) -> bytes:
    patched = bytearray(data)
    for signature, offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        at = patched.index(signature)
        (flags,) = struct.unpack_from("<H", patched, at + offset)
        struct.pack_into("<H", patched, at + offset, flags | 0x1)
    return bytes(patched)
