"""The wide dataset's columns and the rules every format shares: how columns are named (and
renamed where a format's identifiers are narrower), how the four kinds of missing value are
written, and how text is neutralised against spreadsheet formulas."""

from __future__ import annotations

import enum
import hashlib
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from server.exports.dataset import Cell, DatasetHeader, MissingKind, Unit, VariableSpec
from server.schema.models import VariableType


class NameRule(enum.Enum):
    """Whose identifier rules a file's column names must follow."""

    # CSV, Excel and the data package: the names as they are (variable names are already
    # letters, digits and underscores, starting with a letter, at most 63 characters).
    PLAIN = "plain"
    # Stata: at most 32 characters.
    STATA = "stata"
    # SPSS: at most 64 bytes, and a name cannot begin with an underscore.
    SPSS = "spss"


_MAX_LENGTH = {NameRule.PLAIN: 63 + 16, NameRule.STATA: 32, NameRule.SPSS: 64}
# SPSS refuses a leading underscore: its metadata columns begin with this instead.
SPSS_METADATA_PREFIX = "meta"


class ColumnKind(enum.Enum):
    DOCUMENT_ID = "document_id"
    FILENAME = "filename"
    ENTITY_KEY = "entity_key"
    ENTITY_NAME = "entity_name"
    VALUE = "value"
    CONFIDENCE = "confidence"
    SOURCE = "source"
    PROMPT_VERSION = "prompt_version"


IDENTIFYING = (
    ColumnKind.DOCUMENT_ID,
    ColumnKind.FILENAME,
    ColumnKind.ENTITY_KEY,
    ColumnKind.ENTITY_NAME,
)
METADATA_PREFIXES = {
    ColumnKind.CONFIDENCE: "_confidence_",
    ColumnKind.SOURCE: "_source_",
    ColumnKind.PROMPT_VERSION: "_prompt_version_",
}
IDENTIFYING_LABELS = {
    ColumnKind.DOCUMENT_ID: "Document id",
    ColumnKind.FILENAME: "Document file name",
    ColumnKind.ENTITY_KEY: "Entity key (normalised)",
    ColumnKind.ENTITY_NAME: "Entity, as the document names it",
}


@dataclass(frozen=True, slots=True)
class Column:
    """One column of the wide dataset."""

    # The name in this file (after the NameRule) and the name the rules started from.
    name: str
    natural_name: str
    label: str
    kind: ColumnKind
    # For variable columns: the variable's index in the header and, for a multi-value
    # variable's value columns, the value's index (0-based); None otherwise.
    variable_index: int | None = None
    slot: int | None = None

    def variable(self, header: DatasetHeader) -> VariableSpec | None:
        return None if self.variable_index is None else header.variables[self.variable_index]


# How each kind of missing value is written where a cell holds text (CSV, Excel, text
# variables in Stata and SPSS), and declared missing in datapackage.json.
MISSING_TEXT = {
    MissingKind.NOT_PROCESSED: "[not processed]",
    MissingKind.NOT_FOUND: "[not found]",
    MissingKind.UNCERTAIN: "[uncertain]",
    MissingKind.FAILED: "[failed]",
}
# Stata's extended missing values, for numeric, date, boolean and category variables.
STATA_MISSING = {
    MissingKind.NOT_PROCESSED: "a",
    MissingKind.NOT_FOUND: "b",
    MissingKind.UNCERTAIN: "c",
    MissingKind.FAILED: "d",
}
# SPSS user-missing codes (declared as the range -999999994 to -999999991), for numeric, date,
# boolean and category variables.
SPSS_MISSING = {
    MissingKind.NOT_PROCESSED: -999999991,
    MissingKind.NOT_FOUND: -999999992,
    MissingKind.UNCERTAIN: -999999993,
    MissingKind.FAILED: -999999994,
}
MISSING_MEANING = {
    MissingKind.NOT_PROCESSED: "the unit has not been processed with this variable yet",
    MissingKind.NOT_FOUND: "the text does not state a value (and the variable has no default)",
    MissingKind.UNCERTAIN: "the model was unsure and the variable's rule left the cell empty",
    MissingKind.FAILED: "the extraction failed (the long data and the codebook say why)",
}

# A text cell that starts with one of these could run as a formula in a spreadsheet.
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
FORMULA_GUARD = "'"


def neutralise(text: str) -> str:
    """Text a spreadsheet shows as text: a leading = + - @ tab or carriage return gets an
    apostrophe in front (OWASP's rule against CSV injection)."""
    return FORMULA_GUARD + text if text.startswith(FORMULA_TRIGGERS) else text


