"""The long dataset: one row per extraction (a processed cell), with its evidence and
provenance. Built from the same rows as the wide one."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from server.exports.columns import typed
from server.exports.dataset import DatasetHeader, Unit

# The long data's columns; entity columns only in entity projects.
LONG_COLUMNS = (
    "document_id",
    "filename",
    "entity_key",
    "entity_name",
    "variable",
    "value",
    "status",
    "best_guess",
    "confidence",
    "evidence_match",
    "source_text",
    "source_start",
    "source_end",
    "prompt_version",
    "model",
    "job_id",
    "extraction_id",
    "error",
)
_ENTITY_COLUMNS = ("entity_key", "entity_name")


def long_columns(header: DatasetHeader) -> tuple[str, ...]:
    if header.entity_level:
        return LONG_COLUMNS
    return tuple(c for c in LONG_COLUMNS if c not in _ENTITY_COLUMNS)


@dataclass(frozen=True, slots=True)
class LongRow:
    """One extraction. value is typed (the variable's type) or, for several values, their
    JSON array as text; None when the extraction holds no value (see status)."""

    values: dict[str, Any]


def long_rows(header: DatasetHeader, unit: Unit) -> Iterator[LongRow]:
    """The unit's extractions in schema order (cells not processed have none)."""
    entity = header.entity_level
    for variable, cell in zip(header.variables, unit.cells, strict=True):
        if cell.extraction_id is None:
            continue
        values = cell.values
        if cell.missing is not None:
            value: Any = None
        elif isinstance(cell.value, list):
            value = json.dumps(values, ensure_ascii=False)
        else:
            value = typed(cell.value, variable)
        row: dict[str, Any] = {
            "document_id": str(unit.document_id),
            "filename": unit.filename,
        }
        if entity:
            row["entity_key"] = unit.entity_key
            row["entity_name"] = unit.entity_name
        row.update(
            variable=variable.name,
            value=value,
            status=cell.status.value,
            best_guess=cell.best_guess,
            confidence=cell.confidence,
            evidence_match=cell.evidence_match.value if cell.evidence_match else None,
            source_text=cell.source_text,
            source_start=cell.source_start,
            source_end=cell.source_end,
            prompt_version=cell.prompt_version,
            model=cell.model,
            job_id=str(cell.job_id) if cell.job_id else None,
            extraction_id=str(cell.extraction_id),
            error=cell.error,
        )
        yield LongRow(row)
