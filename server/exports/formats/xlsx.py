"""The dataset as an Excel workbook: the wide data, the long data and the codebook, typed cells
coloured by status. openpyxl builds the workbook; the tables' rows stream to disk (xlsx_stream)."""

from __future__ import annotations

import io
import math
from collections.abc import Iterable, Sequence
from datetime import UTC, date
from decimal import Decimal
from typing import Any, BinaryIO, Protocol, cast

from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE, Cell, WriteOnlyCell
from openpyxl.styles import Alignment, Border, Font, NamedStyle, PatternFill, Side
from openpyxl.utils import get_column_letter
from openpyxl.worksheet._write_only import WriteOnlyWorksheet
from openpyxl.worksheet.dimensions import ColumnDimension, DimensionHolder, RowDimension
from openpyxl.worksheet.filters import AutoFilter

from server.exports.codebook import Block, Heading, Paragraph, Preformatted, Table, codebook
from server.exports.columns import (
    IDENTIFYING,
    MISSING_MEANING,
    MISSING_TEXT,
    Column,
    ColumnKind,
    NameRule,
    cell_of,
    wide_columns,
    wide_value,
)
from server.exports.dataset import CellStatus, DatasetHeader, MissingKind, Unit
from server.exports.formats.xlsx_stream import SheetRows, splice
from server.exports.long import long_columns, long_rows
from server.exports.quality import Quality

DATA_SHEET = "Data"
LONG_SHEET = "Long"
CODEBOOK_SHEET = "Codebook"
CREATOR = "CoderAI"

# Excel's limit of rows per sheet: a longer table continues on "Long (2)", "Long (3)", ...
EXCEL_MAX_ROWS = 1_048_576
_MAX_ROW_HEIGHT = 409.0
_LINE_HEIGHT = 15.0
# Column widths, in characters, are guessed from the header and the first rows.
_WIDTH_SAMPLE_ROWS = 50
_MIN_WIDTH, _MAX_WIDTH = 8, 60
# The codebook's prose and prompts wrap in its first column, this wide.
_CODEBOOK_TEXT_WIDTH = 90

GENERAL = "General"
DATE_FORMAT = "yyyy-mm-dd"
CONFIDENCE_FORMAT = "0.00"

# Fonts and fills are shared by every workbook; the named styles built from them belong to one.
_HEADER_FONT = Font(bold=True)
_HEADER_FILL = PatternFill("solid", fgColor="DDEBF7")
_HEADER_BORDER = Border(bottom=Side(style="thin", color="808080"))
_HEADING_FONTS = {1: Font(bold=True, size=16), 2: Font(bold=True, size=13), 3: Font(bold=True)}
_MONOSPACE = Font(name="Consolas")
_WRAP = Alignment(wrap_text=True, vertical="top")
STATUS_FILLS = {
    CellStatus.LOW_CONFIDENCE: PatternFill("solid", fgColor="FFF2CC"),
    CellStatus.NOT_FOUND: PatternFill("solid", fgColor="D9D9D9"),
    CellStatus.FAILED: PatternFill("solid", fgColor="FFC7CE"),
    CellStatus.NOT_PROCESSED: PatternFill("solid", fgColor="F2F2F2"),
}
_NOT_PROCESSED_FONT = Font(italic=True, color="808080")
# The legend of the fills on the codebook sheet: what each status writes when it holds no value.
_STATUS_MISSING = {
    CellStatus.LOW_CONFIDENCE: MissingKind.UNCERTAIN,
    CellStatus.NOT_FOUND: MissingKind.NOT_FOUND,
    CellStatus.FAILED: MissingKind.FAILED,
    CellStatus.NOT_PROCESSED: MissingKind.NOT_PROCESSED,
}
_STATUS_VALUE = {
    CellStatus.SUCCESS: "a value, extracted",
    CellStatus.LOW_CONFIDENCE: "a value kept although the model was unsure (worth checking)",
    CellStatus.NOT_FOUND: "the variable's default value",
}


class _SheetLayout(Protocol):
    """The parts of a write-only sheet that openpyxl's stubs omit (the sheet sets them up for
    itself); they must be set before its first row is written."""

    column_dimensions: DimensionHolder[str, ColumnDimension]
    row_dimensions: DimensionHolder[int, RowDimension]
    auto_filter: AutoFilter


def _layout(sheet: WriteOnlyWorksheet) -> _SheetLayout:
    return cast(_SheetLayout, sheet)


