"""Hostile input: bombs, encrypted files, links, formulas, injection, huge cells — and a fuzzer.

Whatever arrives, the processor never crashes: every file gets a result.json, the bad ones with a
file error or row errors, and nothing unsafe is opened.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import shutil
import subprocess
import zipfile
from datetime import date
from pathlib import Path
from xml.sax.saxutils import escape

import openpyxl
import pytest
import xlsxwriter
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from python_calamine import CalamineWorkbook, PasswordError

from pipeline import logs
from pipeline.config import load_config
from pipeline.errors import Code, ReadFailure
from pipeline.model import BatchStatus, RowStatus
from pipeline.outputs.xlsx_text import neutralise_column, neutralise_formula
from pipeline.read.header import detect, holds_header
from pipeline.read.workbook import OLE_SIGNATURE, read_raw
from pipeline.services.fakes import fake_id, fake_master_data, registration_row, write_table
from schemas import backpay, registration
from tests.conftest import Centre, make_centre
from tests.factories import backpay_file, row_for


def _unit_folder(centre: Centre) -> Path:
    folder = centre.inbox / centre.unit().unit_account
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _only_result(centre: Centre):
    outcomes = centre.run().outcomes
    assert len(outcomes) == 1
    return outcomes[0]


# LibreOffice Basic, run headless: save a workbook with an opening password as Excel does. For
# xlsx that is ECMA-376 encryption (an OLE compound file holding EncryptionInfo and the encrypted
# package; the OOXML export reads the password from EncryptionData), for xls BIFF8's FILEPASS.
SAVE_WITH_PASSWORD = """
Sub SaveWithPassword(source As String, target As String, filter As String, password As String)
  On Error GoTo failed
  Dim load(0) As New com.sun.star.beans.PropertyValue
  load(0).Name = "Hidden"
  load(0).Value = True
  document = StarDesktop.loadComponentFromURL(ConvertToURL(source), "_blank", 0, load())
  Dim save(1) As New com.sun.star.beans.PropertyValue
  save(0).Name = "FilterName"
  save(0).Value = filter
  If password = "" Then
    ReDim Preserve save(0) As New com.sun.star.beans.PropertyValue
  ElseIf filter = "MS Excel 97" Then
    save(1).Name = "Password"
    save(1).Value = password
  Else
    Dim secret(1) As New com.sun.star.beans.NamedValue
    secret(0).Name = "OOXPassword"
    secret(0).Value = password
    secret(1).Name = "CryptoType"
    secret(1).Value = "Standard"
    save(1).Name = "EncryptionData"
    save(1).Value = secret
  End If
  document.storeToURL(ConvertToURL(target), save())
  document.close(True)
  Exit Sub
failed:
  handle = FreeFile
  Open target & ".error" For Output As #handle
  Print #handle, Error$
  Close #handle
End Sub
"""


def _macro_module(source: str) -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<!DOCTYPE script:module PUBLIC "-//OpenOffice.org//DTD OfficeDocument 1.0//EN" "module.dtd">\n'
        '<script:module xmlns:script="http://openoffice.org/2000/script" script:name="Module1" script:language="StarBasic">'
        f'{escape(source, {chr(34): "&quot;"})}</script:module>\n'
    )


@pytest.fixture(scope="module")
def password_protected(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One good back-pay file saved by LibreOffice Calc: as plain xlsx, and with the password 123456 as xlsx and xls."""
    soffice = shutil.which("soffice")
    if soffice is None:
        pytest.skip("LibreOffice (soffice) not installed")
    root = tmp_path_factory.mktemp("password")
    _, members = fake_master_data(unit_count=3, members_per_unit=10)  # what make_centre loads
    source = backpay_file(root, [row_for(members[0])], name="source.xlsx")
    profile = root / "profile"
    launch = [soffice, f"-env:UserInstallation={profile.as_uri()}", "--headless", "--norestore"]
    subprocess.run([*launch, "--terminate_after_init"], check=True, capture_output=True, timeout=120)  # makes the profile
    (profile / "user" / "basic" / "Standard" / "Module1.xba").write_text(_macro_module(SAVE_WITH_PASSWORD), encoding="utf-8")
    saved = {"plain": root / "plain.xlsx", ".xlsx": root / "locked.xlsx", ".xls": root / "locked.xls"}
    jobs = [(saved["plain"], "Calc MS Excel 2007 XML", ""), (saved[".xlsx"], "Calc MS Excel 2007 XML", "123456"), (saved[".xls"], "MS Excel 97", "123456")]
    macros = [f'macro:///Standard.Module1.SaveWithPassword("{source}","{target}","{filter_}","{password}")' for target, filter_, password in jobs]
    subprocess.run([*launch, *macros], check=True, capture_output=True, timeout=180)
    errors = {path.name: path.read_text(errors="replace") for path in root.glob("*.error")}
    assert not errors, errors
    assert all(path.is_file() for path in saved.values()), saved
    return saved


