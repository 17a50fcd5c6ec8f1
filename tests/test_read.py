"""Read stage and template detection: encodings, title rows, header problems, typed cells, bad files."""

from __future__ import annotations

import gc
import multiprocessing
import re
import weakref
from datetime import date, datetime
from decimal import Context, Decimal
from pathlib import Path

import openpyxl
import pytest
import xlsxwriter
import xlwt
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from pipeline import memory
from pipeline.check import schema as validate_module
from pipeline.check.file import check_file
from pipeline.check.schema import finish_validation, start_validation, validate
from pipeline.config import load_config
from pipeline.errors import Code, ReadFailure, SchemaCheckFailed
from pipeline.memory import paused_gc
from pipeline.model import BatchStatus
from pipeline.read import workbook
from pipeline.read.header import _text_column, detect, holds_header
from pipeline.read.workbook import cell_text, read_raw
from schemas import TEMPLATES, backpay
from tests.conftest import Centre
from tests.factories import backpay_file, row_for, sheet_xml

CONFIG = load_config()
HEADERS = {kind: module.HEADER for kind, module in TEMPLATES.items()}
ROW = ["1", "300000001", "张三", "11010519491231002X", "漏缴", "2024-03", "2024-05", "1000"]


def _xlsx(path: Path, rows: list[list[object]]) -> Path:
    workbook = openpyxl.Workbook()
    for row in rows:
        workbook.active.append(row)
    workbook.save(path)
    return path


def _detect(path: Path):
    return detect(read_raw(path, CONFIG.limits, holds_header(HEADERS)), HEADERS)


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gb18030", "gbk"])
def test_csv_encodings(tmp_path: Path, encoding: str) -> None:
    path = tmp_path / "f.csv"
    path.write_bytes(("\n".join(",".join(r) for r in [list(backpay.HEADER), ROW]) + "\n").encode(encoding))

    found = _detect(path)

    assert found.kind == "补缴" and found.issues == []
    assert found.sheet.rows == [ROW]
    assert found.sheet.excel_rows == [2]


def test_csv_that_is_not_text_is_unreadable(tmp_path: Path) -> None:
    path = tmp_path / "f.csv"
    path.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(ReadFailure) as failure:
        read_raw(path, CONFIG.limits)
    assert failure.value.issue.code is Code.FILE_UNREADABLE


