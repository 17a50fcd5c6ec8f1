"""Files saved by another spreadsheet program, and reports the unit corrects and sends back.

LibreOffice (``soffice --headless --convert-to xlsx`` and ``xls``) re-saves a unit's file and a
rejection report; processing the re-saved files gives exactly the result of the originals. Then
the unit's side of a rejection, for several templates: open report.xlsx, fix every red cell the
way its comment says, save, drop it back into the inbox, and the file is accepted — the comments,
the fills and the 错误清单 sheet travel with the file and do not disturb reading it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import openpyxl
import pytest
import xlsxwriter
from python_calamine import CalamineWorkbook, SheetVisibleEnum

from pipeline.model import BatchResult, BatchStatus
from pipeline.outputs.report_xlsx import ERROR_FILL, ISSUES_SHEET
from pipeline.services.fakes import FakeMember, fake_id, registration_row
from schemas import backpay
from tests.conftest import BUSINESS_DATE, Centre, make_centre
from tests.factories import backpay_file, identity, kind_file, row_for

FORMATS = ("xlsx", "xls")
RED = "FF" + ERROR_FILL.lstrip("#")


def _soffice() -> str:
    """LibreOffice is required in CI (.ci/run installs it); locally its absence skips."""
    found = shutil.which("soffice")
    if found:
        return found
    if os.environ.get("CI"):
        pytest.fail("soffice is missing in CI: .ci/install-system-deps must install libreoffice-calc")
    pytest.skip("LibreOffice (soffice) not installed")


def convert(files: list[Path], fmt: str, outdir: Path, profile: Path, *, infilter: str | None = None) -> dict[str, Path]:
    """Re-save ``files`` as ``fmt`` with LibreOffice, all in one process; by original name.

    ``infilter`` opens them with that import filter (``CSV:44,34,76,1``: a UTF-8 CSV, as a clerk opens one).
    """
    subprocess.run(
        [
            _soffice(),
            f"-env:UserInstallation={profile.as_uri()}",
            "--headless",
            "--norestore",
            *([f"--infilter={infilter}"] if infilter else []),
            "--convert-to",
            fmt,
            "--outdir",
            str(outdir),
            *map(str, files),
        ],
        check=True,
        capture_output=True,
        timeout=180,
    )
    converted = {path.name: outdir / f"{path.stem}.{fmt}" for path in files}
    missing = [name for name, path in converted.items() if not path.is_file()]
    assert not missing, f"LibreOffice did not write {missing}"
    return converted


def signature(result: BatchResult) -> dict[str, Any]:
    """What a unit gets back, without what differs between two submissions (ids, hashes, names)."""
    data = result.to_dict()
    return {key: data[key] for key in ("kind", "status", "totals", "file_errors", "rows")}


def drop(centre: Centre, path: Path, name: str | None = None) -> Path:
    folder = centre.inbox / centre.unit(0).unit_account
    folder.mkdir(parents=True, exist_ok=True)
    return Path(shutil.copyfile(path, folder / (name or path.name)))


def run_one(centre: Centre) -> BatchResult:
    (outcome,) = centre.run(BUSINESS_DATE).outcomes
    return outcome.result


def _accepted_rows(centre: Centre) -> list[list[Any]]:
    """A number, a text amount with a separator, real date cells and the other month spellings."""
    own = centre.members_of(0)
    dated = row_for(own[1], 2, "少缴", amount="1,200.00")
    dated[5:7] = [datetime(2024, 3, 1), datetime(2024, 5, 1)]
    return [row_for(own[0], 1, amount=1000.5), dated, row_for(own[2], 3, "补差", "202406", "2024/07", 212.5)]


def _rejected_rows(centre: Centre) -> list[list[Any]]:
    own = centre.members_of(0)
    bad_check = row_for(own[5], 6)
    bad_check[3] = own[5].id_number[:17] + ("1" if own[5].id_number[17] != "1" else "2")
    as_number = row_for(own[6], 7)
    as_number[3] = float(own[6].id_number[:17] + "0")
    return [
        *_accepted_rows(centre),
        row_for(own[3], 4, reason="欠缴"),
        row_for(own[4], 5, amount="abc"),
        bad_check,
        as_number,
        row_for(own[7], 8, start="2024-13"),
    ]


def _clerks_workbook(path: Path, centre: Centre) -> Path:
    """A file as a clerk keeps it: last month's table in a hidden first sheet, 序号 numbered in advance
    with =ROW()-3 down to row 20, three rows filled in, 合计 in 姓名 and a line under the table.
    Written by xlsxwriter with the formulas' cached values, as Excel saves it."""
    own = centre.members_of(0)
    rows = [row_for(own[0], 1), row_for(own[1], 2, amount="1,200.00"), row_for(own[2], 3, "补差", "202406", "2024/07", 212.5)]
    with xlsxwriter.Workbook(str(path)) as workbook:
        last_month = workbook.add_worksheet("上月")
        last_month.write_row(0, 0, backpay.HEADER)
        last_month.write_row(1, 0, row_for(own[5], 1, start="2024-01", end="2024-01", amount="700"))
        sheet = workbook.add_worksheet("本月")
        sheet.write_string(0, 0, "补缴清册")
        sheet.write_string(1, 0, "填表说明：每人一行，序号已预先编好")
        sheet.write_row(2, 0, backpay.HEADER)
        for index in range(3, 20):
            sheet.write_formula(index, 0, "=ROW()-3", None, index - 2)
        for index, row in enumerate(rows, start=3):
            sheet.write_row(index, 1, row[1:])
        sheet.write_string(6, 2, "合　计")
        sheet.write_formula(6, 7, "=SUM(H4:H6)", None, 2412.5)
        sheet.write_string(8, 1, "制表人：张三　　审核人：李四")
        sheet.activate()
        last_month.hide()
    return path


