"""汇缴 around the run: the 汇缴凭条, ``gjj remit list/delete``, ``gjj load --payments`` and ``gjj template 汇缴 --unit``.

The 核定 these commands work on are written straight into the database (:func:`add_assessment`),
as the 汇缴 rules' effect writes them: one row per month, the months of one file sharing its serial.
"""

from __future__ import annotations

import csv
import json
import re
import uuid
from collections.abc import Iterator
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest
import sqlalchemy.exc
from pypdf import PdfReader
from sqlalchemy import select
from typer.testing import CliRunner

from pipeline.check.schema import validate
from pipeline.cli import app
from pipeline.config import CentreConfig, load_config
from pipeline.model import BatchResult, BatchStatus, MonthAssessment, RowResult
from pipeline.outputs.pdf.render import PdfRenderer
from pipeline.read.header import detect, holds_header
from pipeline.read.workbook import read_raw
from pipeline.rules.common import PERSONAL_MONTHLY, UNIT_MONTHLY, monthly_amounts, next_month
from pipeline.services.payments import PaymentOutcome, load_payments
from pipeline.services.remit import delete_assessment, prefill_remit
from pipeline.store.queries import unit_info
from pipeline.store.states import REMIT_DELETED, REMIT_PAID, REMIT_UNPAID
from pipeline.store.tables import Batch, Member, RemitAssessment, Unit
from schemas import TEMPLATES
from schemas import remit as remit_schema
from schemas.payments import PAYMENT_HEADER
from tests.conftest import Centre, PostgresServer, make_centre

runner = CliRunner()
SLIP_SERIAL = "122032301_0003484712"
A, B, C = "124060501_0000000001", "124080501_0000000002", "124080501_0000000003"


# --- 核定 in the database ------------------------------------------------------------------------


def add_assessment(centre: Centre, unit: str, months: list[str], serial: str, *, count: int = 11, amount: str = "6100.00") -> None:
    """One accepted 汇缴清册 of ``unit`` covering ``months``, as the rules' effect records it: a batch,
    one 核定 a month (each 上期 = 本期, nothing changed) and the unit's 缴至年月 moved to the last month."""
    with centre.app.sessions() as session, session.begin():
        unit_row = session.get(Unit, unit)
        assert unit_row is not None
        batch = Batch(
            batch_id=f"t-{uuid.uuid4().hex[:12]}",
            run_id="test",
            unit_account=unit,
            kind=remit_schema.KIND,
            source_name="汇缴.xlsx",
            sha256=uuid.uuid4().hex * 2,
            status="accepted",
            stage="done",
            serial_number=serial,
            business_date=date(2024, 8, 5),
            received_at=datetime(2024, 8, 5, 9, 0),
        )
        session.add(batch)
        session.flush()
        money = Decimal(amount)
        for month in months:
            session.add(
                RemitAssessment(
                    batch_pk=batch.id,
                    unit_account=unit,
                    month=month,
                    serial_number=serial,
                    previous_count=count,
                    previous_amount=money,
                    increase_count=0,
                    increase_amount=Decimal(0),
                    decrease_count=0,
                    decrease_amount=Decimal(0),
                    count=count,
                    amount=money,
                    paid_to_before=unit_row.paid_to_month,
                    state=REMIT_UNPAID,
                    assessed_on=date(2024, 8, 5),
                )
            )
        unit_row.paid_to_month = months[-1]


def set_paid_to(centre: Centre, unit: str, month: str) -> None:
    with centre.app.sessions() as session, session.begin():
        session.get(Unit, unit).paid_to_month = month  # type: ignore[union-attr]


