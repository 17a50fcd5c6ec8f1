"""Outputs of a real run, as the unit receives them: slip text, the annotated report, xls input."""

from __future__ import annotations

import csv
import io
import json
import multiprocessing
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest
import xlwt
from hypothesis import given, settings
from hypothesis import strategies as st
from pypdf import PdfReader

from pipeline.check import file as checked_file
from pipeline.errors import Code, Issue
from pipeline.model import BatchResult, BatchStatus, RowResult, RowStatus
from pipeline.outputs import result_files, writer
from pipeline.outputs.result_files import write_result_json
from pipeline.store import batches
from schemas import backpay
from tests.conftest import BUSINESS_DATE, Centre
from tests.factories import aged, backpay_file, row_for


def _pdf_text(path: Path) -> str:
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], check=True, capture_output=True, text=True).stdout


def test_slip_of_a_run_has_serial_words_and_collection_account(sqlite_centre: Centre) -> None:
    members = sqlite_centre.members_of(0)
    backpay_file(
        sqlite_centre.inbox / sqlite_centre.unit().unit_account,
        [row_for(members[0], 1, amount="147084.83"), row_for(members[1], 2, "补差", "2024-06", "2024-06", "0.49")],
    )
    sqlite_centre.app.config = replace(sqlite_centre.app.config, rounding="fen")

    outcome = sqlite_centre.run().outcomes[0]

    text = _pdf_text(outcome.outputs / "slip.pdf")
    assert outcome.result.serial_number in text
    assert "葫芦岛市公积金管理中心补缴凭条" in text
    assert "壹拾肆万柒仟零捌拾伍元叁角贰分" in text  # 147084.83 + 0.49 = 147085.32
    assert "294756317375" in text and "104227619876" in text and "中国银行葫芦岛分行" in text
    assert members[0].id_number in text and members[1].name in text
    detail = (outcome.outputs / "detail.csv").read_bytes()
    assert detail.startswith(b"\xef\xbb\xbf")
    assert "147084.83" in detail.decode("utf-8-sig")


def test_report_marks_the_exact_cell_red_with_a_comment(sqlite_centre: Centre) -> None:
    members = sqlite_centre.members_of(0)
    backpay_file(
        sqlite_centre.inbox / sqlite_centre.unit().unit_account,
        [row_for(members[0], 1), row_for(members[1], 2, reason="欠缴"), row_for(members[2], 3, amount="abc")],
        title="示例单位补缴清册",
    )

    outcome = sqlite_centre.run().outcomes[0]

    assert outcome.result.status is BatchStatus.REJECTED
    workbook = openpyxl.load_workbook(outcome.outputs / "report.xlsx")
    sheet = workbook.worksheets[0]
    assert [c.value for c in sheet[2]] == list(backpay.HEADER)
    assert sheet["A1"].value == "示例单位补缴清册"
    reason, amount, good = sheet["E4"], sheet["H5"], sheet["E3"]
    assert reason.value == "欠缴" and reason.fill.fgColor.rgb.endswith("FF9999")
    assert "ENUM_VALUE" in reason.comment.text and "漏缴、少缴、补差" in reason.comment.text
    assert "NUMBER_FORMAT" in amount.comment.text
    assert good.comment is None and good.fill.fgColor.rgb in (None, "00000000")
    listing = [row for row in workbook["错误清单"].iter_rows(values_only=True)]
    assert any(row[:3] == (4, "补缴原因", "ENUM_VALUE") for row in listing)
    text = _pdf_text(outcome.outputs / "report.pdf")
    assert "ENUM_VALUE" in text and "NUMBER_FORMAT" in text


def test_fixed_report_resubmitted_is_accepted(sqlite_centre: Centre) -> None:
    members = sqlite_centre.members_of(0)
    folder = sqlite_centre.inbox / sqlite_centre.unit().unit_account
    backpay_file(folder, [row_for(members[0], 1), row_for(members[1], 2, reason="欠缴")])
    report = sqlite_centre.run().outcomes[0].outputs / "report.xlsx"
    workbook = openpyxl.load_workbook(report)
    workbook.worksheets[0]["E4"] = "少缴"
    workbook.save(folder / "补缴_已改.xlsx")

    result = sqlite_centre.run().outcomes[0].result

    assert result.status is BatchStatus.ACCEPTED
    assert len(result.accepted_rows) == 2


