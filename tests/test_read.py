"""Read stage and template detection: encodings, title rows, header problems, typed cells, bad files."""

from __future__ import annotations

import gc
import multiprocessing
import re
from datetime import date, datetime
from decimal import Context, Decimal
from pathlib import Path

import openpyxl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.check import schema as validate_module
from pipeline.check.file import check_file
from pipeline.check.schema import finish_validation, start_validation, validate
from pipeline.config import load_config
from pipeline.errors import Code, ReadFailure, SchemaCheckFailed
from pipeline.memory import paused_gc, thaw_gc
from pipeline.model import BatchStatus
from pipeline.read import workbook
from pipeline.read.header import _text_column, detect
from pipeline.read.workbook import cell_text, read_raw
from schemas import TEMPLATES, backpay
from tests.conftest import Centre
from tests.factories import backpay_file, row_for

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
    return detect(read_raw(path, CONFIG.limits), HEADERS)


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
    assert [(failed.source, failed.error.split(":")[0]) for failed in summary.failed] == [(path.name, type(fault).__name__)]
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


def test_paused_gc_freezes_what_a_stage_built_until_thawed() -> None:
    thaw_gc()
    with paused_gc():
        built = [[index] for index in range(1000)]
    assert gc.isenabled() and gc.get_freeze_count() >= len(built)
    thaw_gc()
    assert gc.get_freeze_count() == 0


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