def snapshot(centre: Centre) -> tuple[list[tuple[str, str, str, str]], dict[str, str]]:
    """Every 核定 (serial, month, state, deleted_at) and every unit's 缴至年月: what a refused command must leave alone."""
    with centre.app.sessions() as session:
        records = session.execute(
            select(RemitAssessment.serial_number, RemitAssessment.month, RemitAssessment.state, RemitAssessment.deleted_at).order_by(RemitAssessment.id)
        ).all()
        units = dict(session.execute(select(Unit.unit_account, Unit.paid_to_month)).all())
    return [(s, m, state, str(deleted)) for s, m, state, deleted in records], units


def states(centre: Centre, serial: str) -> list[tuple[str, str, date | None, Decimal | None]]:
    with centre.app.sessions() as session:
        query = select(RemitAssessment.month, RemitAssessment.state, RemitAssessment.paid_on, RemitAssessment.paid_amount)
        return [tuple(row) for row in session.execute(query.where(RemitAssessment.serial_number == serial).order_by(RemitAssessment.month))]  # type: ignore[misc]


def paid_to(centre: Centre, unit: str) -> str:
    with centre.app.sessions() as session:
        return session.get(Unit, unit).paid_to_month  # type: ignore[union-attr]


@pytest.fixture
def home(sqlite_centre: Centre) -> Centre:
    """A home with three units of ten members; unit 0 assessed to 2024-04, then A (2024-05) and B (2024-06..07); unit 1 has C (2024-05)."""
    unit0, unit1 = sqlite_centre.unit(0).unit_account, sqlite_centre.unit(1).unit_account
    set_paid_to(sqlite_centre, unit0, "2024-04")
    set_paid_to(sqlite_centre, unit1, "2024-04")
    add_assessment(sqlite_centre, unit0, ["2024-05"], A)
    add_assessment(sqlite_centre, unit0, ["2024-06", "2024-07"], B)
    add_assessment(sqlite_centre, unit1, ["2024-05"], C, count=3, amount="1800.00")
    return sqlite_centre


def env(centre: Centre) -> dict[str, str]:
    return {"GJJ_HOME": str(centre.app.home.root), "GJJ_DB": str(centre.app.engine.url.render_as_string(hide_password=False)), "COLUMNS": "200"}


def gjj(centre: Centre, *args: str):
    return runner.invoke(app, list(args), env=env(centre))


def table_rows(output: str) -> list[list[str]]:
    """The cells of each line of a Rich table printed without a width limit."""
    lines = [line.replace("┃", "│") for line in output.splitlines() if line.startswith(("│", "┃"))]
    return [[cell.strip() for cell in line.strip("│ ").split(" │ ")] for line in lines]


def outcome_counts(output: str) -> dict[str, list[str]]:
    """The payment summary table: 笔数 and 到账金额 per result."""
    labels = {outcome.label for outcome in PaymentOutcome}
    return {cells[0]: cells[1:] for cells in table_rows(output) if cells[0] in labels}


# --- 汇缴凭条 --------------------------------------------------------------------------------------


def remit_batch(assessments: list[MonthAssessment], **changes: object) -> BatchResult:
    rows = [RowResult(excel_row=index + 3, seq_no=str(index + 1), values={"姓名": f"职工{index}"}) for index in range(11)]
    fields: dict[str, object] = {
        "batch_id": "20220401-000001",
        "unit_account": "0100012",
        "unit_name": "葫芦岛市连山区建筑工程有限公司",
        "kind": "汇缴",
        "source_name": "汇缴清册.xlsx",
        "sha256": "0" * 64,
        "business_date": date(2022, 4, 1),
        "status": BatchStatus.ACCEPTED,
        "serial_number": SLIP_SERIAL,
        "header": list(remit_schema.HEADER),
        "rows": rows,
        "contact_name": "韩晓东",
        "contact_phone": "15812345678",
        "assessments": assessments,
    }
    fields.update(changes)
    return BatchResult(**fields)  # type: ignore[arg-type]