class Styles:
    """The workbook's named styles, each registered once and applied to cells by name (far
    cheaper per cell than a font and a fill of its own)."""

    def __init__(self, workbook: Workbook) -> None:
        self._workbook = workbook
        self._names: set[str] = set()

    def status(self, status: CellStatus, number_format: str = GENERAL) -> str | None:
        """A cell of this status and format; None for a plain one (no style needed)."""
        if status is CellStatus.SUCCESS and number_format == GENERAL:
            return None
        return self._named(
            f"CoderAI {status.value.lower().replace('_', ' ')} {number_format}",
            font=_NOT_PROCESSED_FONT if status is CellStatus.NOT_PROCESSED else None,
            fill=STATUS_FILLS.get(status),
            number_format=number_format,
        )

    def header(self) -> str:
        return self._named(
            "CoderAI header", font=_HEADER_FONT, fill=_HEADER_FILL, border=_HEADER_BORDER
        )

    def heading(self, level: int) -> str:
        font = _HEADING_FONTS.get(level, _HEADING_FONTS[3])
        return self._named(f"CoderAI heading {level}", font=font)

    def paragraph(self) -> str:
        return self._named("CoderAI paragraph", alignment=_WRAP)

    def preformatted(self) -> str:
        return self._named("CoderAI preformatted", font=_MONOSPACE, alignment=_WRAP)

    def _named(self, name: str, **parts: Any) -> str:
        if name not in self._names:
            self._names.add(name)
            self._workbook.add_named_style(NamedStyle(name, **parts))
        return name


class _CellStyles:
    """The style ids of the tables' cells (each an index into styles.xml's cellXfs, the `s`
    of a cell), registered with the workbook the way openpyxl registers a cell it writes."""

    def __init__(self, styles: Styles, sheet: WriteOnlyWorksheet) -> None:
        def id_of(name: str | None) -> int:
            if name is None:
                return 0
            cell = WriteOnlyCell(sheet)
            cell.style = name
            return cell.style_id

        self.header = id_of(styles.header())
        self.confidence = id_of(styles.status(CellStatus.SUCCESS, CONFIDENCE_FORMAT))
        self._status = {
            status: (id_of(styles.status(status)), id_of(styles.status(status, DATE_FORMAT)))
            for status in CellStatus
        }
        # The long rows carry a status as its value.
        self.status_text = {status.value: ids[0] for status, ids in self._status.items()}

    def value(self, value: Any, status: CellStatus = CellStatus.SUCCESS) -> int:
        """A value coloured by its status; a date formatted as one."""
        general, dated = self._status[status]
        return dated if isinstance(value, date) else general


class _Table:
    """One table on placeholder sheets whose rows stream to temporary files: a bold, filtered,
    frozen header row, column widths guessed from the first rows, and continuation sheets
    past Excel's row limit."""

    def __init__(
        self,
        workbook: Workbook,
        title: str,
        names: Sequence[str],
        styles: _CellStyles,
        position: int,
        frozen_columns: int = 0,
    ) -> None:
        self._workbook = workbook
        self._title = title
        self._names = names
        self._header_styles = [styles.header] * len(names)
        self._frozen = f"{get_column_letter(frozen_columns + 1)}2"
        self._widths = [len(name) + 2 for name in names]
        self._measured = 0
        self._parts: list[tuple[WriteOnlyWorksheet, SheetRows]] = []
        self._open(workbook.create_sheet(title, position))

    def append(self, values: Sequence[Any], styles: Sequence[int]) -> None:
        rows = self._parts[-1][1]
        if rows.count >= EXCEL_MAX_ROWS:
            index = self._workbook.index(self._parts[-1][0]) + 1
            title = f"{self._title} ({len(self._parts) + 1})"
            rows = self._open(self._workbook.create_sheet(title, index))
        if self._measured < _WIDTH_SAMPLE_ROWS:
            self._measured += 1
            self._widths = [max(w, _width(v)) for w, v in zip(self._widths, values, strict=True)]
        rows.append(values, styles)

    def close(self) -> dict[str, SheetRows]:
        """Lays out the placeholder sheets (openpyxl writes all but their rows); their rows by
        sheet title."""
        last = get_column_letter(len(self._names))
        for sheet, rows in self._parts:
            for index, width in enumerate(self._widths, 1):
                _layout(sheet).column_dimensions[get_column_letter(index)].width = _clamp(width)
            sheet.freeze_panes = self._frozen
            _layout(sheet).auto_filter.ref = f"A1:{last}{rows.count}"
        return {sheet.title: rows for sheet, rows in self._parts}

    def discard(self) -> None:
        for _, rows in self._parts:
            rows.close()

    def _open(self, sheet: WriteOnlyWorksheet) -> SheetRows:
        rows = SheetRows(len(self._names))
        rows.append(self._names, self._header_styles)
        self._parts.append((sheet, rows))
        return rows


