"""The Stata and SPSS writers, read back with pyreadstat: names, labels, types, the four kinds
of missing value, multi-value columns, accents, entity projects, large and empty datasets."""

from __future__ import annotations

import dataclasses
import math
import re
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pyreadstat
import pytest

from server.exports.columns import (
    MISSING_TEXT,
    SPSS_MISSING,
    STATA_MISSING,
    ColumnKind,
    NameRule,
    column_names,
    wide_columns,
)
from server.exports.dataset import (
    NOT_PROCESSED,
    Category,
    CellStatus,
    DatasetHeader,
    MissingKind,
    Unit,
)
from server.exports.formats import WriterFactory
from server.exports.formats.stats import SpssWriter, StataWriter, spss_missing_codes
from server.exports.quality import QualityTally
from server.schema.models import IfMultipleValues, VariableType
from tests.exports.sample import VARIABLES, header, units, value, variable


@dataclass(frozen=True)
class Format:
    writer: WriterFactory
    suffix: str
    rule: NameRule
    markers: dict[MissingKind, Any]
    reader: Callable[..., tuple[pd.DataFrame, Any]]

    def write(self, folder: Path, dataset: DatasetHeader, *batches: Sequence[Unit]) -> Path:
        path = folder / f"dataset{self.suffix}"
        tally = QualityTally(dataset)
        with path.open("wb") as out:
            writer = self.writer(dataset, out)
            for batch in batches:
                writer.add(batch)
                tally.add(batch)
            writer.finish(tally.quality)
        return path

    def read(self, path: Path, **options: Any) -> tuple[pd.DataFrame, Any]:
        return self.reader(path, **options)

    def read_codes(self, path: Path) -> pd.DataFrame:
        """The file with its missing values as written: Stata's letters, SPSS's codes (dates
        as numbers, or pyreadstat would turn the codes into dates in 1551)."""
        options = {} if self is STATA else {"disable_datetime_conversion": True}
        frame, _ = self.read(path, user_missing=True, **options)
        return frame


STATA = Format(StataWriter, ".dta", NameRule.STATA, STATA_MISSING, pyreadstat.read_dta)
SPSS = Format(SpssWriter, ".sav", NameRule.SPSS, SPSS_MISSING, pyreadstat.read_sav)
each_format = pytest.mark.parametrize("fmt", [STATA, SPSS], ids=["stata", "spss"])

# The sample's second unit has every kind of empty cell.
EMPTY_CELLS = {
    "budget": MissingKind.UNCERTAIN,
    "meeting_date": MissingKind.FAILED,
    "approved": MissingKind.NOT_PROCESSED,
    "stance": MissingKind.NOT_FOUND,
}
STANCES = {1: "Support", 2: "Oppose", 3: "Neutral"}
# The natural names of long variables: a 60-character CATEGORY variable, and a BOOLEAN one
# named like its Stata name, so that the second is a duplicate after truncation.
LONG_NAME = "share_of_the_annual_municipal_budget_allocated_to_the_library"[:60]
LONG_STATA_NAME = column_names([LONG_NAME], NameRule.STATA)[0]


def sample_path(
    fmt: Format, folder: Path, entity: bool = False, include_metadata: bool = True
) -> Path:
    return fmt.write(folder, header(entity, include_metadata), units(entity))


def missing_labels(fmt: Format) -> dict[Any, str]:
    return {fmt.markers[kind]: MISSING_TEXT[kind] for kind in MissingKind}


@each_format
def test_columns_are_named_by_the_format_rule(fmt: Format, tmp_path: Path) -> None:
    dataset = header()
    frame, _ = fmt.read(fmt.write(tmp_path, dataset, units()))

    assert list(frame.columns) == [column.name for column in wide_columns(dataset, fmt.rule)]
    assert {"parties_1", "parties_2", "parties_3"} <= set(frame.columns)


def test_spss_metadata_columns_start_with_meta(tmp_path: Path) -> None:
    frame, _ = SPSS.read(sample_path(SPSS, tmp_path))

    assert "meta_confidence_budget" in frame.columns
    assert "meta_source_budget" in frame.columns
    assert "meta_prompt_version_budget" in frame.columns
    assert not [name for name in frame.columns if name.startswith(("_", "@"))]