def test_xls_files_are_read(sqlite_centre: Centre) -> None:
    member = sqlite_centre.members_of(0)[0]
    folder = sqlite_centre.inbox / sqlite_centre.unit().unit_account
    folder.mkdir(parents=True)
    book = xlwt.Workbook(encoding="utf-8")
    sheet = book.add_sheet("Sheet1")
    for column, value in enumerate(backpay.HEADER):
        sheet.write(0, column, value)
    for column, value in enumerate(row_for(member, amount=1000.5)):
        sheet.write(1, column, value)
    book.save(str(folder / "补缴.xls"))

    result = sqlite_centre.run().outcomes[0].result

    assert result.status is BatchStatus.ACCEPTED, json.dumps(result.to_dict(), ensure_ascii=False)
    assert str(result.rows[0].amounts["补缴金额"]) == "1001"


def test_header_error_rejects_without_cell_noise(sqlite_centre: Centre) -> None:
    folder = sqlite_centre.inbox / sqlite_centre.unit().unit_account
    backpay_file(folder, [row_for(sqlite_centre.members_of(0)[0])], title=None)
    path = folder / "补缴.xlsx"
    workbook = openpyxl.load_workbook(path)
    workbook.active["B1"], workbook.active["C1"] = "姓名", "个人账号"
    workbook.save(path)

    result = sqlite_centre.run().outcomes[0].result

    assert [i.code for i in result.file_issues] == [Code.HEADER_ORDER]
    assert "第2列应为「个人账号」，实际为「姓名」" in result.file_issues[0].message
    assert result.rows == []


def _result_with_every_part() -> BatchResult:
    tricky = 'say "hi"\\ \n\t\x01 \u2028 😀 =1+1'
    rows = [
        RowResult(3, "1", {"姓名": "张三"}, RowStatus.ACCEPTED, [], {"补缴金额": Decimal("1409.50")}),
        RowResult(4, "2", {"姓名": tricky}, RowStatus.REJECTED, [Issue(Code.NAME_FORMAT, f"「{tricky}」不是姓名", 4, "姓名")]),
        RowResult(5, "3", {}, RowStatus.COUNTER, [Issue(Code.COUNTER_CROSS_YEAR, "跨年度", 5, "补缴结束年月")], computed={"个人账号": "010000100001"}),
    ]
    return BatchResult(
        batch_id="20240805-000001",
        unit_account="0100001",
        unit_name=tricky,
        kind="补缴",
        source_name="补缴.xlsx",
        sha256="0" * 64,
        business_date=date(2024, 8, 5),
        status=BatchStatus.REJECTED,
        file_issues=[Issue(Code.TOTAL_MISMATCH, "合计不符", column="补缴金额")],
        rows=rows,
        processed_at=datetime(2024, 8, 5, 22, 0, 1),
    )


@pytest.mark.parametrize("row_count", [0, 3])
def test_result_json_is_exactly_the_standard_encoding(tmp_path: Path, row_count: int) -> None:
    result = _result_with_every_part()
    result.rows = result.rows[:row_count]
    write_result_json(result, tmp_path / "result.json")
    assert (tmp_path / "result.json").read_text(encoding="utf-8") == json.dumps(result.to_dict(), ensure_ascii=False, indent=2)


