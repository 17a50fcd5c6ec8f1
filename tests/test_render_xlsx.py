from __future__ import annotations

import math
import zipfile
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import openpyxl
import pytest
import xlsxwriter
from openpyxl.utils import column_index_from_string, get_column_letter
from python_calamine import CalamineWorkbook
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.config import load_config
from pipeline.errors import Code, Issue
from pipeline.model import BatchResult, BatchStatus, RowResult, RowStatus, Sheet
from pipeline.outputs.report_xlsx import ISSUES_HEADER, ISSUES_SHEET, _SheetRows, sheet_title, write_report_xlsx
from pipeline.outputs.template_xlsx import OPTIONS_SHEET, OPTIONS_TITLE, write_template_xlsx
from pipeline.outputs.xlsx_text import DEFAULT_SHEET, neutralise_formula
from pipeline.read.header import detect
from pipeline.read.workbook import read_raw
from schemas import TEMPLATES
from schemas.fields import FieldKind

HEADER = ["序号", "个人账号", "姓名", "证件号码", "补缴原因", "补缴开始年月", "补缴结束年月", "补缴金额"]
TITLE = "某某科技有限公司补缴清册"

RAW: list[list[object]] = [
    [TITLE, None, None, None, None, None, "制表时间", datetime(2024, 6, 28, 9, 30)],
    list(HEADER),
    [1, "000000101", "张三", "110101199003074578", "漏缴", "2024-01", "2024-03", 3000],
    [2, "000000102", "李四", "11010119900307457X", "=1+1", date(2024, 1, 1), "2024-02", 1000.5],
    [3, "000000103", "王五", "110101199003072718", "补差", "2023-11", "2024-02", 500],
]

FILE_ISSUE = Issue(Code.TOTAL_MISMATCH, "合计行补缴金额与明细之和不符")
ROW3_ISSUE = Issue(Code.DUPLICATE_ROW, "与第5行重复", row=3)
ID_CHECKSUM = Issue(Code.ID_CHECKSUM, "证件号码校验位错误，应为4", row=4, column="证件号码")
ID_MISMATCH = Issue(Code.ID_MISMATCH, "证件号码与个人账号不符", row=4, column="证件号码")
REASON = Issue(Code.ENUM_VALUE, "补缴原因只能是：漏缴、少缴、补差", row=4, column="补缴原因")
CROSS_YEAR = Issue(Code.COUNTER_CROSS_YEAR, "跨年补缴，须到柜台办理", row=5, column="补缴开始年月")

RED = "FFFF9999"
YELLOW = "FFFFEB84"


def _sheet() -> Sheet:
    rows = [["" if value is None else str(value) for value in raw] for raw in RAW[2:]]
    return Sheet(
        name="补缴", header_row=2, header=list(HEADER), columns=[list(column) for column in zip(*rows)], excel_rows=[3, 4, 5], raw=RAW
    )


def _result() -> BatchResult:
    def row(excel_row: int, status: RowStatus, issues: list[Issue]) -> RowResult:
        values = dict(zip(HEADER, map(str, RAW[excel_row - 1]), strict=True))
        return RowResult(excel_row, str(excel_row - 2), values, status, issues)

    return BatchResult(
        batch_id="b1",
        unit_account="0000123",
        unit_name="某某科技有限公司",
        kind="backpay",
        source_name="补缴.xlsx",
        sha256="0" * 64,
        business_date=date(2024, 6, 28),
        status=BatchStatus.REJECTED,
        file_issues=[FILE_ISSUE],
        rows=[
            row(3, RowStatus.REJECTED, [ROW3_ISSUE]),
            row(4, RowStatus.REJECTED, [ID_CHECKSUM, ID_MISMATCH, REASON]),
            row(5, RowStatus.COUNTER, [CROSS_YEAR]),
        ],
    )


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("report") / "report.xlsx"
    write_report_xlsx(_result(), _sheet(), path)
    return path