def long_named_header() -> DatasetHeader:
    categories = tuple(Category(label, label) for label in STANCES.values())
    return header(
        variables=(
            *VARIABLES,
            variable(LONG_NAME, VariableType.CATEGORY, categories=categories),
            variable(LONG_STATA_NAME, VariableType.BOOLEAN),
        )
    )


def long_named_units() -> list[Unit]:
    return [
        dataclasses.replace(unit, cells=(*unit.cells, *extra))
        for unit, extra in zip(
            units(),
            [
                (value("Neutral"), value(False)),
                (value(None, CellStatus.NOT_FOUND), value(None, CellStatus.FAILED)),
                (NOT_PROCESSED, NOT_PROCESSED),
            ],
            strict=True,
        )
    ]


def test_stata_names_are_valid_and_unique_at_32_characters(tmp_path: Path) -> None:
    dataset = long_named_header()
    path = STATA.write(tmp_path, dataset, long_named_units())
    frame, meta = STATA.read(path, user_missing=True)

    names = list(frame.columns)
    assert names == [column.name for column in wide_columns(dataset, NameRule.STATA)]
    assert all(re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,31}", name) for name in names)
    assert len({name.casefold() for name in names}) == len(names)
    category, boolean = LONG_STATA_NAME, names[names.index(LONG_STATA_NAME) + 4]
    assert len(category) == 32
    assert boolean == column_names([LONG_NAME, LONG_STATA_NAME], NameRule.STATA)[1]
    assert boolean.endswith("_2")
    # Both still carry their values and their value labels.
    assert frame[category].tolist()[:2] == [3, STATA_MISSING[MissingKind.NOT_FOUND]]
    assert frame[boolean].tolist()[:2] == [0, STATA_MISSING[MissingKind.FAILED]]
    assert meta.variable_value_labels[category] == STANCES | missing_labels(STATA)
    assert meta.variable_value_labels[boolean] == {0: "false", 1: "true"} | missing_labels(STATA)
    assert all(len(name) <= 32 for name in meta.value_labels)


def test_spss_keeps_long_names_whole(tmp_path: Path) -> None:
    dataset = long_named_header()
    frame, meta = SPSS.read(SPSS.write(tmp_path, dataset, long_named_units()))

    assert list(frame.columns) == [column.name for column in wide_columns(dataset, NameRule.SPSS)]
    assert LONG_NAME in frame.columns
    assert all(len(name.encode()) <= 64 for name in frame.columns)
    assert meta.variable_value_labels[LONG_NAME] == STANCES | missing_labels(SPSS)


@each_format
def test_variables_are_labelled_with_their_display_names(fmt: Format, tmp_path: Path) -> None:
    dataset = header()
    _, meta = fmt.read(fmt.write(tmp_path, dataset, units()))

    assert meta.column_names_to_labels == {
        column.name: column.label for column in wide_columns(dataset, fmt.rule)
    }
    assert meta.column_names_to_labels["parties_2"] == "Parties (2 of 3)"
    assert meta.file_label == "Council minutes"


@each_format
def test_long_labels_are_cut_to_the_format_limit(fmt: Format, tmp_path: Path) -> None:
    display = "Share of the annual budget " + "é" * 60
    dataset = dataclasses.replace(
        header(variables=(variable("share", VariableType.NUMBER, display_name=display),)),
        project_name="Minutes of the council " + "ü" * 100,
    )
    _, meta = fmt.read(fmt.write(tmp_path, dataset, []))

    label = meta.column_names_to_labels["share"]
    if fmt is STATA:
        assert label == display[:79] + "…"
        assert meta.file_label == dataset.project_name[:79] + "…"
    else:
        assert label == display
        assert meta.file_label.endswith("…")
        assert len(meta.file_label.encode()) <= 64
        assert dataset.project_name.startswith(meta.file_label[:-1])