def month(month: str, previous: tuple[int, str], increase: tuple[int, str] = (0, "0"), decrease: tuple[int, str] = (0, "0")) -> MonthAssessment:
    count = previous[0] + increase[0] - decrease[0]
    amount = Decimal(previous[1]) + Decimal(increase[1]) - Decimal(decrease[1])
    return MonthAssessment(month, previous[0], Decimal(previous[1]), increase[0], Decimal(increase[1]), decrease[0], Decimal(decrease[1]), count, amount)


def pdf_text(path: Path) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(path).pages)


def compact(text: str) -> str:
    return re.sub(r"\s+", "", text)


def embedded_fonts(path: Path) -> set[str]:
    return {str(font.get_object()["/BaseFont"]) for page in PdfReader(path).pages for font in page["/Resources"]["/Font"].values()}  # type: ignore[index]


@pytest.fixture(scope="module")
def config() -> CentreConfig:
    return load_config()


@pytest.fixture(scope="module")
def renderer(config: CentreConfig) -> Iterator[PdfRenderer]:
    with PdfRenderer(config) as pdf:
        yield pdf


def test_remit_slip_of_one_month_is_the_huludao_slip(renderer: PdfRenderer, tmp_path: Path) -> None:
    path = tmp_path / "slip.pdf"
    renderer.slip(remit_batch([month("2022-03", (11, "6100"))]), path)

    raw = pdf_text(path)
    text = compact(raw)
    assert "202203 - 202203" in raw
    for expected in (
        "葫芦岛市公积金管理中心汇缴凭条",
        "业务日期：2022-04-01",
        f"业务流水号：{SLIP_SERIAL}",
        "单位名称葫芦岛市连山区建筑工程有限公司单位账号0100012",
        "经办人姓名韩晓东经办人手机号码15812345678",
        "单位缴存人数11月缴存金额6100.00汇缴月度202203-202203",
        "上月汇缴人数11本月增加人数0本月减少人数0本月汇缴人数11",
        "上月汇缴金额6100.00本月增加金额0.00本月减少金额0.00本月汇缴金额6100.00",
        "汇缴金额(大/小写)陆仟壹佰元整6100.00",
        "收款户名葫芦岛市住房公积金管理中心银行账号294756317375",
        "银行名称中国银行葫芦岛分行联行号104227619876",
        "注意：缴款时告知银行柜台人员备注单位账号！",
    ):
        assert expected in text
    assert "补缴" not in text and "职工0" not in text  # no 补缴 part, and no member rows (the 清册 is detail.csv)
    assert "汇缴核定明细" not in text  # one month: no table of months
    assert embedded_fonts(path) and all("GJJ-CJK" in name for name in embedded_fonts(path))  # the subset, never the full face
    assert {char for char in text if ord(char) > 0x7F} <= renderer.fonts.chars


def test_remit_slip_of_a_range_sums_the_months(renderer: PdfRenderer, tmp_path: Path) -> None:
    """上月 from the first month, 增加/减少 summed, 本月 the last month; 汇缴金额 = monthly amount × months."""
    months = [month("2026-09", (10, "5600"), increase=(1, "500")), month("2026-10", (11, "6100")), month("2026-11", (11, "6100"))]
    path = tmp_path / "slip.pdf"
    renderer.slip(remit_batch(months), path)

    raw = pdf_text(path)
    text = compact(raw)
    assert "202609 - 202611" in raw
    assert "单位缴存人数11月缴存金额6100.00汇缴月度202609-202611" in text
    assert "上月汇缴人数10本月增加人数1本月减少人数0本月汇缴人数11" in text
    assert "上月汇缴金额5600.00本月增加金额500.00本月减少金额0.00本月汇缴金额6100.00" in text
    assert "汇缴金额(大/小写)壹万捌仟叁佰元整18300.00" in text
    assert "汇缴核定明细" in text
    lines = raw.splitlines()
    for line in ("202609 10 5600.00 1 500.00 0 0.00 11 6100.00", "202610 11 6100.00 0 0.00 0 0.00 11 6100.00", "202611 11 6100.00 0 0.00 0 0.00 11 6100.00"):
        assert line in lines


