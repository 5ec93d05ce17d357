"""Stata (.dta) and SPSS (.sav) files: typed columns, variable and value labels, and the four
kinds of missing value as Stata's extended missing values .a-.d or as SPSS user-missing codes.

pyreadstat writes a whole DataFrame at once, so these two writers keep every row until
finish() (per column, as plain lists; the frame is built only then): unlike the other formats,
their memory grows with the number of rows. Text is written as it is: neither program runs a
cell as a formula, so nothing is neutralised as it is in CSV and Excel.
"""

from __future__ import annotations

import math
import shutil
import struct
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any, BinaryIO, ClassVar, Literal

import pandas as pd
import pyreadstat
from pyreadstat.pyclasses import MissingRange

from server.exports.columns import (
    MISSING_TEXT,
    SPSS_MISSING,
    STATA_MISSING,
    Column,
    ColumnKind,
    NameRule,
    cell_of,
    wide_columns,
    wide_value,
)
from server.exports.dataset import DatasetHeader, MissingKind, Unit, VariableSpec
from server.exports.quality import Quality
from server.schema.models import VariableType

# What a column keeps per row until finish(): text, a number, a date, or why the cell is empty.
Kept = str | float | date | MissingKind | None
# A missing value as the file writes it: a Stata letter or an SPSS code.
Marker = str | int

BOOLEAN_LABELS = {0: "false", 1: "true"}
_ELLIPSIS = "…"
_COPY_CHUNK = 1 << 20
_STATA_NAME_LENGTH = 32


def spss_missing_codes(values: Iterable[float]) -> dict[MissingKind, int]:
    """The SPSS user-missing codes of a NUMBER variable: SPSS_MISSING (-999999991 not
    processed .. -999999994 failed), unless one of the variable's values (in any of its
    columns) falls in that range; then the four whole numbers below the variable's minimum,
    in the same order: minimum rounded down minus 1 (not processed), minus 2 (not found),
    minus 3 (uncertain), minus 4 (failed). Either way the codes are declared as the
    variable's missing range and labelled in its value labels."""
    low, high = min(SPSS_MISSING.values()), max(SPSS_MISSING.values())
    numbers = [number for number in values if math.isfinite(number)]
    if not any(low <= number <= high for number in numbers):
        return dict(SPSS_MISSING)
    below = math.floor(min(numbers)) - 1
    return {kind: below - offset for offset, kind in enumerate(SPSS_MISSING)}


def _clip(text: str, limit: int, in_bytes: bool = False) -> str:
    """Text cut to a format's limit (in characters, or in UTF-8 bytes), with an ellipsis
    where it was cut."""
    if not in_bytes:
        return text if len(text) <= limit else text[: limit - 1] + _ELLIPSIS
    encoded = text.encode()
    if len(encoded) <= limit:
        return text
    kept = encoded[: limit - len(_ELLIPSIS.encode())]
    return kept.decode(errors="ignore") + _ELLIPSIS


@dataclass
class _Layout:
    """What pyreadstat is told besides the data, keyed by column name."""

    column_labels: list[str]
    value_labels: dict[str, dict[Any, str]] = field(default_factory=dict)
    formats: dict[str, str] = field(default_factory=dict)
    # Numeric value columns: how each kind of missing value is written.
    markers: dict[str, Mapping[MissingKind, Marker]] = field(default_factory=dict)