@dataclass
class Office:
    centre: Centre
    root: Path
    originals: dict[str, Path]
    converted: dict[str, dict[str, Path]]
    rejected: BatchResult
    accepted: BatchResult


def _fresh_centre(root: Path, name: str) -> Centre:
    return make_centre(root / name / "home", f"sqlite:///{root / name / 'gjj.db'}")


@pytest.fixture(scope="module")
def office(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Office]:
    """The originals processed once, then all of them re-saved by LibreOffice in two calls."""
    _soffice()
    root = tmp_path_factory.mktemp("office")
    centre = _fresh_centre(root, "main")
    reference = _fresh_centre(root, "reference")
    try:
        files = root / "files"
        accepted = backpay_file(files, _accepted_rows(centre), "补缴清册.xlsx")
        rejected = backpay_file(files, _rejected_rows(centre), "补缴清册_有错误.xlsx")
        drop(centre, rejected)
        rejected_result = run_one(centre)
        report = files / "report.xlsx"
        shutil.copyfile(centre.app.home.outbox / "0100001" / rejected_result.batch_id / "report.xlsx", report)
        drop(reference, accepted)
        accepted_result = run_one(reference)
        clerk = _clerks_workbook(files / "补缴_隐藏上月.xlsx", centre)
        originals = {"accepted": accepted, "rejected": rejected, "report": report, "clerk": clerk}
        converted = {
            fmt: convert(list(originals.values()), fmt, root / f"lo-{fmt}", root / "lo-profile") for fmt in FORMATS
        }
        yield Office(centre, root, originals, converted, rejected_result, accepted_result)
    finally:
        centre.app.close()
        reference.app.close()


def test_the_originals_are_what_the_round_trip_is_about(office: Office) -> None:
    assert office.accepted.status is BatchStatus.ACCEPTED and len(office.accepted.accepted_rows) == 3
    assert str(office.accepted.rows[0].amounts["补缴金额"]) == "1001"
    assert office.rejected.status is BatchStatus.REJECTED
    codes = {str(issue.code) for issue in office.rejected.errors}
    assert codes == {"ENUM_VALUE", "NUMBER_FORMAT", "ID_CHECKSUM", "ID_NUMERIC_PRECISION", "MONTH_FORMAT"}
    book = openpyxl.load_workbook(office.originals["report"])
    assert book.sheetnames[1] == ISSUES_SHEET


def test_libreoffice_really_rewrote_the_files(office: Office) -> None:
    """The copies are LibreOffice's own files, and the report keeps its comments and issue sheet."""
    for path in office.converted["xlsx"].values():
        with zipfile.ZipFile(path) as archive:
            assert "LibreOffice" in archive.read("docProps/app.xml").decode("utf-8")
    for path in office.converted["xls"].values():
        assert path.read_bytes()[:8] == bytes.fromhex("d0cf11e0a1b11ae1")  # OLE2: a BIFF8 .xls
    report = openpyxl.load_workbook(office.converted["xlsx"]["report.xlsx"])
    assert report.sheetnames[1] == ISSUES_SHEET
    assert any(cell.comment for row in report.worksheets[0].iter_rows() for cell in row)
    assert CalamineWorkbook.from_path(str(office.converted["xls"]["report.xlsx"])).sheet_names[1] == ISSUES_SHEET


@pytest.mark.parametrize("fmt", FORMATS)
def test_unit_file_saved_by_libreoffice_is_rejected_the_same(office: Office, fmt: str) -> None:
    path = office.converted[fmt][office.originals["rejected"].name]
    drop(office.centre, path)
    result = run_one(office.centre)
    assert signature(result) == signature(office.rejected)