def test_remit_slip_total_is_the_sum_of_the_months_when_a_later_month_changes(renderer: PdfRenderer, tmp_path: Path) -> None:
    """A member leaves in the second month: 6100 + 5500 = 11600, not 5500 × 2 (the last month × months)."""
    months = [month("2026-10", (11, "6100")), month("2026-11", (11, "6100"), decrease=(1, "600"))]
    path = tmp_path / "slip.pdf"
    renderer.slip(remit_batch(months), path)

    text = compact(pdf_text(path))
    assert "汇缴金额(大/小写)壹万壹仟陆佰元整11600.00" in text
    assert "上月汇缴人数11本月增加人数0本月减少人数1本月汇缴人数10" in text


def test_remit_batch_without_its_assessments_gets_a_confirmation(renderer: PdfRenderer, tmp_path: Path) -> None:
    path = tmp_path / "slip.pdf"
    renderer.slip(remit_batch([]), path)
    text = compact(pdf_text(path))
    assert "葫芦岛市公积金管理中心汇缴确认单" in text and "汇缴凭条" not in text


# --- gjj remit list ----------------------------------------------------------------------------


def test_remit_list_newest_first_one_json_line_and_a_table(home: Centre) -> None:
    unit = home.unit(0).unit_account
    listed = gjj(home, "remit", "list", "--unit", unit, "--json")

    assert listed.exit_code == 0, listed.output
    assert listed.stdout.count("\n") == 1
    data = json.loads(listed.stdout)
    assert data["unit"] == unit
    assert [(r["汇缴月度"], r["业务流水号"], r["状态"]) for r in data["核定"]] == [("2024-07", B, "未入账"), ("2024-06", B, "未入账"), ("2024-05", A, "未入账")]
    first = data["核定"][0]
    assert (first["上期汇缴人数"], first["上期汇缴金额"], first["本期增加金额"], first["本期汇缴人数"], first["本期汇缴金额"]) == (11, "6100.00", "0.00", 11, "6100.00")
    assert (first["到账日期"], first["到账金额"], first["删除时间"]) == ("", "", "")

    table = gjj(home, "remit", "list", "--unit", unit)
    assert table.exit_code == 0
    rows = [cells for cells in table_rows(table.stdout) if A in cells or B in cells]
    assert [cells[0] for cells in rows] == ["2024-07", "2024-06", "2024-05"]
    assert all(cells[8] == "6100.00" and cells[10] == "未入账" for cells in rows)


def test_remit_list_of_an_unknown_unit_is_refused(home: Centre) -> None:
    listed = gjj(home, "remit", "list", "--unit", "9999999")
    assert listed.exit_code == 1 and "单位账号「9999999」不存在" in listed.output


def test_remit_list_shows_deleted_ones_only_with_all(home: Centre) -> None:
    unit = home.unit(0).unit_account
    assert gjj(home, "remit", "delete", "--unit", unit, "--serial", B).exit_code == 0

    standing = json.loads(gjj(home, "remit", "list", "--unit", unit, "--json").stdout)["核定"]
    everything = json.loads(gjj(home, "remit", "list", "--unit", unit, "--json", "--all").stdout)["核定"]

    assert [r["业务流水号"] for r in standing] == [A]
    assert [(r["业务流水号"], r["状态"]) for r in everything] == [(B, "已删除"), (B, "已删除"), (A, "未入账")]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", everything[0]["删除时间"])


# --- gjj remit delete --------------------------------------------------------------------------