def _width(value: Any) -> int:
    """About how many characters a value shows."""
    if value is None:
        return 0
    if isinstance(value, date):
        return len(DATE_FORMAT)
    if isinstance(value, float):
        return len(f"{value:.2f}")
    return max((len(line) for line in str(value).splitlines()), default=0)


def _clamp(width: int) -> int:
    return min(max(width, _MIN_WIDTH), _MAX_WIDTH)


def write_codebook(sheet: WriteOnlyWorksheet, blocks: Sequence[Block], styles: Styles) -> None:
    """The codebook as a readable sheet: its title, the legend of the data's colours, then
    its blocks; headings in bold, tables with a bold header row, prose wrapped in a wide first
    column and prompts in a monospace font, one row per line."""
    legend = _legend()
    tables = [legend, *(block for block in blocks if isinstance(block, Table))]
    widths = [float(_CODEBOOK_TEXT_WIDTH)]
    for index in range(1, max(len(table.columns) for table in tables)):
        cells = [row[index] for t in tables for row in [t.columns, *t.rows] if index < len(row)]
        widths.append(_clamp(max(_width(cell) for cell in cells) + 2))
    for index, width in enumerate(widths, 1):
        _layout(sheet).column_dimensions[get_column_letter(index)].width = width
    rows = _CodebookRows(sheet, styles, widths)
    first = blocks[0] if blocks else None
    title = [first] if isinstance(first, Heading) and first.level == 1 else []
    rows.write(title)
    rows.write([Heading("Colours in the Data sheet", 2)])
    rows.table(legend, [styles.status(status) for status in CellStatus])
    rows.write(blocks[len(title) :])


def _legend() -> Table:
    """A row per status, in CellStatus's order."""
    rows: list[tuple[Any, ...]] = []
    for status in CellStatus:
        meanings = []
        if status in _STATUS_VALUE:
            meanings.append(_STATUS_VALUE[status])
        if status in _STATUS_MISSING:
            kind = _STATUS_MISSING[status]
            meanings.append(f"{MISSING_TEXT[kind]}: {MISSING_MEANING[kind]}")
        rows.append((status.value, "; or ".join(meanings)))
    return Table(("Status (a value cell's colour)", "The cell holds"), rows)


class _CodebookRows:
    """Appends the blocks' rows, counting them so that wrapped rows get their height."""

    def __init__(self, sheet: WriteOnlyWorksheet, styles: Styles, widths: list[float]) -> None:
        self._sheet = sheet
        self._styles = styles
        self._widths = widths
        self._row = 0
        self._after_blank = True

    def write(self, blocks: Iterable[Block]) -> None:
        for block in blocks:
            match block:
                case Heading(text, level):
                    if level <= 2 and not self._after_blank:
                        self._append([])
                    self._append([self._text(text, self._styles.heading(level))])
                case Paragraph(text):
                    self._lines(text, self._styles.paragraph())
                case Preformatted(text):
                    self._lines(text, self._styles.preformatted())
                case Table():
                    self.table(block)

    def table(self, table: Table, first_cell_styles: Sequence[str | None] = ()) -> None:
        header = self._styles.header()
        self._append([self._text(name, header) for name in table.columns])
        wrap = self._styles.paragraph()
        for number, row in enumerate(table.rows):
            first = first_cell_styles[number] if number < len(first_cell_styles) else wrap
            cells = [
                self._value(value, first if index == 0 else wrap) for index, value in enumerate(row)
            ]
            self._append(cells, self._lines_of(row))
        self._append([])

    def _lines(self, text: str, style: str) -> None:
        for line in text.splitlines() or [""]:
            self._append([self._text(line, style)], self._lines_of([line]))

    def _lines_of(self, row: Sequence[Any]) -> int:
        """How many lines the row's highest cell wraps to."""
        return max(
            [1]
            + [
                math.ceil(len(value) / width)
                for value, width in zip(row, self._widths, strict=False)
                if isinstance(value, str)
            ]
        )

    def _value(self, value: Any, style: str | None) -> Any:
        if value is None or isinstance(value, int | float | Decimal):
            return value
        return self._text(str(value), style)

    def _text(self, text: str, style: str | None) -> Cell:
        # The codebook quotes prompts and instructions verbatim (their SHA-256 is reported),
        # so its text is typed as text but not neutralised.
        cell = WriteOnlyCell(self._sheet, ILLEGAL_CHARACTERS_RE.sub(" ", text))
        cell.data_type = "s"
        if style is not None:
            cell.style = style
        return cell

    def _append(self, cells: list[Any], lines: int = 1) -> None:
        # Excel and LibreOffice do not grow a row to fit wrapped text they did not write.
        self._row += 1
        self._after_blank = not cells
        if lines > 1:
            height = min(lines * _LINE_HEIGHT, _MAX_ROW_HEIGHT)
            _layout(self._sheet).row_dimensions[self._row].height = height
        self._sheet.append(cells)


