"""The staff summary of a business day: summary.json, summary.html rendered in headless Chromium, index.html.

One real run (module fixture) holds accepted, rejected, duplicate, counter and quarantined files;
its end writes the day's page from the database.
Chromium renders the page three ways: to PDF (its text, as laid out, is what we assert on), to a
PNG screenshot (kept under ``tests/artifacts/``; with ``GJJ_UPDATE_SCREENSHOT=1`` also copied to
``docs/staff-summary.png`` for the README), and a glyph probe proving Chinese is not tofu.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
from PIL import Image, ImageChops

from pipeline.errors import Code, Issue
from pipeline.intake.scan import FILE_NO_ACCESS, FOLDER_NO_ACCESS, IN_SUBFOLDER
from pipeline.model import BatchResult, BatchStatus, RowResult, RowStatus
from pipeline.money import monthly_deposit
from pipeline.run.counter_documents import COUNTER_DOCUMENTS, GENERIC_DOCUMENTS, counter_documents
from pipeline.run.outcomes import DaySummary, FileOutcome, Reported, RunSummary
from pipeline.run.summary import FONT_STACK, mask_id, write_index, write_summary
from pipeline.services.fakes import fake_id, registration_row
from tests.conftest import BUSINESS_DATE, Centre, make_centre
from tests.factories import backpay_file, identity, kind_file, row_for

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
README_SCREENSHOT = ROOT / "docs" / "staff-summary.png"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
    "--force-device-scale-factor=1",
)
UNKNOWN_UNIT = "9999999"


@dataclass
class StaffRun:
    centre: Centre
    summary: RunSummary
    page: Path
    data: dict[str, Any]

    @property
    def outbox(self) -> Path:
        return self.centre.app.home.outbox


def _raised(base: Decimal, factor: str) -> str:
    return str((base * Decimal(factor)).quantize(Decimal(1)))


def _drop_files(centre: Centre) -> None:
    """Accepted, rejected, duplicate, counter and unknown-unit files, in this arrival order."""
    own, other, third = centre.members_of(0), centre.members_of(1), centre.members_of(2)
    first = centre.inbox / centre.unit(0).unit_account
    second = centre.inbox / centre.unit(1).unit_account
    accepted = backpay_file(first, [row_for(own[0], 1), row_for(own[1], 2, "少缴", amount="212.5")], "补缴清册.xlsx")
    bad_name = row_for(own[5], 4)
    bad_name[2] = own[5].name + "某"
    backpay_file(
        first,
        [
            row_for(own[2], 1, reason="欠缴"),
            row_for(own[3], 2, reason="欠缴"),
            row_for(own[4], 3, amount="abc"),
            bad_name,
            row_for(own[9], 5),
        ],
        "补缴清册_第二批.xlsx",
    )
    kind_file(
        first,
        "基数调整",
        [[1, *identity(own[6]), _raised(own[6].base, "1.1")], [2, *identity(own[7]), _raised(own[7].base, "1.3")]],
    )
    shutil.copyfile(accepted, first / "补缴清册(1).xlsx")
    backpay_file(second, [row_for(other[0], 1, start="2023-11", end="2024-02", amount="1200"), row_for(other[1], 2)], "补缴.xlsx")
    kind_file(
        second,
        "缴存人登记",
        [
            registration_row(1, "孙立", fake_id(date(1990, 1, 1), 903), "2125", "213", "210"),
            registration_row(2, "李明", fake_id(date(1991, 2, 2), 904), "3000", "300", "300", mobile="1234567"),
        ],
        "缴存人登记_有错误.xlsx",
    )
    kind_file(centre.inbox / centre.unit(2).unit_account, "封存", [[1, *identity(third[0]), "退休封存", "2024-08"]])
    # The third unit's 汇缴清册 after that 封存: its other members, base × ratio rounded half-up.
    ratios = [Decimal(centre.unit(2).unit_ratio), Decimal(centre.unit(2).personal_ratio)]
    remit_rows = [
        [seq, *identity(member), str(member.base), *(str(monthly_deposit(member.base, ratio)) for ratio in ratios), "2024-08", "2024-08"]
        for seq, member in enumerate(third[1:], start=1)
    ]
    kind_file(centre.inbox / centre.unit(2).unit_account, "汇缴", remit_rows)
    backpay_file(centre.inbox / UNKNOWN_UNIT, [row_for(own[8], 1)], "补缴.xlsx")


@pytest.fixture(scope="module")
def staff_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StaffRun]:
    root = tmp_path_factory.mktemp("staff")
    centre = make_centre(root / "home", f"sqlite:///{root / 'gjj.db'}")
    try:
        _drop_files(centre)
        summary = centre.run(BUSINESS_DATE)
        page = summary.staff_summary
        assert page is not None
        data = json.loads((page.parent / "summary.json").read_text(encoding="utf-8"))
        yield StaffRun(centre, summary, page, data)
    finally:
        centre.app.close()


# --- summary.json ------------------------------------------------------------------------------


def test_files_land_where_the_issue_says(staff_run: StaffRun) -> None:
    folder = staff_run.outbox / "_centre" / "days" / "2024-08-05"
    assert staff_run.page == folder / "summary.html"
    assert sorted(path.name for path in folder.iterdir()) == ["entry.json", "summary.html", "summary.json"]
    assert (staff_run.outbox / "_centre" / "index.html").is_file()
    assert staff_run.data["business_date"] == "2024-08-05" and staff_run.data["runs"] == [staff_run.summary.run_id]


def test_totals_by_status_and_by_template(staff_run: StaffRun) -> None:
    totals = staff_run.data["totals"]
    assert totals["files"] == 9
    assert totals["by_status"] == {"accepted": 5, "partially_accepted": 0, "rejected": 3, "duplicate": 1}
    assert totals["referrals"] == 2
    assert totals["rows"]["counter"] == 2
    assert totals["accepted_backpay"] == "2213.00"  # 1000 + 213 (212.5 rounded) + unit 2's good row 1000
    by_template = staff_run.data["by_template"]
    assert by_template["补缴"] == {
        "files": 4, "accepted": 2, "partially_accepted": 0, "rejected": 1, "duplicate": 1, "rows": 9, "counter": 1,
    }
    assert by_template["未识别"] == {
        "files": 1, "accepted": 0, "partially_accepted": 0, "rejected": 1, "duplicate": 0, "rows": 0, "counter": 0,
    }
    assert by_template["基数调整"]["accepted"] == 1 and by_template["基数调整"]["counter"] == 1
    assert by_template["缴存人登记"]["rejected"] == 1
    assert by_template["封存"]["accepted"] == 1
    assert by_template["汇缴"]["accepted"] == 1


def test_each_file_has_unit_status_counts_and_relative_links(staff_run: StaffRun) -> None:
    files = {(entry["unit"], entry["source_file"]): entry for entry in staff_run.data["files"]}
    assert len(files) == 9
    rejected = files[("0100001", "补缴清册_第二批.xlsx")]
    assert rejected["status"] == "rejected" and rejected["status_label"] == "已退回"
    assert rejected["unit_name"] == staff_run.centre.unit(0).name
    assert rejected["counts"]["rows"] == 5 and rejected["counts"]["rejected"] == 4 and rejected["counts"]["not_applied"] == 1
    batch = rejected["batch_id"]
    links = {output["name"]: output["path"] for output in rejected["outputs"]}
    assert links["report.pdf"] == f"../../../0100001/{batch}/report.pdf"
    assert set(links) == {"report.pdf", "report.xlsx", "result.json"}
    assert rejected["original"] == f"../../../../archive/0100001/{batch}_补缴清册_第二批.xlsx"
    for entry in files.values():
        for output in entry["outputs"]:
            assert (staff_run.page.parent / output["path"]).is_file(), output
    assert files[("0100001", "补缴清册(1).xlsx")]["duplicate_of"] == files[("0100001", "补缴清册.xlsx")]["batch_id"]


def test_every_link_on_the_page_opens_a_file(staff_run: StaffRun) -> None:
    parsed = _parse(staff_run.page.read_text(encoding="utf-8"))
    hrefs = [attrs["href"] or "" for tag, attrs in parsed.tags if tag == "a"]
    files = [href for href in hrefs if not href.startswith("#")]
    assert len(files) > 20 and "../../index.html" in files
    for href in files:
        assert (staff_run.page.parent / unquote(href)).is_file(), href
    anchors = {attrs.get("id") for _, attrs in parsed.tags}
    assert all(href[1:] in anchors for href in hrefs if href.startswith("#"))


def test_quarantined_unknown_unit_file_appears(staff_run: StaffRun) -> None:
    entry = next(entry for entry in staff_run.data["files"] if entry["unit"] == UNKNOWN_UNIT)
    assert entry["status"] == "rejected" and entry["quarantined"] is True
    (output,) = entry["outputs"]
    assert output["path"] == f"../../../../quarantine/{UNKNOWN_UNIT}/{entry['batch_id']}_result.json"
    assert (staff_run.page.parent / output["path"]).is_file()


def test_rejections_grouped_by_code_with_counts(staff_run: StaffRun) -> None:
    groups = {group["code"]: group for group in staff_run.data["rejections"]}
    counts = {code: group["count"] for code, group in groups.items()}
    assert counts["ENUM_VALUE"] == 2
    assert counts["NUMBER_FORMAT"] == 1 and counts["NAME_MISMATCH"] == 1
    assert counts["PHONE_FORMAT"] == 1 and counts["AMOUNT_MISMATCH"] >= 1
    assert counts["UNIT_UNKNOWN"] == 1 and counts["DUPLICATE_FILE"] == 1
    assert not {code for code in counts if Code(code).is_counter}
    every_error = sum(len(outcome.result.errors) for outcome in staff_run.summary.outcomes)
    assert sum(counts.values()) == staff_run.data["totals"]["errors"] == every_error
    assert [group["count"] for group in staff_run.data["rejections"]] == sorted(counts.values(), reverse=True)
    enum_rows = sorted(item["row"] for item in groups["ENUM_VALUE"]["items"])
    assert enum_rows == [3, 4] and groups["ENUM_VALUE"]["title"] == "取值不在允许范围内"
    assert all(item["column"] == "补缴原因" for item in groups["ENUM_VALUE"]["items"])


def test_referrals_name_member_reason_and_documents(staff_run: StaffRun) -> None:
    referrals = {item["code"]: item for item in staff_run.data["referrals"]}
    assert set(referrals) == {"COUNTER_BASE_CHANGE", "COUNTER_CROSS_YEAR"}

    base = referrals["COUNTER_BASE_CHANGE"]
    member = staff_run.centre.members_of(0)[7]
    assert base["member"] == {"account": member.member_account, "name": member.name, "id_number": mask_id(member.id_number)}
    assert base["unit"] == "0100001" and base["row"] == 4 and base["kind"] == "基数调整"
    assert "该职工上一年度银行工资流水" in base["documents"]

    cross = referrals["COUNTER_CROSS_YEAR"]
    assert cross["member"]["name"] == staff_run.centre.members_of(1)[0].name
    assert cross["file_status"] == "accepted" and "跨年" in cross["reason"]
    assert cross["documents"][0] == "补缴说明（加盖单位公章，写明补缴原因、补缴时间、补缴人数、补缴总金额）"
    assert "补缴明细" in cross["documents"] and "经办人身份证" in cross["documents"]


def test_documents_fall_back_by_business_then_generic() -> None:
    assert counter_documents(Code.COUNTER_CROSS_YEAR, "补缴") == COUNTER_DOCUMENTS[Code.COUNTER_CROSS_YEAR]
    assert "劳动合同" in counter_documents(Code.DUPLICATE_ROW, "缴存人登记")
    assert counter_documents(Code.DUPLICATE_ROW, None) == GENERIC_DOCUMENTS
    assert set(COUNTER_DOCUMENTS) == {code for code in Code if code.is_counter}
    former = counter_documents(Code.COUNTER_FORMER_MEMBER, "补缴")
    assert "该职工与本单位的劳动关系证明（劳动合同或工资发放记录）" in former and former != COUNTER_DOCUMENTS[Code.COUNTER_CROSS_YEAR]
    assert former[0].startswith("补缴说明（加盖单位公章") and "经办人身份证" in former


def test_id_numbers_are_masked() -> None:
    assert mask_id("211402199001011234") == "211402********1234"
    assert mask_id("0") == "0"


# --- escaping, self-containment, index ---------------------------------------------------------

HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'


class _Elements(HTMLParser):
    """Start tags and text of a page, as a browser's tokenizer sees them."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _parse(html: str) -> _Elements:
    parser = _Elements()
    parser.feed(html)
    parser.close()
    return parser