@pytest.mark.parametrize("content", [b"PK\x03\x04 not really a zip", b"just text", bytes(range(200))])
def test_broken_xlsx_is_unreadable(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "f.xlsx"
    path.write_bytes(content)
    with pytest.raises(ReadFailure) as failure:
        read_raw(path, CONFIG.limits)
    assert failure.value.issue.code is Code.FILE_UNREADABLE
    assert not failure.value.issue.message.isascii()


def test_title_rows_blank_rows_example_row_and_total(tmp_path: Path) -> None:
    path = _xlsx(
        tmp_path / "f.xlsx",
        [["某某公司补缴清册"], ["制表日期：2024-08-01"], list(backpay.HEADER), ["例", *ROW[1:]], ROW, [], [None, None], ["2", *ROW[1:]], ["合计", "", "", "", "", "", "", "2000"]],
    )

    found = _detect(path)

    assert found.sheet.header_row == 3
    assert found.sheet.excel_rows == [5, 8]
    assert found.sheet.total_row is not None and found.sheet.total_excel_row == 9


def test_rows_are_cut_by_column_whatever_their_width(tmp_path: Path) -> None:
    """Short csv rows are padded; a row with text only right of the header is kept (its cells are empty)."""
    path = tmp_path / "f.csv"
    lines = [",".join(backpay.HEADER), ",".join(ROW), "2,300000002", ",,,,,,,,,\u3000", ",,,,,,,,,备注", ",".join(ROW[:7] + ["2000", "多余"])]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")

    sheet = _detect(path).sheet

    assert sheet.excel_rows == [2, 3, 5, 6]
    assert sheet.rows == [ROW, ["2", "300000002", "", "", "", "", "", ""], [""] * 8, [*ROW[:7], "2000"]]
    assert sheet.columns[1] == ["300000001", "300000002", "", "300000001"]


def test_header_beyond_fifth_row_is_not_found(tmp_path: Path) -> None:
    path = _xlsx(tmp_path / "f.xlsx", [["标题"]] * 5 + [list(backpay.HEADER), ROW])
    found = _detect(path)
    assert found.kind is None
    assert [i.code for i in found.issues] == [Code.UNKNOWN_TEMPLATE]


@pytest.mark.parametrize(
    ("header", "code", "named"),
    [
        (["序号", "姓名", "个人账号", "证件号码", "补缴原因", "补缴开始年月", "补缴结束年月", "补缴金额"], Code.HEADER_ORDER, "个人账号"),
        (["序号", "个人账号", "姓名", "证件号码", "补缴原因", "补缴开始年月", "补缴结束年月"], Code.HEADER_MISSING, "补缴金额"),
        ([*backpay.HEADER, "备注"], Code.HEADER_EXTRA, "备注"),
        (["序号", "个人账号", "姓名", "身份证号", "补缴原因", "补缴开始年月", "补缴结束年月", "补缴金额"], Code.HEADER_MISSING, "证件号码"),
    ],
)
def test_header_problems_name_expected_and_found(tmp_path: Path, header: list[str], code: Code, named: str) -> None:
    found = _detect(_xlsx(tmp_path / "f.xlsx", [header, ROW]))
    assert found.kind == "补缴"
    assert code in [i.code for i in found.issues]
    assert any(named in i.message for i in found.issues if i.code is code)


def test_full_width_header_is_recognised(tmp_path: Path) -> None:
    header = [f" {name}\u00a0" for name in backpay.HEADER]
    found = _detect(_xlsx(tmp_path / "f.xlsx", [header, ROW]))
    assert found.kind == "补缴" and found.issues == []


def test_typed_cells_keep_what_they_held(tmp_path: Path) -> None:
    row = [1, 300000001, "张三", 110105194912310021, "漏缴", datetime(2024, 3, 1), date(2024, 5, 1), 1000.5]
    found = _detect(_xlsx(tmp_path / "f.xlsx", [list(backpay.HEADER), row]))
    rows, _, _ = validate(found.sheet, backpay, CONFIG)
    values = rows[0].values
    assert values["补缴开始年月"] == "2024-03" and values["补缴结束年月"] == "2024-05"
    assert values["补缴金额"] == "1000.5"
    assert values["个人账号"] == "300000001"
    assert [i.code for i in rows[0].issues] == [Code.ID_NUMERIC_PRECISION]


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, ""), (True, "TRUE"), (12, "12"), (12.0, "12"), (-0.0, "0"), (0.1, "0.1"), (date(2024, 3, 1), "2024-03-01"),
        # Numbers as Excel shows them: 15 significant digits, no binary noise of a formula's result.
        (0.1 + 0.2, "0.3"), (172.39499999999998, "172.395"), (100.49999999999999, "100.5"), (0.07 * 100, "7"), (-1915.5 * 0.09, "-172.395"),
        (1e-7, "0.0000001"), (-1.5e-5, "-0.000015"), (123456789012345.6, "123456789012346"), (999999999999999.0, "999999999999999"),
        # From 1e15 on the scientific form stays: an ID typed as a number has lost its digits.
        (123456789012345678.0, "1.23456789012346e+17"), (2.10102199001011e17, "2.10102199001011e+17"), (1e15, "1e+15"),
    ],
)
def test_cell_text(value: object, text: str) -> None:
    assert cell_text(value) == text


@given(st.floats(min_value=-1e15, max_value=1e15, exclude_min=True, exclude_max=True))
@settings(max_examples=500, deadline=None)
def test_a_number_below_1e15_reads_as_its_15_significant_digits_written_out(number: float) -> None:
    text = cell_text(number)
    assert re.fullmatch(r"-?\d+(\.\d+)?", text), text
    assert Decimal(text) == Context(prec=15).plus(Decimal(number))


def test_one_type_error_does_not_hide_the_others_in_its_column(tmp_path: Path) -> None:
    rows = [list(backpay.HEADER)] + [[str(n), "300000001", "张三", "11010519491231002X", "漏缴", "2024-03", "2024-05", amount] for n, amount in enumerate(["x", "100", "-1", "y"], 1)]
    found = _detect(_xlsx(tmp_path / "f.xlsx", rows))
    checked, _, _ = validate(found.sheet, backpay, CONFIG)
    assert [[i.code for i in r.issues] for r in checked] == [[Code.NUMBER_FORMAT], [], [Code.AMOUNT_OUT_OF_RANGE], [Code.NUMBER_FORMAT]]
    assert [r.excel_row for r in checked] == [2, 3, 4, 5]


def test_unreadable_file_is_quarantined_with_a_result(sqlite_centre: Centre) -> None:
    folder = sqlite_centre.inbox / sqlite_centre.unit().unit_account
    folder.mkdir(parents=True)
    (folder / "坏文件.xlsx").write_bytes(b"this is not a spreadsheet")

    outcome = sqlite_centre.run().outcomes[0]

    assert outcome.result.status.value == "rejected"
    assert [i.code for i in outcome.result.file_issues] == [Code.FILE_UNREADABLE]
    assert outcome.moved_to.parent == sqlite_centre.app.home.quarantine / sqlite_centre.unit().unit_account
    assert (outcome.outputs / "result.json").is_file() and (outcome.outputs / "report.pdf").is_file()


