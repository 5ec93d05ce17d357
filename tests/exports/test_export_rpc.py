"""User Story 6 end to end: datasets that real jobs produced (real workers, LangChain's client
against the local OpenAI-compatible server, PostgreSQL, Redis), read back through ListResults
and through every export format with the library a researcher would use. Every format must
say the same thing about every cell, the four kinds of empty cell included."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import subprocess
import tempfile
import uuid
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import grpc
import openpyxl
import pandas as pd
import pyreadstat
import pytest
from coderai.v1 import common_pb2, export_pb2, export_pb2_grpc
from frictionless import Package
from frictionless.resources import TableResource
from google.protobuf import json_format
from sqlalchemy import func, select, update

from server.core.db import Database
from server.exports.columns import MISSING_TEXT, SPSS_MISSING, STATA_MISSING
from server.exports.dataset import MissingKind
from server.exports.models import Export, ExportPart
from server.exports.service import ExportService
from server.main import start_server
from tests.conftest import TEST_REDIS_URL
from tests.factories import Caller, rpc_error, signed_in
from tests.jobs.conftest import Stack
from tests.jobs.test_jobs import VARIABLES as JOB_VARIABLES
from tests.jobs.test_jobs import ready_documents, reports

F = export_pb2
REPORT = reports(2)
# The job tests' variables of every type, then two more: one the rule leaves empty, one with
# several values.
VARIABLES: list[dict[str, Any]] = [
    {**JOB_VARIABLES[0], "display_name": "Date of approval"},
    {**JOB_VARIABLES[1], "confidence_threshold": 0.2},
    JOB_VARIABLES[2],
    JOB_VARIABLES[3],
    {
        # The baseline is never this sure: the rule leaves these cells empty (uncertain).
        "name": "plan",
        "type": common_pb2.VARIABLE_TYPE_TEXT,
        "instructions": "What the plan approved by the council is for.",
        "confidence_threshold": 0.99,
        "if_uncertain": common_pb2.IF_UNCERTAIN_LEAVE_EMPTY,
    },
    {
        "name": "works",
        "type": common_pb2.VARIABLE_TYPE_TEXT,
        "instructions": "The works the plan pays for.",
        "if_multiple_values": common_pb2.IF_MULTIPLE_VALUES_ALL,
        "max_values": 3,
        "confidence_threshold": 0.2,
    },
]
WIDE_VALUE_COLUMNS = [
    "approval_date",
    "budget",
    "approved",
    "sector",
    "plan",
    "works_1",
    "works_2",
    "works_3",
]
CODE_OF = {text: kind for kind, text in MISSING_TEXT.items()}
SPSS_EPOCH = dt.datetime(1582, 10, 14)


# --- the dataset a job leaves behind -------------------------------------------------------


async def processed_project(caller: Caller) -> tuple[str, dict[str, str]]:
    """A project whose job left every kind of cell: values; a document the model's answers
    failed for; a document without a date (NOT_FOUND); a cell left empty as uncertain; a
    document uploaded after the job (NOT_PROCESSED). Returns the project id and the
    documents' ids by role."""
    project = await caller.create_project(name="Coastal plans — Zoë's review")
    for fields in VARIABLES:
        await caller.create_variable(project.id, **fields)
    texts = [
        *REPORT,
        REPORT[0] + "\n\n[[local-llm:malformed]]",
        "Harbour council minutes.\n\nThe council discussed parking near the café.",
    ]
    ids = await ready_documents(caller, project.id, texts)
    job = await caller.create_job(project.id, common_pb2.JOB_TYPE_FULL)
    ended = await caller.job_ended(job.job.id)
    assert ended.status == common_pb2.JOB_STATUS_COMPLETED, ended.status_reason
    late_text = REPORT[1].replace("Town 1", "Town 9")
    [late] = await caller.upload(project.id, "=HYPERLINK(1).txt", late_text.encode())
    assert (await caller.parsed(late.document.id)).document.status == (
        common_pb2.DOCUMENT_STATUS_READY
    )
    roles = ["values", "values_2", "failed", "no_date"]
    return project.id, {**dict(zip(roles, ids, strict=True)), "late": late.document.id}


