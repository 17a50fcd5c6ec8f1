"""xlsx outputs: the rejection report (report.xlsx) and the empty templates units fill in.

The report gives the unit back its own sheet, cell for cell at the same Excel rows and columns, with
the bad cells filled and commented, so the unit can fix it and drop it again. It is written with
xlsxwriter in constant-memory mode (rows strictly in order, one row in memory), its rows' cells by
:class:`_SheetRows` (several times faster than xlsxwriter's per-cell calls): loading the unit's
workbook with openpyxl and saving it costs several times more on a 100k-row file (SPEC.md,
Performance targets).

Formula injection: every text cell is written as an escaped text cell, so a unit's ``=1+1`` stays
the text ``=1+1`` and is never evaluated, and the text is not altered, so the resubmitted file
carries exactly what the unit wrote. :func:`neutralise_formula` is for CSV outputs, where there is no cell
type and the only defence is to change the text.
"""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Sequence
from datetime import date, datetime, time, timedelta
from math import isfinite
from pathlib import Path
from typing import Any

import xlsxwriter
from xlsxwriter.format import Format
from xlsxwriter.utility import xl_col_to_name
from xlsxwriter.worksheet import Worksheet

from pipeline.errors import Issue
from pipeline.model import BatchResult, Sheet

ISSUES_SHEET = "错误清单"
ISSUES_HEADER = ("行号", "列", "错误代码", "说明")
OPTIONS_SHEET = "下拉选项"
OPTIONS_TITLE = "本表是模板中下拉列表的选项，请勿修改；请在第一个工作表中填写数据。"
OPTIONS_HEADER_ROW = 1
DEFAULT_SHEET = "Sheet1"

ERROR_FILL = "#FF9999"
COUNTER_FILL = "#FFEB84"

#: Identifier columns kept as text ("@") so Excel does not turn 18-digit IDs or leading zeros into
#: numbers when the unit retypes them in the report.
REPORT_TEXT_COLUMNS = frozenset(
    {"证件号码", "个人账号", "转出单位账号", "个人存款账户号码", "手机号码", "固定电话号码", "邮政编码"}
)

TEMPLATE_ROWS = 500

DATE_FORMAT = "yyyy-mm-dd"
DATETIME_FORMAT = "yyyy-mm-dd hh:mm:ss"
TIME_FORMAT = "hh:mm:ss"
DURATION_FORMAT = "[h]:mm:ss"
TEXT_FORMAT = "@"

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "\n")
_SHEET_NAME_FORBIDDEN = re.compile(r"[\[\]:*?/\\\x00-\x1f]")
_SHEET_NAME_MAX = 31
_LIST_SOURCE_MAX = 255


def neutralise_formula(text: str) -> str:
    """Prefix ``'`` to text a spreadsheet would run as a formula (OWASP CSV injection).

    For CSV outputs only: a leading ``=``, ``+``, ``-``, ``@``, tab, CR or LF makes Excel/WPS
    evaluate the cell. This also quotes negative-looking text such as ``-5``; CSV has no cell types,
    so that is the price of safety. report.xlsx does not use this: it writes typed string cells.
    """
    if text.startswith(FORMULA_TRIGGERS):
        return "'" + text
    return text


#: A cell start that :func:`neutralise_formula` changes, in a column joined by NULs (cells never hold one).
_TRIGGER_AT_START = re.compile("\x00[" + re.escape("".join(FORMULA_TRIGGERS)) + "]")


def neutralise_column(cells: list[str]) -> list[str]:
    """:func:`neutralise_formula` of every cell; a column where no cell needs it is found so at once."""
    if not _TRIGGER_AT_START.search("\x00" + "\x00".join(cells)):
        return cells
    return [neutralise_formula(cell) for cell in cells]