def test_remit_delete_takes_the_latest_back_and_then_the_one_before(home: Centre) -> None:
    unit = home.unit(0).unit_account
    assert paid_to(home, unit) == "2024-07"

    deleted = gjj(home, "remit", "delete", "--unit", unit, "--serial", B)

    assert deleted.exit_code == 0, deleted.output
    assert f"已删除汇缴核定（业务流水号 {B}，汇缴月度 2024-06、2024-07）" in deleted.stdout and "缴至年月恢复为 2024-05" in deleted.stdout
    assert [state for _, state, _, _ in states(home, B)] == [REMIT_DELETED, REMIT_DELETED]
    assert paid_to(home, unit) == "2024-05"
    assert [state for _, state, _, _ in states(home, A)] == [REMIT_UNPAID]

    assert gjj(home, "remit", "delete", "--unit", unit, "--serial", A).exit_code == 0
    assert paid_to(home, unit) == "2024-04"
    assert paid_to(home, home.unit(1).unit_account) == "2024-05"  # the other unit's 核定 are not touched


def _pay(centre: Centre, serial: str) -> None:
    with centre.app.sessions() as session, session.begin():
        for record in session.scalars(select(RemitAssessment).where(RemitAssessment.serial_number == serial)):
            record.state, record.paid_on, record.paid_amount = REMIT_PAID, date(2024, 8, 10), record.amount


def _delete(centre: Centre, serial: str) -> None:
    with centre.app.sessions() as session, session.begin():
        assert delete_assessment(session, centre.unit(0).unit_account, serial, datetime(2024, 8, 6, 10, 30)).deleted


@pytest.mark.parametrize(
    ("unit_index", "serial", "prepare", "message"),
    [
        pytest.param(0, "124080501_0000009999", None, "单位 {unit} 没有业务流水号为 124080501_0000009999 的汇缴核定", id="unknown-serial"),
        pytest.param(0, C, None, "单位 {unit} 没有业务流水号为 " + C + " 的汇缴核定", id="another-units-serial"),
        pytest.param(0, B, _pay, f"业务流水号 {B} 的汇缴核定（汇缴月度 202406 - 202407）已入账（到账日期 2024-08-10），不能删除", id="paid"),
        pytest.param(
            0,
            A,
            None,
            f"业务流水号 {A} 的汇缴核定（汇缴月度 202405 - 202405）不是本单位最新的核定：其后还有业务流水号 {B}（汇缴月度 202406 - 202407，未入账）的核定，只能从最新的核定删起",
            id="older",
        ),
        pytest.param(0, B, _delete, f"业务流水号 {B} 的汇缴核定（汇缴月度 202406 - 202407）已于 2024-08-06 10:30:00 删除", id="already-deleted"),
    ],
)
def test_remit_delete_refusals_change_nothing(home: Centre, unit_index: int, serial: str, prepare, message: str) -> None:
    unit = home.unit(unit_index).unit_account
    if prepare is not None:
        prepare(home, serial)
    before = snapshot(home)

    refused = gjj(home, "remit", "delete", "--unit", unit, "--serial", serial)

    assert refused.exit_code == 1
    assert refused.stderr.strip() == "未删除：" + message.format(unit=unit)
    assert snapshot(home) == before


def test_a_deleted_month_can_be_assessed_again(home: Centre) -> None:
    """The unique index counts standing 核定 only: the month of a deleted one is free again."""
    unit = home.unit(0).unit_account
    with pytest.raises(sqlalchemy.exc.IntegrityError):
        add_assessment(home, unit, ["2024-07"], "124080601_0000000010")
    _delete(home, B)

    add_assessment(home, unit, ["2024-06", "2024-07"], "124080601_0000000011", count=10, amount="5500.00")

    listed = json.loads(gjj(home, "remit", "list", "--unit", unit, "--json").stdout)["核定"]
    assert [(r["汇缴月度"], r["本期汇缴金额"]) for r in listed] == [("2024-07", "5500.00"), ("2024-06", "5500.00"), ("2024-05", "6100.00")]
    assert paid_to(home, unit) == "2024-07"


# --- gjj load --payments -----------------------------------------------------------------------