async def all_results(caller: Caller, project_id: str, **filters: Any) -> F.ListResultsResponse:
    """Every row, two per page."""
    pages: list[F.ListResultsResponse] = []
    token = ""
    while True:
        page = await caller.exports.ListResults(
            F.ListResultsRequest(project_id=project_id, page_size=2, page_token=token, **filters),
            metadata=caller.metadata,
        )
        pages.append(page)
        token = page.next_page_token
        if not token:
            break
    merged = F.ListResultsResponse(columns=pages[0].columns)
    for page in pages:
        assert list(page.columns) == list(merged.columns)
        merged.rows.extend(page.rows)
    return merged


def json_of(cell: F.ResultCell) -> Any:
    """The cell's value as JSON (None when unset)."""
    return json_format.MessageToDict(cell.value) if cell.HasField("value") else None


def missing_kind(cell: F.ResultCell) -> MissingKind | None:
    if cell.status == F.CELL_STATUS_FAILED:
        return MissingKind.FAILED
    if cell.status == F.CELL_STATUS_NOT_PROCESSED:
        return MissingKind.NOT_PROCESSED
    if json_of(cell) not in (None, []):
        return None
    if cell.status == F.CELL_STATUS_LOW_CONFIDENCE:
        return MissingKind.UNCERTAIN
    return MissingKind.NOT_FOUND


def expected_cells(results: F.ListResultsResponse) -> dict[tuple[str, str], Any]:
    """(document id, wide column) -> the value, typed, or the MissingKind; None for a
    multi-value slot past the last value."""
    expected: dict[tuple[str, str], Any] = {}
    for row in results.rows:
        for column, cell in zip(results.columns, row.cells, strict=True):
            kind = missing_kind(cell)
            value: Any = None if kind else json_of(cell)
            if column.max_values > 1:
                items: list[Any] = value or []
                for slot in range(column.max_values):
                    expected[row.document_id, f"{column.name}_{slot + 1}"] = kind or (
                        items[slot] if slot < len(items) else None
                    )
                continue
            if kind is None and column.type == common_pb2.VARIABLE_TYPE_DATE:
                value = dt.date.fromisoformat(value)
            if kind is None and column.type == common_pb2.VARIABLE_TYPE_NUMBER:
                value = float(value)
            expected[row.document_id, column.name] = kind or value
    return expected


def unneutralised(text: str) -> str:
    """A text cell of a spreadsheet format as the value it stands for."""
    return text[1:] if text.startswith("'") and text[1:2] in ("=", "+", "-", "@") else text


# --- readers: each format back to (document id, column) -> value or MissingKind ----------


def read_csv_wide(data: bytes) -> dict[tuple[str, str], Any]:
    assert data.startswith(b"\xef\xbb\xbf"), "UTF-8 with a byte order mark"
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
    cells: dict[tuple[str, str], Any] = {}
    for row in rows:
        for column in WIDE_VALUE_COLUMNS:
            text = row[column]
            if text in CODE_OF:
                value: Any = CODE_OF[text]
            elif text == "":
                value = None
            elif column == "approval_date":
                value = dt.date.fromisoformat(text)
            elif column == "budget":
                value = float(text)
            elif column == "approved":
                value = {"true": True, "false": False}[text]
            else:
                value = unneutralised(text)
            cells[row["document_id"], column] = value
    return cells


def read_xlsx(data: bytes) -> dict[tuple[str, str], Any]:
    workbook = openpyxl.load_workbook(io.BytesIO(data))
    sheet = workbook.worksheets[0]
    rows = sheet.iter_rows(values_only=True)
    header = list(next(rows))
    cells: dict[tuple[str, str], Any] = {}
    for values in rows:
        row = dict(zip(header, values, strict=True))
        for column in WIDE_VALUE_COLUMNS:
            value: Any = row[column]
            if isinstance(value, str) and value in CODE_OF:
                value = CODE_OF[value]
            elif isinstance(value, dt.datetime):
                value = value.date()
            elif isinstance(value, int | float) and not isinstance(value, bool):
                value = float(value)
            elif isinstance(value, str):
                value = unneutralised(value)
            cells[str(row["document_id"]), column] = value
    return cells