class _StatisticsWriter:
    """What .dta and .sav share: the rows kept per column, the typed values, the category
    codes and the labels. A subclass names its limits and writes the file."""

    name_rule: ClassVar[NameRule]
    suffix: ClassVar[str]
    date_format: ClassVar[str]
    integer_format: ClassVar[str]
    # Limits on labels, counted in UTF-8 bytes (SPSS) or characters (Stata).
    limits_in_bytes: ClassVar[bool]
    file_label_limit: ClassVar[int]
    variable_label_limit: ClassVar[int]
    value_label_limit: ClassVar[int]
    # None where strings are unbounded (Stata's strL).
    string_limit: ClassVar[int | None]

    def __init__(self, header: DatasetHeader, out: BinaryIO) -> None:
        self._header = header
        self._out = out
        self._columns = wide_columns(header, self.name_rule)
        self._kept: list[list[Kept]] = [[] for _ in self._columns]
        # Per CATEGORY variable (by name): label -> code, 1..K in the schema's order, then a new
        # code for each value that is not a category (so no value is lost).
        self._codes = {
            variable.name: {
                category.label: code for code, category in enumerate(variable.categories, 1)
            }
            for variable in header.variables
            if variable.type is VariableType.CATEGORY
        }

    def add(self, units: Sequence[Unit]) -> None:
        for unit in units:
            for column, kept in zip(self._columns, self._kept, strict=True):
                kept.append(self._kept_value(unit, column))

    def finish(self, quality: Quality) -> None:
        layout = self._layout()
        frame = pd.DataFrame(
            {
                column.name: self._series(column, kept, layout.markers.get(column.name))
                for column, kept in zip(self._columns, self._kept, strict=True)
            }
        )
        with tempfile.TemporaryDirectory() as directory:
            path = Path(directory) / f"dataset{self.suffix}"
            self._write(path, frame, layout)
            with path.open("rb") as written:
                shutil.copyfileobj(written, self._out, _COPY_CHUNK)

    def _write(self, path: Path, frame: pd.DataFrame, layout: _Layout) -> None:
        raise NotImplementedError

    def _markers(self, column: Column, variable: VariableSpec) -> Mapping[MissingKind, Marker]:
        raise NotImplementedError

    def _date_number(self, day: date) -> float:
        raise NotImplementedError

    def _kept_value(self, unit: Unit, column: Column) -> Kept:
        cell, variable = cell_of(unit, column), column.variable(self._header)
        if cell is None or variable is None:
            return self._text(wide_value(self._header, unit, column))
        if column.kind is ColumnKind.VALUE and cell.missing is not None:
            # Strings have no extended missing values: text cells hold the bracketed code.
            if variable.type is VariableType.TEXT:
                return MISSING_TEXT[cell.missing]
            return cell.missing
        value = wide_value(self._header, unit, column)
        if self._is_text(column):
            return self._text(value)
        if column.kind is not ColumnKind.VALUE:
            return None if value is None else float(value)
        # A value not of the variable's type (post-processing rejects these) stays
        # system-missing here; the CSV and long data keep its text.
        match variable.type:
            case VariableType.NUMBER:
                return float(value) if isinstance(value, int | float) else None
            case VariableType.DATE:
                return value if isinstance(value, date) else None
            case VariableType.BOOLEAN:
                return None if value is None else float(value)
            case VariableType.CATEGORY:
                return None if value is None else float(self._code(variable, str(value)))
        raise ValueError(f"unexpected variable type {variable.type}")

    def _text(self, value: Any) -> str:
        text = "" if value is None else str(value)
        return text if self.string_limit is None else _clip(text, self.string_limit, True)

    def _code(self, variable: VariableSpec, label: str) -> int:
        codes = self._codes[variable.name]
        if label not in codes:
            codes[label] = max(codes.values(), default=0) + 1
        return codes[label]

    def _is_text(self, column: Column) -> bool:
        variable = column.variable(self._header)
        return (
            variable is None
            or column.kind is ColumnKind.SOURCE
            or (column.kind is ColumnKind.VALUE and variable.type is VariableType.TEXT)
        )

    def _layout(self) -> _Layout:
        layout = _Layout(
            column_labels=[
                _clip(column.label, self.variable_label_limit, self.limits_in_bytes)
                for column in self._columns
            ]
        )
        for column in self._columns:
            variable = column.variable(self._header)
            if column.kind is ColumnKind.PROMPT_VERSION:
                layout.formats[column.name] = self.integer_format
            if variable is None or column.kind is not ColumnKind.VALUE or self._is_text(column):
                continue
            markers = self._markers(column, variable)
            layout.markers[column.name] = markers
            labels: dict[Any, str] = {}
            if variable.type is VariableType.BOOLEAN:
                labels.update(BOOLEAN_LABELS)
            elif variable.type is VariableType.CATEGORY:
                codes = self._codes[variable.name]
                labels.update({code: label for label, code in codes.items()})
            labels.update({marker: MISSING_TEXT[kind] for kind, marker in markers.items()})
            layout.value_labels[column.name] = {
                value: _clip(label, self.value_label_limit, self.limits_in_bytes)
                for value, label in labels.items()
            }
            if variable.type is VariableType.DATE:
                layout.formats[column.name] = self.date_format
        return layout

    def _series(
        self, column: Column, kept: list[Kept], markers: Mapping[MissingKind, Marker] | None
    ) -> pd.Series[Any]:
        if self._is_text(column):
            return pd.Series(kept, dtype=object)
        values = [self._number(value, markers) for value in kept]
        # Stata's letters make a numeric column a mixed one, which pyreadstat writes as numbers
        # with tagged missing values; a float64 column would refuse them.
        mixed = any(isinstance(value, str) for value in values)
        return pd.Series(values, dtype=object if mixed else "float64")

    def _number(
        self, value: Kept, markers: Mapping[MissingKind, Marker] | None
    ) -> float | Marker | None:
        """A kept value of a numeric column as the file stores it."""
        if isinstance(value, MissingKind):
            assert markers is not None, "only value columns keep missing kinds"
            return markers[value]
        if isinstance(value, date):
            return self._date_number(value)
        assert not isinstance(value, str), "text is kept in text columns only"
        return value

    def _file_label(self) -> str:
        return _clip(self._header.project_name, self.file_label_limit, self.limits_in_bytes)