@pytest.mark.parametrize("fault", [MemoryError("no memory left"), AttributeError("a bug in the reader"), OSError(5, "Input/output error")])
def test_a_fault_while_reading_is_not_the_units_file(sqlite_centre: Centre, monkeypatch: pytest.MonkeyPatch, fault: Exception) -> None:
    """Only what a broken file raises becomes FILE_UNREADABLE; a bug, MemoryError or disk error fails
    the file loudly: it stays in the inbox, is listed for the staff, and nothing is quarantined."""
    path = backpay_file(sqlite_centre.inbox / sqlite_centre.unit().unit_account, [ROW])

    def broken(*args: object) -> object:
        raise fault

    monkeypatch.setattr(workbook.CalamineWorkbook, "from_path", broken)
    with pytest.raises(type(fault)):
        read_raw(path, CONFIG.limits)
    summary = sqlite_centre.run()

    assert summary.outcomes == [] and path.exists()
    assert [failed.source for failed in summary.failed] == [path.name]
    assert type(fault).__name__ in summary.failed[0].error
    assert not any(sqlite_centre.app.home.quarantine.rglob("*.xlsx"))


def test_unknown_unit_folder_is_quarantined(sqlite_centre: Centre) -> None:
    backpay_file(sqlite_centre.inbox / "0999999", [ROW])

    outcome = sqlite_centre.run().outcomes[0]

    assert [i.code for i in outcome.result.file_issues] == [Code.UNIT_UNKNOWN]
    assert outcome.moved_to.parent == sqlite_centre.app.home.quarantine / "0999999"
    assert outcome.outputs.is_file() and outcome.outputs.parent == outcome.moved_to.parent
    assert not (sqlite_centre.app.home.outbox / "0999999").exists()


@pytest.mark.parametrize("name", ["x.xlsx.part", "x.tmp", "~$x.xlsx", ".hidden.xlsx", "x.filepart"])
def test_temporary_names_are_left_alone(sqlite_centre: Centre, name: str) -> None:
    folder = sqlite_centre.inbox / sqlite_centre.unit().unit_account
    backpay_file(folder, [ROW], name=name)
    assert sqlite_centre.run().outcomes == []
    assert (folder / name).exists()


def test_empty_file_is_rejected(sqlite_centre: Centre) -> None:
    backpay_file(sqlite_centre.inbox / sqlite_centre.unit().unit_account, [])
    result = sqlite_centre.run().outcomes[0].result
    assert [i.code for i in result.file_issues] == [Code.EMPTY_FILE]


def test_inactive_unit_is_rejected(sqlite_centre: Centre) -> None:
    from pipeline.store.tables import Unit

    with sqlite_centre.app.sessions() as session, session.begin():
        session.get(Unit, sqlite_centre.unit().unit_account).status = "封存"
    backpay_file(sqlite_centre.inbox / sqlite_centre.unit().unit_account, [ROW])

    result = sqlite_centre.run().outcomes[0].result

    assert [i.code for i in result.file_issues] == [Code.UNIT_INACTIVE]
    assert sqlite_centre.table_counts()["backpay_records"] == 0


def test_file_and_row_limits(tmp_path: Path) -> None:
    from dataclasses import replace

    small = replace(CONFIG, limits=replace(CONFIG.limits, max_file_bytes=100, max_rows=2))
    path = tmp_path / "big.csv"
    path.write_text("\n".join([",".join(backpay.HEADER)] + [",".join(ROW)] * 3), encoding="utf-8")
    with pytest.raises(ReadFailure) as failure:
        read_raw(path, small.limits)
    assert failure.value.issue.code is Code.FILE_TOO_LARGE

    roomy = replace(CONFIG, limits=replace(CONFIG.limits, max_rows=2))
    found = detect(read_raw(path, roomy.limits), HEADERS)
    rows, issues, _ = validate(found.sheet, backpay, roomy)
    assert rows == [] and [i.code for i in issues] == [Code.TOO_MANY_ROWS]


def test_paused_gc_freezes_what_a_stage_built_only_within_a_file() -> None:
    with paused_gc():
        built = [[index] for index in range(1000)]
    assert gc.isenabled() and gc.get_freeze_count() == 0  # outside a file no one would thaw it
    with memory.one_file():
        with paused_gc():
            built = [[index] for index in range(1000)]
        assert gc.get_freeze_count() >= len(built)
    assert gc.isenabled() and gc.get_freeze_count() == 0


class Cycle:
    def __init__(self) -> None:
        self.me = self
        self.payload = list(range(50))  # one more tracked object; its items are not (cheap to make)