@pytest.mark.parametrize("fmt", FORMATS)
def test_unit_file_saved_by_libreoffice_is_accepted_the_same(office: Office, fmt: str) -> None:
    centre = _fresh_centre(office.root, f"accepted-{fmt}")
    try:
        drop(centre, office.converted[fmt][office.originals["accepted"].name])
        result = run_one(centre)
    finally:
        centre.app.close()
    assert signature(result) == signature(office.accepted)
    assert result.serial_number == office.accepted.serial_number


@pytest.mark.parametrize("fmt", ["original", *FORMATS])
def test_report_with_comments_and_issue_sheet_reads_like_the_unit_file(office: Office, fmt: str) -> None:
    """The report as the unit receives it (or re-saved by LibreOffice), sent back unchanged."""
    path = office.originals["report"] if fmt == "original" else office.converted[fmt]["report.xlsx"]
    drop(office.centre, path, f"退回报告_原样.{path.suffix.lstrip('.')}")
    result = run_one(office.centre)
    assert signature(result) == signature(office.rejected)


def _column_format(ws: Any, letter: str) -> str:
    """The number format a column gives its cells without one of their own (a <col> may span several columns)."""
    index = openpyxl.utils.column_index_from_string(letter)
    spans = [dim for dim in ws.column_dimensions.values() if dim.min is not None and dim.min <= index <= dim.max]
    return spans[0].number_format if spans else "General"


@pytest.mark.parametrize("fmt", ["original", "xlsx"])
def test_month_columns_of_the_report_stay_text_when_libreoffice_saves_it(office: Office, fmt: str) -> None:
    """The unit retypes a red month in report.xlsx (or in the copy its LibreOffice saved): the cell is text."""
    path = office.originals["report"] if fmt == "original" else office.converted["xlsx"]["report.xlsx"]
    ws = openpyxl.load_workbook(path).worksheets[0]
    bad = next(row for row in office.rejected.rows if any(issue.code == "MONTH_FORMAT" for issue in row.issues)).excel_row
    assert ws[f"F{bad}"].value == "2024-13" and ws[f"F{bad}"].fill.fgColor.rgb == RED
    assert {ws[f"F{bad}"].number_format, ws["F3"].number_format, ws["G3"].number_format} == {"@"}
    assert _column_format(ws, "F") == _column_format(ws, "G") == "@"
    assert ws["F4"].is_date and ws["F4"].number_format != "@"  # a date cell stays a date


def test_a_month_libreoffice_turned_into_a_number_is_refused(sqlite_centre: Centre, tmp_path: Path) -> None:
    """A CSV holding the text 2023.10, opened in LibreOffice and saved as xlsx, holds the number 2023.1.

    The clerk sets the account and ID columns to text in the import dialog (the template asks for
    it), not the month columns.
    """
    own = sqlite_centre.members_of(0)
    rows = [row_for(own[0], 1, start="2023.10", end="2023.10"), row_for(own[1], 2, start="2023.03", end="2023.03")]
    csv_file = backpay_file(tmp_path / "files", rows, "补缴.csv")
    text_columns = "2/2/4/2"  # columns 2 (个人账号) and 4 (证件号码) as text
    saved = convert([csv_file], "xlsx", tmp_path / "lo", tmp_path / "lo-profile", infilter=f"CSV:44,34,76,1,{text_columns}")["补缴.csv"]
    cells = CalamineWorkbook.from_path(str(saved)).get_sheet_by_index(0).to_python()
    assert [row[5:7] for row in cells[1:]] == [[2023.1, 2023.1], [2023.03, 2023.03]]

    drop(sqlite_centre, saved)
    result = run_one(sqlite_centre)

    assert result.status is BatchStatus.REJECTED
    october, march = result.rows
    assert [(i.code, i.column) for i in october.issues] == [("MONTH_FORMAT", "补缴开始年月"), ("MONTH_FORMAT", "补缴结束年月")]
    assert "2023.1 可能是 2023.10" in october.issues[0].message and "2023-10" in october.issues[0].message
    assert march.issues == []


@pytest.mark.parametrize("fmt", ["original", *FORMATS])
def test_hidden_sheet_numbered_rows_and_lines_under_the_table_read_the_same_after_libreoffice(office: Office, fmt: str) -> None:
    """Only the visible table's three rows are filed, whoever saved the workbook last."""
    path = office.originals["clerk"] if fmt == "original" else office.converted[fmt][office.originals["clerk"].name]
    first = CalamineWorkbook.from_path(str(path)).sheets_metadata[0]
    assert (first.name, first.visible) == ("上月", SheetVisibleEnum.Hidden)  # the round trip kept it hidden
    centre = _fresh_centre(office.root, f"clerk-{fmt}")
    try:
        drop(centre, path)
        result = run_one(centre)
        filed = centre.table_counts()["backpay_records"]
    finally:
        centre.app.close()
    assert result.status is BatchStatus.ACCEPTED, [issue.message for issue in result.all_issues]
    assert [(row.excel_row, row.seq_no) for row in result.rows] == [(4, "1"), (5, "2"), (6, "3")]
    assert result.totals()["amounts"] == {"补缴金额": "2413.00"} and filed == 3