def display_width(text: str) -> int:
    """Width of ``text`` in Excel character units: CJK and full-width characters count double."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


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
        return self.get(_temporal_format(value), self._fills.get(cell_format))


def _temporal_format(value: Any) -> str | None:
    """Number format for date/time values; ``None`` for everything else."""
    if isinstance(value, datetime):
        if value.hour or value.minute or value.second or value.microsecond:
            return DATETIME_FORMAT
        return DATE_FORMAT
    if isinstance(value, date):
        return DATE_FORMAT
    if isinstance(value, time):
        return TIME_FORMAT
    if isinstance(value, timedelta):
        return DURATION_FORMAT
    return None


#: Excel's limits, which xlsxwriter enforces: rows and columns of a sheet, UTF-16 units of a text.
_MAX_ROWS = 1_048_576
_MAX_COLUMNS = 16_384
_MAX_TEXT = 32_767
#: Text that needs escaping in a cell: XML's ``&<>``, control characters, non-characters, and
#: a literal ``_xHHHH_`` (Excel's own escape for control characters).
_TEXT_TO_ESCAPE = re.compile(r"[&<>\x00-\x08\x0b-\x1f\ufffe\uffff]|_x[0-9a-fA-F]{4}_")
_EXCEL_ESCAPE = re.compile(r"(_x[0-9a-fA-F]{4}_)")
_CONTROL_CHARACTER = re.compile(r"[\x00-\x08\x0b-\x1f]")


def _cut_to_cell_limit(text: str) -> str:
    """``text`` cut to the 32,767 UTF-16 units an Excel cell holds, never inside a character."""
    if len(text.encode("utf-16-le", "surrogatepass")) // 2 <= _MAX_TEXT:
        return text
    units = 0
    for index, char in enumerate(text):
        units += 2 if ord(char) > 0xFFFF else 1
        if units > _MAX_TEXT:
            return text[:index]
    return text


def _text_element(text: str) -> str:
    """The ``<t>`` element of an inline text cell, escaped as xlsxwriter escapes it.

    Control characters become ``_xHHHH_`` (a literal ``_xHHHH_`` keeps its meaning through an
    escaped underscore), ``&<>`` become entities, and leading or trailing whitespace is kept.
    """
    if len(text) > _MAX_TEXT // 2:
        text = _cut_to_cell_limit(text)
    if _TEXT_TO_ESCAPE.search(text):
        text = _EXCEL_ESCAPE.sub(r"_x005F\1", text)
        text = _CONTROL_CHARACTER.sub(lambda match: f"_x{ord(match.group()):04X}_", text)
        text = text.replace("\ufffe", "_xFFFE_").replace("\uffff", "_xFFFF_")
        text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    if text[:1].isspace() or text[-1:].isspace():
        return f'<t xml:space="preserve">{text}</t>'
    return f"<t>{text}</t>"


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
                rest = f' t="inlineStr"><is>{_text_element(value)}</is></c>'
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
            return f' t="inlineStr"><is>{_text_element(value.isoformat())}</is></c>', cell_format
        if _temporal_format(value) is not None:
            serial = self._ws._convert_date_time(value)
            return f"><v>{serial:.16G}</v></c>", self._date_format(value, cell_format)
        return f' t="inlineStr"><is>{_text_element(str(value))}</is></c>', cell_format


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


def _column_width(name: str, *, minimum: int = 8, maximum: int = 50) -> int:
    return max(minimum, min(maximum, display_width(name) + 4))


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
            max(_column_width(name), 20 if col in text_cols else 0),
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


def write_template_xlsx(
    header: list[str],
    path: Path,
    *,
    note: str,
    text_columns: set[str],
    dropdowns: dict[str, list[str]] | None = None,
    title: str | None = None,
) -> None:
    """Write an empty template: [title], note, header, then formatted empty rows to fill in.

    Text columns carry the "@" format so Excel keeps 18-digit IDs and leading zeros as typed;
    dropdown columns get a list validation. The header sits on row 2 or 3, within the first 5
    rows where the reader looks for it.
    """
    if not header:
        raise ValueError("template header is empty")
    dropdowns = dropdowns or {}
    last_col = len(header) - 1
    with xlsxwriter.Workbook(str(path)) as workbook:
        ws = workbook.add_worksheet(DEFAULT_SHEET)
        title_format = workbook.add_format(
            {"bold": True, "font_size": 16, "align": "center", "valign": "vcenter"}
        )
        note_format = workbook.add_format(
            {"text_wrap": True, "valign": "top", "font_color": "#C00000", "border": 1}
        )
        header_format = workbook.add_format(
            {
                "bold": True,
                "align": "center",
                "valign": "vcenter",
                "border": 1,
                "bg_color": "#DDDDDD",
            }
        )
        text_format = workbook.add_format({"num_format": TEXT_FORMAT})

        widths = []
        for name in header:
            width = _column_width(name, minimum=10)
            if name in text_columns:
                width = max(width, 22)
            if name in dropdowns:
                width = max(width, *(display_width(option) + 4 for option in dropdowns[name]))
            widths.append(width)
        for col, (name, width) in enumerate(zip(header, widths, strict=True)):
            ws.set_column(col, col, width, text_format if name in text_columns else None)

        row = 0
        if title:
            _merged(ws, row, last_col, title, title_format)
            ws.set_row(row, 30)
            row += 1
        _merged(ws, row, last_col, note, note_format)
        ws.set_row(row, _note_height(note, sum(widths)))
        row += 1
        header_row = row
        for col, name in enumerate(header):
            ws.write_string(header_row, col, name, header_format)

        first, last = header_row + 1, header_row + TEMPLATE_ROWS
        for data_row in range(first, last + 1):
            for col, name in enumerate(header):
                if name in text_columns:
                    ws.write_blank(data_row, col, None, text_format)
        _add_dropdowns(workbook, ws, header, dropdowns, first, last)

        ws.freeze_panes(header_row + 1, 0)
        ws.set_landscape()
        ws.set_paper(9)
        ws.fit_to_pages(1, 0)
        ws.repeat_rows(header_row)
        ws.set_margins(left=0.4, right=0.4, top=0.5, bottom=0.5)
        ws.activate()


def _merged(ws: Worksheet, row: int, last_col: int, text: str, cell_format: Format) -> None:
    if last_col == 0:
        ws.write_string(row, 0, text, cell_format)
    else:
        ws.merge_range(row, 0, row, last_col, text, cell_format)


def _note_height(note: str, total_width: int) -> float:
    """Row height (points) that shows the whole wrapped note."""
    usable = max(total_width - 2, 10)
    lines = sum(max(1, -(-display_width(line) // usable)) for line in note.split("\n"))
    return 18.0 * lines + 6


def _add_dropdowns(
    workbook: xlsxwriter.Workbook,
    ws: Worksheet,
    header: list[str],
    dropdowns: dict[str, list[str]],
    first: int,
    last: int,
) -> None:
    """List validations: inline when the list fits Excel's 255 characters, else a range.

    Long lists (or options holding commas) go to a visible, protected sheet 下拉选项 after the
    template sheet: a title row, the column's name, then its options. Nothing is hidden, so a
    unit who opens the workbook sees where the choices come from; the reader only reads the
    first sheet.
    """
    options_ws: Worksheet | None = None
    name_format = workbook.add_format({"bold": True, "border": 1, "bg_color": "#DDDDDD"})
    options_col = 0
    for col, name in enumerate(header):
        options = dropdowns.get(name)
        if not options:
            continue
        inline = ",".join(options)
        if len(inline) <= _LIST_SOURCE_MAX and not any("," in option for option in options):
            source: str | list[str] = list(options)
        else:
            if options_ws is None:
                options_ws = _options_sheet(workbook)
            options_ws.write_string(OPTIONS_HEADER_ROW, options_col, name, name_format)
            for index, option in enumerate(options):
                options_ws.write_string(OPTIONS_HEADER_ROW + 1 + index, options_col, option)
            options_ws.set_column(
                options_col, options_col, max(display_width(name), *(display_width(option) for option in options)) + 4
            )
            letter = xl_col_to_name(options_col)
            top, bottom = OPTIONS_HEADER_ROW + 2, OPTIONS_HEADER_ROW + 1 + len(options)
            source = f"='{OPTIONS_SHEET}'!${letter}${top}:${letter}${bottom}"
            options_col += 1
        ws.data_validation(
            first,
            col,
            last,
            col,
            {
                "validate": "list",
                "source": source,
                "input_title": name,
                "input_message": "请从下拉列表中选择",
                "error_title": "输入有误",
                "error_message": f"{name}只能从下拉列表中选择",
            },
        )


def _options_sheet(workbook: xlsxwriter.Workbook) -> Worksheet:
    """The visible 下拉选项 sheet: a title row saying what it is, protected against edits."""
    ws = workbook.add_worksheet(OPTIONS_SHEET)
    ws.write_string(0, 0, OPTIONS_TITLE, workbook.add_format({"bold": True, "font_color": "#C00000"}))
    ws.protect()
    ws.set_landscape()
    ws.set_paper(9)
    ws.fit_to_pages(1, 0)
    return ws