def _read_stats(
    data: bytes,
    suffix: str,
    reader: Callable[..., Any],
    kind_of: Callable[[Any], Any],
    **options: Any,
) -> tuple[dict[tuple[str, str], Any], Any]:
    with tempfile.NamedTemporaryFile(suffix=suffix) as handle:
        handle.write(data)
        handle.flush()
        frame, meta = reader(handle.name, user_missing=True, **options)
    cells: dict[tuple[str, str], Any] = {}
    labels = meta.variable_value_labels
    for _, row in frame.iterrows():
        for column in WIDE_VALUE_COLUMNS:
            value = row[column]
            kind = kind_of(value)
            if kind is not None:
                value = kind
            elif isinstance(value, str):
                value = CODE_OF.get(value, value) or None
            elif value is None or pd.isna(value):
                value = None
            elif isinstance(value, int | float) and value in labels.get(column, {}):
                label = labels[column][value]
                value = {"true": True, "false": False}.get(label, label)
            elif isinstance(value, dt.datetime):
                value = value.date()
            elif isinstance(value, int | float):
                value = float(value)
            cells[str(row["document_id"]), column] = value
    return cells, meta


def read_dta(data: bytes) -> dict[tuple[str, str], Any]:
    letters = {letter: kind for kind, letter in STATA_MISSING.items()}
    cells, meta = _read_stats(
        data,
        ".dta",
        pyreadstat.read_dta,
        lambda v: letters.get(v) if isinstance(v, str) else None,
    )
    assert meta.column_names_to_labels["approval_date"] == "Date of approval"
    return cells


def read_sav(data: bytes) -> dict[tuple[str, str], Any]:
    codes = {code: kind for kind, code in SPSS_MISSING.items()}
    cells, meta = _read_stats(
        data,
        ".sav",
        pyreadstat.read_sav,
        lambda v: codes.get(int(v)) if isinstance(v, float) and not pd.isna(v) else None,
        # Else pyreadstat turns the date column's missing codes into dates of 1551.
        disable_datetime_conversion=True,
    )
    assert meta.column_names_to_labels["approval_date"] == "Date of approval"
    for key, value in cells.items():
        if key[1] == "approval_date" and isinstance(value, float):
            cells[key] = (SPSS_EPOCH + dt.timedelta(seconds=value)).date()
    return cells


def read_package(data: bytes) -> dict[tuple[str, str], Any]:
    """The dataset through frictionless: typed, every missing code read as missing."""
    with tempfile.TemporaryDirectory() as directory:
        zipfile.ZipFile(io.BytesIO(data)).extractall(directory)
        package = Package(str(Path(directory) / "datapackage.json"))
        resource = package.get_resource("dataset")
        assert isinstance(resource, TableResource)
        rows = resource.read_rows()
    cells: dict[tuple[str, str], Any] = {}
    for row in rows:
        for column in WIDE_VALUE_COLUMNS:
            value = row[column]
            if isinstance(value, int | float) and not isinstance(value, bool):
                value = float(value)
            elif isinstance(value, str):
                value = unneutralised(value)
            cells[str(row["document_id"]), column] = value
    return cells


def without_kinds(cells: dict[tuple[str, str], Any]) -> dict[tuple[str, str], Any]:
    """Where a format keeps missing values apart only as "missing" (the data package)."""
    return {key: None if isinstance(v, MissingKind) else v for key, v in cells.items()}


# --- the tests -----------------------------------------------------------------------------