def _hostile_day(home: Path, business_date: date = BUSINESS_DATE) -> DaySummary:
    """A day built in memory: a unit, a file, a member and a message that each carry markup."""
    issue = Issue(Code.COUNTER_CROSS_YEAR, f"跨年补缴 {HOSTILE}", row=3, column="补缴结束年月")
    error = Issue(Code.NAME_MISMATCH, f"姓名「{HOSTILE}」与个人账号不符", row=4, column="姓名")
    rows = [
        RowResult(3, "1", {"个人账号": "300000001", "姓名": HOSTILE, "证件号码": "211402199001011234"}, RowStatus.COUNTER, [issue]),
        RowResult(4, "2", {"个人账号": "300000002", "姓名": "张三", "证件号码": "211402199001015678"}, RowStatus.REJECTED, [error]),
    ]
    result = BatchResult(
        batch_id="20240805-000001",
        unit_account="0100001",
        unit_name=HOSTILE,
        kind="补缴",
        source_name=f"{HOSTILE}.xlsx",
        sha256="0" * 64,
        business_date=BUSINESS_DATE,
        status=BatchStatus.REJECTED,
        rows=rows,
    )
    outputs = home / "outbox" / "0100001" / result.batch_id
    outputs.mkdir(parents=True, exist_ok=True)
    (outputs / "result.json").write_text("{}", encoding="utf-8")
    outcome = FileOutcome(result.source_name, "0100001", result, outputs, home / "archive" / "x")
    return DaySummary(business_date, [outcome], runs=["20240805-010203-abcdef"])