@each_format
def test_categories_and_booleans_have_value_labels(fmt: Format, tmp_path: Path) -> None:
    frame, meta = fmt.read(sample_path(fmt, tmp_path))

    assert meta.variable_value_labels["stance"] == STANCES | missing_labels(fmt)
    assert meta.variable_value_labels["approved"] == {0: "false", 1: "true"} | missing_labels(fmt)
    # The sample's first unit: approved true, stance "Oppose".
    assert frame["approved"][0] == 1
    assert frame["stance"][0] == 2
    labelled, _ = fmt.read(sample_path(fmt, tmp_path), apply_value_formats=True)
    assert labelled["stance"][0] == "Oppose"
    assert labelled["approved"][0] == "true"


@each_format
def test_numbers_and_dates_keep_their_types(fmt: Format, tmp_path: Path) -> None:
    frame, meta = fmt.read(sample_path(fmt, tmp_path))

    assert frame["budget"][0] == 1250.5
    assert frame["meeting_date"][0] == date(2024, 3, 5)
    assert frame["meta_confidence_topic" if fmt is SPSS else "_confidence_topic"][0] == 0.9
    assert meta.readstat_variable_types["budget"] == "double"
    assert meta.readstat_variable_types["topic"] == "string"
    date_format = {"stata": "%td", "spss": "DATE11"}["stata" if fmt is STATA else "spss"]
    assert meta.original_variable_types["meeting_date"] == date_format


@each_format
def test_each_kind_of_missing_value_keeps_its_own_code(fmt: Format, tmp_path: Path) -> None:
    path = sample_path(fmt, tmp_path)
    codes = fmt.read_codes(path)
    plain, _ = fmt.read(path)

    for name, kind in EMPTY_CELLS.items():
        assert codes[name][1] == fmt.markers[kind], name
        assert codes[name][2] == fmt.markers[MissingKind.NOT_PROCESSED], name
        assert pd.isna(plain[name][1]), name
        assert pd.isna(plain[name][2]), name
    assert {codes[name][1] for name in EMPTY_CELLS} == set(fmt.markers.values())


def test_spss_declares_the_codes_as_a_missing_range(tmp_path: Path) -> None:
    _, meta = SPSS.read(sample_path(SPSS, tmp_path), user_missing=True)

    declared = {"lo": -999999994.0, "hi": -999999991.0}
    for name in ("budget", "approved", "stance"):
        assert meta.missing_ranges[name] == [declared], name
    # pyreadstat reports a date column's range as dates.
    assert "meeting_date" in meta.missing_ranges
    assert "topic" not in meta.missing_ranges
    assert meta.notes[0].startswith("Number, date, boolean and category columns")
    assert all(len(line.encode()) <= 80 for line in meta.notes)


@each_format
def test_text_cells_hold_the_missing_codes_as_text(fmt: Format, tmp_path: Path) -> None:
    frame, _ = fmt.read(sample_path(fmt, tmp_path))

    assert frame["topic"].tolist() == [
        "Zoë's café budget",
        MISSING_TEXT[MissingKind.NOT_FOUND],
        MISSING_TEXT[MissingKind.NOT_PROCESSED],
    ]
    assert frame["parties_3"][1] == MISSING_TEXT[MissingKind.FAILED]


@each_format
def test_multiple_values_fill_numbered_columns(fmt: Format, tmp_path: Path) -> None:
    frame, _ = fmt.read(sample_path(fmt, tmp_path))

    # Written as they are: neither program runs a formula.
    assert [frame[f"parties_{slot}"][0] for slot in (1, 2, 3)] == ["Labour", "=SUM(A1)", ""]


@each_format
def test_multiple_numbers_fill_numbered_numeric_columns(fmt: Format, tmp_path: Path) -> None:
    dataset = header(
        variables=(
            variable(
                "amounts",
                VariableType.NUMBER,
                if_multiple_values=IfMultipleValues.ALL,
                max_values=2,
            ),
        )
    )
    rows = [
        Unit(uuid.UUID(int=1), "a.txt", "", "", (value([5, 7.25]),)),
        Unit(uuid.UUID(int=2), "b.txt", "", "", (value([3]),)),
        Unit(uuid.UUID(int=3), "c.txt", "", "", (value(None, CellStatus.FAILED),)),
    ]
    path = fmt.write(tmp_path, dataset, rows)
    codes = fmt.read_codes(path)

    assert codes["amounts_1"].tolist() == [5, 3, fmt.markers[MissingKind.FAILED]]
    assert codes["amounts_2"][0] == 7.25
    # Past the unit's last value: system-missing, not one of the four codes.
    assert pd.isna(codes["amounts_2"][1])
    assert codes["amounts_2"][2] == fmt.markers[MissingKind.FAILED]