async def test_results_keep_the_four_kinds_of_empty_cell_apart(
    researcher: Caller, worker: subprocess.Popen[bytes]
) -> None:
    project_id, documents = await processed_project(researcher)

    results = await all_results(researcher, project_id)

    assert [c.name for c in results.columns] == [v["name"] for v in VARIABLES]
    assert list(results.columns[3].categories) == ["infrastructure", "health"]
    rows = {row.document_id: row for row in results.rows}
    assert set(rows) == set(documents.values())
    filenames = [row.filename for row in results.rows]
    assert filenames == sorted(filenames)
    kinds = {
        role: [missing_kind(cell) for cell in rows[document_id].cells]
        for role, document_id in documents.items()
    }
    assert kinds["late"] == [MissingKind.NOT_PROCESSED] * len(VARIABLES)
    assert kinds["failed"] == [MissingKind.FAILED] * len(VARIABLES)
    assert all(cell.error for cell in rows[documents["failed"]].cells)
    assert kinds["no_date"][0] is MissingKind.NOT_FOUND
    assert kinds["values"][4] is MissingKind.UNCERTAIN
    assert kinds["values"][1] is None  # the budget
    budget = rows[documents["values"]].cells[1]
    assert json_of(budget) == 2_000_000
    assert budget.extraction_id
    assert budget.model
    assert budget.prompt_version >= 1
    assert budget.source_end_offset > budget.source_start_offset

    failed_only = await all_results(researcher, project_id, statuses=[F.CELL_STATUS_FAILED])
    assert [row.document_id for row in failed_only.rows] == [documents["failed"]]
    one = await all_results(researcher, project_id, document_id=documents["no_date"])
    assert [row.document_id for row in one.rows] == [documents["no_date"]]
    quoted = await all_results(
        researcher, project_id, evidence_matches=[common_pb2.EVIDENCE_MATCH_EXACT]
    )
    assert {row.document_id for row in quoted.rows} >= {documents["values"]}
    assert documents["late"] not in {row.document_id for row in quoted.rows}


async def test_every_format_says_the_same_about_every_cell(
    researcher: Caller, worker: subprocess.Popen[bytes]
) -> None:
    project_id, documents = await processed_project(researcher)
    expected = expected_cells(await all_results(researcher, project_id))
    kinds_seen = {v for v in expected.values() if isinstance(v, MissingKind)}
    assert kinds_seen == set(MissingKind)

    readers = {
        F.EXPORT_FORMAT_CSV_WIDE: read_csv_wide,
        F.EXPORT_FORMAT_XLSX: read_xlsx,
        F.EXPORT_FORMAT_STATA: read_dta,
        F.EXPORT_FORMAT_SPSS: read_sav,
    }
    for export_format, reader in readers.items():
        export = await researcher.export(project_id, export_format)
        assert export.status == F.EXPORT_STATUS_COMPLETED, export.error
        assert export.row_count == len(documents)
        file, data = await researcher.download(export.id)
        assert (file.filename, file.size_bytes) == (export.filename, len(data))
        assert file.sha256 == hashlib.sha256(data).hexdigest() == export.sha256
        assert reader(data) == expected, F.ExportFormat.Name(export_format)

    package = await researcher.export(project_id, F.EXPORT_FORMAT_DATA_PACKAGE)
    _, data = await researcher.download(package.id)
    assert read_package(data) == without_kinds(expected)


async def test_csv_and_excel_neutralise_formulas_and_keep_accents(
    researcher: Caller, worker: subprocess.Popen[bytes]
) -> None:
    project_id, documents = await processed_project(researcher)

    wide = await researcher.export(project_id, F.EXPORT_FORMAT_CSV_WIDE)
    _, data = await researcher.download(wide.id)
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
    by_id = {row["document_id"]: row for row in rows}
    assert by_id[documents["late"]]["filename"] == "'=HYPERLINK(1).txt"

    workbook = openpyxl.load_workbook(io.BytesIO(await workbook_of(researcher, project_id)))
    formulas = [
        cell.coordinate
        for sheet in workbook.worksheets
        for row in sheet.iter_rows()
        for cell in row
        if cell.data_type == "f"
    ]
    assert formulas == []
    assert "Zoë" in workbook.properties.title


async def workbook_of(caller: Caller, project_id: str) -> bytes:
    """The project exported as XLSX, downloaded."""
    export = await caller.export(project_id, F.EXPORT_FORMAT_XLSX)
    return (await caller.download(export.id))[1]