@pytest.mark.parametrize(("suffix", "says"), [(".xlsx", "文件设置了打开密码（已加密）"), (".xls", "设置了打开密码")])
def test_password_protected_workbook_is_unreadable_and_quarantined(
    sqlite_centre: Centre, password_protected: dict[str, Path], suffix: str, says: str
) -> None:
    locked = password_protected[suffix]
    assert locked.read_bytes()[:8] == OLE_SIGNATURE  # both are OLE compound files ...
    with pytest.raises(PasswordError):  # ... that calamine, the production reader, knows to be encrypted
        CalamineWorkbook.from_path(str(locked))

    with pytest.raises(ReadFailure) as failure:
        read_raw(locked, sqlite_centre.app.config.limits)
    assert failure.value.issue.code is Code.FILE_UNREADABLE and says in failure.value.issue.message

    shutil.copyfile(locked, _unit_folder(sqlite_centre) / f"加密{suffix}")
    before = sqlite_centre.table_counts()
    outcome = _only_result(sqlite_centre)
    after = sqlite_centre.table_counts()

    assert outcome.result.status is BatchStatus.REJECTED and outcome.result.rows == []
    assert [(i.code, i.message) for i in outcome.result.file_issues] == [(Code.FILE_UNREADABLE, failure.value.issue.message)]
    assert outcome.moved_to.parent == sqlite_centre.app.home.quarantine / sqlite_centre.unit().unit_account
    assert json.loads((outcome.outputs / "result.json").read_text(encoding="utf-8"))["file_errors"][0]["code"] == "FILE_UNREADABLE"
    assert {name: after[name] - before[name] for name in after} == {**dict.fromkeys(after, 0), "batches": 1, "batch_issues": 1}


def test_the_same_workbook_without_its_password_is_accepted(sqlite_centre: Centre, password_protected: dict[str, Path]) -> None:
    """Control: LibreOffice's own save of the workbook, without the password, reads and is accepted."""
    shutil.copyfile(password_protected["plain"], _unit_folder(sqlite_centre) / "未加密.xlsx")
    outcome = _only_result(sqlite_centre)
    assert outcome.result.status is BatchStatus.ACCEPTED, outcome.result.all_issues
    assert [(row.status, str(row.amounts["补缴金额"])) for row in outcome.result.rows] == [(RowStatus.ACCEPTED, "1000")]


def test_zip_bomb_is_refused_before_inflating(sqlite_centre: Centre) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("xl/worksheets/sheet1.xml", b"\0" * 30_000_000)
    (_unit_folder(sqlite_centre) / "炸弹.xlsx").write_bytes(buffer.getvalue())
    outcome = _only_result(sqlite_centre)
    assert [i.code for i in outcome.result.file_issues] == [Code.FILE_UNREADABLE]
    assert "压缩" in outcome.result.file_issues[0].message


BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;"><!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
<!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;"><!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
<!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;"><!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
<!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">]>
<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>&lol9;</t></is></c></row></sheetData></worksheet>"""


def test_xml_entity_bomb_is_unreadable_and_nothing_is_stored(sqlite_centre: Centre, tmp_path: Path) -> None:
    """calamine expands no DTD entity: the billion laughs sheet is FILE_UNREADABLE, not a sheet of "lol"."""
    good = backpay_file(tmp_path, [row_for(sqlite_centre.members_of(0)[0])])
    buffer = io.BytesIO()
    with zipfile.ZipFile(good) as source, zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            data = BILLION_LAUGHS.encode() if info.filename == "xl/worksheets/sheet1.xml" else source.read(info.filename)
            target.writestr(info, data)
    (_unit_folder(sqlite_centre) / "实体.xlsx").write_bytes(buffer.getvalue())
    before = sqlite_centre.table_counts()

    outcome = _only_result(sqlite_centre)

    # python-calamine refuses the undeclared entity instead of expanding it (no defusedxml needed).
    after = sqlite_centre.table_counts()
    assert outcome.result.status is BatchStatus.REJECTED
    assert [issue.code for issue in outcome.result.file_issues] == [Code.FILE_UNREADABLE]
    assert outcome.result.rows == [] and outcome.result.serial_number is None and outcome.result.kind is None
    # Only the record of the rejected file itself: no rows, no back-pay, no serial number.
    assert {name: after[name] - before[name] for name in after} == {**dict.fromkeys(after, 0), "batches": 1, "batch_issues": 1}
    result = (outcome.outputs / "result.json").read_text(encoding="utf-8")
    assert json.loads(result)["file_errors"][0]["code"] == "FILE_UNREADABLE" and "lol" not in result
    assert outcome.moved_to.parent == sqlite_centre.app.home.quarantine / sqlite_centre.unit().unit_account


def test_formula_cells_count_by_their_value(sqlite_centre: Centre) -> None:
    member = sqlite_centre.members_of(0)[0]
    path = _unit_folder(sqlite_centre) / "公式.xlsx"
    workbook = xlsxwriter.Workbook(str(path))
    sheet = workbook.add_worksheet()
    sheet.write_row(0, 0, backpay.HEADER)
    sheet.write_row(1, 0, row_for(member)[:7])
    sheet.write_formula(1, 7, "=100*10", None, 1000)
    workbook.close()

    result = _only_result(sqlite_centre).result

    assert result.status is BatchStatus.ACCEPTED
    assert str(result.rows[0].amounts["补缴金额"]) == "1000"


@pytest.mark.parametrize(("column", "status"), [(0, BatchStatus.ACCEPTED), (1, BatchStatus.REJECTED), (2, BatchStatus.REJECTED)], ids=["序号", "个人账号", "姓名"])
def test_a_control_character_in_a_cell_does_not_move_the_totals_row(sqlite_centre: Centre, column: int, status: BatchStatus) -> None:
    """Excel stores a control character as ``_x0000_`` and calamine gives it back: a cell may hold the
    character the reader joins a first column with to look for 合计 at once. The totals row found is
    still the right one, and the cell is the unit's error on its own row (序号 is free text)."""
    own = sqlite_centre.members_of(0)
    spoiled = row_for(own[0], 1)
    spoiled[column] = f"{spoiled[column]}\x00"
    total = ["", "", "", "", "", "", "", "2000"]
    total[column] = "合计"  # in the same column: the cell above must not move it
    path = _unit_folder(sqlite_centre) / "补缴.xlsx"
    with xlsxwriter.Workbook(str(path)) as workbook:
        sheet = workbook.add_worksheet()
        for index, row in enumerate([backpay.HEADER, spoiled, row_for(own[1], 2), total, ["", "", "单位盖章"]]):
            for position, value in enumerate(row):
                sheet.write_string(index, position, str(value))
    with zipfile.ZipFile(path) as archive:
        assert "_x0000_" in archive.read("xl/sharedStrings.xml").decode()

    sheet = detect(read_raw(path, load_config().limits, holds_header({"补缴": backpay.HEADER})), {"补缴": backpay.HEADER}).sheet
    assert sheet.excel_rows == [2, 3] and sheet.total_excel_row == 4
    result = _only_result(sqlite_centre).result

    assert result.status is status
    assert [row.excel_row for row in result.rows] == [2, 3]
    assert {(issue.row, issue.column) for issue in result.all_issues} == ({(2, backpay.HEADER[column])} if column else set())


def test_formula_text_is_neutralised_in_csv_and_kept_as_text_in_xlsx(sqlite_centre: Centre) -> None:
    row = registration_row(1, "赵新", fake_id(date(1995, 5, 5), 901), "4070", "488", "488")
    row[11] = "=cmd|' /C calc'!A0"
    row[7] = "@SUM(1)"
    write_table(_unit_folder(sqlite_centre) / "登记.csv", registration.HEADER, [row])
    bad = list(row)
    bad[0], bad[2], bad[5] = 2, fake_id(date(1995, 5, 6), 902), "+8613912345678"
    write_table(_unit_folder(sqlite_centre) / "登记_错.csv", registration.HEADER, [bad])

    accepted, rejected = (o for o in sorted(sqlite_centre.run().outcomes, key=lambda o: o.source))

    with (accepted.outputs / "detail.csv").open(encoding="utf-8-sig", newline="") as handle:
        cells = [cell for line in csv.reader(handle) for cell in line]
    assert "'=cmd|' /C calc'!A0" in cells and "'@SUM(1)" in cells
    report = openpyxl.load_workbook(rejected.outputs / "report.xlsx").worksheets[0]
    phone = report["F2"]
    assert phone.value == "+8613912345678" and phone.data_type == "s"
    formula_like = report["L2"]
    assert formula_like.value == "=cmd|' /C calc'!A0" and formula_like.data_type == "s"


@pytest.mark.parametrize(
    ("cells", "written"),
    [
        (["张三", "1000", "2024-03"], ["张三", "1000", "2024-03"]),
        (["张三", "=1+1", "x-1", "-5"], ["张三", "'=1+1", "x-1", "'-5"]),
        (["a\x00=1", "\tb"], ["a\x00=1", "'\tb"]),
        ([], []),
    ],
)
def test_a_csv_column_is_neutralised_cell_by_cell(cells: list[str], written: list[str]) -> None:
    assert neutralise_column(cells) == written == [neutralise_formula(cell) for cell in cells]