class _DataRows:
    """The wide rows' cells: each value column coloured by its cell's status, with the
    missing code where the cell holds no value; confidences formatted."""

    def __init__(self, header: DatasetHeader, columns: Sequence[Column], styles: _CellStyles):
        self._header = header
        self._columns = columns
        self._styles = styles
        # A row's styles but for its value columns'.
        self._template = [
            styles.confidence if column.kind is ColumnKind.CONFIDENCE else 0 for column in columns
        ]
        self._value_columns = [
            (index, column)
            for index, column in enumerate(columns)
            if column.kind is ColumnKind.VALUE
        ]

    def row(self, unit: Unit) -> tuple[list[Any], list[int]]:
        values = [wide_value(self._header, unit, column) for column in self._columns]
        styles = self._template.copy()
        for index, column in self._value_columns:
            cell = cell_of(unit, column)
            if cell is not None:
                missing = cell.missing
                if missing is not None:
                    values[index] = MISSING_TEXT[missing]
                styles[index] = self._styles.value(values[index], cell.status)
        return values, styles


class _LongRows:
    """The long rows' cells: the status coloured by itself, confidences formatted."""

    def __init__(self, columns: Sequence[str], styles: _CellStyles) -> None:
        self._columns = columns
        self._styles = styles
        self._template = [styles.confidence if name == "confidence" else 0 for name in columns]
        self._status = columns.index("status")
        self._value = columns.index("value")

    def row(self, values: dict[str, Any]) -> tuple[list[Any], list[int]]:
        row = [values[name] for name in self._columns]
        styles = self._template.copy()
        styles[self._status] = self._styles.status_text[values["status"]]
        styles[self._value] = self._styles.value(values["value"])
        return row, styles


class XlsxWriter:
    """The "Data", "Long" and "Codebook" sheets, the tables filled row batch by row batch;
    saved by finish()."""

    def __init__(self, header: DatasetHeader, out: BinaryIO) -> None:
        self._header = header
        self._out = out
        self._columns = wide_columns(header, NameRule.PLAIN)
        self._long_columns = long_columns(header)
        self._workbook = Workbook(write_only=True)
        self._workbook.properties.title = header.project_name
        self._workbook.properties.creator = CREATOR
        # Excel keeps no time zone: the UTC time, naive.
        self._workbook.properties.created = header.generated_at.astimezone(UTC).replace(tzinfo=None)
        self._styles = Styles(self._workbook)
        # The codebook comes last; the tables' sheets go before it.
        self._codebook: WriteOnlyWorksheet = self._workbook.create_sheet(CODEBOOK_SHEET)
        self._cell_styles = _CellStyles(self._styles, self._codebook)
        identifying = sum(column.kind in IDENTIFYING for column in self._columns)
        self._data = _Table(
            self._workbook,
            DATA_SHEET,
            [column.name for column in self._columns],
            self._cell_styles,
            position=0,
            frozen_columns=identifying,
        )
        self._long = _Table(
            self._workbook, LONG_SHEET, self._long_columns, self._cell_styles, position=1
        )
        self._data_rows = _DataRows(header, self._columns, self._cell_styles)
        self._long_rows = _LongRows(self._long_columns, self._cell_styles)

    def add(self, units: Sequence[Unit]) -> None:
        for unit in units:
            self._data.append(*self._data_rows.row(unit))
            for row in long_rows(self._header, unit):
                self._long.append(*self._long_rows.row(row.values))

    def finish(self, quality: Quality) -> None:
        try:
            sheets = {**self._data.close(), **self._long.close()}
            blocks = codebook(self._header, quality, NameRule.PLAIN)
            write_codebook(self._codebook, blocks, self._styles)
            # Without the tables' rows the package is small: the styles, the codebook.
            package = io.BytesIO()
            self._workbook.save(package)
            splice(package, sheets, self._out)
        finally:
            self._data.discard()
            self._long.discard()