class StataWriter(_StatisticsWriter):
    """Stata 15 (.dta release 119). Numeric, date, boolean and category columns write the four
    kinds of missing value as the extended missing values .a-.d, labelled with their codes;
    dates are %td; text columns hold the bracketed codes."""

    name_rule = NameRule.STATA
    suffix = ".dta"
    date_format = "%td"
    integer_format = "%8.0f"
    limits_in_bytes = False
    file_label_limit = 80
    variable_label_limit = 80
    value_label_limit = 32_000
    string_limit = None

    _EPOCH = date(1960, 1, 1)

    def _markers(self, column: Column, variable: VariableSpec) -> Mapping[MissingKind, Marker]:
        return dict(STATA_MISSING)

    def _date_number(self, day: date) -> float:
        return float((day - self._EPOCH).days)

    def _write(self, path: Path, frame: pd.DataFrame, layout: _Layout) -> None:
        names = list(frame.columns)
        placeholders = _label_set_placeholders(names, layout.value_labels)

        def renamed(mapping: dict[str, Any]) -> dict[str, Any]:
            return {placeholders.get(name, name): value for name, value in mapping.items()}

        pyreadstat.write_dta(
            frame.rename(columns=placeholders),
            path,
            file_label=self._file_label(),
            column_labels=list(layout.column_labels),
            version=15,
            variable_value_labels=renamed(layout.value_labels),
            missing_user_values=renamed(
                {name: list(markers.values()) for name, markers in layout.markers.items()}
            ),
            variable_format=renamed(layout.formats),
        )
        if placeholders:
            _rename_dta_variables(path, names)


class SpssWriter(_StatisticsWriter):
    """SPSS (.sav). Numeric, date, boolean and category columns write the four kinds of missing
    value as user-missing codes (spss_missing_codes), declared as a missing range and labelled;
    dates are DATE11 (seconds since 1582-10-14, so that the codes can be declared); text columns
    hold the bracketed codes; the file's note explains the codes."""

    name_rule = NameRule.SPSS
    suffix = ".sav"
    date_format = "DATE11"
    integer_format = "F8.0"
    limits_in_bytes = True
    file_label_limit = 64
    variable_label_limit = 256
    value_label_limit = 120
    string_limit = 32_767

    _EPOCH = date(1582, 10, 14)
    _SECONDS_PER_DAY = 86_400
    # Wide enough for the missing codes (10 characters).
    _CODE_FORMAT = "F11.0"
    _NOTE_LINE_LIMIT = 80

    def _markers(self, column: Column, variable: VariableSpec) -> Mapping[MissingKind, Marker]:
        if variable.type is not VariableType.NUMBER:
            return dict(SPSS_MISSING)
        return spss_missing_codes(self._numbers(variable))

    def _numbers(self, variable: VariableSpec) -> list[float]:
        """The values of a NUMBER variable, over all its columns."""
        return [
            value
            for column, kept in zip(self._columns, self._kept, strict=True)
            if column.kind is ColumnKind.VALUE and column.variable(self._header) is variable
            for value in kept
            if isinstance(value, float)
        ]

    def _date_number(self, day: date) -> float:
        return float((day - self._EPOCH).days * self._SECONDS_PER_DAY)

    def _write(self, path: Path, frame: pd.DataFrame, layout: _Layout) -> None:
        formats = dict(layout.formats)
        measures: dict[str, str] = {}
        for column in self._columns:
            measures[column.name] = self._measure(column)
            variable = column.variable(self._header)
            if column.kind is not ColumnKind.VALUE or variable is None:
                continue
            if variable.type in (VariableType.BOOLEAN, VariableType.CATEGORY):
                formats[column.name] = self._CODE_FORMAT
            elif variable.type is VariableType.NUMBER:
                formats[column.name] = _number_format(frame[column.name])
        pyreadstat.write_sav(
            frame,
            path,
            file_label=self._file_label(),
            column_labels=list(layout.column_labels),
            note=self._note(),
            variable_value_labels=layout.value_labels,
            missing_ranges={
                name: [_missing_range(markers)] for name, markers in layout.markers.items()
            },
            variable_measure=measures,
            variable_format=formats,
        )

    def _measure(self, column: Column) -> str:
        variable = column.variable(self._header)
        if column.kind is ColumnKind.CONFIDENCE:
            return "scale"
        if column.kind is ColumnKind.PROMPT_VERSION:
            return "ordinal"
        if (
            column.kind is ColumnKind.VALUE
            and variable is not None
            and variable.type in (VariableType.NUMBER, VariableType.DATE)
        ):
            return "scale"
        return "nominal"

    def _note(self) -> list[str]:
        codes = ", ".join(f"{code} {MISSING_TEXT[kind]}" for kind, code in SPSS_MISSING.items())
        paragraphs = [
            f"Number, date, boolean and category columns: user-missing codes {codes}.",
            "A number variable with values in that range uses the four whole numbers below"
            " its minimum instead; each column's value labels name its codes.",
            "Text columns hold the bracketed codes as text.",
            "System-missing (or empty text): nothing to show, such as the slots past a unit's"
            " last value.",
        ]
        return [line for text in paragraphs for line in _wrap(text, self._NOTE_LINE_LIMIT)]


