"""The Excel workbook, read back with openpyxl: its sheets, typed and neutralised cells, the
four missing codes, the colours by status, the long data and the codebook sheet."""

from __future__ import annotations

import gc
import io
import tempfile
import time
import uuid
import zipfile
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from lxml import etree  # type: ignore[import-untyped]
from openpyxl import Workbook, load_workbook
from openpyxl.cell.cell import Cell
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from server.exports.codebook import Block, Heading, Paragraph, Preformatted, Table, codebook
from server.exports.columns import NameRule, wide_columns
from server.exports.dataset import CellStatus, DatasetHeader, Unit
from server.exports.formats import xlsx
from server.exports.formats.xlsx import STATUS_FILLS, Styles, XlsxWriter, write_codebook
from server.exports.formats.xlsx_stream import sheet_parts
from server.exports.long import long_columns
from server.exports.quality import QualityTally
from tests.exports import sample


def package(header: DatasetHeader, units: Sequence[Unit], batch: int = 1000) -> bytes:
    """The .xlsx file of these rows, added `batch` at a time."""
    out = io.BytesIO()
    writer = XlsxWriter(header, out)
    tally = QualityTally(header)
    for start in range(0, len(units), batch):
        writer.add(units[start : start + batch])
        tally.add(units[start : start + batch])
    writer.finish(tally.quality)
    return out.getvalue()


def written(header: DatasetHeader, units: Sequence[Unit], batch: int = 1000) -> Workbook:
    """The workbook of these rows, added `batch` at a time, as Excel would open it."""
    return load_workbook(io.BytesIO(package(header, units, batch)))


def numbered(count: int) -> list[Unit]:
    """`count` rows cycling through the sample's full, empty and unprocessed ones."""
    templates = sample.units()
    return [
        replace(templates[i % 3], document_id=uuid.UUID(int=i + 1), filename=f"doc-{i}.pdf")
        for i in range(count)
    ]


def records(sheet: Worksheet) -> list[dict[str, Cell]]:
    """The sheet's rows below its header, each by column name."""
    rows = [[cell for cell in row if isinstance(cell, Cell)] for row in sheet.iter_rows()]
    names = [str(cell.value) for cell in rows[0]]
    return [dict(zip(names, row, strict=True)) for row in rows[1:]]


def header_row(sheet: Worksheet) -> list[Cell]:
    return [cell for cell in next(sheet.iter_rows(max_row=1)) if isinstance(cell, Cell)]


def filter_of(sheet: Worksheet, rows: int) -> str:
    return f"A1:{get_column_letter(sheet.max_column)}{rows}"


def fill(cell: Cell) -> str | None:
    return cell.fill.fgColor.rgb if cell.fill.fill_type == "solid" else None


@pytest.fixture(scope="module")
def workbook() -> Workbook:
    return written(sample.header(), sample.units())


@pytest.fixture(scope="module")
def data(workbook: Workbook) -> list[dict[str, Cell]]:
    return records(workbook["Data"])


def test_the_workbook_has_the_data_the_long_data_and_the_codebook_in_that_order(
    workbook: Workbook,
) -> None:
    assert workbook.sheetnames == ["Data", "Long", "Codebook"]
    assert workbook.properties.title == "Council minutes"
    assert workbook.properties.creator == "CoderAI"


def test_the_data_header_is_the_wide_columns_bold_frozen_and_filtered(workbook: Workbook) -> None:
    sheet = workbook["Data"]
    header = header_row(sheet)
    assert [cell.value for cell in header] == [c.name for c in wide_columns(sample.header())]
    assert all(cell.font.bold for cell in header)
    assert all(fill(cell) is not None for cell in header)
    # Below the header, right of document_id and filename.
    assert sheet.freeze_panes == "C2"
    assert sheet.auto_filter.ref == filter_of(sheet, 4)
    assert sheet.column_dimensions["B"].width >= len("=cmd|' /C calc'!A0 minutes.txt")


def test_numbers_dates_and_booleans_are_typed_cells(data: list[dict[str, Cell]]) -> None:
    full = data[0]
    assert full["budget"].value == 1250.5
    assert full["budget"].data_type == "n"
    assert full["meeting_date"].value == datetime(2024, 3, 5)
    assert full["meeting_date"].is_date
    assert full["meeting_date"].number_format == "yyyy-mm-dd"
    assert full["approved"].value is True
    assert full["approved"].data_type == "b"
    assert full["_confidence_budget"].value == 0.9
    assert full["_confidence_budget"].number_format == "0.00"
    assert full["_prompt_version_budget"].value == 2
    assert full["_source_topic"].value == "…Zoë's café budget…"