def feed(path: Path, rows: list[list[object]], encoding: str = "utf-8-sig") -> Path:
    """The core system's feed: CSV in ``encoding``, or xlsx written by openpyxl (real date and number cells)."""
    if path.suffix == ".xlsx":
        workbook = openpyxl.Workbook()
        sheet = workbook.active
        sheet.append(list(PAYMENT_HEADER))
        for row in rows:
            sheet.append(row)
        workbook.save(path)
        return path
    with path.open("w", encoding=encoding, newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(PAYMENT_HEADER)
        writer.writerows(rows)
    return path


def test_payments_book_what_matches_and_report_the_rest(home: Centre, tmp_path: Path) -> None:
    unit0 = home.unit(0).unit_account
    add_assessment(home, unit0, ["2024-08"], "124080501_0000000004")
    _delete(home, "124080501_0000000004")
    lines = [
        [A, "2024-08-10", "6100.00"],
        [B, "2024-08-11", "12,200.00"],  # two months: the serial's total
        [C, "2024-08-12", "1900"],  # 核定 1800.00
        ["124080501_0000009999", "2024-08-12", "100"],
        ["124080501_0000000004", "2024-08-12", "6100"],
    ]

    loaded = gjj(home, "load", "--payments", str(feed(tmp_path / "到账.csv", lines)))

    assert loaded.exit_code == 1, loaded.output  # money arrived that nothing could take: the staff must look
    assert states(home, A) == [("2024-05", REMIT_PAID, date(2024, 8, 10), Decimal("6100.00"))]
    assert states(home, B) == [("2024-06", REMIT_PAID, date(2024, 8, 11), Decimal("6100.00")), ("2024-07", REMIT_PAID, date(2024, 8, 11), Decimal("6100.00"))]
    assert [state for _, state, _, _ in states(home, C)] == [REMIT_UNPAID]
    assert outcome_counts(loaded.stdout) == {
        "已入账": ["2", "18300.00"],
        "此前已入账": ["0", "0.00"],
        "金额不符": ["1", "1900.00"],
        "业务流水号不存在": ["1", "100.00"],
        "核定已删除": ["1", "6100.00"],
    }
    assert f"到账金额 1900.00 与单位 {home.unit(1).unit_account} 汇缴月度 202405 - 202405 的核定金额 1800.00 不符，未入账" in loaded.stderr
    assert "业务流水号 124080501_0000009999 没有对应的汇缴核定，未入账" in loaded.stderr
    assert f"单位 {unit0} 汇缴月度 202408 - 202408 的核定已删除，未入账；请核实这笔到账 6100.00" in loaded.stderr

    again = gjj(home, "load", "--payments", str(feed(tmp_path / "again.csv", lines[:2])))  # the same lines a second time

    assert again.exit_code == 0, again.output
    assert outcome_counts(again.stdout)["此前已入账"] == ["2", "18300.00"]
    assert f"单位 {unit0} 汇缴月度 202405 - 202405 的核定已于 2024-08-10 入账 6100.00，本行未重复入账" in again.stdout
    assert states(home, A) == [("2024-05", REMIT_PAID, date(2024, 8, 10), Decimal("6100.00"))]


@pytest.mark.parametrize(
    ("name", "encoding", "cells"),
    [
        pytest.param("到账.csv", "gb18030", [A, "2024/8/10", "6100元"], id="csv-gb18030"),
        pytest.param("到账.xlsx", "", [A, datetime(2024, 8, 10), 6100], id="xlsx-date-and-number-cells"),
    ],
)
def test_payments_feed_as_gb18030_csv_or_xlsx(home: Centre, tmp_path: Path, name: str, encoding: str, cells: list[object]) -> None:
    loaded = gjj(home, "load", "--payments", str(feed(tmp_path / name, [cells], encoding or "utf-8")))
    assert loaded.exit_code == 0, loaded.output
    assert states(home, A) == [("2024-05", REMIT_PAID, date(2024, 8, 10), Decimal("6100.00"))]


@pytest.mark.parametrize(
    ("bad", "found"),
    [
        pytest.param([B, "2024-13-01", "12200"], [(3, "到账日期", "DATE_FORMAT")], id="not-a-date"),
        pytest.param([B, "", "12200"], [(3, "到账日期", "CELL_EMPTY")], id="no-date"),
        pytest.param([B, "2024-08-11", "一万二"], [(3, "到账金额", "NUMBER_FORMAT")], id="not-an-amount"),
        pytest.param([B, "2024-08-11", ""], [(3, "到账金额", "CELL_EMPTY")], id="no-amount"),
        pytest.param([B, "2024-08-11", "-12200"], [(3, "到账金额", "AMOUNT_OUT_OF_RANGE")], id="negative-amount"),
        pytest.param(["", "2024-08-11", "12200"], [(3, "业务流水号", "CELL_EMPTY")], id="no-serial"),
        pytest.param([A, "2024-08-11", "6100"], [(2, "业务流水号", "DUPLICATE_ROW"), (3, "业务流水号", "DUPLICATE_ROW")], id="serial-twice"),
    ],
)
def test_payments_feed_with_a_bad_cell_books_nothing(home: Centre, tmp_path: Path, bad: list[str], found: list[tuple[int, str, str]]) -> None:
    path = feed(tmp_path / "到账.csv", [[A, "2024-08-10", "6100"], bad])  # row 2 alone would book
    with home.app.sessions() as session:
        report = load_payments(session, home.app.config, path)
    assert [(issue.row, issue.column, str(issue.code)) for issue in report.issues] == found
    assert report.lines == []

    loaded = gjj(home, "load", "--payments", str(path))

    assert loaded.exit_code == 1
    assert "到账.csv：" in loaded.stderr and "未入账任何记录" in loaded.stderr and found[-1][2] in loaded.stderr
    assert [state for _, state, _, _ in states(home, A)] == [REMIT_UNPAID]


def test_payments_is_not_mixed_with_master_data(home: Centre, tmp_path: Path) -> None:
    path = feed(tmp_path / "到账.csv", [[A, "2024-08-10", "6100"]])
    mixed = gjj(home, "load", "--payments", str(path), "--units", str(path))
    assert mixed.exit_code == 2 and "不能与" in mixed.output
    assert [state for _, state, _, _ in states(home, A)] == [REMIT_UNPAID]


def test_delete_and_payments_on_postgresql(postgres_server: PostgresServer, tmp_path: Path) -> None:
    centre = make_centre(tmp_path / "home", postgres_server.new_database())
    try:
        unit = centre.unit(0).unit_account
        set_paid_to(centre, unit, "2024-04")
        add_assessment(centre, unit, ["2024-05"], A)
        add_assessment(centre, unit, ["2024-06", "2024-07"], B)

        refused = gjj(centre, "remit", "delete", "--unit", unit, "--serial", A)
        deleted = gjj(centre, "remit", "delete", "--unit", unit, "--serial", B)
        loaded = gjj(centre, "load", "--payments", str(feed(tmp_path / "到账.csv", [[A, "2024-08-10", "6100.00"], [B, "2024-08-10", "12200.00"]])))

        assert refused.exit_code == 1 and f"其后还有业务流水号 {B}" in refused.stderr
        assert deleted.exit_code == 0, deleted.output
        assert paid_to(centre, unit) == "2024-05"
        assert loaded.exit_code == 1 and outcome_counts(loaded.stdout)["核定已删除"] == ["1", "12200.00"]
        assert states(centre, A) == [("2024-05", REMIT_PAID, date(2024, 8, 10), Decimal("6100.00"))]
        assert [state for _, state, _, _ in states(centre, B)] == [REMIT_DELETED, REMIT_DELETED]
    finally:
        centre.app.close()


# --- gjj template 汇缴 --unit ------------------------------------------------------------------


def test_template_remit_for_a_unit_is_filled_in_and_reads_back_as_remit(home: Centre, tmp_path: Path) -> None:
    unit = home.unit(0).unit_account
    members = home.members_of(0)
    sealed = members[3]
    with home.app.sessions() as session, session.begin():
        session.get(Member, sealed.member_account).status = "封存"  # type: ignore[union-attr]
    output = tmp_path / "汇缴.xlsx"

    made = gjj(home, "template", "汇缴", "--unit", unit, "-o", str(output))

    assert made.exit_code == 0, made.output
    assert "9 名正常缴存职工，汇缴年月 2024-08" in made.stdout
    config = home.app.config
    headers = {kind: template.HEADER for kind, template in TEMPLATES.items()} | {remit_schema.KIND: remit_schema.HEADER}
    detected = detect(read_raw(output, config.limits, holds_header(headers)), headers)
    assert detected.kind == "汇缴" and detected.issues == [] and detected.sheet is not None
    rows, file_issues, _ = validate(detected.sheet, remit_schema.TEMPLATE, config)
    assert file_issues == [] and [issue for row in rows for issue in row.issues] == []  # every cell passes the 汇缴 schema

    with home.app.sessions() as session:
        info = unit_info(session, unit)
    assert info is not None
    expected = sorted((m for m in members if m is not sealed), key=lambda m: m.member_account)
    assert [row.values["个人账号"] for row in rows] == [m.member_account for m in expected]
    assert [(row.values["姓名"], row.values["证件号码"]) for row in rows] == [(m.name, m.id_number) for m in expected]
    for row, member in zip(rows, expected):
        amounts = monthly_amounts(member.base, info, config)
        assert Decimal(row.values["个人缴存基数"]) == member.base
        assert Decimal(row.values["单位月缴存额"]) == amounts[UNIT_MONTHLY]
        assert Decimal(row.values["个人月缴存额"]) == amounts[PERSONAL_MONTHLY]
        assert (row.values["汇缴开始年月"], row.values["汇缴结束年月"]) == ("2024-08", "2024-08")
    assert [row.seq_no for row in rows] == [str(index) for index in range(1, 10)]

    sheet = openpyxl.load_workbook(output).worksheets[0]
    header_row = detected.sheet.header_row
    for column in ("个人账号", "证件号码", "汇缴开始年月"):
        cell = sheet.cell(header_row + 1, remit_schema.HEADER.index(column) + 1)
        assert cell.data_type == "s" and cell.number_format == "@", column  # Excel keeps them as typed


def test_template_remit_month_is_the_business_month_without_paid_to(home: Centre) -> None:
    unit = home.unit(2).unit_account
    with home.app.sessions() as session:
        prefill = prefill_remit(session, home.app.config, unit, date(2024, 8, 5))
        assert prefill_remit(session, home.app.config, "9999999", date(2024, 8, 5)) is None
    assert prefill is not None and prefill.unit.paid_to_month == "" and prefill.month == "2024-08"
    assert {(row[-2], row[-1]) for row in prefill.rows} == {("2024-08", "2024-08")}


@pytest.mark.parametrize(("month", "after"), [("2024-07", "2024-08"), ("2024-12", "2025-01"), ("2025-01", "2025-02")])
def test_next_month(month: str, after: str) -> None:
    assert next_month(month) == after


def test_template_remit_refusals(home: Centre, tmp_path: Path) -> None:
    output = tmp_path / "x.xlsx"
    unknown = gjj(home, "template", "汇缴", "--unit", "9999999", "-o", str(output))
    other_kind = gjj(home, "template", "补缴", "--unit", home.unit(0).unit_account, "-o", str(output))

    assert unknown.exit_code == 1 and "单位账号「9999999」不存在" in unknown.output
    assert other_kind.exit_code == 2 and "--unit 只用于汇缴模板" in other_kind.output
    assert not output.exists()