@pytest.fixture(scope="module")
def report_book(report: Path) -> openpyxl.Workbook:
    return openpyxl.load_workbook(report)


def test_sheets_are_the_units_sheet_then_the_issue_list(report_book: openpyxl.Workbook) -> None:
    assert report_book.sheetnames == ["补缴", ISSUES_SHEET]


@pytest.mark.parametrize(
    ("ref", "fill", "issues"),
    [
        ("D4", RED, [ID_CHECKSUM, ID_MISMATCH]),
        ("E4", RED, [REASON]),
        ("A3", RED, [ROW3_ISSUE]),
        ("F5", YELLOW, [CROSS_YEAR]),
    ],
)
def test_bad_cell_is_filled_and_commented(
    report_book: openpyxl.Workbook, ref: str, fill: str, issues: list[Issue]
) -> None:
    cell = report_book["补缴"][ref]
    assert cell.fill.fill_type == "solid"
    assert cell.fill.fgColor.rgb == fill
    assert cell.comment is not None
    lines = cell.comment.text.split("\n")
    assert lines == [f"[{issue.code}] {issue.message}" for issue in issues]


@pytest.mark.parametrize("ref", ["B3", "C4", "H4", "D5", "A4"])
def test_good_cell_is_plain(report_book: openpyxl.Workbook, ref: str) -> None:
    cell = report_book["补缴"][ref]
    assert cell.fill.fill_type is None
    assert cell.comment is None


def test_header_and_title_rows_are_untouched(report_book: openpyxl.Workbook) -> None:
    ws = report_book["补缴"]
    title_row = [ws["A1"].value, ws["G1"].value, ws["H1"].value]
    assert title_row == [TITLE, "制表时间", datetime(2024, 6, 28, 9, 30)]
    assert ws["H1"].number_format == "yyyy-mm-dd hh:mm:ss"
    assert [cell.value for cell in ws[2]] == HEADER
    assert all(cell.comment is None and cell.fill.fill_type is None for cell in ws[2])
    assert ws.freeze_panes == "A3"


def test_values_keep_their_types(report_book: openpyxl.Workbook) -> None:
    ws = report_book["补缴"]
    formula_text = ws["E4"]
    assert formula_text.value == "=1+1"
    assert formula_text.data_type == "s"
    assert ws["D3"].value == "110101199003074578"
    assert ws["D3"].number_format == "@"
    assert ws["H3"].value == 3000
    assert ws["F4"].value == datetime(2024, 1, 1)
    assert ws["F4"].number_format == "yyyy-mm-dd"


def test_report_rereads_as_the_raw_sheet(report: Path) -> None:
    rows = CalamineWorkbook.from_path(str(report)).get_sheet_by_index(0).to_python()
    expected = [["" if value is None else value for value in raw] for raw in RAW]
    assert rows == expected


def test_issue_list_has_every_issue(report_book: openpyxl.Workbook) -> None:
    ws = report_book[ISSUES_SHEET]
    rows = list(ws.iter_rows(values_only=True))
    assert rows[0] == ISSUES_HEADER
    assert ws.freeze_panes == "A2"
    listed = [(row, column or None, code, message) for row, column, code, message in rows[1:]]
    expected = [
        (issue.row, issue.column, str(issue.code), issue.message)
        for issue in (FILE_ISSUE, ROW3_ISSUE, ID_CHECKSUM, ID_MISMATCH, REASON, CROSS_YEAR)
    ]
    assert listed == expected


def test_report_without_a_sheet_lists_file_issues(tmp_path: Path) -> None:
    result = _result()
    result.rows = []
    path = tmp_path / "report.xlsx"
    write_report_xlsx(result, None, path)
    book = openpyxl.load_workbook(path)
    assert book.sheetnames == [ISSUES_SHEET]
    assert book[ISSUES_SHEET]["C2"].value == str(Code.TOTAL_MISMATCH)


