"""The workbook's big tables as worksheet XML built by hand, row by row, in temporary files, then
spliced into the package openpyxl saves around them: ten times openpyxl's 150,000 cells a second."""

from __future__ import annotations

import functools
import math
import posixpath
import re
import shutil
import tempfile
import weakref
import zipfile
from collections.abc import Callable, Mapping, Sequence
from datetime import date
from typing import IO, Any, Final
from xml.etree import ElementTree
from xml.sax.saxutils import escape

from openpyxl.utils import get_column_letter
from openpyxl.utils.datetime import to_excel
from openpyxl.xml.constants import (
    ARC_WORKBOOK,
    ARC_WORKBOOK_RELS,
    PKG_REL_NS,
    REL_NS,
    SHEET_MAIN_NS,
)

from server.exports.columns import neutralise

# The characters an Excel cell holds; Excel repairs a file with longer text.
EXCEL_MAX_TEXT = 32_767
# What XML 1.0 cannot hold (C0 controls but tab and line breaks, surrogates, U+FFFE and U+FFFF):
# a form feed between PDF pages, say. Each becomes a space, as openpyxl's writer has them.
_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
# Text with none of these (nearly all of it) goes into the XML as it is.
_SPECIAL = re.compile("[&<>\r\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
# A parser reads a bare carriage return as a line feed: it is written as a reference.
_ENTITIES = {"\r": "&#13;"}
_EMPTY_SHEET_DATA = re.compile(rb"<sheetData\s*/>|<sheetData>\s*</sheetData>")
# openpyxl's conversion of a date to Excel's serial number, typed (its stubs leave it untyped).
_to_excel: Final[Callable[[date], float]] = to_excel
# Texts of a sheet remembered with their XML, the most recently used.
_CACHED_TEXTS = 1024
# Rows are encoded into one string and written once this many characters are waiting.
_FLUSH_CHARS = 1 << 20
_COPY_BYTES = 1 << 20
# A fast level of deflate: on a long sheet of 400 MB, level 2 took 40% of the default level's
# time for a file 17% larger (and beat level 1 on both).
COMPRESS_LEVEL = 2


def inline_string(text: str) -> str:
    """The end of a cell of text, from its type: what XML forbids replaced by spaces,
    neutralised as in the CSV files (the tables are data: nothing in them may run as a
    formula), cut to what a cell holds (as openpyxl cuts it), escaped; leading or trailing
    spaces kept."""
    if _SPECIAL.search(text) is None:
        text = neutralise(text)[:EXCEL_MAX_TEXT]
    else:
        text = escape(neutralise(_FORBIDDEN.sub(" ", text))[:EXCEL_MAX_TEXT], _ENTITIES)
    if text[:1].isspace() or text[-1:].isspace():
        return f' t="inlineStr"><is><t xml:space="preserve">{text}</t></is></c>'
    return f' t="inlineStr"><is><t>{text}</t></is></c>'


@functools.lru_cache(maxsize=4096)
def _serial(value: date) -> str:
    """A date as Excel's serial number (days since 1899-12-30, with Excel's 1900 leap day)."""
    serial = _to_excel(value)
    return str(int(serial)) if serial == int(serial) else repr(serial)


class _StyleAttributes(dict[int, str]):
    """A cell's style attribute by style id: none for 0, the default format."""

    def __missing__(self, style: int) -> str:
        attribute = f' s="{style}"' if style else ""
        self[style] = attribute
        return attribute


_STYLE_ATTRIBUTES = _StyleAttributes()


class SheetRows:
    """One sheet's rows as worksheet XML, in an unnamed temporary file: it is deleted when it
    is closed or collected, so an export abandoned half way leaves nothing behind."""

    def __init__(self, columns: int) -> None:
        self._letters = [get_column_letter(index) for index in range(1, columns + 1)]
        self._file = tempfile.TemporaryFile()  # noqa: SIM115 - closed by close() or collection
        # Closed (so deleted) with the rows too, when an export is abandoned before finish().
        self._closer = weakref.finalize(self, self._file.close)
        self._pending: list[str] = []
        self._pending_chars = 0
        # Most text repeats from row to row (ids, file names, variables, statuses, models).
        self._inline_string = functools.lru_cache(maxsize=_CACHED_TEXTS)(inline_string)
        self.count = 0

    @property
    def dimension(self) -> str:
        """The range the rows fill."""
        return f"A1:{self._letters[-1]}{max(self.count, 1)}"

    def append(self, values: Sequence[Any], styles: Sequence[int]) -> None:
        """A row of typed cells: text as inline strings, numbers, booleans, dates as serial
        numbers (their style must carry a date format). A style is an index into styles.xml's
        cellXfs, 0 for none; a cell without a value is left out unless it has a style."""
        self.count += 1
        row = str(self.count)
        inline, attributes = self._inline_string, _STYLE_ATTRIBUTES
        cells = [f'<row r="{row}">']
        append = cells.append
        # One loop, the common types first, one string per cell: it runs for every cell.
        for letter, value, style in zip(self._letters, values, styles, strict=True):
            kind = type(value)
            if kind is str and value:
                append(f'<c r="{letter}{row}"{attributes[style]}{inline(value)}')
            elif kind is int or (kind is float and math.isfinite(value)):
                append(f'<c r="{letter}{row}"{attributes[style]}><v>{value}</v></c>')
            elif value is None or value == "":
                if style:
                    append(f'<c r="{letter}{row}"{attributes[style]}/>')
            elif kind is bool:
                append(f'<c r="{letter}{row}"{attributes[style]} t="b"><v>{int(value)}</v></c>')
            elif isinstance(value, date):
                append(f'<c r="{letter}{row}"{attributes[style]}><v>{_serial(value)}</v></c>')
            else:
                # Not one of the dataset's types (an infinite float, say): kept as its text.
                append(f'<c r="{letter}{row}"{attributes[style]}{inline(str(value))}')
        cells.append("</row>")
        xml = "".join(cells)
        self._pending.append(xml)
        self._pending_chars += len(xml)
        if self._pending_chars >= _FLUSH_CHARS:
            self._flush()

    def size(self) -> int:
        """The bytes of XML written."""
        self._flush()
        return self._file.tell()

    def copy_to(self, out: IO[bytes]) -> None:
        self._flush()
        self._file.seek(0)
        shutil.copyfileobj(self._file, out, _COPY_BYTES)

    def close(self) -> None:
        self._closer()

    def _flush(self) -> None:
        if self._pending:
            self._file.write("".join(self._pending).encode())
            self._pending.clear()
            self._pending_chars = 0


def splice(package: IO[bytes], sheets: Mapping[str, SheetRows], out: IO[bytes]) -> None:
    """Writes the package openpyxl saved to `out`, each of its placeholder sheets (named by
    title in `sheets`, saved without rows) holding its streamed rows, in an otherwise
    unchanged copy of every other part."""
    with (
        zipfile.ZipFile(package) as source,
        zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=COMPRESS_LEVEL) as target,
    ):
        parts = sheet_parts(source)
        missing = set(sheets) - set(parts)
        if missing:
            raise ValueError(f"the workbook has no sheet {sorted(missing)}")
        placeholders = {parts[title]: rows for title, rows in sheets.items()}
        for info in source.infolist():
            rows = placeholders.get(info.filename)
            if rows is None:
                target.writestr(info, source.read(info))
                continue
            head, tail = _frame(source.read(info), rows.dimension)
            size = len(head) + rows.size() + len(tail)
            # By name, so that the archive's compression level applies; zipfile must be told
            # of Zip64 before a part past 2 GiB (it decides so itself for a size it knows).
            zip64 = size * 1.05 > zipfile.ZIP64_LIMIT
            with target.open(info.filename, "w", force_zip64=zip64) as stream:
                stream.write(head)
                rows.copy_to(stream)
                stream.write(tail)


