"""The rejection report (report.xlsx): the unit's own sheet with its bad cells marked, then 错误清单.

The report gives the unit back its own sheet, cell for cell at the same Excel rows and columns, with
the bad cells filled and commented, so the unit can fix it and drop it again. It is written with
xlsxwriter in constant-memory mode (rows strictly in order, one row in memory), its rows' cells by
:class:`_SheetRows` (several times faster than xlsxwriter's per-cell calls): loading the unit's
workbook with openpyxl and saving it costs several times more on a 100k-row file (SPEC.md,
Performance targets).

Every text cell is written as an escaped text cell, so a unit's ``=1+1`` stays the text ``=1+1``
and is never evaluated, and the text is not altered, so the resubmitted file carries exactly what
the unit wrote (:mod:`pipeline.outputs.xlsx_text`).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Sequence
from datetime import date
from math import isfinite
from pathlib import Path
from typing import Any

import xlsxwriter
from xlsxwriter.format import Format
from xlsxwriter.utility import xl_col_to_name
from xlsxwriter.worksheet import Worksheet

from pipeline.errors import Issue
from pipeline.model import BatchResult, Sheet
from pipeline.outputs.xlsx_text import DEFAULT_SHEET, TEXT_FORMAT, column_width, display_width, temporal_format, text_element
from schemas import TEMPLATES

ISSUES_SHEET = "错误清单"
ISSUES_HEADER = ("行号", "列", "错误代码", "说明")

ERROR_FILL = "#FF9999"
COUNTER_FILL = "#FFEB84"

#: Columns kept as text ("@") so that what the unit retypes in the report stays as typed: every
#: template's text columns (``schemas.fields.TEXT_KINDS``) — 18-digit IDs and card numbers keep their
#: last digits, leading zeros stay, and a month typed 2026.10 is not the number 2026.1.
REPORT_TEXT_COLUMNS = frozenset(column for template in TEMPLATES.values() for column in template.TEXT_COLUMNS)

_SHEET_NAME_FORBIDDEN = re.compile(r"[\[\]:*?/\\\x00-\x1f]")
_SHEET_NAME_MAX = 31


def sheet_title(name: str | None, *, reserved: Collection[str] = (ISSUES_SHEET,)) -> str:
    """``name`` made valid as an Excel sheet name, or ``Sheet1`` when nothing usable is left."""
    cleaned = _SHEET_NAME_FORBIDDEN.sub("_", name or "").strip().strip("'")
    while len(cleaned.encode("utf-16-le")) // 2 > _SHEET_NAME_MAX:
        cleaned = cleaned[:-1]
    cleaned = cleaned.strip().strip("'")
    taken = {other.casefold() for other in reserved} | {"history"}
    if not cleaned or cleaned.casefold() in taken:
        return DEFAULT_SHEET
    return cleaned


class _Formats:
    """Workbook formats made once per (number format, fill) pair and reused for every cell."""

    def __init__(self, workbook: xlsxwriter.Workbook) -> None:
        self._workbook = workbook
        self._cache: dict[tuple[str | None, str | None], Format | None] = {(None, None): None}
        self._fills: dict[Format | None, str | None] = {}

    def get(self, num_format: str | None, fill: str | None) -> Format | None:
        key = (num_format, fill)
        if key not in self._cache:
            properties: dict[str, Any] = {}
            if num_format:
                properties["num_format"] = num_format
            if fill:
                properties.update(bg_color=fill, pattern=1, border=1, border_color="#C00000")
            made = self._workbook.add_format(properties)
            self._cache[key] = made
            self._fills[made] = fill
        return self._cache[key]

    def for_temporal(self, value: Any, cell_format: Format | None) -> Format | None:
        """The format of a date or time cell meant to have ``cell_format``: a date format, same fill."""
        return self.get(temporal_format(value), self._fills.get(cell_format))


#: Excel's limits, which xlsxwriter enforces: rows and columns of a sheet.
_MAX_ROWS = 1_048_576
_MAX_COLUMNS = 16_384

#: The rest of a cell for numbers Excel has not got: error cells, as xlsxwriter's ``nan_inf_to_errors``.
_ERROR_CELLS = {
    "nan": ' t="e"><f>#NUM!</f><v>#NUM!</v></c>',
    "inf": ' t="e"><f>1/0</f><v>#DIV/0!</v></c>',
    "-inf": ' t="e"><f>-1/0</f><v>#DIV/0!</v></c>',
}


class _SheetRows:
    """Writes the cells of a constant-memory worksheet a whole row at a time, as SpreadsheetML.

    xlsxwriter spends about 5 µs on every cell (argument checks, a tuple per cell, and when the
    row is flushed a few regular expressions and a file write per cell): 4 of the 6 s a 100k-row
    report.xlsx took. This class writes the same XML with one string per cell and one write
    per row (test_render_xlsx compares the two for every kind of value).

    It relies on xlsxwriter's constant-memory mode: the worksheet's ``fh`` is the file the row
    XML goes to until the workbook is closed, ``_check_dimensions`` records the used range, and a
    format's ``_get_xf_index`` numbers it as xlsxwriter does when it writes a cell itself. So a
    worksheet takes all of its cells from one ``_SheetRows``, in ascending row order;
    comments, column widths and panes still go through the worksheet.

    One deliberate difference: xlsxwriter copies text that starts with ``<r>`` and ends with
    ``</r>`` into the file unescaped, as rich text, which would let a unit's cell smuggle markup
    (a formula cell) into the report. Here every text is escaped.
    """

    def __init__(
        self,
        ws: Worksheet,
        date_format: Callable[[Any, Format | None], Format | None] | None = None,
    ) -> None:
        """Rows go to ``ws``; ``date_format(value, cell_format)`` gives a date or time cell its format.

        Excel keeps dates as numbers and shows them as dates through their number format.
        """
        if not ws.constant_memory or ws.fh is None:
            raise ValueError("_SheetRows writes worksheets of a workbook in constant_memory mode only")
        self._ws = ws
        self._date_format = date_format or (lambda value, cell_format: cell_format)
        self._styles: dict[Format | None, str] = {None: ""}
        self._columns: list[str] = []
        self._last_row = -1

    def write(
        self,
        row: int,
        values: Sequence[Any],
        formats: Sequence[Format | None] = (),
        *,
        empty_cells: bool = False,
    ) -> None:
        """Write ``values[col]`` with ``formats[col]`` into the cells of ``row`` (0-based).

        Each value keeps its type: text, number, boolean, date (a number with ``date_format``).
        ``None`` is no cell; with ``empty_cells``, a ``None`` that has a format is an empty cell
        of that format (a bad cell the unit left empty is still filled red).
        """
        if row <= self._last_row:
            raise ValueError(f"row {row} comes after row {self._last_row}: rows are written in order, once")
        self._last_row = row
        width = min(len(values), _MAX_COLUMNS)
        if row >= _MAX_ROWS or not width:
            return
        columns = self._columns
        if width > len(columns):
            columns.extend(xl_col_to_name(col) for col in range(len(columns), width))
        styles, count = self._styles, len(formats)
        number = row + 1
        cells = []
        first = last = -1
        for col in range(width):
            value = values[col]
            cell_format = formats[col] if col < count else None
            kind = type(value)
            # rest: the cell's XML after its reference and style
            if kind is str:
                rest = f' t="inlineStr"><is>{text_element(value)}</is></c>'
            elif kind is int or (kind is float and isfinite(value)):
                rest = f"><v>{value:.16G}</v></c>"
            elif value is None:
                if cell_format is None or not empty_cells:
                    continue
                rest = "/>"
            else:
                rest, cell_format = self._other(value, cell_format)
            style = styles.get(cell_format)
            if style is None:
                style = styles[cell_format] = f' s="{cell_format._get_xf_index()}"'
            cells.append(f'<c r="{columns[col]}{number}"{style}{rest}')
            if first < 0:
                first = col
            last = col
        if cells:
            self._ws._check_dimensions(row, first)
            self._ws._check_dimensions(row, last)
            self._ws.fh.write(f'<row r="{number}">{"".join(cells)}</row>')

    def _other(self, value: Any, cell_format: Format | None) -> tuple[str, Format | None]:
        """The XML after the cell's reference and style for anything but text, finite numbers, None.

        Excel has no dates before 1900, so such values are written as ISO text.
        """
        if isinstance(value, bool):
            return f' t="b"><v>{int(value)}</v></c>', cell_format
        if isinstance(value, int):
            return f"><v>{int(value):.16G}</v></c>", cell_format
        if isinstance(value, float):
            number = float(value)
            if not isfinite(number):
                return _ERROR_CELLS[str(number)], cell_format
            return f"><v>{number:.16G}</v></c>", cell_format
        if isinstance(value, date) and value.year < 1900:
            return f' t="inlineStr"><is>{text_element(value.isoformat())}</is></c>', cell_format
        if temporal_format(value) is not None:
            serial = self._ws._convert_date_time(value)
            return f"><v>{serial:.16G}</v></c>", self._date_format(value, cell_format)
        return f' t="inlineStr"><is>{text_element(str(value))}</is></c>', cell_format


def _header_columns(sheet: Sheet) -> dict[str, int]:
    """0-based column of each header name, as found in the raw header row (first occurrence)."""
    columns: dict[str, int] = {}
    raw_header = sheet.raw[sheet.header_row - 1] if 0 < sheet.header_row <= len(sheet.raw) else []
    for index, cell in enumerate(raw_header):
        if cell is not None:
            columns.setdefault(str(cell).strip(), index)
    for index, name in enumerate(sheet.header):
        columns.setdefault(name, index)
    return columns


def _cell_issues(issues: Iterable[Issue], sheet: Sheet) -> dict[tuple[int, int], list[Issue]]:
    """Issues by 0-based (row, column) of the cell that carries them.

    An issue without a known column sits on the row's 序号 cell (the first header column). Issues
    on or above the header row are left to the 错误清单 sheet: the header row stays untouched.
    """
    columns = _header_columns(sheet)
    first_col = columns.get(sheet.header[0], 0) if sheet.header else 0
    cells: dict[tuple[int, int], list[Issue]] = defaultdict(list)
    for issue in issues:
        if issue.row is None or issue.row <= sheet.header_row:
            continue
        col = columns.get(issue.column, first_col) if issue.column is not None else first_col
        placed = cells[(issue.row - 1, col)]
        if issue not in placed:
            placed.append(issue)
    return cells


def _comment_text(issues: Sequence[Issue]) -> str:
    return "\n".join(f"[{issue.code}] {issue.message}" for issue in issues)


def _comment_options(text: str) -> dict[str, int]:
    """A comment box big enough to show the whole text without the unit resizing it."""
    per_line = 40
    lines = sum(max(1, -(-display_width(line) // per_line)) for line in text.split("\n"))
    return {"width": 300, "height": 16 * lines + 24}


def write_report_xlsx(
    result: BatchResult,
    sheet: Sheet | None,
    path: Path,
    *,
    text_columns: Collection[str] = REPORT_TEXT_COLUMNS,
) -> None:
    """Write the rejection report: the unit's sheet annotated, then the 错误清单 sheet.

    ``sheet`` may be ``None`` when the file could not be read at all; the report then holds only
    the 错误清单 sheet.
    """
    issues = result.all_issues
    with xlsxwriter.Workbook(
        str(path), {"constant_memory": True, "nan_inf_to_errors": True}
    ) as workbook:
        formats = _Formats(workbook)
        if sheet is not None:
            _write_unit_sheet(workbook, formats, sheet, issues, text_columns)
        _write_issue_list(workbook, result)


def _write_unit_sheet(
    workbook: xlsxwriter.Workbook,
    formats: _Formats,
    sheet: Sheet,
    issues: Iterable[Issue],
    text_columns: Collection[str],
) -> None:
    ws = workbook.add_worksheet(sheet_title(sheet.name))
    header_index = sheet.header_row - 1
    columns = _header_columns(sheet)

    text_cols = {columns[name] for name in text_columns if name in columns}
    text_format = formats.get(TEXT_FORMAT, None)
    for name in sheet.header:
        col = columns[name]
        ws.set_column(
            col,
            col,
            max(column_width(name), 20 if col in text_cols else 0),
            text_format if col in text_cols else None,
        )
    if 0 <= header_index:
        ws.freeze_panes(header_index + 1, 0)

    cells = _cell_issues(issues, sheet)
    marked_rows: dict[int, dict[int, list[Issue]]] = defaultdict(dict)
    for (row, col), cell_issues in cells.items():
        marked_rows[row][col] = cell_issues

    # Every cell of a text column keeps the column's "@" format, as the column itself has it.
    width = max([len(sheet.header), *(len(raw_row) for raw_row in sheet.raw)] or [0])
    column_formats = [text_format if col in text_cols else None for col in range(width)]

    rows = _SheetRows(ws, formats.for_temporal)
    raw = sheet.raw
    last_row = max([len(raw) - 1, *marked_rows])
    for row in range(last_row + 1):
        values = raw[row] if row < len(raw) else []
        marks = marked_rows.get(row)
        if marks is None:
            rows.write(row, values, column_formats)
            continue
        row_width = max(len(values), max(marks) + 1)
        row_values = [*values, *[None] * (row_width - len(values))]
        row_formats = [*column_formats, *[None] * (row_width - width)]
        for col, cell_issues in marks.items():
            fill = COUNTER_FILL if all(issue.code.is_counter for issue in cell_issues) else ERROR_FILL
            row_formats[col] = formats.get(TEXT_FORMAT if col in text_cols else None, fill)
            text = _comment_text(cell_issues)
            ws.write_comment(row, col, text, _comment_options(text))
        rows.write(row, row_values, row_formats, empty_cells=True)


def _write_issue_list(workbook: xlsxwriter.Workbook, result: BatchResult) -> None:
    """The 错误清单 sheet: file-level issues first, then every row issue in row order."""
    ws = workbook.add_worksheet(ISSUES_SHEET)
    bold = workbook.add_format({"bold": True, "bg_color": "#DDDDDD", "border": 1})
    wrap = workbook.add_format({"text_wrap": True, "valign": "top"})
    top = workbook.add_format({"valign": "top"})
    counter = workbook.add_format({"text_wrap": True, "valign": "top", "bg_color": COUNTER_FILL})
    for col, (name, width) in enumerate(zip(ISSUES_HEADER, (8, 18, 26, 70), strict=True)):
        ws.set_column(col, col, width, wrap if col == 3 else top)
    ws.freeze_panes(1, 0)

    rows = _SheetRows(ws)
    rows.write(0, ISSUES_HEADER, [bold] * len(ISSUES_HEADER))
    row_issues = sorted(
        (issue for row in result.rows for issue in row.issues),
        key=lambda issue: issue.row if issue.row is not None else 0,
    )
    listed = [*result.file_issues, *row_issues]
    issue_formats = (top, top, top, wrap)
    counter_formats = (top, top, top, counter)
    for index, issue in enumerate(listed, start=1):
        rows.write(
            index,
            (issue.row, issue.column or "", str(issue.code), issue.message),
            counter_formats if issue.code.is_counter else issue_formats,
        )
    ws.autofilter(0, 0, max(len(listed), 1), len(ISSUES_HEADER) - 1)