def test_month_cells_of_the_report_are_text_filled_or_empty(tmp_path: Path) -> None:
    """A unit retyping a month in report.xlsx types into a text cell: 2024.10 stays 2024.10, never the number 2024.1.

    Text, a number a General cell made (2024.1, MONTH_FORMAT), an empty bad cell (CELL_EMPTY) and an
    empty good cell (no cell at all: the column's format) all have "@"; a date cell keeps its date format.
    """
    raw: list[list[object]] = [
        list(HEADER),
        [1, "000000101", "张三", "110101199003074578", "漏缴", "2024-03", 2024.1, 3000],
        [2, "000000102", "李四", "11010119900307457X", "漏缴", None, "2024-05", 1000],
        [3, "000000103", "王五", "110101199003072718", "补差", datetime(2024, 1, 1), None, 500],
    ]
    rows = [["" if value is None else str(value) for value in row] for row in raw[1:]]
    sheet = Sheet(name="补缴", header_row=1, header=list(HEADER), columns=[list(column) for column in zip(*rows)], excel_rows=[2, 3, 4], raw=raw)
    result = _result()
    result.file_issues = []
    result.rows = [
        RowResult(2, "1", {}, RowStatus.REJECTED, [Issue(Code.MONTH_FORMAT, "2024.1 可能是 2024.10", row=2, column="补缴结束年月")]),
        RowResult(3, "2", {}, RowStatus.REJECTED, [Issue(Code.CELL_EMPTY, "不能为空", row=3, column="补缴开始年月")]),
        RowResult(4, "3", {}, RowStatus.NOT_APPLIED, []),
    ]
    path = tmp_path / "report.xlsx"
    write_report_xlsx(result, sheet, path)

    ws = openpyxl.load_workbook(path)["补缴"]
    assert (ws["F2"].value, ws["G2"].value, ws["F3"].value, ws["G4"].value) == ("2024-03", 2024.1, None, None)
    assert {ref: ws[ref].number_format for ref in ("F2", "G2", "G3", "F3")} == dict.fromkeys(("F2", "G2", "G3", "F3"), "@")
    assert ws["G2"].fill.fgColor.rgb == RED and ws["F3"].fill.fgColor.rgb == RED
    assert "G4" not in {cell.coordinate for row in ws.iter_rows() for cell in row if cell.has_style}  # no cell: the column's "@"
    assert column_format(ws, "F") == column_format(ws, "G") == "@" and column_format(ws, "H") == "General"
    assert ws["F4"].number_format == "yyyy-mm-dd"


def column_format(ws: Any, letter: str) -> str:
    """The number format a column gives its cells without one of their own (a <col> may span several columns)."""
    index = column_index_from_string(letter)
    spans = [dim for dim in ws.column_dimensions.values() if dim.min is not None and dim.min <= index <= dim.max]
    return spans[0].number_format if spans else "General"


def test_issue_below_the_last_row_still_gets_a_cell(tmp_path: Path) -> None:
    result = _result()
    late = Issue(Code.CELL_EMPTY, "姓名不能为空", row=7, column="姓名")
    result.rows[2].issues.append(late)
    path = tmp_path / "report.xlsx"
    write_report_xlsx(result, _sheet(), path)
    cell = openpyxl.load_workbook(path)["补缴"]["C7"]
    assert cell.value is None
    assert cell.fill.fgColor.rgb == RED
    assert "[CELL_EMPTY]" in cell.comment.text


#: Every kind of value a unit's sheet can hold, with the edge cases of xlsxwriter's escaping.
CELL_VALUES: list[Any] = [
    "张三",
    "",
    " 前后有空格 ",
    "\u3000全角空格",
    "换行\n",
    "a\x01b\x1fc\rd",
    "_x0041_ 不是转义",
    "&<>\"'",
    "=1+1",
    "\ufffe\uffff",
    "长" * 40_000,
    "😀" * 20_000,
    3000,
    10**20,
    1000.5,
    0.1 + 0.2,
    -0.0,
    1e-7,
    True,
    False,
    math.nan,
    math.inf,
    -math.inf,
    datetime(2024, 6, 28, 9, 30),
    date(2024, 1, 1),
    time(9, 30, 15),
    timedelta(hours=30),
    date(1850, 1, 1),
    None,
]