def test_cyclic_garbage_of_many_files_is_collected() -> None:
    """A long-lived process (gjj watch, a night of thousands of files): what a file's stages froze
    and then dropped is collected once the heap grew by a quarter, not kept for ever."""
    gc.collect()
    alive = weakref.WeakSet()
    for _ in range(400):
        with memory.one_file():
            with paused_gc():
                garbage = [Cycle() for _ in range(500)]
                alive.update(garbage)
            del garbage
    assert len(alive) < 400 * 500 // 2


def test_nothing_stays_frozen_after_a_file(sqlite_centre: Centre) -> None:
    backpay_file(sqlite_centre.inbox / sqlite_centre.unit().unit_account, [row_for(sqlite_centre.members_of(0)[0])])

    result = sqlite_centre.run().outcomes[0].result

    assert result.status is BatchStatus.ACCEPTED
    assert gc.isenabled() and gc.get_freeze_count() == 0


BAD_ROWS = [
    ["1", "300000001", "张三", "11010519491231002X", "漏缴", "2024-03", "2024-05", "x"],
    ["2", "3000000x1", "", "110105194912310021", "随便", "2024-13", "2024-05", "-1"],
    ["", "300000003", "王" * 60, "2.10102199001011e+17", "漏缴", "2024-03", "", "1000"],
    ["4", "300000004", "赵六", "11010519491231002X", "漏缴", "2024-03", "2024-05", "1000"],
]


def _checked(tmp_path: Path, apart_rows: int, monkeypatch: pytest.MonkeyPatch, meanwhile=None) -> list[list[tuple[Code, str | None, int | None, str]]]:
    monkeypatch.setattr(validate_module, "APART_ROWS", apart_rows)
    found = _detect(_xlsx(tmp_path / f"f{apart_rows}.xlsx", [list(backpay.HEADER), *BAD_ROWS]))
    validation = start_validation(found.sheet, backpay, CONFIG)
    if meanwhile is not None:
        meanwhile(validation.cells.columns)
    rows, _, columns = finish_validation(validation, backpay)
    assert all(columns[name][index] is row.values[name] for index, row in enumerate(rows) for name in columns)
    return [[(i.code, i.column, i.row, i.message) for i in row.issues] for row in rows]