def test_text_that_looks_like_a_formula_is_neutralised_text(
    workbook: Workbook, data: list[dict[str, Cell]]
) -> None:
    filename = data[0]["filename"]
    assert filename.value == "'=cmd|' /C calc'!A0 minutes.txt"
    assert filename.data_type == "s"
    assert data[0]["parties_2"].value == "'=SUM(A1)"
    assert data[0]["parties_2"].data_type == "s"
    formulas = [
        c.coordinate for s in workbook for row in s.iter_rows() for c in row if c.data_type == "f"
    ]
    assert formulas == []


def test_each_kind_of_missing_value_has_its_code(data: list[dict[str, Cell]]) -> None:
    empty, unprocessed = data[1], data[2]
    assert empty["topic"].value == "[not found]"
    assert empty["budget"].value == "[uncertain]"
    assert empty["meeting_date"].value == "[failed]"
    assert empty["approved"].value == "[not processed]"
    assert [empty[f"parties_{n}"].value for n in (1, 2, 3)] == ["[failed]"] * 3
    assert {unprocessed[v.name].value for v in sample.VARIABLES[:5]} == {"[not processed]"}
    assert empty["topic"].data_type == "s"
    assert empty["_source_topic"].value is None


def test_value_cells_are_coloured_by_status(data: list[dict[str, Cell]]) -> None:
    full, empty = data[0], data[1]
    assert fill(full["topic"]) is None
    kept_but_unsure = full["stance"]
    assert kept_but_unsure.value == "Oppose"
    assert fill(kept_but_unsure) == STATUS_FILLS[CellStatus.LOW_CONFIDENCE].fgColor.rgb
    assert fill(empty["budget"]) == STATUS_FILLS[CellStatus.LOW_CONFIDENCE].fgColor.rgb
    assert fill(empty["topic"]) == STATUS_FILLS[CellStatus.NOT_FOUND].fgColor.rgb
    assert fill(empty["meeting_date"]) == STATUS_FILLS[CellStatus.FAILED].fgColor.rgb
    assert fill(empty["approved"]) == STATUS_FILLS[CellStatus.NOT_PROCESSED].fgColor.rgb
    assert empty["approved"].font.italic
    colours = {
        fill(c) for c in (full["stance"], empty["topic"], empty["meeting_date"], empty["approved"])
    }
    assert len(colours) == 4


def test_a_multi_value_variable_fills_one_column_per_value(data: list[dict[str, Cell]]) -> None:
    full = data[0]
    assert [full[f"parties_{n}"].value for n in (1, 2, 3)] == ["Labour", "'=SUM(A1)", None]


def test_the_long_sheet_has_one_row_per_value(workbook: Workbook) -> None:
    sheet = workbook["Long"]
    rows = records(sheet)
    extractions = sum(
        cell.extraction_id is not None for unit in sample.units() for cell in unit.cells
    )
    # Eleven extractions; parties holds two values, a row each.
    assert extractions == 11
    assert len(rows) == 12
    assert [cell.value for cell in header_row(sheet)] == list(long_columns(sample.header()))
    assert sheet.freeze_panes == "A2"
    assert header_row(sheet)[0].font.bold
    by_variable = {row["variable"].value: row for row in rows[:6]}
    assert by_variable["budget"]["value"].value == 1250.5
    assert by_variable["meeting_date"]["value"].value == datetime(2024, 3, 5)
    assert by_variable["approved"]["value"].value is True
    assert by_variable["topic"]["value"].value == "Zoë's café budget"
    parties = [row for row in rows[:7] if row["variable"].value == "parties"]
    assert [row["value_index"].value for row in parties] == [1, 2]
    assert [row["value"].value for row in parties] == ["Labour", "'=SUM(A1)"]
    assert len({row["extraction_id"].value for row in parties}) == 1
    assert by_variable["topic"]["filename"].value == "'=cmd|' /C calc'!A0 minutes.txt"
    assert by_variable["stance"]["confidence"].number_format == "0.00"
    assert (
        fill(by_variable["stance"]["status"]) == STATUS_FILLS[CellStatus.LOW_CONFIDENCE].fgColor.rgb
    )
    failed = [row for row in rows if row["status"].value == "FAILED"]
    assert {row["error"].value for row in failed} == {
        "the model's answer was not valid JSON",
        "timed out",
    }


def test_accents_survive(data: list[dict[str, Cell]]) -> None:
    assert data[0]["topic"].value == "Zoë's café budget"


