"""The long dataset: one row per value of each extraction (a processed cell), with that
value's evidence and the extraction's provenance; one row for an extraction without a value.
Built from the same rows as the wide one.

A variable that keeps several values as a list (if multiple values: all) has a row per value,
numbered by value_index, each with its own quote. One whose values are joined into one text
(concatenate) has one row: its quote is the first value's and evidence_match the least
supported value's (ListExtractions gives each value's quote)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from server.exports.columns import typed
from server.exports.dataset import DatasetHeader, Unit
from server.jobs.evidence import LOCATED, ValueEvidence

# The long data's columns; entity columns only in entity projects.
LONG_COLUMNS = (
    "document_id",
    "filename",
    "entity_key",
    "entity_name",
    "variable",
    "value_index",
    "value",
    "status",
    "best_guess",
    "confidence",
    "evidence_match",
    "evidence_candidates",
    "evidence_weak",
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
    """One value of an extraction, typed (the variable's type); value None when the
    extraction holds no value (see status)."""

    values: dict[str, Any]


def long_rows(header: DatasetHeader, unit: Unit) -> Iterator[LongRow]:
    """The unit's extractions in schema order (cells not processed have none), a row per
    value."""
    entity = header.entity_level
    for variable, cell in zip(header.variables, unit.cells, strict=True):
        if cell.extraction_id is None:
            continue
        extraction: dict[str, Any] = {
            "document_id": str(unit.document_id),
            "filename": unit.filename,
        }
        if entity:
            extraction["entity_key"] = unit.entity_key
            extraction["entity_name"] = unit.entity_name
        extraction.update(
            variable=variable.name,
            status=cell.status.value,
            best_guess=cell.best_guess,
            confidence=cell.confidence,
            prompt_version=cell.prompt_version,
            model=cell.model,
            job_id=str(cell.job_id) if cell.job_id else None,
            extraction_id=str(cell.extraction_id),
            error=cell.error,
        )
        if cell.missing is None and isinstance(cell.value, list):
            for index, value in enumerate(cell.values):
                evidence = cell.value_evidence[index] if index < len(cell.value_evidence) else None
                yield LongRow(
                    extraction
                    | {"value_index": index + 1, "value": typed(value, variable)}
                    | _evidence_columns(evidence)
                )
            continue
        value = None if cell.missing is not None else typed(cell.value, variable)
        first = cell.value_evidence[0] if cell.value_evidence else None
        columns = _evidence_columns(first) | {
            # Several values joined into one: the least supported one's match.
            "evidence_match": cell.evidence_match.value if cell.evidence_match else None,
            "source_text": cell.source_text,
            "source_start": cell.source_start,
            "source_end": cell.source_end,
        }
        yield LongRow(extraction | {"value_index": 1, "value": value} | columns)


def _evidence_columns(item: ValueEvidence | None) -> dict[str, Any]:
    """One value's evidence columns; empty ones when it has none (values stored before
    evidence was kept per value)."""
    if item is None:
        return dict.fromkeys(_EVIDENCE_COLUMNS)
    located = item.evidence.match in LOCATED
    return {
        "evidence_match": item.evidence.match.value,
        "evidence_candidates": item.evidence.candidates if located else None,
        "evidence_weak": item.evidence.weak if located else None,
        "source_text": item.source_text,
        "source_start": item.evidence.start,
        "source_end": item.evidence.end,
    }


_EVIDENCE_COLUMNS = (
    "evidence_match",
    "evidence_candidates",
    "evidence_weak",
    "source_text",
    "source_start",
    "source_end",
)
