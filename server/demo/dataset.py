"""The demo's dataset as files and as a table on screen: wide (one row per document, one
column per variable) and long (one row per extracted value, with its evidence)."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from coderai.v1 import common_pb2, document_pb2, job_pb2, schema_pb2
from google.protobuf import json_format, struct_pb2

DATASET_FILE = "dataset.csv"
EXTRACTIONS_FILE = "extractions.csv"
MULTI_VALUE_SEPARATOR = "; "
LONG_COLUMNS = (
    "document",
    "variable",
    "value",
    "status",
    "confidence",
    "evidence_match",
    "source_text",
    "error",
)


@dataclass(frozen=True)
class Dataset:
    """Every extraction of the project, with the documents and variables they belong to."""

    documents: Sequence[document_pb2.Document]
    variables: Sequence[schema_pb2.Variable]
    extractions: Sequence[job_pb2.Extraction]

    @cached_property
    def _filenames(self) -> dict[str, str]:
        return {document.id: document.filename for document in self.documents}

    @cached_property
    def _variable_names(self) -> dict[str, str]:
        return {variable.id: variable.name for variable in self.variables}

    def filename(self, document_id: str) -> str:
        return self._filenames.get(document_id, document_id)

    def variable_name(self, variable_id: str) -> str:
        return self._variable_names.get(variable_id, variable_id)

    def wide_rows(self, document_ids: Iterable[str] | None = None) -> list[dict[str, str]]:
        """One row per document (all, or those given), ordered by filename: its name, then
        one cell per variable in schema order."""
        cells: dict[str, dict[str, str]] = {}
        for extraction in self.extractions:
            cells.setdefault(extraction.document_id, {})[
                self.variable_name(extraction.variable_id)
            ] = cell(extraction.value)
        wanted = None if document_ids is None else set(document_ids)
        rows = []
        for document in sorted(self.documents, key=lambda d: d.filename):
            if wanted is not None and document.id not in wanted:
                continue
            values = cells.get(document.id, {})
            row = {"document": document.filename}
            row.update({v.name: values.get(v.name, "") for v in self.variables})
            rows.append(row)
        return rows

    def long_rows(self) -> list[dict[str, str]]:
        """One row per extraction, by document filename and then schema order."""
        order = {variable.id: index for index, variable in enumerate(self.variables)}
        ordered = sorted(
            self.extractions,
            key=lambda e: (self.filename(e.document_id), order.get(e.variable_id, len(order))),
        )
        return [
            {
                "document": self.filename(extraction.document_id),
                "variable": self.variable_name(extraction.variable_id),
                "value": cell(extraction.value),
                "status": status_name(extraction.status),
                "confidence": f"{extraction.confidence:.2f}",
                "evidence_match": evidence_name(extraction.evidence_match),
                "source_text": extraction.source_text,
                "error": extraction.error,
            }
            for extraction in ordered
        ]


def cell(value: struct_pb2.Value) -> str:
    """An extracted value as a CSV cell: "" for no value, whole numbers without ".0",
    true/false, several values joined with "; "."""
    python = json_format.MessageToDict(value) if value.WhichOneof("kind") else None
    if isinstance(python, list):
        return MULTI_VALUE_SEPARATOR.join(_plain(item) for item in python)
    return _plain(python)


def _plain(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def status_name(status: int) -> str:
    return common_pb2.ExtractionStatus.Name(status).removeprefix("EXTRACTION_STATUS_")


def evidence_name(match: int) -> str:
    return common_pb2.EvidenceMatch.Name(match).removeprefix("EVIDENCE_MATCH_")


def write_csv(path: Path, columns: Sequence[str], rows: Iterable[Mapping[str, str]]) -> None:
    # utf-8-sig: spreadsheet programs then read accents and the euro sign correctly.
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(columns))
        writer.writeheader()
        writer.writerows(rows)


def write_dataset(dataset: Dataset, output: Path) -> None:
    """Writes dataset.csv (wide) and extractions.csv (long) into output."""
    output.mkdir(parents=True, exist_ok=True)
    columns = ["document", *(variable.name for variable in dataset.variables)]
    write_csv(output / DATASET_FILE, columns, dataset.wide_rows())
    write_csv(output / EXTRACTIONS_FILE, LONG_COLUMNS, dataset.long_rows())


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