def test_an_entity_project_has_entity_columns_frozen_with_the_identifying_ones() -> None:
    workbook = written(sample.header(entity=True), sample.units(entity=True))
    sheet = workbook["Data"]
    names = [cell.value for cell in header_row(sheet)]
    assert names[:4] == ["document_id", "filename", "entity_key", "entity_name"]
    assert sheet.freeze_panes == "E2"
    assert records(sheet)[0]["entity_name"].value == "Ada Lovelace"
    assert "entity_key" in [cell.value for cell in header_row(workbook["Long"])]


def test_the_codebook_sheet_holds_the_legend_and_every_heading_of_the_codebook(
    workbook: Workbook,
) -> None:
    header = sample.header()
    tally = QualityTally(header)
    tally.add(sample.units())
    headings = [
        b.text for b in codebook(header, tally.quality, NameRule.PLAIN) if isinstance(b, Heading)
    ]
    first_column = [row[0] for row in workbook["Codebook"].iter_rows(max_col=1, values_only=True)]
    assert headings
    assert set(headings) <= set(first_column)
    assert first_column[0] == "Council minutes"
    assert "Colours in the Data sheet" in first_column


def test_the_codebook_renderer_formats_each_kind_of_block() -> None:
    blocks: list[Block] = [
        Heading("Methods", 1),
        Paragraph("How the data were made."),
        Table(
            ("Variable", "Fill rate", "Definition"),
            [("budget", 0.5, "=the amount"), ("x", None, None)],
        ),
        Preformatted("You extract values.\n  Answer in JSON."),
        Heading("Quality", 2),
    ]
    out = io.BytesIO()
    book = Workbook(write_only=True)
    write_codebook(book.create_sheet("Codebook"), blocks, Styles(book))
    book.save(out)
    sheet = load_workbook(io.BytesIO(out.getvalue()))["Codebook"]
    cells = {
        cell.value: cell for row in sheet.iter_rows() for cell in row if cell.value is not None
    }

    assert cells["Methods"].font.bold
    assert cells["Methods"].font.size > cells["Quality"].font.size > 11
    assert cells["Variable"].font.bold
    assert cells["Fill rate"].font.bold
    assert cells[0.5].data_type == "n"
    # Quoted verbatim, but as text, never a formula.
    assert cells["=the amount"].data_type == "s"
    assert cells["You extract values."].font.name == "Consolas"
    assert cells["  Answer in JSON."].alignment.wrap_text
    assert cells["  Answer in JSON."].row == cells["You extract values."].row + 1
    for status in CellStatus:
        assert fill(cells[status.value]) == (
            STATUS_FILLS[status].fgColor.rgb if status in STATUS_FILLS else None
        )
    assert sheet.column_dimensions["A"].width >= 60


def test_text_a_worksheet_cannot_hold_or_would_misread_is_kept_as_text() -> None:
    header = sample.header()
    full = sample.units()[0]
    cells = (sample.value("page one\x0cpage two"), sample.value("#N/A"), *full.cells[2:])
    workbook = written(header, [replace(full, cells=cells)])
    row = records(workbook["Data"])[0]
    assert row["topic"].value == "page one page two"
    assert row["budget"].value == "#N/A"
    assert row["budget"].data_type == "s"


def test_a_coloured_date_is_still_a_date() -> None:
    full = sample.units()[0]
    unsure = sample.value("2024-03-05", CellStatus.LOW_CONFIDENCE)
    cells = (*full.cells[:2], unsure, *full.cells[3:])
    row = records(written(sample.header(), [replace(full, cells=cells)])["Data"])[0]
    assert row["meeting_date"].value == datetime(2024, 3, 5)
    assert row["meeting_date"].number_format == "yyyy-mm-dd"
    assert fill(row["meeting_date"]) == STATUS_FILLS[CellStatus.LOW_CONFIDENCE].fgColor.rgb


def test_two_thousand_rows_added_in_batches_interleave_both_sheets() -> None:
    started = time.perf_counter()
    workbook = written(sample.header(), numbered(2000), batch=300)
    elapsed = time.perf_counter() - started
    print(f"2,000 rows written and read back in {elapsed:.1f} s")

    data = records(workbook["Data"])
    assert len(data) == 2000
    assert [row["filename"].value for row in data[:4]] == [
        "doc-0.pdf",
        "doc-1.pdf",
        "doc-2.pdf",
        "doc-3.pdf",
    ]
    assert data[-1]["filename"].value == "doc-1999.pdf"
    assert data[1998]["budget"].value == 1250.5
    long = records(workbook["Long"])
    # 667 full rows with 6 extractions (7 values), 667 empty ones with 5, 666 not processed.
    assert len(long) == 667 * 7 + 667 * 5
    assert long[-1]["filename"].value == "doc-1999.pdf"
    assert workbook["Data"].auto_filter.ref == filter_of(workbook["Data"], 2001)