def _sheet_xml(path: Path, fill: Callable[[xlsxwriter.Workbook, Any], None]) -> bytes:
    with xlsxwriter.Workbook(str(path), {"constant_memory": True, "nan_inf_to_errors": True}) as workbook:
        fill(workbook, workbook.add_worksheet())
    with zipfile.ZipFile(path) as archive:
        return archive.read("xl/worksheets/sheet1.xml")


def test_sheet_rows_write_the_xml_xlsxwriter_writes(tmp_path: Path) -> None:
    """Each value alone in a row, then all in one row; plain and with a format; date cells as dates."""

    def by_xlsxwriter(workbook: xlsxwriter.Workbook, ws: Any) -> None:
        bold = workbook.add_format({"bold": True})
        dates = workbook.add_format({"num_format": "yyyy-mm-dd"})

        def write(row: int, col: int, value: Any, cell_format: Any) -> None:
            if isinstance(value, str):
                ws.write_string(row, col, value, cell_format)
            elif isinstance(value, bool):
                ws.write_boolean(row, col, value, cell_format)
            elif isinstance(value, int | float):
                ws.write_number(row, col, value, cell_format)
            elif isinstance(value, date) and value.year < 1900:
                ws.write_string(row, col, value.isoformat(), cell_format)
            elif value is not None:
                ws.write_datetime(row, col, value, dates)
            elif cell_format is not None:
                ws.write_blank(row, col, None, cell_format)

        for row, value in enumerate(CELL_VALUES):
            write(row, 0, value, None)
            write(row, 1, value, bold)
        for col, value in enumerate(CELL_VALUES):
            write(len(CELL_VALUES) + 2, col + 2, value, bold if col % 2 else None)

    def by_sheet_rows(workbook: xlsxwriter.Workbook, ws: Any) -> None:
        bold = workbook.add_format({"bold": True})
        dates = workbook.add_format({"num_format": "yyyy-mm-dd"})
        rows = _SheetRows(ws, lambda value, cell_format: dates)
        for row, value in enumerate(CELL_VALUES):
            rows.write(row, [value, value], [None, bold], empty_cells=True)
        formats = [None, None, *(bold if col % 2 else None for col in range(len(CELL_VALUES)))]
        rows.write(len(CELL_VALUES) + 2, [None, None, *CELL_VALUES], formats, empty_cells=True)

    expected = _sheet_xml(tmp_path / "xlsxwriter.xlsx", by_xlsxwriter)
    assert _sheet_xml(tmp_path / "rows.xlsx", by_sheet_rows) == expected


def test_sheet_rows_never_pass_markup_through(tmp_path: Path) -> None:
    """xlsxwriter would copy text that looks like rich text into the file as XML: a formula cell."""
    smuggled = '<r><t>a</t></r></is></c><c r="B1"><f>HYPERLINK("http://x","点击")</f></c><c r="C1" t="inlineStr"><is><r><t>b</t></r>'
    path = tmp_path / "rows.xlsx"
    _sheet_xml(path, lambda workbook, ws: _SheetRows(ws).write(0, [smuggled]))
    ws = openpyxl.load_workbook(path).active
    assert [[cell.value for cell in row] for row in ws.iter_rows()] == [[smuggled]]


def test_sheet_rows_come_in_order(tmp_path: Path) -> None:
    def write_twice(workbook: xlsxwriter.Workbook, ws: Any) -> None:
        rows = _SheetRows(ws)
        rows.write(3, ["a"])
        with pytest.raises(ValueError, match="in order"):
            rows.write(3, ["b"])

    _sheet_xml(tmp_path / "rows.xlsx", write_twice)