async def test_metadata_columns_and_the_long_format(
    researcher: Caller, worker: subprocess.Popen[bytes]
) -> None:
    project_id, documents = await processed_project(researcher)
    results = await all_results(researcher, project_id)
    rows = {row.document_id: row for row in results.rows}

    wide = await researcher.export(project_id, F.EXPORT_FORMAT_CSV_WIDE, include_metadata=True)
    _, data = await researcher.download(wide.id)
    frame = pd.read_csv(
        io.BytesIO(data),
        encoding="utf-8-sig",
        na_values=["", *MISSING_TEXT.values()],
        keep_default_na=False,
    )
    for name in ("budget", "works"):
        assert {f"_confidence_{name}", f"_source_{name}", f"_prompt_version_{name}"} <= set(
            frame.columns
        )
    budget = rows[documents["values"]].cells[1]
    line = frame[frame["document_id"] == documents["values"]].iloc[0]
    assert line["budget"] == 2_000_000
    assert line["_confidence_budget"] == pytest.approx(budget.confidence)
    assert line["_source_budget"] == budget.source_text
    assert line["_prompt_version_budget"] == budget.prompt_version

    long = await researcher.export(project_id, F.EXPORT_FORMAT_CSV_LONG)
    _, data = await researcher.download(long.id)
    extractions = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
    # A row per value; one for an extraction without a value.
    values = [
        max(1, len(c.value.list_value.values))
        for r in results.rows
        for c in r.cells
        if c.extraction_id
    ]
    assert len(extractions) == sum(values)
    by_id = {e["extraction_id"]: e for e in extractions}
    record = by_id[budget.extraction_id]
    assert (record["variable"], record["value"], record["status"]) == (
        "budget",
        "2000000",
        "SUCCESS",
    )
    assert record["source_text"] == budget.source_text
    assert int(record["source_start"]) == budget.source_start_offset
    assert record["model"] == budget.model
    # Several values: a row each, in order, each with its own quote and offsets.
    works = rows[documents["values"]].cells[5]
    per_value = [e for e in extractions if e["extraction_id"] == works.extraction_id]
    assert [e["value"] for e in per_value] == [
        v.string_value for v in works.value.list_value.values
    ]
    assert [int(e["value_index"]) for e in per_value] == list(range(1, len(per_value) + 1))
    assert len(works.value_evidence) == len(per_value) > 1
    for row, evidence in zip(per_value, works.value_evidence, strict=True):
        assert row["source_text"] == evidence.source_text
        assert int(row["source_start"]) == evidence.source_start_offset
        assert row["evidence_match"] == common_pb2.EvidenceMatch.Name(
            evidence.evidence_match
        ).removeprefix("EVIDENCE_MATCH_")


async def test_best_guess_keeps_the_value_as_the_answer_where_flag_for_review_flags_it(
    researcher: Caller, worker: subprocess.Popen[bytes]
) -> None:
    """Two variables alike but for if_uncertain; the model is never sure enough for them."""
    unsure = {
        "type": common_pb2.VARIABLE_TYPE_TEXT,
        "instructions": "What the plan approved by the council is for.",
        "confidence_threshold": 0.99,
    }
    project = await researcher.create_project()
    flagged = await researcher.create_variable(
        project.id,
        name="plan_flagged",
        if_uncertain=common_pb2.IF_UNCERTAIN_FLAG_FOR_REVIEW,
        **unsure,
    )
    guessed = await researcher.create_variable(
        project.id, name="plan_guessed", if_uncertain=common_pb2.IF_UNCERTAIN_BEST_GUESS, **unsure
    )
    await ready_documents(researcher, project.id, REPORT[:1])
    job = await researcher.create_job(project.id, common_pb2.JOB_TYPE_FULL)
    assert (await researcher.job_ended(job.job.id)).status == common_pb2.JOB_STATUS_COMPLETED

    by_variable = {e.variable_id: e for e in await researcher.extractions(project.id)}
    review, guess = by_variable[flagged.id], by_variable[guessed.id]
    assert guess.confidence == review.confidence < 0.99
    assert json_format.MessageToDict(guess.value) == json_format.MessageToDict(review.value)
    assert (review.status, review.best_guess) == (
        common_pb2.EXTRACTION_STATUS_LOW_CONFIDENCE,
        False,
    )
    assert "below the threshold" in review.error
    assert (guess.status, guess.best_guess, guess.error) == (
        common_pb2.EXTRACTION_STATUS_SUCCESS,
        True,
        "",
    )
    [row] = (await all_results(researcher, project.id)).rows
    assert [cell.status for cell in row.cells] == [
        F.CELL_STATUS_LOW_CONFIDENCE,
        F.CELL_STATUS_SUCCESS,
    ]

    long = await researcher.export(project.id, F.EXPORT_FORMAT_CSV_LONG)
    records = list(
        csv.DictReader(io.StringIO((await researcher.download(long.id))[1].decode("utf-8-sig")))
    )
    marked = {r["variable"]: (r["status"], r["best_guess"], r["value"]) for r in records}
    value = json_format.MessageToDict(guess.value)
    assert marked == {
        "plan_flagged": ("LOW_CONFIDENCE", "false", value),
        "plan_guessed": ("SUCCESS", "true", value),
    }
    codebook = await researcher.export(project.id, F.EXPORT_FORMAT_CODEBOOK)
    text = (await researcher.download(codebook.id))[1].decode()
    guessed_quality = text[text.index("### plan_guessed", text.index("## Quality")) :]
    assert "| Best guesses (kept below the threshold) | 1 |" in guessed_quality
    assert "the status stays SUCCESS, not flagged for review" in text