@each_format
def test_accents_survive(fmt: Format, tmp_path: Path) -> None:
    frame, _ = fmt.read(sample_path(fmt, tmp_path))
    source = "meta_source_topic" if fmt is SPSS else "_source_topic"

    assert frame["topic"][0] == "Zoë's café budget"
    assert frame[source][0] == "…Zoë's café budget…"


@each_format
def test_metadata_of_an_unprocessed_cell_is_system_missing(fmt: Format, tmp_path: Path) -> None:
    codes = fmt.read_codes(sample_path(fmt, tmp_path))
    prefix = "meta_" if fmt is SPSS else "_"

    assert codes[f"{prefix}prompt_version_budget"].tolist()[:2] == [2, 2]
    assert pd.isna(codes[f"{prefix}confidence_budget"][2])
    assert pd.isna(codes[f"{prefix}prompt_version_budget"][2])
    assert codes[f"{prefix}source_budget"][2] == ""


@each_format
def test_without_metadata_there_are_no_metadata_columns(fmt: Format, tmp_path: Path) -> None:
    frame, _ = fmt.read(sample_path(fmt, tmp_path, include_metadata=False))

    assert not [name for name in frame.columns if "confidence" in name or "source" in name]


@each_format
def test_entity_projects_have_entity_columns(fmt: Format, tmp_path: Path) -> None:
    frame, _ = fmt.read(sample_path(fmt, tmp_path, entity=True))

    assert list(frame.columns[:4]) == ["document_id", "filename", "entity_key", "entity_name"]
    assert frame["entity_key"].tolist() == ["ada lovelace", "bob", ""]
    assert frame["entity_name"][0] == "Ada Lovelace"


@each_format
def test_a_value_outside_the_categories_gets_a_new_code(fmt: Format, tmp_path: Path) -> None:
    rows = [
        dataclasses.replace(unit, cells=(*unit.cells[:4], value(stance), unit.cells[5]))
        for unit, stance in zip(units(), ["Abstain", "Support", "Abstain"], strict=True)
    ]
    frame, meta = fmt.read(fmt.write(tmp_path, header(), rows))

    assert frame["stance"].tolist() == [4, 1, 4]
    assert meta.variable_value_labels["stance"][4] == "Abstain"


def test_spss_codes_move_below_a_number_that_collides_with_them(tmp_path: Path) -> None:
    dataset = header(variables=(variable("balance", VariableType.NUMBER),))
    rows = [
        Unit(uuid.UUID(int=index), f"{index}.txt", "", "", (cell,))
        for index, cell in enumerate(
            [
                value(-999999992),
                value(12.5),
                value(None, CellStatus.NOT_FOUND),
                value(None, CellStatus.FAILED),
                NOT_PROCESSED,
            ]
        )
    ]
    path = SPSS.write(tmp_path, dataset, rows)
    codes, meta = SPSS.read(path, user_missing=True)
    plain, _ = SPSS.read(path)

    moved = {
        MissingKind.NOT_PROCESSED: -999999993,
        MissingKind.NOT_FOUND: -999999994,
        MissingKind.UNCERTAIN: -999999995,
        MissingKind.FAILED: -999999996,
    }
    assert codes["balance"].tolist() == [-999999992, 12.5, -999999994, -999999996, -999999993]
    assert plain["balance"].tolist()[:2] == [-999999992, 12.5]
    assert plain["balance"][2:].isna().all()
    assert meta.missing_ranges["balance"] == [{"lo": -999999996.0, "hi": -999999993.0}]
    assert meta.variable_value_labels["balance"] == {
        code: MISSING_TEXT[kind] for kind, code in moved.items()
    }


def test_spss_codes_stay_when_no_value_collides() -> None:
    assert spss_missing_codes([-5.0, 1e12, -999999990.0, -999999995.0]) == SPSS_MISSING
    assert spss_missing_codes([]) == SPSS_MISSING
    assert spss_missing_codes([-999999991.5, math.inf])[MissingKind.NOT_PROCESSED] == (-999999993)


