"""CSV, wide (one row per unit) and long (one row per extraction): UTF-8 with a byte order
mark, so that Excel opens accents intact; the four kinds of missing value as bracketed codes;
text that a spreadsheet would run as a formula neutralised."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from typing import Any, BinaryIO

from server.exports.columns import (
    MISSING_TEXT,
    Column,
    ColumnKind,
    cell_of,
    neutralise,
    plain_text,
    wide_columns,
    wide_value,
)
from server.exports.dataset import DatasetHeader, Unit
from server.exports.long import long_columns, long_rows
from server.exports.quality import Quality

ENCODING = "utf-8-sig"
# Rows buffered before they are encoded and written.
_FLUSH_ROWS = 500
_NUMERIC_LONG_COLUMNS = frozenset(
    {
        "value_index",
        "confidence",
        "evidence_candidates",
        "source_start",
        "source_end",
        "prompt_version",
    }
)


class _CsvFile:
    """A csv.writer over a binary stream: rows are encoded in batches."""

    def __init__(self, out: BinaryIO) -> None:
        self._out = out
        self._buffer = io.StringIO()
        self._writer = csv.writer(self._buffer, lineterminator="\r\n")
        self._pending = 0
        out.write("\ufeff".encode())

    def row(self, cells: Sequence[str]) -> None:
        self._writer.writerow(cells)
        self._pending += 1
        if self._pending >= _FLUSH_ROWS:
            self.flush()

    def flush(self) -> None:
        self._out.write(self._buffer.getvalue().encode())
        self._buffer.seek(0)
        self._buffer.truncate()
        self._pending = 0


def text_cell(value: Any) -> str:
    """A value as CSV text; text values neutralised (numbers, dates and booleans are not text
    and cannot start a formula)."""
    if isinstance(value, str):
        return neutralise(value)
    return plain_text(value)


class WideCsvWriter:
    def __init__(self, header: DatasetHeader, out: BinaryIO) -> None:
        self._header = header
        self._columns = wide_columns(header)
        self._file = _CsvFile(out)
        self._file.row([column.name for column in self._columns])

    def add(self, units: Sequence[Unit]) -> None:
        for unit in units:
            self._file.row([self._text(unit, column) for column in self._columns])

    def _text(self, unit: Unit, column: Column) -> str:
        cell = cell_of(unit, column)
        if column.kind is ColumnKind.VALUE and cell is not None and cell.missing is not None:
            return MISSING_TEXT[cell.missing]
        return text_cell(wide_value(self._header, unit, column))

    def finish(self, quality: Quality) -> None:
        self._file.flush()


class LongCsvWriter:
    def __init__(self, header: DatasetHeader, out: BinaryIO) -> None:
        self._header = header
        self._columns = long_columns(header)
        self._file = _CsvFile(out)
        self._file.row(list(self._columns))

    def add(self, units: Sequence[Unit]) -> None:
        for unit in units:
            for row in long_rows(self._header, unit):
                self._file.row([self._text(name, row.values[name]) for name in self._columns])

    @staticmethod
    def _text(name: str, value: Any) -> str:
        if name in _NUMERIC_LONG_COLUMNS:
            return plain_text(value)
        return text_cell(value)

    def finish(self, quality: Quality) -> None:
        self._file.flush()
