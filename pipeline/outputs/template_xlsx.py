"""The templates units fill in (``gjj template``): note, header, formatted rows, dropdowns; the
汇缴清册 of a unit comes with its rows filled in (``gjj template 汇缴 --unit``)."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path

import xlsxwriter
from xlsxwriter.format import Format
from xlsxwriter.utility import xl_col_to_name
from xlsxwriter.worksheet import Worksheet

from pipeline.config import CentreConfig
from pipeline.money import money_text
from pipeline.outputs.xlsx_text import DEFAULT_SHEET, TEXT_FORMAT, column_width, display_width
from pipeline.policy import NAMING, ONLINE_REVIEW, ChecklistLine, checklist, review_text
from schemas.template import Template

OPTIONS_SHEET = "下拉选项"
DOCUMENTS_SHEET = "材料清单"
DOCUMENTS_HEADER = ("级别", "适用于", "材料", "压缩包中的文件名")
OPTIONS_TITLE = "本表是模板中下拉列表的选项，请勿修改；请在第一个工作表中填写数据。"
OPTIONS_HEADER_ROW = 1

TEMPLATE_ROWS = 500

#: Characters an inline list validation may have (Excel's limit); longer lists go to the 下拉选项 sheet.
_LIST_SOURCE_MAX = 255


#: A filled-in cell: text, a 序号, or an amount.
CellValue = str | int | Decimal


def write_blank_template(template: Template, config: CentreConfig, path: Path, rows: Sequence[Sequence[CellValue]] = ()) -> None:
    """The template of a kind as ``gjj template`` writes it: its note, header, text columns and dropdowns;
    ``rows`` (in header order) filled in below the header, for a unit to check and send back."""
    dropdowns = {field.name: list(field.choices) for field in template.fields(config) if field.choices}
    policy = config.policy_for(template.KIND)
    documents = None
    if policy.takes_documents or policy.waits or template.KIND in ONLINE_REVIEW:
        documents = (f"本中心对「{template.KIND}」的材料要求。{review_text(template.KIND, policy)}材料与本表一起压缩为一个zip上传，全部直接放在压缩包最外层；{NAMING}。", checklist(template.KIND, policy))
    write_template_xlsx(
        list(template.HEADER),
        path,
        note=template.note(config),
        text_columns=set(template.TEXT_COLUMNS),
        dropdowns=dropdowns,
        title=f"{template.KIND}清册",
        rows=rows,
        documents=documents,
    )


def _write_value(ws: Worksheet, row: int, col: int, value: CellValue, cell_format: Format | None) -> None:
    """Text as a text cell (an ID or account stays as typed); a 序号 or whole amount as a number.

    An amount with 角/分 (rounding to 分) is written as its text "291.55": a number cell would go
    through a float, and the reader takes either form alike.
    """
    if isinstance(value, Decimal):
        if value == value.to_integral_value():
            ws.write_number(row, col, int(value), cell_format)
        else:
            ws.write_string(row, col, money_text(value), cell_format)
    elif isinstance(value, int):
        ws.write_number(row, col, value, cell_format)
    else:
        ws.write_string(row, col, value, cell_format)


def write_template_xlsx(
    header: list[str],
    path: Path,
    *,
    note: str,
    text_columns: set[str],
    dropdowns: dict[str, list[str]] | None = None,
    title: str | None = None,
    rows: Sequence[Sequence[CellValue]] = (),
    documents: tuple[str, list[ChecklistLine]] | None = None,
) -> None:
    """Write a template: [title], note, header, ``rows`` if any, then formatted empty rows to fill in;
    with ``documents`` (a note and the lines of the centre's checklist), a second sheet 材料清单.

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
            width = column_width(name, minimum=10)
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

        first, last = header_row + 1, header_row + len(rows) + TEMPLATE_ROWS
        for data_row in range(first, last + 1):
            values = rows[data_row - first] if data_row - first < len(rows) else None
            for col, name in enumerate(header):
                cell_format = text_format if name in text_columns else None
                if values is not None:
                    _write_value(ws, data_row, col, values[col], cell_format)
                elif cell_format is not None:
                    ws.write_blank(data_row, col, None, cell_format)
        if documents is not None:
            _documents_sheet(workbook, *documents)
        _add_dropdowns(workbook, ws, header, dropdowns, first, last)

        ws.freeze_panes(header_row + 1, 0)
        ws.set_landscape()
        ws.set_paper(9)
        ws.fit_to_pages(1, 0)
        ws.repeat_rows(header_row)
        ws.set_margins(left=0.4, right=0.4, top=0.5, bottom=0.5)
        ws.activate()


def _documents_sheet(workbook: xlsxwriter.Workbook, note: str, lines: list[ChecklistLine]) -> None:
    """The 材料清单 sheet: what the zip must hold beside the template, each with its file name."""
    ws = workbook.add_worksheet(DOCUMENTS_SHEET)
    note_format = workbook.add_format({"text_wrap": True, "valign": "top", "font_color": "#C00000", "border": 1})
    header_format = workbook.add_format({"bold": True, "border": 1, "bg_color": "#DDDDDD"})
    widths = [display_width(name) + 4 for name in DOCUMENTS_HEADER]
    for line in lines:
        widths = [max(width, display_width(value) + 4) for width, value in zip(widths, line, strict=True)]
    for col, width in enumerate(widths):
        ws.set_column(col, col, width)
    _merged(ws, 0, len(DOCUMENTS_HEADER) - 1, note, note_format)
    ws.set_row(0, _note_height(note, sum(widths)))
    for col, name in enumerate(DOCUMENTS_HEADER):
        ws.write_string(1, col, name, header_format)
    for row, line in enumerate(lines or [("无", "", "不须随附材料", "")], start=2):
        for col, value in enumerate(line):
            ws.write_string(row, col, value)
    ws.protect()


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