def test_spss_describes_columns_by_measure(tmp_path: Path) -> None:
    _, meta = SPSS.read(sample_path(SPSS, tmp_path))

    assert meta.variable_measure["budget"] == "scale"
    assert meta.variable_measure["meeting_date"] == "scale"
    assert meta.variable_measure["stance"] == "nominal"
    assert meta.variable_measure["approved"] == "nominal"
    assert meta.variable_measure["topic"] == "nominal"
    assert meta.variable_measure["meta_prompt_version_topic"] == "ordinal"


def test_spss_cuts_text_at_its_string_limit_and_stata_does_not(tmp_path: Path) -> None:
    long_text = "é" * 20_000
    dataset = header(variables=(variable("summary", VariableType.TEXT),))
    rows = [Unit(uuid.UUID(int=1), "a.txt", "", "", (value(long_text),))]
    (tmp_path / "spss").mkdir()
    (tmp_path / "stata").mkdir()

    spss, _ = SPSS.read(SPSS.write(tmp_path / "spss", dataset, rows))
    stata, _ = STATA.read(STATA.write(tmp_path / "stata", dataset, rows))

    assert len(spss["summary"][0].encode()) <= 32_767
    assert spss["summary"][0].endswith("é…")
    assert stata["summary"][0] == long_text


def many_units(count: int) -> list[Unit]:
    """Rows of the sample's variables with varied values, a missing value of every kind now
    and then, and an accent in every text."""
    kinds = [CellStatus.NOT_FOUND, CellStatus.LOW_CONFIDENCE, CellStatus.FAILED]
    rows = []
    for index in range(count):
        cells = [
            value(f"Séance {index}"),
            value(index * 1.5),
            value((date(2020, 1, 1) + timedelta(days=index)).isoformat()),
            value(index % 2 == 0),
            value(STANCES[index % 3 + 1]),
            value([f"Party {n}" for n in range(index % 4)]),
        ]
        if index % 7 == 0:
            cells[index % 6] = value(None, kinds[index % 3])
        if index % 11 == 0:
            cells[(index + 1) % 6] = NOT_PROCESSED
        rows.append(Unit(uuid.UUID(int=index + 1), f"doc{index}.txt", "", "", tuple(cells)))
    return rows


@each_format
def test_two_thousand_rows_added_in_batches(fmt: Format, tmp_path: Path) -> None:
    rows = many_units(2_000)
    batches = [rows[start : start + 300] for start in range(0, len(rows), 300)]
    path = fmt.write(tmp_path, header(), *batches)
    codes = fmt.read_codes(path)
    frame, _ = fmt.read(path)

    assert len(frame) == 2_000
    assert frame["document_id"].tolist() == [str(row.document_id) for row in rows]
    assert frame["topic"][1] == "Séance 1"
    assert frame["budget"][1999] == 1999 * 1.5
    assert frame["meeting_date"][1999] == date(2020, 1, 1) + timedelta(days=1999)
    assert frame["stance"][5] == 3
    assert frame["parties_3"][3] == "Party 2"
    # Row 14's date failed (14 % 7 == 0, 14 % 6 == 2); row 55's was not processed.
    assert codes["meeting_date"][14] == fmt.markers[MissingKind.FAILED]
    assert codes["meeting_date"][55] == fmt.markers[MissingKind.NOT_PROCESSED]
    assert pd.isna(frame["meeting_date"][55])


@each_format
def test_a_dataset_without_rows_has_its_columns(fmt: Format, tmp_path: Path) -> None:
    dataset = header()
    frame, meta = fmt.read(fmt.write(tmp_path, dataset), user_missing=True)

    assert len(frame) == 0
    assert list(frame.columns) == [column.name for column in wide_columns(dataset, fmt.rule)]
    for column in wide_columns(dataset, fmt.rule):
        variable = column.variable(dataset)
        text = variable is None or column.kind is ColumnKind.SOURCE
        if column.kind is ColumnKind.VALUE and variable is not None:
            text = variable.type is VariableType.TEXT
        expected = "string" if text else "double"
        assert meta.readstat_variable_types[column.name] == expected, column.name
    assert meta.variable_value_labels["stance"] == STANCES | missing_labels(fmt)