async def test_an_entity_project_has_a_row_per_entity(
    researcher: Caller, worker: subprocess.Popen[bytes]
) -> None:
    project = await researcher.create_project(
        unit_of_observation=common_pb2.UNIT_OF_OBSERVATION_ENTITY,
        entity_identification_pattern="each city that approved a coastal plan",
    )
    for fields in VARIABLES[:2]:
        await researcher.create_variable(project.id, **fields)
    texts = [
        "Coastal plans.\n\nOn 12 March 2024 Rotterdam approved a plan with a budget of 900 "
        "euros. On 3 May 2024 Hamburg approved a plan with a budget of 700 euros.",
        "Coastal plans.\n\nOn 1 June 2024 Lisbon approved a plan with a budget of 500 euros.",
    ]
    await ready_documents(researcher, project.id, texts)
    job = await researcher.create_job(project.id, common_pb2.JOB_TYPE_FULL)
    assert (await researcher.job_ended(job.job.id)).status == common_pb2.JOB_STATUS_COMPLETED

    results = await all_results(researcher, project.id)
    assert sorted(row.entity_name for row in results.rows) == ["Hamburg", "Lisbon", "Rotterdam"]

    export = await researcher.export(project.id, F.EXPORT_FORMAT_STATA)
    _, data = await researcher.download(export.id)
    with tempfile.NamedTemporaryFile(suffix=".dta") as handle:
        handle.write(data)
        handle.flush()
        frame, _ = pyreadstat.read_dta(handle.name)
    assert list(frame.columns[:4]) == ["document_id", "filename", "entity_key", "entity_name"]
    assert sorted(frame["entity_name"]) == ["Hamburg", "Lisbon", "Rotterdam"]
    assert sorted(frame["budget"]) == [500, 700, 900]

    workbook = openpyxl.load_workbook(io.BytesIO(await workbook_of(researcher, project.id)))
    header = [cell.value for cell in next(workbook.worksheets[0].iter_rows())]
    assert header[:4] == ["document_id", "filename", "entity_key", "entity_name"]


async def test_a_project_with_nothing_processed_exports_headers_and_an_explanation(
    researcher: Caller, worker: subprocess.Popen[bytes]
) -> None:
    project = await researcher.create_project()
    for fields in VARIABLES:
        await researcher.create_variable(project.id, **fields)

    for export_format in (
        F.EXPORT_FORMAT_CSV_WIDE,
        F.EXPORT_FORMAT_XLSX,
        F.EXPORT_FORMAT_STATA,
        F.EXPORT_FORMAT_SPSS,
        F.EXPORT_FORMAT_DATA_PACKAGE,
    ):
        export = await researcher.export(project.id, export_format)
        assert export.status == F.EXPORT_STATUS_COMPLETED, export.error
        assert export.row_count == 0

    wide = await researcher.export(project.id, F.EXPORT_FORMAT_CSV_WIDE)
    _, data = await researcher.download(wide.id)
    assert data.decode("utf-8-sig").splitlines() == [
        ",".join(["document_id", "filename", *WIDE_VALUE_COLUMNS])
    ]
    codebook = await researcher.export(project.id, F.EXPORT_FORMAT_CODEBOOK)
    _, text = await researcher.download(codebook.id)
    assert "nothing has been processed" in text.decode().lower()