def test_unit_text_is_escaped_never_markup(tmp_path: Path) -> None:
    page = write_summary(_hostile_day(tmp_path), tmp_path / "outbox")
    html = page.read_text(encoding="utf-8")
    parsed = _parse(html)
    tags = {tag for tag, _ in parsed.tags}
    assert "script" not in tags and "img" not in tags
    assert not any(name.startswith("on") for _, attrs in parsed.tags for name in attrs)
    text = "".join(parsed.text)
    assert text.count(HOSTILE) >= 4  # unit name, file name, member name, messages: shown as text
    assert "&lt;script&gt;" in html


@pytest.mark.parametrize("name", ["summary.html", "index.html"])
def test_pages_are_self_contained(tmp_path: Path, name: str) -> None:
    page = write_summary(_hostile_day(tmp_path), tmp_path / "outbox")
    html = (page if name == "summary.html" else tmp_path / "outbox" / "_centre" / "index.html").read_text(encoding="utf-8")
    parsed = _parse(html)
    assert not re.search(r"(?i)(https?:)?//[a-z0-9]", html.replace("http-equiv", ""))
    assert not {tag for tag, _ in parsed.tags} & {"script", "link", "img", "iframe", "object", "embed"}
    hrefs = [attrs["href"] or "" for tag, attrs in parsed.tags if tag == "a"]
    assert hrefs and all(":" not in href for href in hrefs)
    assert FONT_STACK in html and "Noto Sans CJK SC" in FONT_STACK
    assert "default-src 'none'" in html