@pytest.fixture
def parallel_outputs(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every batch counts as big: its files are written by a forked process beside the PDFs."""
    monkeypatch.setattr(writer, "PARALLEL_ROWS", 1)


def test_big_batches_write_files_and_pdfs_in_two_processes(sqlite_centre: Centre, parallel_outputs: None) -> None:
    members = sqlite_centre.members_of(0)
    folder = sqlite_centre.inbox / sqlite_centre.unit().unit_account
    backpay_file(folder, [row_for(members[0], 1), row_for(members[1], 2)], name="好.xlsx")
    backpay_file(folder, [row_for(members[2], 1, reason="欠缴")], name="坏.xlsx")

    outcomes = {outcome.source: outcome for outcome in sqlite_centre.run().outcomes}

    accepted, rejected = outcomes["好.xlsx"], outcomes["坏.xlsx"]
    assert {p.name for p in accepted.outputs.iterdir()} == {"result.json", "detail.csv", "slip.pdf"}
    assert {p.name for p in rejected.outputs.iterdir()} == {"result.json", "report.xlsx", "report.pdf"}
    assert json.loads((accepted.outputs / "result.json").read_text(encoding="utf-8"))["status"] == "accepted"
    assert openpyxl.load_workbook(rejected.outputs / "report.xlsx").sheetnames[-1] == "错误清单"


def test_big_batch_outputs_are_written_while_the_batch_is_stored(
    sqlite_centre: Centre, parallel_outputs: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    members = sqlite_centre.members_of(0)
    unit_folder = sqlite_centre.app.home.outbox / sqlite_centre.unit().unit_account
    backpay_file(sqlite_centre.inbox / sqlite_centre.unit().unit_account, [row_for(members[0], 1), row_for(members[1], 2)])
    record = batches.record
    seen_while_storing: list[set[str]] = []

    def record_once_outputs_are_written(*args: object) -> None:
        # The output processes were started before the rows are stored: wait until they are done.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            names = {path.name for path in unit_folder.glob(".*.tmp-*/*")}
            if {"result.json", "detail.csv", "slip.pdf"} <= names:
                break
            time.sleep(0.05)
        seen_while_storing.append(names)
        assert not [path for path in unit_folder.iterdir() if not path.name.startswith(".")]  # nothing in place yet
        record(*args)

    monkeypatch.setattr(batches, "record", record_once_outputs_are_written)
    outcome = sqlite_centre.run().outcomes[0]

    assert seen_while_storing == [{"result.json", "detail.csv", "slip.pdf"}]
    assert {path.name for path in outcome.outputs.iterdir()} == {"result.json", "detail.csv", "slip.pdf"}
    assert [path.name for path in unit_folder.iterdir()] == [outcome.result.batch_id]  # no hidden folder left
    assert not list((tmp_path / "tmp").glob("gjj-pdf-*"))  # the PDF process removed its font files


def test_big_batch_that_fails_to_store_shows_no_outputs(
    sqlite_centre: Centre, parallel_outputs: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    unit = sqlite_centre.unit().unit_account
    backpay_file(sqlite_centre.inbox / unit, [row_for(sqlite_centre.members_of(0)[0])])
    before = sqlite_centre.table_counts()

    def broken(*args: object) -> None:
        raise OSError("database gone")

    monkeypatch.setattr(batches, "write_rows", broken)
    failed = sqlite_centre.run().failed
    assert [(item.source, item.error) for item in failed] == [("补缴.xlsx", "OSError: database gone")]
    assert not list((sqlite_centre.app.home.outbox / unit).iterdir())  # not even a hidden folder
    assert sqlite_centre.table_counts() == before
    assert not list((tmp_path / "tmp").glob("gjj-pdf-*"))
    monkeypatch.undo()

    outcome = sqlite_centre.run().outcomes[0]
    assert outcome.result.status is BatchStatus.ACCEPTED and (outcome.outputs / "slip.pdf").is_file()
    assert sqlite_centre.table_counts()["backpay_records"] == 1


@pytest.fixture
def warm_pdfs(parallel_outputs: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Every file counts as big before it is read: a PDF process is forked first. Its temp folder."""
    monkeypatch.setattr(writer, "WARM_BYTES", 1)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    return tmp_path / "tmp"


def _pdf_processes() -> list[str]:
    return [child.name for child in multiprocessing.active_children() if child.name == "gjj-pdf"]


def test_a_big_file_has_its_pdf_process_warming_up_while_it_is_read(
    sqlite_centre: Centre, warm_pdfs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    members = sqlite_centre.members_of(0)
    backpay_file(sqlite_centre.inbox / sqlite_centre.unit().unit_account, [row_for(members[0], 1, amount="1200"), row_for(members[1], 2, amount="34")])
    read_raw = checked_file.read_raw
    while_read: list[list[str]] = []

    def read_watched(*args: object, **kwargs: object) -> object:
        while_read.append(_pdf_processes())
        return read_raw(*args, **kwargs)

    monkeypatch.setattr(checked_file, "read_raw", read_watched)
    outcome = sqlite_centre.run().outcomes[0]

    assert while_read == [["gjj-pdf"]]
    text = _pdf_text(outcome.outputs / "slip.pdf")
    assert outcome.result.serial_number in text and "1234.00" in text and "壹仟贰佰叁拾肆元整" in text
    assert _pdf_processes() == []
    assert not list(warm_pdfs.glob("gjj-pdf-*"))  # the PDF process removed its font files


def test_a_warm_pdf_process_not_needed_leaves_at_once(sqlite_centre: Centre, warm_pdfs: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A file big on disk with few rows renders its PDFs here; a file that fails to check renders none."""
    monkeypatch.setattr(writer, "PARALLEL_ROWS", 3)
    unit = sqlite_centre.unit().unit_account
    members = sqlite_centre.members_of(0)
    aged(backpay_file(sqlite_centre.inbox / unit, [row_for(members[0])], name="小.xlsx"), 7200)
    aged(backpay_file(sqlite_centre.inbox / unit, [row_for(members[1])], name="坏.xlsx"), 3600)
    start_validation = checked_file.start_validation
    warming_while_checked: list[list[str]] = []

    def validate_then_fail_the_second(*args: object, **kwargs: object) -> object:
        warming_while_checked.append(_pdf_processes())
        if len(warming_while_checked) == 2:
            raise OSError("disk gone")
        return start_validation(*args, **kwargs)

    monkeypatch.setattr(checked_file, "start_validation", validate_then_fail_the_second)
    summary = sqlite_centre.run()

    assert len(warming_while_checked) == 2 and all(warming_while_checked)  # (the first may still be warming up)
    assert [outcome.source for outcome in summary.outcomes] == ["小.xlsx"]
    assert (summary.outcomes[0].outputs / "slip.pdf").is_file()
    assert [(item.source, item.error) for item in summary.failed] == [("坏.xlsx", "OSError: disk gone")]
    for child in multiprocessing.active_children():  # cancelled workers leave once warm, unwaited
        child.join(60)
        assert child.exitcode == 0


SIZES_ON_DISK = {
    "below WARM_BYTES": (lambda limit: writer.WARM_BYTES - 1, False),
    "WARM_BYTES": (lambda limit: writer.WARM_BYTES, True),
    "at the limit": (lambda limit: limit, True),
    "over the limit": (lambda limit: limit + 1, False),
}


@pytest.mark.parametrize("size, warms", SIZES_ON_DISK.values(), ids=SIZES_ON_DISK.keys())
def test_only_a_file_that_can_hold_a_big_batch_gets_a_pdf_process(
    sqlite_centre: Centre, tmp_path: Path, size: Callable[[int], int], warms: bool
) -> None:
    """Below WARM_BYTES a file cannot hold PARALLEL_ROWS rows; over the size limit it is refused unread."""
    config = sqlite_centre.app.config
    path = tmp_path / "补缴.xlsx"
    with path.open("wb") as handle:
        handle.truncate(size(config.limits.max_file_bytes))
    worker = writer.OutputWriter(tmp_path / "outbox", config).warm_pdfs(path)
    assert (worker is not None) is warms
    if worker is not None:
        worker.cancel()
        worker.process.join(300)  # a PDF process warms up first (WeasyPrint, fonts): slow on a loaded machine
        assert worker.process.exitcode == 0


def test_a_pdf_process_that_fails_to_warm_up_leaves_the_batch_to_the_next_run(
    sqlite_centre: Centre, warm_pdfs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pipeline.outputs.pdf.render import PdfRenderer

    unit = sqlite_centre.unit().unit_account
    backpay_file(sqlite_centre.inbox / unit, [row_for(sqlite_centre.members_of(0)[0])])

    def broken(renderer: PdfRenderer) -> None:
        raise OSError("no font")

    monkeypatch.setattr(PdfRenderer, "warm", broken)
    failed = sqlite_centre.run().failed
    assert len(failed) == 1 and failed[0].error.startswith("OutputFailed: writing the outputs failed")
    assert not list((sqlite_centre.app.home.outbox / unit).glob("2*"))
    assert not list(warm_pdfs.glob("gjj-pdf-*"))
    monkeypatch.undo()

    outcome = sqlite_centre.run().outcomes[0]
    assert outcome.result.status is BatchStatus.ACCEPTED and (outcome.outputs / "slip.pdf").is_file()
    assert sqlite_centre.table_counts()["backpay_records"] == 1


def test_a_pdf_process_never_removes_the_font_files_of_the_run(sqlite_centre: Centre, monkeypatch: pytest.MonkeyPatch) -> None:
    """Small batches render here, big ones in a forked process that shares the renderer's font folder.

    Names outside GB 2312 make each report need a new subset file: the forked process's own
    must never replace the files this process still uses.
    """
    monkeypatch.setattr(writer, "PARALLEL_ROWS", 3)
    members = sqlite_centre.members_of(0)
    folder = sqlite_centre.inbox / sqlite_centre.unit().unit_account

    def renamed(row: list[object], name: str) -> list[object]:
        return [*row[:2], name, *row[3:]]  # 姓名 that does not match: NAME_MISMATCH, report.pdf shows it

    aged(backpay_file(folder, [renamed(row_for(members[0]), "龘")], name="一.xlsx"), 7200)
    aged(backpay_file(folder, [renamed(row_for(member, n + 1), "㵘") for n, member in enumerate(members[1:4])], name="二.xlsx"), 3600)
    aged(backpay_file(folder, [renamed(row_for(members[4]), "龘")], name="一一.xlsx"), 1800)  # no character doc 一 did not have
    processor = sqlite_centre.app.processor(BUSINESS_DATE)
    try:
        outcomes = processor.run().outcomes
        subsets = processor.outputs.pdf.fonts.subsets
        assert subsets and all(subset.path is not None and subset.path.is_file() for subset in subsets)
    finally:
        processor.close()
    assert [outcome.source for outcome in outcomes] == ["一.xlsx", "二.xlsx", "一一.xlsx"]
    for outcome in outcomes:
        page = PdfReader(outcome.outputs / "report.pdf").pages[0]
        fonts = [str(font.get_object()["/BaseFont"]) for font in page["/Resources"]["/Font"].values()]
        assert fonts and all("+GJJ-CJK" in font for font in fonts), (outcome.source, fonts)


def test_a_failed_output_process_leaves_the_batch_to_the_next_run(sqlite_centre: Centre, parallel_outputs: None, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = sqlite_centre.inbox / sqlite_centre.unit().unit_account
    backpay_file(folder, [row_for(sqlite_centre.members_of(0)[0])])

    def broken(result: BatchResult, path: Path) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(writer, "write_result_json", broken)
    failed = sqlite_centre.run().failed
    assert len(failed) == 1 and failed[0].error.startswith("OutputFailed: writing the outputs failed")
    assert not list((sqlite_centre.app.home.outbox / sqlite_centre.unit().unit_account).glob("2*"))  # nothing half-written in place
    monkeypatch.undo()

    outcome = sqlite_centre.run().outcomes[0]  # the stored batch is rendered again, applied once
    assert outcome.result.status is BatchStatus.ACCEPTED and (outcome.outputs / "result.json").is_file()
    assert sqlite_centre.table_counts()["backpay_records"] == 1


@given(
    st.integers(min_value=1, max_value=4).flatmap(
        lambda width: st.tuples(
            st.lists(st.text(max_size=4), min_size=width, max_size=width),
            st.lists(st.lists(st.sampled_from(["", "a", "张三", "1,000", 'say "hi"', "x\ny", "\r", " ", "'=1"]) | st.text(max_size=3), min_size=width, max_size=width), max_size=5),
        )
    )
)
@settings(max_examples=200, deadline=None)
def test_csv_lines_are_what_the_csv_module_writes(header_and_rows: tuple[list[str], list[list[str]]]) -> None:
    header, rows = header_and_rows
    columns = [list(column) for column in zip(*rows)] if rows else [[] for _ in header]
    expected, written = io.StringIO(newline=""), io.StringIO(newline="")
    csv.writer(expected).writerows([header, *rows])

    result_files.write_csv(written, header, columns)

    assert written.getvalue() == expected.getvalue()


def test_totals_count_every_status_and_sum_only_accepted_amounts() -> None:
    result = _result_with_every_part()
    result.rows.append(RowResult(6, "4", {}, RowStatus.ACCEPTED, amounts={"补缴金额": Decimal("0.5"), "新缴存基数": Decimal("3000")}))
    result.rows.append(RowResult(7, "5", {}, RowStatus.NOT_APPLIED, amounts={"个人月缴存额": Decimal("88")}))

    totals = result.totals()

    assert totals == {
        "rows": 5,
        "accepted": 2,
        "rejected": 1,
        "counter": 1,
        "unchanged": 0,
        "not_applied": 1,
        "pending_review": 0,
        "returned": 0,
        "refused": 0,
        "amounts": {"个人月缴存额": "0.00", "新缴存基数": "3000.00", "补缴金额": "1410.00"},
    }
    assert result.accepted_total("补缴金额") == Decimal("1410.0")
    assert result.status_counts() == {RowStatus.ACCEPTED: 2, RowStatus.REJECTED: 1, RowStatus.COUNTER: 1, RowStatus.UNCHANGED: 0, RowStatus.NOT_APPLIED: 1} | {
        RowStatus.PENDING_REVIEW: 0,
        RowStatus.RETURNED: 0,
        RowStatus.REFUSED: 0,
    }