async def test_a_large_export_is_built_by_a_worker_and_served_by_any_server(
    researcher: Caller,
    worker: subprocess.Popen[bytes],
    stack: Stack,
    database: Database,
) -> None:
    project_id, documents = await processed_project(researcher)
    # A second server that sends every export to the workers.
    settings = stack.settings.model_copy(update={"export_inline_max_cells": 0})
    other = await start_server(settings, database, stack.server.redis, TEST_REDIS_URL, port=0)
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{other.port}") as channel:
            created = await export_pb2_grpc.ExportServiceStub(channel).CreateExport(
                F.CreateExportRequest(project_id=project_id, format=F.EXPORT_FORMAT_CSV_WIDE),
                metadata=researcher.metadata,
            )
    finally:
        await other.stop(grace=1)
    assert created.export.status == F.EXPORT_STATUS_PENDING

    built = await researcher.export_built(created.export.id)

    assert built.status == F.EXPORT_STATUS_COMPLETED, built.error
    inline = await researcher.export(project_id, F.EXPORT_FORMAT_CSV_WIDE)
    _, worker_data = await researcher.download(built.id)
    _, inline_data = await researcher.download(inline.id)
    assert read_csv_wide(worker_data) == read_csv_wide(inline_data)
    assert len(read_csv_wide(worker_data)) == len(documents) * len(WIDE_VALUE_COLUMNS)


async def test_exports_are_the_tenants_own_and_expire(
    researcher: Caller,
    worker: subprocess.Popen[bytes],
    stack: Stack,
    stack_channel: grpc.aio.Channel,
    database: Database,
) -> None:
    project = await researcher.create_project()
    await researcher.create_variable(project.id, **VARIABLES[1])
    export = await researcher.export(project.id, F.EXPORT_FORMAT_CSV_WIDE)
    intruder = await signed_in(stack_channel, f"intruder-{uuid.uuid4().hex[:8]}@example.org")

    for call in (
        intruder.exports.GetExport(
            F.GetExportRequest(export_id=export.id), metadata=intruder.metadata
        ),
        intruder.download(export.id),
        intruder.exports.CreateExport(
            F.CreateExportRequest(project_id=project.id, format=F.EXPORT_FORMAT_CSV_WIDE),
            metadata=intruder.metadata,
        ),
        intruder.exports.ListResults(
            F.ListResultsRequest(project_id=project.id), metadata=intruder.metadata
        ),
        intruder.exports.ListExports(
            F.ListExportsRequest(project_id=project.id), metadata=intruder.metadata
        ),
    ):
        assert (await rpc_error(call)).code() == grpc.StatusCode.NOT_FOUND

    bad = await rpc_error(
        researcher.exports.CreateExport(
            F.CreateExportRequest(project_id=project.id), metadata=researcher.metadata
        )
    )
    assert bad.code() == grpc.StatusCode.INVALID_ARGUMENT
    bad_token = await rpc_error(
        researcher.exports.ListResults(
            F.ListResultsRequest(project_id=project.id, page_token="nonsense"),
            metadata=researcher.metadata,
        )
    )
    assert bad_token.code() == grpc.StatusCode.INVALID_ARGUMENT

    listed = await researcher.exports.ListExports(
        F.ListExportsRequest(project_id=project.id), metadata=researcher.metadata
    )
    assert [e.id for e in listed.exports] == [export.id]

    export_id = uuid.UUID(export.id)
    async with database.transaction(uuid.UUID(researcher.user_id)) as session:
        await session.execute(
            update(Export)
            .where(Export.id == export_id)
            .values(expires_at=func.now() - dt.timedelta(seconds=1))
        )
    expired = await rpc_error(
        researcher.exports.GetExport(
            F.GetExportRequest(export_id=export.id), metadata=researcher.metadata
        )
    )
    assert expired.code() == grpc.StatusCode.NOT_FOUND
    assert await ExportService(database, stack.settings, _NoQueue()).sweep() >= 1
    async with database.transaction(uuid.UUID(researcher.user_id)) as session:
        left = await session.scalar(
            select(func.count()).select_from(ExportPart).where(ExportPart.export_id == export_id)
        )
        assert left == 0
        assert await session.get(Export, export_id) is None


class _NoQueue:
    async def build_export(self, user_id: uuid.UUID, export_id: uuid.UUID) -> None:
        raise AssertionError("nothing is queued here")
