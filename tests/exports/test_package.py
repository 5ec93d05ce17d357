"""The Frictionless data package: a zip that csv, pandas and frictionless read as the codebook
says, with typed columns, the four missing-value codes read as missing and valid constraints."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from dataclasses import replace
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from frictionless import Package, validate
from frictionless.resources import TableResource

from server.exports.columns import MISSING_TEXT, slug, wide_columns
from server.exports.dataset import Category, CellStatus, DatasetHeader, Unit
from server.exports.formats.package import DataPackageWriter
from server.exports.long import long_columns
from server.exports.quality import QualityTally
from server.schema.models import VariableType
from tests.exports.sample import VARIABLES, header, units, value, variable

CODES = list(MISSING_TEXT.values())
MEMBERS = {"dataset.csv", "extractions.csv", "codebook.md", "datapackage.json"}
# Cells with an extraction in the sample: six in the full row, five in the empty one.
# 11 extractions, one of them with two values: a row per value.
LONG_ROWS = 12


def package(dataset_header: DatasetHeader, rows: list[Unit]) -> bytes:
    out = io.BytesIO()
    writer = DataPackageWriter(dataset_header, out)
    tally = QualityTally(dataset_header)
    # In two batches, as the builder streams them.
    for batch in (rows[:1], rows[1:]):
        writer.add(batch)
        tally.add(batch)
    writer.finish(tally.quality)
    return out.getvalue()


def unpacked(data: bytes, directory: Path) -> Path:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        archive.extractall(directory)
    return directory / "datapackage.json"


def table(descriptor: Path, name: str) -> TableResource:
    resource = Package(descriptor).get_resource(name)
    assert isinstance(resource, TableResource)
    return resource


def assert_valid(descriptor: Path | str) -> None:
    report = validate(descriptor)
    assert report.valid, report.flatten(["rowNumber", "fieldName", "type", "note"])


@pytest.mark.parametrize("entity", [False, True])
def test_the_zip_holds_both_csvs_the_codebook_and_the_descriptor(entity: bool) -> None:
    dataset_header = header(entity=entity)
    with zipfile.ZipFile(io.BytesIO(package(dataset_header, units(entity)))) as archive:
        assert set(archive.namelist()) == MEMBERS
        assert {info.compress_type for info in archive.infolist()} == {zipfile.ZIP_DEFLATED}
        wide = list(csv.reader(io.StringIO(archive.read("dataset.csv").decode("utf-8-sig"))))
        long = list(csv.reader(io.StringIO(archive.read("extractions.csv").decode("utf-8-sig"))))
        codebook = archive.read("codebook.md").decode()

    assert wide[0] == [column.name for column in wide_columns(dataset_header)]
    assert len(wide) == 1 + 3
    assert long[0] == list(long_columns(dataset_header))
    assert len(long) == 1 + LONG_ROWS
    assert ("entity_key" in wide[0]) is entity
    assert codebook.startswith("# Council minutes\n")


@pytest.mark.parametrize("entity", [False, True])
def test_pandas_reads_the_csvs_with_the_codebook_snippet(entity: bool, tmp_path: Path) -> None:
    dataset_header = header(entity=entity)
    # A text value "NA" must stay a value: hence keep_default_na=False.
    first, *rest = units(entity)
    first = replace(first, cells=(value("NA"), *first.cells[1:]))
    descriptor = unpacked(package(dataset_header, [first, *rest]), tmp_path)
    read: dict[str, Any] = {
        "na_values": ["", *CODES],
        "keep_default_na": False,
        "encoding": "utf-8-sig",
    }

    wide = pd.read_csv(descriptor.parent / "dataset.csv", **read)
    long = pd.read_csv(descriptor.parent / "extractions.csv", **read)

    assert wide.shape == (3, len(wide_columns(dataset_header)))
    assert list(wide.columns) == [column.name for column in wide_columns(dataset_header)]
    assert long.shape == (LONG_ROWS, len(long_columns(dataset_header)))
    assert wide["topic"].tolist()[0] == "NA"
    assert wide["budget"].dtype == "float64"
    assert wide["budget"].tolist()[0] == 1250.5
    assert wide["budget"].isna().tolist() == [False, True, True]
    assert wide["parties_2"].tolist()[0] == "'=SUM(A1)"
    assert wide["parties_3"].isna().all()
    assert long["status"].tolist().count("FAILED") == 2


@pytest.mark.parametrize("entity", [False, True])
def test_frictionless_reads_typed_rows_and_finds_the_package_valid(
    entity: bool, tmp_path: Path
) -> None:
    descriptor = unpacked(package(header(entity=entity), units(entity)), tmp_path)

    full, empty, unprocessed = table(descriptor, "dataset").read_rows()

    assert isinstance(full["budget"], Decimal)
    assert full["budget"] == Decimal("1250.5")
    assert full["meeting_date"] == date(2024, 3, 5)
    assert full["approved"] is True
    assert full["stance"] == "Oppose"
    assert full["_confidence_topic"] == Decimal("0.9")
    assert full["_prompt_version_topic"] == 2
    assert full["filename"] == "'=cmd|' /C calc'!A0 minutes.txt"
    assert full["parties_3"] is None
    # [not found], [uncertain], [failed], [not processed]: each read as missing.
    assert [empty[name] for name in ("topic", "budget", "meeting_date", "approved")] == [None] * 4
    assert all(unprocessed[name] is None for name in ("topic", "stance", "parties_1"))
    extractions = table(descriptor, "extractions").read_rows()
    assert len(extractions) == LONG_ROWS
    assert {row["source_start"] for row in extractions} == {10}
    assert_valid(descriptor)


def test_frictionless_reads_the_zip_itself(tmp_path: Path) -> None:
    path = tmp_path / "council-minutes.zip"
    path.write_bytes(package(header(), units()))

    assert len(table(path, "dataset").read_rows()) == 3
    assert_valid(str(path))


def test_the_descriptor_declares_types_codes_and_keys() -> None:
    dataset_header = header(entity=True)
    with zipfile.ZipFile(io.BytesIO(package(dataset_header, units(entity=True)))) as archive:
        descriptor = json.loads(archive.read("datapackage.json"))

    assert descriptor["profile"] == "tabular-data-package"
    assert descriptor["name"] == "council-minutes"
    assert descriptor["created"] == "2026-12-01T12:00:00Z"
    dataset, extractions = descriptor["resources"]
    assert dataset["encoding"] == "utf-8"
    schema = dataset["schema"]
    assert schema["missingValues"] == ["", *CODES]
    assert schema["primaryKey"] == ["document_id", "entity_key"]
    fields = {field["name"]: field for field in schema["fields"]}
    assert fields["stance"]["constraints"] == {"enum": ["Support", "Oppose", "Neutral"]}
    assert fields["approved"]["trueValues"] == ["true"]
    assert fields["_source_topic"]["type"] == "string"
    assert fields["_prompt_version_topic"]["type"] == "integer"
    assert fields["topic"]["description"] == VARIABLES[0].instructions
    long = {field["name"]: field for field in extractions["schema"]["fields"]}
    assert long["status"]["constraints"]["enum"] == [
        "SUCCESS",
        "LOW_CONFIDENCE",
        "NOT_FOUND",
        "FAILED",
    ]
    assert long["source_end"]["type"] == "integer"
    assert extractions["schema"]["primaryKey"] == ["extraction_id", "value_index"]


def test_a_category_label_that_looks_like_a_formula_is_neutralised_in_its_enum_too(
    tmp_path: Path,
) -> None:
    vote = variable(
        "vote",
        VariableType.CATEGORY,
        categories=(Category("+1 (for)", "In favour"), Category("-1 (against)", "Against")),
    )
    dataset_header = header(variables=(vote,))
    cells = [value("-1 (against)"), value("+1 (for)"), value(None, CellStatus.NOT_FOUND)]
    rows = [
        Unit(unit.document_id, unit.filename, "", "", (cell,))
        for unit, cell in zip(units(), cells, strict=True)
    ]
    descriptor = unpacked(package(dataset_header, rows), tmp_path)

    assert [row["vote"] for row in table(descriptor, "dataset").read_rows()] == [
        "'-1 (against)",
        "'+1 (for)",
        None,
    ]
    assert_valid(descriptor)


def test_a_value_outside_the_categories_breaks_the_constraint(tmp_path: Path) -> None:
    first, *rest = units()
    stale = replace(first, cells=(*first.cells[:4], value("Abstain"), *first.cells[5:]))
    descriptor = unpacked(package(header(), [stale, *rest]), tmp_path)

    report = validate(descriptor)

    assert not report.valid
    assert report.flatten(["fieldName", "type"]) == [["stance", "constraint-error"]]


def test_the_package_name_is_a_slug_of_the_project_name() -> None:
    assert slug("Zoë's Council — Minutes 2024") == "zoe-s-council-minutes-2024"
    assert slug("Протоколы") == "dataset"
