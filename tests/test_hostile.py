"""Hostile input: bombs, encrypted files, links, formulas, injection, huge cells — and a fuzzer.

Whatever arrives, the processor never crashes: every file gets a result.json, the bad ones with a
file error or row errors, and nothing unsafe is opened.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import zipfile
from datetime import date
from pathlib import Path

import openpyxl
import pytest
import xlsxwriter
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline import logs
from pipeline.errors import Code
from pipeline.model import BatchStatus
from pipeline.outputs.xlsx_text import neutralise_column, neutralise_formula
from pipeline.services.fakes import fake_id, registration_row, write_table
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


def test_encrypted_xlsx_is_reported_as_password_protected(sqlite_centre: Centre) -> None:
    (_unit_folder(sqlite_centre) / "加密.xlsx").write_bytes(bytes.fromhex("d0cf11e0a1b11ae1") + b"\0" * 4000)
    outcome = _only_result(sqlite_centre)
    assert [i.code for i in outcome.result.file_issues] == [Code.FILE_UNREADABLE]
    assert "密码" in outcome.result.file_issues[0].message
    assert outcome.moved_to.parent.parent == sqlite_centre.app.home.quarantine


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


def test_xml_entity_bomb_gets_a_result_not_a_blow_up(sqlite_centre: Centre, tmp_path: Path) -> None:
    good = backpay_file(tmp_path, [row_for(sqlite_centre.members_of(0)[0])])
    buffer = io.BytesIO()
    with zipfile.ZipFile(good) as source, zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            data = BILLION_LAUGHS.encode() if info.filename == "xl/worksheets/sheet1.xml" else source.read(info.filename)
            target.writestr(info, data)
    (_unit_folder(sqlite_centre) / "实体.xlsx").write_bytes(buffer.getvalue())

    outcome = _only_result(sqlite_centre)

    # python-calamine refuses the undeclared entity instead of expanding it (no defusedxml needed).
    assert outcome.result.status is BatchStatus.REJECTED
    assert [issue.code for issue in outcome.result.file_issues] == [Code.FILE_UNREADABLE]
    assert (outcome.outputs / "result.json").is_file()


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