def test_symlinks_and_stray_files_are_quarantined_unread(sqlite_centre: Centre, tmp_path: Path) -> None:
    secret = tmp_path / "secret.xlsx"
    secret.write_bytes(b"not for units")
    folder = _unit_folder(sqlite_centre)
    (folder / "link.xlsx").symlink_to(secret)
    (sqlite_centre.inbox / "stray.csv").write_text("x", encoding="utf-8")
    (sqlite_centre.inbox / "linked-unit").symlink_to(tmp_path)

    summary = sqlite_centre.run()

    assert summary.outcomes == []
    names = sorted(p.name for p in summary.quarantined)
    assert len(names) == 3 and any("link.xlsx" in n for n in names) and any("stray.csv" in n for n in names)
    assert secret.read_bytes() == b"not for units"
    for path in summary.quarantined:
        note = json.loads(path.with_name(path.name + ".reason.json").read_text(encoding="utf-8"))
        assert note["code"] == "FILE_UNREADABLE" and "隔离" in note["message"]
    assert [p for p in sqlite_centre.inbox.rglob("*") if not p.is_dir() or p.is_symlink()] == []


def test_logs_mask_id_numbers(tmp_path: Path) -> None:
    handler = logs.configure(tmp_path)
    try:
        logging.getLogger("pipeline.test").warning("bad row for %s and 11010519491231002X", "211402198702190040")
        handler.flush()
    finally:
        logging.getLogger("pipeline").removeHandler(handler)
        handler.close()
    text = (tmp_path / "gjj.log").read_text(encoding="utf-8")
    assert "211402********0040" in text and "110105********002X" in text
    assert "198702190040" not in text and "19491231002X" not in text


@pytest.fixture(scope="module")
def fuzz_centre(tmp_path_factory: pytest.TempPathFactory) -> Centre:
    root = tmp_path_factory.mktemp("fuzz")
    centre = make_centre(root / "home", f"sqlite:///{root / 'gjj.db'}")
    yield centre
    centre.app.close()


def _valid_xlsx(centre: Centre) -> bytes:
    folder = centre.app.home.var / "fuzz-seed"
    return backpay_file(folder, [row_for(m, i) for i, m in enumerate(centre.members_of(0)[:3], 1)]).read_bytes()


printable = st.characters(blacklist_categories=("Cc", "Cs"))  # what a spreadsheet program can store at all

cell_text = st.one_of(
    st.text(alphabet=printable, max_size=30),
    st.text(alphabet="０１２３４５６７８９ＸＡ　\u00a0-=+@\t", max_size=25),
    st.sampled_from(["=1+1", "@SUM(A1)", "+1", "-1", "=HYPERLINK(\"http://x\")", "2.10102199001011e+17", "合计", "例"]),
    st.text(alphabet=printable, min_size=300, max_size=2000),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(
    kind=st.sampled_from(["random", "truncated", "csv", "xlsx"]),
    data=st.data(),
)
def test_fuzz_any_file_gets_a_result(fuzz_centre: Centre, kind: str, data: st.DataObject) -> None:
    folder = _unit_folder(fuzz_centre)
    if kind == "random":
        name = "x" + data.draw(st.sampled_from([".xlsx", ".xls", ".csv"]))
        (folder / name).write_bytes(data.draw(st.binary(max_size=3000)))
    elif kind == "truncated":
        valid = _valid_xlsx(fuzz_centre)
        cut = len(valid) * data.draw(st.integers(min_value=0, max_value=999)) // 1000  # independent of the exact size
        name = "t.xlsx"
        (folder / name).write_bytes(valid[:cut])
    else:
        rows = data.draw(st.lists(st.lists(cell_text, min_size=0, max_size=10), max_size=6))
        header = data.draw(st.sampled_from([list(backpay.HEADER), list(registration.HEADER), ["乱", "码"]]))
        if kind == "csv":
            encoding = data.draw(st.sampled_from(["utf-8", "utf-8-sig", "gb18030", "utf-16", "latin-1"]))
            text = "\n".join(",".join(cell.replace(",", " ") for cell in row) for row in [header, *rows])
            name = "c.csv"
            (folder / name).write_bytes(text.encode(encoding, errors="replace"))
        else:
            name = "w.xlsx"
            write_table(folder / name, header, rows, title=data.draw(st.sampled_from([None, "标题"])))

    outcomes = fuzz_centre.run().outcomes

    assert len(outcomes) == 1
    result = outcomes[0].result
    written = outcomes[0].outputs
    result_json = written if written.is_file() else written / "result.json"
    assert json.loads(result_json.read_text(encoding="utf-8"))["status"] == result.status.value
    if result.status is not BatchStatus.ACCEPTED:
        assert result.file_issues or any(row.errors for row in result.rows)