def test_index_lists_every_business_day_newest_first(tmp_path: Path) -> None:
    outbox = tmp_path / "outbox"
    for day in ("2024-08-04", "2024-08-03", "2024-08-05"):
        write_summary(_hostile_day(tmp_path, date.fromisoformat(day)), outbox)
    broken = outbox / "_centre" / "days" / "2024-07-01"
    broken.mkdir()
    (broken / "summary.json").write_text("{not json", encoding="utf-8")
    index = write_index(outbox)

    parsed = _parse(index.read_text(encoding="utf-8"))
    links = [attrs["href"] for tag, attrs in parsed.tags if tag == "a"]
    assert links == [f"days/{day}/summary.html" for day in ("2024-08-05", "2024-08-04", "2024-08-03", "2024-07-01")]
    assert "摘要缺失或无法读取" in "".join(parsed.text)


def test_summary_is_replaced_whole_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    outbox = tmp_path / "outbox"
    write_summary(_hostile_day(tmp_path), outbox)
    write_summary(_hostile_day(tmp_path), outbox)
    leftovers = [path.name for path in (outbox / "_centre").rglob(".*")]
    assert leftovers == []


def test_files_quarantined_unread_are_listed_with_their_reason(tmp_path: Path) -> None:
    run = _hostile_day(tmp_path)
    moved = tmp_path / "quarantine" / "_inbox" / "20240805010203_链接.xlsx"
    moved.parent.mkdir(parents=True)
    moved.write_bytes(b"")
    note = {"message": "文件是符号链接，已隔离，未读取"}
    moved.with_name(moved.name + ".reason.json").write_text(json.dumps(note, ensure_ascii=False), encoding="utf-8")
    run.quarantined.append(moved)

    page = write_summary(run, tmp_path / "outbox")

    data = json.loads((page.parent / "summary.json").read_text(encoding="utf-8"))
    assert data["totals"]["quarantined"] == 1
    (entry,) = data["quarantined"]
    assert entry == {
        "name": moved.name,
        "folder": "_inbox",
        "path": f"../../../../quarantine/_inbox/{moved.name}",
        "reason": note["message"],
    }
    assert note["message"] in "".join(_parse(page.read_text(encoding="utf-8")).text)