def _missing_range(markers: Mapping[MissingKind, Marker]) -> MissingRange:
    codes = [int(marker) for marker in markers.values()]
    return MissingRange(lo=min(codes), hi=max(codes))


def _wrap(text: str, limit: int) -> list[str]:
    """Text in lines of at most `limit` UTF-8 bytes, broken at spaces (a longer word is
    cut)."""
    lines: list[str] = []
    for word in text.split(" "):
        if lines and len(f"{lines[-1]} {word}".encode()) <= limit:
            lines[-1] += f" {word}"
        else:
            lines.append(_clip(word, limit, in_bytes=True))
    return lines


def _number_format(values: pd.Series[Any]) -> str:
    """An SPSS display format showing a number column's values with all their decimals (at
    most 16), wide enough for the missing codes and large numbers."""
    decimals = 0
    for value in values.dropna():
        exponent = Decimal(repr(float(value))).as_tuple().exponent
        if isinstance(exponent, int):
            decimals = max(decimals, -exponent)
    decimals = min(decimals, 16)
    return f"F{20 + decimals}.{decimals}"


def _label_set_placeholders(
    names: Sequence[str], value_labels: dict[str, dict[Any, str]]
) -> dict[str, str]:
    """Temporary names for the labelled columns whose value-label set pyreadstat cannot name:
    it names a column's set after the column plus a counter, and a set's name, like a
    variable's, has at most 32 characters in Stata. The real names are put back afterwards
    (_rename_dta_variables)."""
    labelled = [name for name in names if value_labels.get(name)]
    return {
        name: f"_v{counter}_"
        for counter, name in enumerate(labelled)
        if len(name) + len(str(counter)) > _STATA_NAME_LENGTH
    }


def _rename_dta_variables(path: Path, names: Sequence[str]) -> None:
    """Writes `names` over the variable names of a .dta file (release 118 or 119), in place.
    The names are fixed-width, NUL-padded fields of the <varnames> section, which the file's
    <map> of section offsets locates."""
    with path.open("r+b") as file:
        head = file.read(_DTA_HEAD)
        byteorder: Literal["little", "big"] = (
            "little" if b"<byteorder>LSF</byteorder>" in head else "big"
        )
        # The file label (before the map) is free text: skip it by its length.
        label = head.index(b"<label>") + len(b"<label>")
        after_label = label + 2 + int.from_bytes(head[label : label + 2], byteorder)
        map_start = head.index(b"<map>", after_label) + len(b"<map>")
        offsets = struct.unpack(
            ("<" if byteorder == "little" else ">") + "14Q", head[map_start : map_start + 14 * 8]
        )
        # Sections 3 and 4 of the map: <varnames> and the <sortlist> right after it.
        varnames, sortlist = offsets[3], offsets[4]
        width, remainder = divmod(
            sortlist - varnames - len(_VARNAMES_OPEN) - len(_VARNAMES_CLOSE), len(names)
        )
        file.seek(varnames)
        if file.read(len(_VARNAMES_OPEN)) != _VARNAMES_OPEN or remainder:
            raise ValueError(f"{path.name}: unexpected layout of the variable names")
        for name in names:
            encoded = name.encode()
            if len(encoded) >= width:
                raise ValueError(f"{name!r} does not fit a .dta variable name")
            file.write(encoded.ljust(width, b"\0"))


# The header and the map of a .dta file fit in this many bytes (the label takes at most 322).
_DTA_HEAD = 4096
_VARNAMES_OPEN = b"<varnames>"
_VARNAMES_CLOSE = b"</varnames>"