def test_sheet_rows_need_constant_memory(tmp_path: Path) -> None:
    with xlsxwriter.Workbook(str(tmp_path / "book.xlsx")) as workbook:
        with pytest.raises(ValueError, match="constant_memory"):
            _SheetRows(workbook.add_worksheet())


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("补缴", "补缴"),
        ("a/b:c*d?[e]\\f", "a_b_c_d__e__f"),
        ("'quoted'", "quoted"),
        ("", "Sheet1"),
        ("History", "Sheet1"),
        (ISSUES_SHEET, "Sheet1"),
        ("长" * 40, "长" * 31),
    ],
)
def test_sheet_title(name: str, expected: str) -> None:
    assert sheet_title(name) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("=1+1", "'=1+1"),
        ("+86", "'+86"),
        ("-5", "'-5"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("\nx", "'\nx"),
        ("张三", "张三"),
        ("1=1", "1=1"),
        ("", ""),
    ],
)
def test_neutralise_formula(text: str, expected: str) -> None:
    assert neutralise_formula(text) == expected


NOTE = "填写说明：表头顺序不得改动；每个单元格都必须填写，无内容填0；证件号码为18位。"


@pytest.mark.parametrize(
    ("title", "reasons"),
    [
        ("补缴清册", ["漏缴", "少缴", "补差"]),
        (None, ["漏缴", "少缴", "补差"]),
        ("补缴清册", [f"原因{i:03d}甲乙丙丁戊己庚辛" for i in range(30)]),
    ],
)
def test_template(tmp_path: Path, title: str | None, reasons: list[str]) -> None:
    path = tmp_path / "template.xlsx"
    write_template_xlsx(
        HEADER,
        path,
        note=NOTE,
        text_columns={"个人账号", "证件号码"},
        dropdowns={"补缴原因": reasons},
        title=title,
    )
    book = openpyxl.load_workbook(path)
    ws = book.worksheets[0]
    header_row = 3 if title else 2
    assert [cell.value for cell in ws[header_row]] == HEADER
    assert all(cell.font.b for cell in ws[header_row])
    assert ws.cell(header_row - 1, 1).value == NOTE
    assert ws.cell(header_row - 1, 1).alignment.wrap_text
    assert f"A{header_row - 1}:H{header_row - 1}" in {str(r) for r in ws.merged_cells.ranges}
    if title:
        assert ws["A1"].value == title
    assert ws.freeze_panes == f"A{header_row + 1}"
    assert ws.page_setup.orientation == "landscape"
    assert ws.sheet_properties.pageSetUpPr.fitToPage
    assert ws.page_setup.fitToWidth in (None, 1)
    assert ws.page_setup.fitToHeight == 0
    assert ws.print_title_rows == f"${header_row}:${header_row}"

    first, last = header_row + 1, header_row + 500
    for ref in (f"B{first}", f"D{first}", f"D{last}"):
        assert ws[ref].number_format == "@"
    assert ws[f"C{first}"].number_format == "General"

    (validation,) = ws.data_validations.dataValidation
    assert validation.type == "list"
    assert str(validation.sqref) == f"E{first}:E{last}"
    if validation.formula1.startswith('"'):
        assert validation.formula1 == '"' + ",".join(reasons) + '"'
    else:
        options = book[OPTIONS_SHEET]
        assert book.sheetnames == [DEFAULT_SHEET, OPTIONS_SHEET]
        assert options.sheet_state == "visible" and options.protection.sheet
        assert validation.formula1 == f"'{OPTIONS_SHEET}'!$A$3:$A${len(reasons) + 2}"
        column = [row[0] for row in options.iter_rows(values_only=True)]
        assert column == [OPTIONS_TITLE, "补缴原因", *reasons]
    _assert_nothing_hidden(book)


def _assert_nothing_hidden(book: openpyxl.Workbook) -> None:
    for ws in book.worksheets:
        assert ws.sheet_state == "visible", ws.title
        assert not [key for key, dim in ws.column_dimensions.items() if dim.hidden], ws.title
        assert not [key for key, dim in ws.row_dimensions.items() if dim.hidden], ws.title