def wide_columns(header: DatasetHeader, rule: NameRule = NameRule.PLAIN) -> list[Column]:
    """The identifying columns (document id and file name, and in entity projects the
    entity's key and name), then per variable in schema order its value column (name_1 ..
    name_N for ALL with max_values N > 1) and, with metadata, its _confidence_, _source_ and
    _prompt_version_ columns; named under `rule`."""
    natural: list[tuple[str, str, ColumnKind, int | None, int | None]] = [
        (kind.value, IDENTIFYING_LABELS[kind], kind, None, None)
        for kind in IDENTIFYING
        if header.entity_level or kind not in (ColumnKind.ENTITY_KEY, ColumnKind.ENTITY_NAME)
    ]
    for index, variable in enumerate(header.variables):
        if variable.slots > 1:
            natural += [
                (
                    f"{variable.name}_{slot + 1}",
                    f"{variable.label} ({slot + 1} of {variable.slots})",
                    ColumnKind.VALUE,
                    index,
                    slot,
                )
                for slot in range(variable.slots)
            ]
        else:
            natural.append((variable.name, variable.label, ColumnKind.VALUE, index, None))
        if header.include_metadata:
            natural += [
                (
                    f"{prefix}{variable.name}",
                    f"{variable.label}: {kind.value.replace('_', ' ')}",
                    kind,
                    index,
                    None,
                )
                for kind, prefix in METADATA_PREFIXES.items()
            ]
    names = column_names([name for name, *_ in natural], rule)
    return [
        Column(name, natural_name, label, kind, variable_index, slot)
        for name, (natural_name, label, kind, variable_index, slot) in zip(
            names, natural, strict=True
        )
    ]


def column_names(natural: Sequence[str], rule: NameRule) -> list[str]:
    """Names valid under `rule`, one per natural name, in order. The rule, also written into
    every codebook: (1) for SPSS, a leading underscore becomes "meta_"; (2) a name longer
    than the format allows keeps its first (limit - 5) characters, then "_" and the first four
    hex digits of the SHA-1 of the whole name; (3) a name equal, ignoring case, to an earlier
    one gets "_2", "_3", ... (shortened by rule 2 first when needed)."""
    limit = _MAX_LENGTH[rule]
    taken: set[str] = set()
    names: list[str] = []
    for name in natural:
        candidate = name
        if rule is NameRule.SPSS and candidate.startswith("_"):
            candidate = SPSS_METADATA_PREFIX + candidate
        candidate = _fit(candidate, limit)
        base, number = candidate, 1
        while candidate.casefold() in taken:
            number += 1
            suffix = f"_{number}"
            candidate = _fit(base, limit - len(suffix)) + suffix
        taken.add(candidate.casefold())
        names.append(candidate)
    return names


def _fit(name: str, limit: int) -> str:
    if len(name.encode()) <= limit:
        return name
    digest = hashlib.sha1(name.encode(), usedforsecurity=False).hexdigest()[:4]
    return name[: limit - 5] + "_" + digest


def cell_of(unit: Unit, column: Column) -> Cell | None:
    """The unit's cell behind a variable column; None for identifying columns."""
    return None if column.variable_index is None else unit.cells[column.variable_index]


def identifying_value(unit: Unit, kind: ColumnKind) -> str:
    match kind:
        case ColumnKind.DOCUMENT_ID:
            return str(unit.document_id)
        case ColumnKind.FILENAME:
            return unit.filename
        case ColumnKind.ENTITY_KEY:
            return unit.entity_key
        case ColumnKind.ENTITY_NAME:
            return unit.entity_name
    raise ValueError(f"{kind} is not an identifying column")


def slot_value(cell: Cell, slot: int | None) -> Any:
    """The value a value column shows: the cell's value, or its slot's item for a
    multi-value variable (None past the last value: the unit has fewer values)."""
    values = cell.values
    if slot is None:
        return cell.value if cell.missing is None else None
    return values[slot] if slot < len(values) else None


def wide_value(header: DatasetHeader, unit: Unit, column: Column) -> Any:
    """What a wide column holds for a unit, typed: the identifying text, the variable's value
    (None when the cell is missing: each format writes Cell.missing its own way), or the
    cell's confidence, source text or prompt version."""
    if column.variable_index is None:
        return identifying_value(unit, column.kind)
    cell = unit.cells[column.variable_index]
    match column.kind:
        case ColumnKind.VALUE:
            return typed(slot_value(cell, column.slot), header.variables[column.variable_index])
        case ColumnKind.CONFIDENCE:
            return cell.confidence
        case ColumnKind.SOURCE:
            return cell.source_text
        case ColumnKind.PROMPT_VERSION:
            return cell.prompt_version
    raise ValueError(f"unexpected column {column}")


def typed(value: Any, variable: VariableSpec) -> Any:
    """A stored JSON value as the Python value of its type: int or float for NUMBER, date for
    DATE, bool for BOOLEAN, str otherwise (a list, for CONCATENATE's legacy rows, joined)."""
    if value is None:
        return None
    match variable.type:
        case VariableType.NUMBER:
            if isinstance(value, bool):
                return int(value)
            if isinstance(value, int | float):
                return int(value) if isinstance(value, float) and value.is_integer() else value
            return _number(str(value))
        case VariableType.DATE:
            try:
                return date.fromisoformat(str(value))
            except ValueError:
                return str(value)
        case VariableType.BOOLEAN:
            return value if isinstance(value, bool) else str(value).lower() == "true"
    if isinstance(value, list):
        return "; ".join(str(item) for item in value)
    return str(value)


def _number(text: str) -> int | float | str:
    try:
        number = float(text)
    except ValueError:
        return text
    return int(number) if number.is_integer() else number


def plain_text(value: Any) -> str:
    """A typed value as CSV text: ISO dates, true/false, whole numbers without ".0"."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def slug(text: str, length: int = 60) -> str:
    """A file or package name from a title: lower-case ASCII letters, digits and hyphens (at
    most `length`), "dataset" when none are left."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    words = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    return words[:length].rstrip("-") or "dataset"