def sheet_parts(package: zipfile.ZipFile) -> dict[str, str]:
    """Each sheet's title and the name of its XML part, as the workbook and its
    relationships give them."""
    # The package is openpyxl's own output, not outside input.
    workbook = ElementTree.fromstring(package.read(ARC_WORKBOOK))  # noqa: S314
    relationships = ElementTree.fromstring(package.read(ARC_WORKBOOK_RELS))  # noqa: S314
    targets = {
        rel.get("Id"): rel.get("Target", "")
        for rel in relationships.iter(f"{{{PKG_REL_NS}}}Relationship")
    }
    return {
        sheet.get("name", ""): _part_name(targets[sheet.get(f"{{{REL_NS}}}id")])
        for sheet in workbook.iter(f"{{{SHEET_MAIN_NS}}}sheet")
    }


def _part_name(target: str) -> str:
    """A relationship's target as a name in the zip: absolute, or relative to xl/."""
    if target.startswith("/"):
        return target[1:]
    return posixpath.normpath(posixpath.join(posixpath.dirname(ARC_WORKBOOK), target))


def _frame(placeholder: bytes, dimension: str) -> tuple[bytes, bytes]:
    """The placeholder sheet's XML before and after its rows: its properties, views, column
    widths, then <sheetData>; </sheetData>, then its filter and margins, in the order the
    schema requires (openpyxl wrote them so)."""
    pieces = _EMPTY_SHEET_DATA.split(placeholder)
    if len(pieces) != 2:
        raise ValueError("a placeholder sheet holds one empty sheetData")
    head, tail = pieces
    # openpyxl's write-only sheets leave out the range the rows fill, which readers size the
    # sheet by; it precedes the views.
    head = head.replace(b"<sheetViews>", f'<dimension ref="{dimension}"/><sheetViews>'.encode(), 1)
    return head + b"<sheetData>", b"</sheetData>" + tail