def test_what_cannot_be_read_and_files_in_subfolders_are_listed_with_unit_reason_and_count(tmp_path: Path) -> None:
    run = _hostile_day(tmp_path)
    folder_reason, file_reason = FOLDER_NO_ACCESS.format(why="没有读取权限"), FILE_NO_ACCESS.format(why="没有读取权限")
    seen = datetime(2024, 8, 5, 23, 30, 1)
    run.failed += [Reported("0100002", "", folder_reason, 2, seen), Reported("0100003", "锁.xlsx", file_reason, 1, seen)]
    run.ignored.append(Reported("0100001", "2024/八月/补缴.xlsx", IN_SUBFOLDER, 3, seen))

    page = write_summary(run, tmp_path / "outbox")

    data = json.loads((page.parent / "summary.json").read_text(encoding="utf-8"))
    assert (data["totals"]["failed"], data["totals"]["ignored"]) == (2, 1)
    assert data["failed"] == [
        {"unit": "0100002", "source_file": "", "error": folder_reason, "times": 2, "last_seen": "2024-08-05T23:30:01"},
        {"unit": "0100003", "source_file": "锁.xlsx", "error": file_reason, "times": 1, "last_seen": "2024-08-05T23:30:01"},
    ]
    assert data["ignored"] == [
        {"unit": "0100001", "source_file": "2024/八月/补缴.xlsx", "reason": "子目录中的文件不会被处理，请直接放在单位目录下", "times": 3, "last_seen": "2024-08-05T23:30:01"}
    ]
    html = page.read_text(encoding="utf-8")
    failed = html[html.index('<section id="failed">') :].split("</section>")[0]
    when = '<td class="nowrap">2024-08-05 23:30:01</td>'
    assert f'<tr><td>0100002</td><td>（整个单位目录）</td><td>{folder_reason}</td><td class="num">2</td>{when}</tr>' in failed
    assert f'<tr><td>0100003</td><td>锁.xlsx</td><td>{file_reason}</td><td class="num">1</td>{when}</tr>' in failed
    ignored = html[html.index('<section id="ignored">') :].split("</section>")[0]
    assert f'<tr><td>0100001</td><td>2024/八月/补缴.xlsx</td><td>{IN_SUBFOLDER}</td><td class="num">3</td>{when}</tr>' in ignored