def test_a_big_sheet_is_checked_apart_with_the_same_issues(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """From APART_ROWS rows on a forked process runs the schema; ``meanwhile`` runs while it does."""
    seen_while_checking: list[list[str]] = []

    def meanwhile(columns: dict[str, list[str]]) -> None:
        assert columns["姓名"][3] == "赵六"  # the normalised columns, in sheet order
        seen_while_checking.append([child.name for child in multiprocessing.active_children()])

    here = _checked(tmp_path, 1000, monkeypatch)
    apart = _checked(tmp_path, 2, monkeypatch, meanwhile)

    assert apart == here
    assert [code for code, *_ in here[1]] == [Code.ACCOUNT_FORMAT, Code.CELL_EMPTY, Code.ID_CHECKSUM, Code.ENUM_VALUE, Code.MONTH_FORMAT, Code.AMOUNT_OUT_OF_RANGE]
    assert here[3] == [] and here[2][0][2] == 4
    assert seen_while_checking and "gjj-schema" in seen_while_checking[0]
    assert not [child for child in multiprocessing.active_children() if child.name == "gjj-schema"]


def test_a_schema_process_that_fails_is_an_error_not_a_clean_sheet(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(frame: object, schema: object) -> list[tuple[str, str, int]]:
        raise MemoryError("no memory left")

    monkeypatch.setattr(validate_module, "schema_failures", broken)
    with pytest.raises(SchemaCheckFailed, match="no memory left"):
        _checked(tmp_path, 2, monkeypatch)


@given(st.lists(st.floats(allow_nan=True, allow_infinity=True), min_size=1, max_size=30))
@settings(max_examples=200, deadline=None)
def test_a_column_of_numbers_reads_as_each_number_would(numbers: list[float]) -> None:
    assert _text_column(tuple(numbers)) == [cell_text(number) for number in numbers]


@pytest.mark.parametrize("cells", [(1.0, 2.5, -0.0, 1e15, 999999999999999.0, 1e-7), (1.0, "a", None, 3), ("x", "y")])
def test_a_column_reads_as_its_cells_would(cells: tuple[object, ...]) -> None:
    assert _text_column(cells) == [cell_text(cell) for cell in cells]


def test_a_failure_meanwhile_leaves_no_schema_process_behind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The rules read master data while a big sheet's schema runs apart; when that fails the process leaves."""
    monkeypatch.setattr(validate_module, "APART_ROWS", 2)
    path = _xlsx(tmp_path / "f.xlsx", [list(backpay.HEADER), *BAD_ROWS])

    def master_data_gone() -> object:
        assert "gjj-schema" in [child.name for child in multiprocessing.active_children()]
        raise OSError("database gone")

    with pytest.raises(OSError, match="database gone"):
        check_file(path, {backpay.KIND: backpay.HEADER}, CONFIG, master_data_gone)
    assert not [child for child in multiprocessing.active_children() if child.name == "gjj-schema"]

# --- which sheet is read (issue "Files as real clerks make them", point 5) ----------------------------

#: Last month's table, which clerks keep in a hidden sheet: reading it would file other people's money.
OLD_ROW = ["1", "300000009", "王五", "110105194912310021", "漏缴", "2023-01", "2023-02", "500"]
OLD = [["上月补缴清册"], list(backpay.HEADER), OLD_ROW]
NEW = [["本月补缴清册"], list(backpay.HEADER), ROW]
NOTES = [["填表说明"], ["1. 每人一行，金额单位为元"], ["2. 证件号码请设为文本格式"]]

Sheets = list[tuple[str, str, list[list[object]]]]  # (name, "visible" | "hidden" | "veryHidden", rows)


def _workbook(path: Path, writer: str, sheets: Sheets) -> Path:
    """A workbook of several sheets, some hidden, saved by ``writer`` as that program stores it."""
    if writer == "openpyxl":
        book = openpyxl.Workbook()
        book.remove(book.active)
        for name, state, rows in sheets:
            sheet = book.create_sheet(name)
            sheet.sheet_state = state
            for row in rows:
                sheet.append(row)
        book.active = next(index for index, (_, state, _) in enumerate(sheets) if state == "visible")
        book.save(path)
    elif writer == "xlsxwriter":
        with xlsxwriter.Workbook(str(path)) as book:
            made = []
            for name, state, rows in sheets:
                sheet = book.add_worksheet(name)
                for index, row in enumerate(rows):
                    sheet.write_row(index, 0, row)
                made.append((sheet, state))
            next(sheet for sheet, state in made if state == "visible").activate()
            for sheet, state in made:
                if state == "hidden":
                    sheet.hide()
                elif state == "veryHidden":
                    sheet.very_hidden()
    else:  # xlwt: a BIFF8 .xls, as Excel 97–2003 and WPS save it
        book = xlwt.Workbook(encoding="utf-8")
        for name, state, rows in sheets:
            sheet = book.add_sheet(name)
            sheet.visibility = {"visible": 0, "hidden": 1, "veryHidden": 2}[state]
            for row_index, row in enumerate(rows):
                for column, value in enumerate(row):
                    sheet.write(row_index, column, value)
        book.save(str(path))
    return path


@pytest.mark.parametrize(
    ("writer", "sheets", "read"),
    [
        ("openpyxl", [("上月", "hidden", OLD), ("本月", "visible", NEW)], "本月"),
        ("openpyxl", [("上月", "veryHidden", OLD), ("本月", "visible", NEW)], "本月"),
        ("xlsxwriter", [("上月", "hidden", OLD), ("本月", "visible", NEW)], "本月"),
        ("xlsxwriter", [("上月", "veryHidden", OLD), ("本月", "visible", NEW)], "本月"),
        ("xlwt", [("上月", "hidden", OLD), ("本月", "visible", NEW)], "本月"),
        ("openpyxl", [("填表说明", "visible", NOTES), ("本月", "visible", NEW)], "本月"),
        ("xlsxwriter", [("填表说明", "visible", NOTES), ("上月", "hidden", OLD), ("本月", "visible", NEW), ("备用", "visible", OLD)], "本月"),
        ("openpyxl", [("本月", "visible", NEW), ("上月", "visible", OLD)], "本月"),
    ],
    ids=["hidden", "very-hidden", "xlsxwriter-hidden", "xlsxwriter-very-hidden", "xls-hidden", "notes-first", "notes-hidden-spare", "two-visible"],
)
def test_the_first_visible_sheet_with_a_template_header_is_read(tmp_path: Path, writer: str, sheets: Sheets, read: str) -> None:
    path = _workbook(tmp_path / ("f.xls" if writer == "xlwt" else "f.xlsx"), writer, sheets)

    found = _detect(path)

    assert found.kind == "补缴" and found.issues == []
    assert found.sheet.name == read
    assert found.sheet.rows == [ROW]


def test_a_close_header_on_the_first_visible_sheet_is_that_sheet_s_header(tmp_path: Path) -> None:
    """The unit is told what is wrong with the table it filled in, not served a later sheet."""
    old_template = [list(backpay.HEADER[:-1]), ROW[:-1]]
    path = _workbook(tmp_path / "f.xlsx", "openpyxl", [("本月", "visible", old_template), ("上月", "visible", OLD)])

    found = _detect(path)

    assert found.sheet.name == "本月"
    assert [issue.code for issue in found.issues] == [Code.HEADER_MISSING]


@pytest.mark.parametrize(
    ("writer", "sheets", "looked_at", "hidden"),
    [
        ("openpyxl", [("填表说明", "visible", NOTES), ("数据", "hidden", NEW)], ["填表说明"], ["数据"]),
        ("xlsxwriter", [("数据", "veryHidden", NEW), ("Sheet2", "visible", [["空表"]]), ("Sheet3", "visible", NOTES)], ["Sheet2", "Sheet3"], ["数据"]),
        ("xlwt", [("数据", "hidden", NEW)], [], ["数据"]),
        ("openpyxl", [("填表说明", "visible", NOTES)], ["填表说明"], []),
    ],
    ids=["data-hidden", "data-very-hidden", "no-visible-sheet", "no-hidden-sheet"],
)
def test_no_visible_template_sheet_names_the_sheets_looked_at(tmp_path: Path, writer: str, sheets: Sheets, looked_at: list[str], hidden: list[str]) -> None:
    path = _workbook(tmp_path / ("f.xls" if writer == "xlwt" else "f.xlsx"), writer, sheets)

    found = _detect(path)

    assert found.kind is None and [issue.code for issue in found.issues] == [Code.UNKNOWN_TEMPLATE]
    message = found.issues[0].message
    assert all(f"「{name}」" in message for name in looked_at + hidden), message
    assert ("隐藏的工作表" in message) == bool(hidden)
    assert ("没有可见的工作表" in message) == (not looked_at)


def test_sheets_after_the_one_read_and_hidden_sheets_are_never_parsed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _workbook(tmp_path / "f.xlsx", "openpyxl", [("填表说明", "visible", NOTES), ("上月", "hidden", OLD), ("本月", "visible", NEW), ("备用", "visible", OLD)])
    parsed: list[str] = []
    real = workbook.CalamineWorkbook

    class Watched:
        def __init__(self, book: object) -> None:
            self.book = book
            self.sheets_metadata = book.sheets_metadata

        @classmethod
        def from_path(cls, name: str) -> Watched:
            return cls(real.from_path(name))

        def get_sheet_by_index(self, index: int) -> object:
            parsed.append(self.sheets_metadata[index].name)
            return self.book.get_sheet_by_index(index)

    monkeypatch.setattr(workbook, "CalamineWorkbook", Watched)

    assert _detect(path).sheet.name == "本月"
    assert parsed == ["填表说明", "本月"]


def _filed_accounts(centre: Centre) -> list[str]:
    from pipeline.store.tables import BackPayRecord

    with centre.app.sessions() as session:
        return sorted(session.scalars(select(BackPayRecord.member_account)))


def test_a_hidden_first_sheet_is_not_filed(sqlite_centre: Centre) -> None:
    """End to end: last month's table in a hidden first sheet is a valid file of another member."""
    own = sqlite_centre.members_of(0)
    last_month = [["上月补缴清册"], list(backpay.HEADER), row_for(own[5], 1, start="2024-01", end="2024-01", amount="700")]
    this_month = [["本月补缴清册"], list(backpay.HEADER), row_for(own[0], 1), row_for(own[1], 2)]
    folder = sqlite_centre.inbox / sqlite_centre.unit().unit_account
    folder.mkdir(parents=True)
    _workbook(folder / "补缴.xlsx", "openpyxl", [("上月", "hidden", last_month), ("本月", "visible", this_month)])

    result = sqlite_centre.run().outcomes[0].result

    assert result.status is BatchStatus.ACCEPTED, [issue.message for issue in result.all_issues]
    assert [row.excel_row for row in result.rows] == [3, 4]
    assert _filed_accounts(sqlite_centre) == sorted([own[0].member_account, own[1].member_account])


def test_a_workbook_with_its_table_hidden_is_rejected_naming_the_sheets(sqlite_centre: Centre) -> None:
    own = sqlite_centre.members_of(0)
    folder = sqlite_centre.inbox / sqlite_centre.unit().unit_account
    folder.mkdir(parents=True)
    table = [list(backpay.HEADER), row_for(own[0], 1)]
    _workbook(folder / "补缴.xlsx", "xlsxwriter", [("填表说明", "visible", NOTES), ("补缴", "hidden", table)])

    result = sqlite_centre.run().outcomes[0].result

    assert result.status is BatchStatus.REJECTED
    assert [issue.code for issue in result.file_issues] == [Code.UNKNOWN_TEMPLATE]
    assert "「填表说明」" in result.file_issues[0].message and "「补缴」" in result.file_issues[0].message
    assert sqlite_centre.table_counts()["backpay_records"] == 0


# --- totals rows, lines under the table, 序号 numbered in advance (points 6 and 8) -----------------


def _tail_file(folder: Path, own: list, tail: list[list[object]], name: str = "补缴.xlsx") -> Path:
    """Two good rows (Excel rows 3 and 4, 1000 each, under a title and the header), then ``tail``."""
    return backpay_file(folder, [row_for(own[0], 1), row_for(own[1], 2), *tail], name)


def _blank_but(cells: dict[int, object]) -> list[object]:
    return [cells.get(column, "") for column in range(len(backpay.HEADER))]


TOTAL = {7: "2000"}
FOOTERS = [
    # (what the clerk added under the table, the totals row's Excel row)
    ([_blank_but({2: "合计", **TOTAL})], 5),  # 合计 in 姓名
    ([_blank_but({0: "合\u3000计", **TOTAL})], 5),  # an ideographic space
    ([_blank_but({0: "合 计", **TOTAL})], 5),
    ([_blank_but({1: "总\u00a0计", **TOTAL})], 5),  # a non-breaking space, in 个人账号
    ([_blank_but({0: " 合计\u200b", **TOTAL})], 5),  # zero-width space
    ([["制表人：张三  审核人：李四"]], None),
    ([_blank_but({2: "单位盖章"})], None),
    ([[], [None, "单位（盖章）"]], None),
    ([[None, "制表人：张三", "审核人：李四"], [None, None, "填表日期：2024年8月1日"]], None),
    ([_blank_but({0: "合计", **TOTAL}), [], ["制表人：张三  审核人：李四"], [None, None, "单位（盖章）"]], 5),
    ([_blank_but({2: "合 计", **TOTAL}), [None, "大写：贰仟元整"], [None, "经办人：张三", "联系电话：13912345678"]], 5),
]
FOOTER_IDS = ["合计-in-姓名", "合　计", "合-计", "总计-nbsp-in-账号", "zero-width", "制表人-审核人", "单位盖章", "单位（盖章）-after-blank",
              "two-lines", "footer-after-total", "lines-after-total"]


@pytest.mark.parametrize(("tail", "total_row"), FOOTERS, ids=FOOTER_IDS)
def test_totals_and_lines_under_the_table_are_not_data(sqlite_centre: Centre, tail: list[list[object]], total_row: int | None) -> None:
    own = sqlite_centre.members_of(0)
    path = _tail_file(sqlite_centre.inbox / sqlite_centre.unit().unit_account, own, tail)
    sheet = _detect(path).sheet
    assert sheet.excel_rows == [3, 4] and sheet.total_excel_row == total_row

    result = sqlite_centre.run().outcomes[0].result

    assert result.status is BatchStatus.ACCEPTED, [(issue.row, issue.message) for issue in result.all_issues]
    assert [row.excel_row for row in result.rows] == [3, 4]
    assert sqlite_centre.table_counts()["backpay_records"] == 2


def test_a_totals_row_that_does_not_add_up_is_still_checked(sqlite_centre: Centre) -> None:
    own = sqlite_centre.members_of(0)
    _tail_file(sqlite_centre.inbox / sqlite_centre.unit().unit_account, own, [_blank_but({2: "合　计", 7: "1999"}), ["制表人：张三"]])

    result = sqlite_centre.run().outcomes[0].result

    assert [(issue.code, issue.column) for issue in result.file_issues] == [(Code.TOTAL_MISMATCH, "补缴金额")]
    assert "第5行" in result.file_issues[0].message


def _later(member_index: int, **cells: object):
    """A row of a member of the unit, as a callable (members are known only once the centre is made)."""

    def make(own: list) -> list[object]:
        row = row_for(own[member_index], member_index + 1)
        for column, value in cells.items():
            row[backpay.HEADER.index(column)] = value
        return row

    return make


NOT_FOOTERS = [
    # (rows under the two good ones, rows checked as data, an issue expected: (code, Excel row) or a file code)
    ([_blank_but({0: "合计", **TOTAL}), [None, "制表人：张三  审核人：李四"], _later(2, 补缴金额="abc")], [3, 4, 7], (Code.NUMBER_FORMAT, 7)),
    ([_blank_but({0: "合计", **TOTAL}), [None, None, "单位盖章"], _later(2)], [3, 4, 7], Code.TOTAL_MISMATCH),
    ([[], lambda own: [None, own[2].member_account]], [3, 4, 6], (Code.CELL_EMPTY, 6)),
    ([lambda own: [None, None, None, own[2].id_number]], [3, 4, 5], (Code.CELL_EMPTY, 5)),
    ([["制表人：张三", None, None, None, "审核人：李四"]], [3, 4, 5], (Code.CELL_EMPTY, 5)),
    ([[None, None, None, None, None, None, None, None, None, "备注"]], [3, 4, 5], (Code.CELL_EMPTY, 5)),
]
NOT_FOOTER_IDS = ["bad-row-after-footer", "good-row-after-total", "account-alone", "id-alone", "line-into-a-data-column", "beyond-the-header"]


@pytest.mark.parametrize(("tail", "checked", "expected"), NOT_FOOTERS, ids=NOT_FOOTER_IDS)
def test_a_row_with_data_under_the_table_is_still_checked(sqlite_centre: Centre, tail: list, checked: list[int], expected: object) -> None:
    own = sqlite_centre.members_of(0)
    rows = [row(own) if callable(row) else row for row in tail]
    _tail_file(sqlite_centre.inbox / sqlite_centre.unit().unit_account, own, rows)

    result = sqlite_centre.run().outcomes[0].result

    assert result.status is BatchStatus.REJECTED
    assert [row.excel_row for row in result.rows] == checked
    if isinstance(expected, Code):
        assert [issue.code for issue in result.file_issues] == [expected]
    else:
        assert expected in [(issue.code, issue.row) for issue in result.all_issues]
    assert sqlite_centre.table_counts()["backpay_records"] == 0


def test_a_line_in_the_middle_of_the_table_is_data(tmp_path: Path) -> None:
    rows = [list(backpay.HEADER), ROW, [None, None, "单位盖章"], ["2", *ROW[1:]], _blank_but({0: "合计", 7: "2000"})]
    sheet = _detect(_xlsx(tmp_path / "f.xlsx", rows)).sheet
    assert sheet.excel_rows == [2, 3, 4] and sheet.total_excel_row == 5
    assert sheet.rows[1] == ["", "", "单位盖章", "", "", "", "", ""]


def _numbered_file(path: Path, rows: list[list[object]], down_to: int = 20) -> Path:
    """The clerk's template: a title and a note row, the header in row 3, and 序号 numbered in
    advance with =ROW()-3 down to row ``down_to``; ``rows`` filled in from row 4 (a None 序号 keeps
    the formula). Written by xlsxwriter with each formula's cached value, as Excel saves it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with xlsxwriter.Workbook(str(path)) as book:
        sheet = book.add_worksheet("Sheet1")
        sheet.write_string(0, 0, "补缴清册")
        sheet.write_string(1, 0, "填表说明：每人一行，序号已预先编好")
        sheet.write_row(2, 0, backpay.HEADER)
        for index in range(3, down_to):
            sheet.write_formula(index, 0, "=ROW()-3", None, index - 2)
        for index, row in enumerate(rows, start=3):
            for column, value in enumerate(row):
                if value is None or value == "":
                    continue  # an empty cell; in column A the formula stays
                if isinstance(value, str):
                    sheet.write_string(index, column, value)
                else:
                    sheet.write_number(index, column, value)
    return path


NUMBERED = [
    # (rows from row 4, a None 序号 keeping its formula; data rows, totals row)
    (lambda own: [row_for(own[0], None), row_for(own[1], None), row_for(own[2], None)], [4, 5, 6], None),
    (lambda own: [row_for(own[0], None), row_for(own[1], None), [None, None, "合计", None, None, None, None, "2000"], [], [None, "制表人：张三"]], [4, 5], 6),
    (lambda own: [row_for(own[0], None), [], row_for(own[1], None), [None, "", ""]], [4, 6], None),
]


@pytest.mark.parametrize(("rows", "data_rows", "total_row"), NUMBERED, ids=["rows-then-numbers", "total-and-footer-among-numbers", "numbers-between-rows"])
def test_a_seq_column_numbered_in_advance_is_not_data(sqlite_centre: Centre, rows, data_rows: list[int], total_row: int | None) -> None:
    own = sqlite_centre.members_of(0)
    path = _numbered_file(sqlite_centre.inbox / sqlite_centre.unit().unit_account / "补缴.xlsx", rows(own))
    assert "<f>ROW()-3</f><v>17</v>" in sheet_xml(path)  # numbered down to row 20, values cached
    sheet = _detect(path).sheet
    assert sheet.excel_rows == data_rows and sheet.total_excel_row == total_row

    result = sqlite_centre.run().outcomes[0].result

    assert result.status is BatchStatus.ACCEPTED, [(issue.row, issue.message) for issue in result.all_issues]
    assert [(row.excel_row, row.seq_no) for row in result.rows] == [(row, str(row - 3)) for row in data_rows]
    assert sqlite_centre.table_counts()["backpay_records"] == len(data_rows)


def test_a_row_holding_only_its_seq_is_skipped_in_a_csv_too(tmp_path: Path) -> None:
    path = tmp_path / "f.csv"
    lines = [",".join(backpay.HEADER), ",".join(ROW), "2,,,,,,,", ",".join(["3", *ROW[1:]]), "4", "合 计,,,,,,,2000", ",,单位（盖章）"]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")

    sheet = _detect(path).sheet

    assert sheet.excel_rows == [2, 4] and sheet.total_excel_row == 6