def test_a_table_longer_than_a_sheet_continues_on_the_next(monkeypatch: pytest.MonkeyPatch) -> None:
    # Excel's limit is a million rows; a limit of 5 (header and 4 rows) shows the rule.
    monkeypatch.setattr(xlsx, "EXCEL_MAX_ROWS", 5)
    units = [replace(sample.units()[0], document_id=uuid.UUID(int=i + 1)) for i in range(3)]
    workbook = written(sample.header(), units, batch=1)
    assert workbook.sheetnames == [
        "Data",
        "Long",
        "Long (2)",
        "Long (3)",
        "Long (4)",
        "Long (5)",
        "Long (6)",
        "Codebook",
    ]
    parts: list[dict[str, Any]] = []
    for name in workbook.sheetnames[1:-1]:
        sheet = workbook[name]
        assert [c.value for c in header_row(sheet)] == list(long_columns(sample.header()))
        assert sheet.freeze_panes == "A2"
        parts += [{k: c.value for k, c in row.items()} for row in records(sheet)]
    assert len(parts) == 3 * 7
    assert [row["variable"] for row in parts[:8]] == [v.name for v in sample.VARIABLES] + [
        "parties",
        "topic",
    ]
    assert parts[2]["value"] == datetime(2024, 3, 5)


def test_twenty_thousand_rows_round_trip_in_read_only_mode() -> None:
    header = sample.header(include_metadata=False)
    units = numbered(20_000)
    workbook = load_workbook(io.BytesIO(package(header, units)), read_only=True)
    assert workbook.sheetnames == ["Data", "Long", "Codebook"]

    data = workbook["Data"]
    # The dimension the rows fill, which read-only mode sizes the sheet by.
    assert (data.max_row, data.max_column) == (20_001, len(wide_columns(header)))
    rows = list(data.iter_rows(values_only=True))
    assert rows[0] == tuple(column.name for column in wide_columns(header))
    assert len(rows) == 20_001
    assert [row[1] for row in rows[1:]] == [unit.filename for unit in units]
    full = dict(zip(rows[0], rows[-2], strict=True))
    assert full["document_id"] == str(units[-2].document_id)
    assert (full["budget"], full["meeting_date"], full["approved"]) == (
        1250.5,
        datetime(2024, 3, 5),
        True,
    )
    assert full["parties_2"] == "'=SUM(A1)"
    assert dict(zip(rows[0], rows[-1], strict=True))["topic"] == "[not found]"

    long = workbook["Long"]
    # 6,667 full rows with 6 extractions (7 values), 6,667 empty ones with 5.
    assert long.max_row == 1 + 6_667 * 7 + 6_667 * 5
    first = next(long.iter_rows(min_row=2, max_row=2, values_only=True))
    extraction = dict(zip(long_columns(header), first, strict=True))
    assert (extraction["filename"], extraction["variable"]) == ("doc-0.pdf", "topic")


# CT_Worksheet's children in the order the schema requires (ECMA-376 Part 1, 18.3.1.99).
WORKSHEET_ORDER = (
    "sheetPr",
    "dimension",
    "sheetViews",
    "sheetFormatPr",
    "cols",
    "sheetData",
    "sheetCalcPr",
    "sheetProtection",
    "protectedRanges",
    "scenarios",
    "autoFilter",
    "sortState",
    "dataConsolidate",
    "customSheetViews",
    "mergeCells",
    "phoneticPr",
    "conditionalFormatting",
    "dataValidations",
    "hyperlinks",
    "printOptions",
    "pageMargins",
    "pageSetup",
    "headerFooter",
    "rowBreaks",
    "colBreaks",
    "customProperties",
    "cellWatches",
    "ignoredErrors",
    "smartTags",
    "drawing",
    "legacyDrawing",
    "legacyDrawingHF",
    "drawingHF",
    "picture",
    "oleObjects",
    "controls",
    "webPublishItems",
    "tableParts",
    "extLst",
)
MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"