def test_a_day_without_them_has_no_such_sections(tmp_path: Path) -> None:
    html = write_summary(_hostile_day(tmp_path), tmp_path / "outbox").read_text(encoding="utf-8")
    assert 'id="failed"' not in html and 'id="ignored"' not in html and 'id="unfinished"' not in html


# --- headless Chromium -------------------------------------------------------------------------


def _chromium() -> Path:
    """Chromium is required in CI (.ci/run installs it); locally its absence skips."""
    if CHROMIUM.exists():
        return CHROMIUM
    if os.environ.get("CI"):
        pytest.fail(f"{CHROMIUM} is missing in CI: .ci/install-system-deps must install chromium")
    pytest.skip(f"{CHROMIUM} not installed")


def _run_chromium(profile: Path, *args: str, env: dict[str, str] | None = None) -> None:
    subprocess.run(
        [str(_chromium()), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
        check=True,
        capture_output=True,
        timeout=120,
        env=env,
    )


@pytest.fixture(scope="module")
def rendered(staff_run: StaffRun, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The summary page printed to PDF and screenshotted, once for the module."""
    folder = tmp_path_factory.mktemp("chromium")
    pdf, png = folder / "summary.pdf", folder / "summary.png"
    url = staff_run.page.as_uri()
    _run_chromium(folder / "profile-pdf", f"--print-to-pdf={pdf}", "--no-pdf-header-footer", url)
    _run_chromium(folder / "profile-png", f"--screenshot={png}", "--window-size=1280,1600", url)
    return {"pdf": pdf, "png": png}


def _pdf_lines(pdf: Path) -> list[str]:
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], check=True, capture_output=True, text=True).stdout
    return [re.sub(r"\s+", " ", line).strip() for line in text.splitlines() if line.strip()]


def test_the_days_remittance_assessments_are_listed_per_unit(staff_run: StaffRun) -> None:
    """The night's 汇缴核定: the third unit's, after its 封存 (上月 as loaded, one 减少)."""
    third, unit = staff_run.centre.members_of(2), staff_run.centre.unit(2)
    ratios = [Decimal(unit.unit_ratio), Decimal(unit.personal_ratio)]
    monthly = sum((monthly_deposit(member.base, ratio) for member in third[1:] for ratio in ratios), Decimal(0))
    (entry,) = staff_run.data["remittances"]
    assert (entry["unit"], entry["months"], entry["month_count"]) == (unit.unit_account, "2024-08", 1)
    assert (entry["previous_count"], entry["increase_count"], entry["decrease_count"], entry["count"]) == (len(third), 0, 1, len(third) - 1)
    assert entry["monthly_amount"] == entry["amount"] == f"{monthly:.2f}"
    assert entry["serial_number"] and entry["batch_id"] in {file["batch_id"] for file in staff_run.data["files"]}


def test_rendered_page_shows_counts_and_a_referral(staff_run: StaffRun, rendered: dict[str, Path]) -> None:
    lines = _pdf_lines(rendered["pdf"])
    text = "\n".join(lines)
    assert "葫芦岛市公积金管理中心 批量文件处理日报" in text
    cards = re.sub(r"\s+", "", text)
    assert "9文件5已受理0部分受理3已退回1重复文件2转柜台8错误" in cards
    assert any(re.fullmatch(r"补缴 4 2 0 1 1 9 1", line) for line in lines), lines
    assert "转柜台（2）" in text and "汇缴核定（1）" in text
    member = staff_run.centre.members_of(0)[7]
    referral = next(index for index, line in enumerate(lines) if "COUNTER_BASE_CHANGE" in line)
    block = "".join(lines[referral - 3 : referral + 6]).replace(" ", "")
    assert member.name in block and "该职工上一年度银行工资流水" in block
    enum = next(line for line in lines if line.startswith("ENUM_VALUE") and "取值不在允许范围内" in line)
    assert enum.endswith(" 2")


def test_screenshot_is_saved_as_an_artifact(rendered: dict[str, Path]) -> None:
    with Image.open(rendered["png"]) as image:
        assert image.size == (1280, 1600)
        assert len(image.convert("L").getcolors(maxcolors=1 << 16) or []) > 16  # not a blank page
    ARTIFACTS.mkdir(exist_ok=True)
    shutil.copyfile(rendered["png"], ARTIFACTS / "staff-summary.png")
    if os.environ.get("GJJ_UPDATE_SCREENSHOT") == "1":
        README_SCREENSHOT.parent.mkdir(exist_ok=True)
        shutil.copyfile(rendered["png"], README_SCREENSHOT)


PROBE_CHARS = "转柜台补缴说明银行工资流水"
MISSING = ("\U0010fffd", "\U0010fffc")  # plane-16 private use: no installed font has them
CELL = 64


def _probe_page(path: Path) -> Path:
    cells = [*PROBE_CHARS, *MISSING, " "]
    spans = "".join(
        f'<span style="left:{index * CELL}px">&#x{ord(char):x};</span>' for index, char in enumerate(cells)
    )
    path.write_text(
        '<!DOCTYPE html><html lang="zh-CN"><meta charset="utf-8"><style>'
        f"body{{margin:0;background:#fff;color:#000;font-family:{FONT_STACK}}}"
        f"span{{position:absolute;top:0;width:{CELL}px;height:{CELL}px;font-size:48px;"
        f"line-height:{CELL}px;text-align:center;overflow:hidden}}"
        f"</style><body>{spans}</body></html>",
        encoding="utf-8",
    )
    return path


@dataclass
class Probe:
    """The probe page as Chromium drew it, one 64×64 crop per character."""

    glyphs: list[Image.Image]
    tofu: Image.Image
    tofu_again: Image.Image
    blank: Image.Image

    @staticmethod
    def ink(cell: Image.Image) -> int:
        return sum(cell.histogram()[:128])

    @staticmethod
    def same(a: Image.Image, b: Image.Image) -> bool:
        return ImageChops.difference(a, b).getbbox() is None

    def tofu_chars(self) -> list[str]:
        return [char for char, glyph in zip(PROBE_CHARS, self.glyphs, strict=True) if self.same(glyph, self.tofu)]


def _probe(folder: Path, env: dict[str, str] | None = None) -> Probe:
    cells = len(PROBE_CHARS) + len(MISSING) + 1
    png = folder / "probe.png"
    page = _probe_page(folder / "probe.html").as_uri()
    _run_chromium(folder / "profile", f"--screenshot={png}", f"--window-size={cells * CELL},{CELL}", page, env=env)
    with Image.open(png) as image:
        gray = image.convert("L")
        crops = [gray.crop((index * CELL, 0, (index + 1) * CELL, CELL)) for index in range(cells)]
    count = len(PROBE_CHARS)
    return Probe(crops[:count], crops[count], crops[count + 1], crops[-1])


def test_chinese_renders_with_real_glyphs_not_tofu(tmp_path: Path) -> None:
    """No tofu, checked on pixels: render Chinese in the page's own font stack and compare glyphs.

    A character no font can draw comes out as the .notdef glyph ("tofu"), and that glyph is the
    same picture whatever the character. So Chromium draws, in :data:`FONT_STACK`, thirteen
    Chinese characters from the summary, two plane-16 private-use characters that no font has
    (the tofu reference) and a space, each in its own 64×64 cell. The two missing ones must come
    out identical and inked; every Chinese cell must be inked, differ from the tofu cell, and
    differ from every other Chinese cell. The next test is the control: with the CJK fonts hidden
    from Chromium the same check does see tofu.
    """
    probe = _probe(tmp_path)
    assert probe.ink(probe.blank) == 0
    assert probe.ink(probe.tofu) > 0 and probe.same(probe.tofu, probe.tofu_again), "tofu reference is not one box"
    for char, glyph in zip(PROBE_CHARS, probe.glyphs, strict=True):
        assert probe.ink(glyph) > 40, f"{char} drew nothing"
    assert probe.tofu_chars() == [], "Chinese renders as tofu"
    assert len({glyph.tobytes() for glyph in probe.glyphs}) == len(PROBE_CHARS), "different characters drew one picture"


def _font_without_cjk() -> Path | None:
    """One installed font file that has no Chinese (fontconfig's own language coverage)."""
    def files(pattern: str) -> set[str]:
        listed = subprocess.run(["fc-list", pattern, "file"], capture_output=True, text=True, check=False).stdout
        return {line.strip().rstrip(":") for line in listed.splitlines() if line.strip()}

    latin = sorted(files(":lang=en") - files(":lang=zh-cn"))
    return Path(latin[0]) if latin else None


def test_the_tofu_check_sees_tofu_without_a_cjk_font(tmp_path: Path) -> None:
    """Control: Chromium given only a Latin font draws every Chinese character as the tofu box."""
    font = _font_without_cjk()
    if font is None:
        pytest.skip("no installed font without CJK to hide the CJK fonts behind")
    fonts = tmp_path / "fonts"
    fonts.mkdir()
    shutil.copyfile(font, fonts / font.name)
    config = tmp_path / "fonts.conf"
    config.write_text(
        f'<?xml version="1.0"?><!DOCTYPE fontconfig SYSTEM "fonts.dtd"><fontconfig><dir>{fonts}</dir>'
        f"<cachedir>{tmp_path / 'fc-cache'}</cachedir></fontconfig>",
        encoding="utf-8",
    )
    probe = _probe(tmp_path, env={**os.environ, "FONTCONFIG_FILE": str(config)})
    assert probe.same(probe.tofu, probe.tofu_again)
    assert probe.tofu_chars() == list(PROBE_CHARS)


def test_the_index_lists_days_from_their_entry_files_or_old_summaries(staff_run: StaffRun) -> None:
    days = staff_run.outbox / "_centre" / "days"
    entry = json.loads((days / "2024-08-05" / "entry.json").read_text(encoding="utf-8"))
    assert entry["business_date"] == "2024-08-05" and entry["runs"] == 1 and entry["totals"]["files"] == len(staff_run.summary.outcomes)
    older = days / "2020-01-01"  # a day whose entry.json is missing
    older.mkdir()
    (older / "summary.json").write_text(json.dumps({"runs": ["a", "b"], "generated_at": "2020-01-02T00:00:00", "business_date": "2020-01-01", "totals": {"files": 7}}), encoding="utf-8")

    index = write_index(staff_run.outbox).read_text(encoding="utf-8")

    assert "days/2024-08-05/summary.html" in index and "days/2020-01-01/summary.html" in index
    assert index.index("2024-08-05") < index.index("2020-01-01")  # newest first
