"""The demo's dataset on screen (from ListResults) and the files it saves (each one an export
built by ExportService)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from coderai.v1 import export_pb2
from google.protobuf import json_format

from server.exports.columns import plain_text

# The files the demo saves, each the download of one export format.
EXPORT_FILES: dict[export_pb2.ExportFormat, str] = {
    export_pb2.EXPORT_FORMAT_CSV_WIDE: "dataset.csv",
    export_pb2.EXPORT_FORMAT_CSV_LONG: "extractions.csv",
    export_pb2.EXPORT_FORMAT_XLSX: "dataset.xlsx",
    export_pb2.EXPORT_FORMAT_STATA: "dataset.dta",
    export_pb2.EXPORT_FORMAT_SPSS: "dataset.sav",
    export_pb2.EXPORT_FORMAT_DATA_PACKAGE: "datapackage.zip",
    export_pb2.EXPORT_FORMAT_CODEBOOK: "codebook.md",
}
# How the screen shows a cell without a value.
_NO_VALUE = {
    export_pb2.CELL_STATUS_NOT_FOUND: "(not found)",
    export_pb2.CELL_STATUS_LOW_CONFIDENCE: "(uncertain)",
    export_pb2.CELL_STATUS_FAILED: "(failed)",
    export_pb2.CELL_STATUS_NOT_PROCESSED: "(not processed)",
}


def wide_rows(
    results: export_pb2.ListResultsResponse, document_ids: Iterable[str] | None = None
) -> list[dict[str, str]]:
    """One line per row of the dataset (all, or those of the given documents): the document,
    then one cell per variable."""
    wanted = None if document_ids is None else set(document_ids)
    return [
        {
            "document": row.filename,
            **{
                column.name: cell_text(cell)
                for column, cell in zip(results.columns, row.cells, strict=True)
            },
        }
        for row in results.rows
        if wanted is None or row.document_id in wanted
    ]


def cell_text(cell: export_pb2.ResultCell) -> str:
    """A cell on screen: its value (several joined with "; "), or why it has none."""
    value: Any = json_format.MessageToDict(cell.value) if cell.HasField("value") else None
    if value is None or value == [] or cell.status == export_pb2.CELL_STATUS_FAILED:
        return _NO_VALUE.get(cell.status, "")
    items = value if isinstance(value, list) else [value]
    return "; ".join(plain_text(item) for item in items)


def extracted_cells(results: export_pb2.ListResultsResponse) -> Iterator[export_pb2.ResultCell]:
    """Every cell an extraction stands behind (not the ones not processed yet)."""
    for row in results.rows:
        yield from (cell for cell in row.cells if cell.extraction_id)


def table(rows: Sequence[Mapping[str, str]], max_width: int = 34) -> list[str]:
    """Rows as aligned plain-text lines under a header, long cells cut with an ellipsis."""
    if not rows:
        return []
    columns = list(rows[0])
    shown = [
        {column: shorten(row.get(column, ""), max_width) for column in columns} for row in rows
    ]
    widths = {c: max(len(c), *(len(row[c]) for row in shown)) for c in columns}
    lines = ["  ".join(c.ljust(widths[c]) for c in columns).rstrip()]
    lines.append("  ".join("-" * widths[c] for c in columns))
    lines.extend("  ".join(row[c].ljust(widths[c]) for c in columns).rstrip() for row in shown)
    return lines


def shorten(text: str, width: int) -> str:
    """text on one line, cut to width characters with an ellipsis."""
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1].rstrip() + "\u2026"