# --- the unit corrects the red cells -----------------------------------------------------------

Fix = Callable[[dict[str, Any], str], Any]


def _expected_value(_: dict[str, Any], comment: str) -> str:
    """AMOUNT_MISMATCH says what the cell should hold: 「单位月缴存额」应为 488.00（…）."""
    found = re.search(r"应为 ([\d.]+)", comment)
    assert found, comment
    return found.group(1)


@dataclass(frozen=True)
class Case:
    """A file of one template with errors, and how a unit fixes each red column."""

    kind: str
    rows: Callable[[list[FakeMember]], list[list[Any]]]
    fixes: Callable[[list[FakeMember]], dict[str, Fix]]
    errors: int


def _member(members: list[FakeMember], account: str) -> FakeMember:
    return next(member for member in members if member.member_account == account)


def _raised(member: FakeMember, factor: str) -> str:
    return str((member.base * Decimal(factor)).quantize(Decimal(1)))


CASES = [
    Case(
        "补缴",
        lambda own: [
            row_for(own[0], 1),
            row_for(own[1], 2, reason="欠缴"),
            row_for(own[2], 3, amount="abc"),
            row_for(own[3], 4, start="2024-13"),
        ],
        lambda own: {"补缴原因": lambda row, _: "少缴", "补缴金额": lambda row, _: "800", "补缴开始年月": lambda row, _: "2024-02"},
        3,
    ),
    Case(
        "基数调整",
        lambda own: [[1, *identity(own[0]), _raised(own[0], "1.1")], [2, *identity(own[1]), "99999"]],
        lambda own: {"调整后缴存基数": lambda row, _: _raised(_member(own, row["个人账号"]), "1.05")},
        1,
    ),
    Case(
        "封存",
        lambda own: [[1, *identity(own[0]), "辞职", "2024-08"], [2, *identity(own[1]), "退休封存", "2024-13"]],
        lambda own: {"封存原因": lambda row, _: "离职封存", "变更年月": lambda row, _: "2024-07"},
        2,
    ),
    Case(
        "缴存人登记",
        lambda own: [
            registration_row(1, "赵新", fake_id(date(1995, 5, 5), 901), "4070", "488", "480"),
            registration_row(2, "钱多", fake_id(date(1998, 8, 8), 902), "2125", "255", "255", mobile="1234567"),
        ],
        lambda own: {"单位月缴存额": _expected_value, "手机号码": lambda row, _: "13912345678"},
        2,
    ),
]


def _fix_red_cells(report: Path, fixes: dict[str, Fix], target: Path) -> int:
    """Open report.xlsx as the unit would, fix each red cell from its comment, save; count fixes."""
    book = openpyxl.load_workbook(report)
    sheet = book.worksheets[0]
    header_row = next(row for row in sheet.iter_rows(max_row=5) if row[0].value == "序号")
    header = {cell.column: cell.value for cell in header_row}
    fixed = 0
    for row in sheet.iter_rows(min_row=header_row[0].row + 1):
        values = {header[cell.column]: cell.value for cell in row if cell.column in header}
        for cell in row:
            if cell.fill.fill_type == "solid" and cell.fill.fgColor.rgb == RED:
                assert cell.comment is not None, cell.coordinate
                cell.value = fixes[header[cell.column]](values, cell.comment.text)
                fixed += 1
    assert book.sheetnames == [sheet.title, ISSUES_SHEET]  # the issue list stays in the file
    book.save(target)
    return fixed


@pytest.mark.parametrize("case", CASES, ids=[case.kind for case in CASES])
def test_fixed_report_is_accepted(sqlite_centre: Centre, case: Case) -> None:
    own = sqlite_centre.members_of(0)
    kind_file(sqlite_centre.inbox / sqlite_centre.unit().unit_account, case.kind, case.rows(own), f"{case.kind}.xlsx")
    first = sqlite_centre.run(BUSINESS_DATE).outcomes[0]
    assert first.result.status is BatchStatus.REJECTED
    assert len(first.result.errors) == case.errors

    corrected = sqlite_centre.inbox / sqlite_centre.unit().unit_account / f"{case.kind}_已改.xlsx"
    assert _fix_red_cells(first.outputs / "report.xlsx", case.fixes(own), corrected) == case.errors
    again = openpyxl.load_workbook(corrected)
    assert any(cell.comment for row in again.worksheets[0].iter_rows() for cell in row)

    result = run_one(sqlite_centre)
    assert result.status is BatchStatus.ACCEPTED, [issue.message for issue in result.all_issues]
    assert len(result.accepted_rows) == len(case.rows(own))