#: Identifier columns of any template that Excel would turn into numbers.
ID_COLUMNS = frozenset({"证件号码", "个人账号", "转出单位账号", "个人存款账户号码", "手机号码", "固定电话号码", "邮政编码"})


@pytest.fixture(scope="module")
def templates(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """``gjj template KIND`` for every kind, written once for the module."""
    folder = tmp_path_factory.mktemp("templates")
    written = {}
    for kind in TEMPLATES:
        path = folder / f"{kind}.xlsx"
        result = CliRunner().invoke(app, ["template", kind, "-o", str(path)], env={"GJJ_HOME": str(folder / "home")})
        assert result.exit_code == 0, result.output
        written[kind] = path
    return written


def _validations(ws: Any) -> dict[str, tuple[str, Any]]:
    """Data validations by the header name of the column they cover: (formula1, sqref)."""
    header_row = next(row for row in ws.iter_rows(max_row=5) if row[0].value == "序号")
    names = {cell.column_letter: cell.value for cell in header_row}
    found = {}
    for validation in ws.data_validations.dataValidation:
        (cells,) = validation.sqref.ranges
        found[names[cells.coord.split(":")[0].rstrip("0123456789")]] = (validation.formula1, cells)
    return found


@pytest.mark.parametrize("kind", sorted(TEMPLATES))
def test_every_template_has_text_ids_dropdowns_and_a_note(templates: dict[str, Path], kind: str) -> None:
    module = TEMPLATES[kind]
    book = openpyxl.load_workbook(templates[kind])
    ws = book.worksheets[0]
    header = list(module.HEADER)
    assert [cell.value for cell in ws[3]] == header
    assert ws["A1"].value == f"{kind}清册"
    assert ws["A2"].value.startswith("填写说明：") and "表头" in ws["A2"].value
    assert ws.print_title_rows == "$3:$3" and ws.page_setup.orientation == "landscape"
    _assert_nothing_hidden(book)

    text_columns = {name for name in header if name in module.TEXT_COLUMNS}
    assert ID_COLUMNS & set(header) <= text_columns
    assert {field.name for field in module.FIELDS if field.kind is FieldKind.MONTH} <= text_columns  # 2026.10 is not 2026.1
    for col, name in enumerate(header, start=1):
        letter = get_column_letter(col)
        formatted = {ws[f"{letter}4"].number_format, ws[f"{letter}503"].number_format}
        assert formatted == ({"@"} if name in text_columns else {"General"}), name

    enums = {field.name: list(field.choices) for field in module.fields(load_config()) if field.choices}
    validations = _validations(ws)
    assert set(validations) == set(enums)
    for name, choices in enums.items():
        formula, cells = validations[name]
        assert (cells.min_row, cells.max_row) == (4, 503)
        if formula.startswith('"'):
            assert formula == '"' + ",".join(choices) + '"'
        else:
            options = [row[0].value for row in book[OPTIONS_SHEET][formula.split("!")[1].replace("$", "")]]
            assert options == choices


def test_registration_template_offers_every_marital_status(templates: dict[str, Path]) -> None:
    formula, _ = _validations(openpyxl.load_workbook(templates["缴存人登记"]).worksheets[0])["婚姻状况"]
    assert formula == '"未婚,已婚,初婚,再婚,复婚,丧偶,离婚,未说明的婚姻状况"'


@pytest.mark.parametrize("kind", sorted(TEMPLATES))
def test_reader_skips_title_and_note_rows_of_a_template(templates: dict[str, Path], kind: str) -> None:
    headers = {name: module.HEADER for name, module in TEMPLATES.items()}
    detected = detect(read_raw(templates[kind], load_config().limits), headers)
    assert detected.kind == kind
    assert detected.sheet is not None and detected.sheet.header_row == 3