def worksheets(data: bytes) -> dict[str, Any]:
    """Each worksheet's XML by sheet title, parsed with lxml (which refuses XML that is not
    well formed)."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        parts = sheet_parts(archive)
        return {title: etree.fromstring(archive.read(part)) for title, part in parts.items()}


def local(element: Any) -> str:
    return str(element.tag).removeprefix(MAIN)


def test_the_tables_are_worksheet_xml_in_the_order_excel_requires(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(xlsx, "EXCEL_MAX_ROWS", 6)
    data = package(sample.header(), numbered(4))
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        styles = etree.fromstring(archive.read("xl/styles.xml"))
    formats = len(styles.find(f"{MAIN}cellXfs"))
    sheets = worksheets(data)
    assert list(sheets) == ["Data", "Long", "Long (2)", "Long (3)", "Long (4)", "Codebook"]
    for title, root in sheets.items():
        children = [local(child) for child in root]
        order = [WORKSHEET_ORDER.index(name) for name in children]
        assert order == sorted(order), (title, children)
        assert root.find(f".//{MAIN}f") is None, f"a formula on {title}"
        if title == "Codebook":
            continue
        assert {"dimension", "sheetViews", "cols", "sheetData", "autoFilter"} <= set(children)
        rows = root.find(f"{MAIN}sheetData")
        assert [row.get("r") for row in rows] == [str(n) for n in range(1, len(rows) + 1)]
        for row in rows:
            refs = [cell.get("r") for cell in row]
            assert refs == sorted(refs, key=lambda ref: (len(ref), ref))
            assert all(ref.endswith(row.get("r")) for ref in refs)
            # Every style a cell names is one of the workbook's cell formats.
            assert all(int(cell.get("s", 0)) < formats for cell in row)
        last = rows[-1].get("r")
        assert root.find(f"{MAIN}dimension").get("ref").endswith(last)
        assert root.find(f"{MAIN}autoFilter").get("ref").endswith(last)


def test_a_cells_style_is_the_cell_format_of_its_status_in_the_styles() -> None:
    with zipfile.ZipFile(io.BytesIO(package(sample.header(), sample.units()))) as archive:
        styles = etree.fromstring(archive.read("xl/styles.xml"))
        long = etree.fromstring(archive.read(sheet_parts(archive)["Long"]))
    cell_formats = styles.find(f"{MAIN}cellXfs")
    fills = styles.find(f"{MAIN}fills")
    number_formats = {f.get("numFmtId"): f.get("formatCode") for f in styles.find(f"{MAIN}numFmts")}
    rows = [
        {cell.get("r").rstrip("0123456789"): cell for cell in row}
        for row in long.find(f"{MAIN}sheetData")
    ]
    # Column F holds the status, E the value, C the variable.
    unsure = next(row["F"] for row in rows if row["F"].findtext(f".//{MAIN}t") == "LOW_CONFIDENCE")
    fill = fills[int(cell_formats[int(unsure.get("s"))].get("fillId"))]
    colour = fill.find(f"{MAIN}patternFill/{MAIN}fgColor").get("rgb")
    assert colour == STATUS_FILLS[CellStatus.LOW_CONFIDENCE].fgColor.rgb
    date = next(row["E"] for row in rows if row["C"].findtext(f".//{MAIN}t") == "meeting_date")
    number_format = cell_formats[int(date.get("s"))].get("numFmtId")
    assert number_formats[number_format] == "yyyy-mm-dd"


def test_text_with_markup_spaces_and_line_breaks_reads_back_as_written() -> None:
    full = sample.units()[0]
    texts = ("  a < b & c > d ]]>  ", "line one\r\nline two\n", "\ufffebom\x00nul", "é" * 40_000)
    cells = (sample.value(texts[0]), *full.cells[1:4], sample.value(texts[1]))
    unit = replace(full, cells=(*cells, sample.value([texts[2], texts[3]])))
    row = records(written(sample.header(), [unit])["Data"])[0]
    assert row["topic"].value == texts[0]
    assert row["stance"].value == texts[1]
    # What XML cannot hold becomes a space; a cell holds 32,767 characters at most.
    assert row["parties_1"].value == " bom nul"
    assert row["parties_2"].value == "é" * 32_767


def test_an_abandoned_writer_leaves_no_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    descriptors = Path("/proc/self/fd")
    before = len(list(descriptors.iterdir()))
    writer = XlsxWriter(sample.header(), io.BytesIO())
    writer.add(numbered(100))
    # Rows wait in unnamed files (no name to leave behind)...
    assert list(tmp_path.iterdir()) == []
    assert len(list(descriptors.iterdir())) > before
    # ...which close when the writer is collected, say after an error before finish().
    del writer
    gc.collect()
    assert len(list(descriptors.iterdir())) == before
