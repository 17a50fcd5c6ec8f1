"""基数调整, 封存, 启封 and 单位调整 end to end, on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import time
from dataclasses import replace
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from pipeline.errors import Code
from pipeline.model import BatchStatus, RowStatus
from pipeline.store.tables import Member, MemberChange
from schemas import template_for
from tests.conftest import BUSINESS_DATE, Centre, make_centre
from tests.factories import identity, kind_file


def set_member(centre: Centre, account: str, **values: Any) -> None:
    with centre.app.sessions() as session, session.begin():
        member = session.get(Member, account)
        for name, value in values.items():
            setattr(member, name, value)


def member(centre: Centre, account: str) -> Member:
    with centre.app.sessions() as session:
        return session.get(Member, account)


def run_one(centre: Centre, business_date: date = BUSINESS_DATE):
    outcomes = centre.run(business_date).outcomes
    assert len(outcomes) == 1
    return outcomes[0].result


def folder(centre: Centre, index: int = 0) -> Path:
    return centre.inbox / centre.unit(index).unit_account


# --- 基数调整 -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("new_base", "status", "code"),
    [
        ("11999", RowStatus.ACCEPTED, None),  # +19.99%
        ("12000", RowStatus.ACCEPTED, None),  # +20%: allowed
        ("12001", RowStatus.COUNTER, Code.COUNTER_BASE_CHANGE),  # +20.01%
        ("8001", RowStatus.ACCEPTED, None),  # -19.99%
        ("7999", RowStatus.COUNTER, Code.COUNTER_BASE_CHANGE),  # -20.01%
        ("10000", RowStatus.UNCHANGED, None),
        ("10000.4", RowStatus.UNCHANGED, None),  # rounds half-up to 10000
        ("28001", RowStatus.REJECTED, Code.BASE_OUT_OF_RANGE),
        ("1909", RowStatus.REJECTED, Code.BASE_OUT_OF_RANGE),
    ],
)
def test_base_change_boundaries(centre: Centre, new_base: str, status: RowStatus, code: Code | None) -> None:
    person = centre.members_of(0)[0]
    set_member(centre, person.member_account, base=Decimal(10000))
    kind_file(folder(centre), "基数调整", [[1, *identity(person), new_base]])

    row = run_one(centre).rows[0]

    assert row.status is status
    assert [i.code for i in row.issues] == ([code] if code else [])
    expected_base = Decimal(12000) if new_base == "12000" else None
    if expected_base:
        assert member(centre, person.member_account).base == expected_base


def test_the_counter_threshold_and_the_sealed_unit_come_from_the_configuration(tmp_path: Path) -> None:
    """Messages and blank templates say what the centre configured, not the default's 20% and 0000010."""
    centre = make_centre(tmp_path / "home", f"sqlite:///{tmp_path / 'gjj.db'}", counter_threshold="0.3")
    people = centre.members_of(0)
    for person in people[:2]:
        set_member(centre, person.member_account, base=Decimal(10000))
    kind_file(folder(centre), "基数调整", [[1, *identity(people[0]), "12500"], [2, *identity(people[1]), "13001"]])

    rows = run_one(centre).rows
    configured = replace(centre.app.config, sealed_unit="0000099")
    base_note, transfer_note = (template_for(kind).note(configured) for kind in ("基数调整", "单位调整"))
    centre.app.close()

    assert [row.status for row in rows] == [RowStatus.ACCEPTED, RowStatus.COUNTER]  # +25% and +30.01% against 30%
    assert "超过30%，须到柜台办理" in rows[1].issues[0].message and "20%" not in rows[1].issues[0].message
    assert "调整幅度超过30%的须到柜台办理" in base_note and "20%" not in base_note
    assert "集中封存户（0000099）" in transfer_note and "0000010" not in transfer_note
    assert "{" not in base_note + transfer_note


def test_base_adjustment_outputs_new_monthly_amounts(centre: Centre) -> None:
    unit12, unit10 = centre.members_of(0), centre.members_of(1)
    set_member(centre, unit12[0].member_account, base=Decimal(4000))
    kind_file(folder(centre), "基数调整", [[1, *identity(unit12[0]), "4070"]])
    set_member(centre, unit10[0].member_account, base=Decimal(2000))
    kind_file(folder(centre, 1), "基数调整", [[1, *identity(unit10[0]), "2124.5"]])

    first, second = (o.result for o in centre.run().outcomes)

    assert first.rows[0].amounts == {
        "原缴存基数": Decimal(4000), "调整后缴存基数": Decimal(4070), "单位月缴存额": Decimal(488), "个人月缴存额": Decimal(488), "月缴存额": Decimal(976)
    }
    assert second.rows[0].amounts["调整后缴存基数"] == Decimal(2125)
    assert second.rows[0].amounts["单位月缴存额"] == Decimal(213)
    assert member(centre, unit12[0].member_account).last_base_adjust_year == 2024


def test_base_adjustment_once_per_year(centre: Centre) -> None:
    people = centre.members_of(0)
    for person in people[:3]:
        set_member(centre, person.member_account, base=Decimal(5000))
    kind_file(folder(centre), "基数调整", [[1, *identity(people[0]), "abc"]], name="rejected.xlsx")
    assert run_one(centre).status is BatchStatus.REJECTED
    kind_file(folder(centre), "基数调整", [[1, *identity(people[1]), "5100"]], name="first.xlsx")
    assert run_one(centre).status is BatchStatus.ACCEPTED
    kind_file(folder(centre), "基数调整", [[1, *identity(people[2]), "5200"]], name="second.xlsx")

    again = run_one(centre, date(2024, 12, 31))
    base_after_refusal = member(centre, people[2].member_account).base
    kind_file(folder(centre), "基数调整", [[2, *identity(people[2]), "5200"]], name="next-year.xlsx")
    next_year = run_one(centre, date(2025, 1, 2))

    assert again.status is BatchStatus.REJECTED
    assert [i.code for i in again.file_issues] == [Code.ADJUSTED_THIS_YEAR]
    assert base_after_refusal == Decimal(5000)
    assert next_year.status is BatchStatus.ACCEPTED
    assert member(centre, people[2].member_account).base == Decimal(5200)


def test_deposit_year_runs_july_to_june(tmp_path: Path, db_url: str) -> None:
    from tests.conftest import make_centre

    centre = make_centre(tmp_path / "home", db_url, base_adjust_year="deposit_year")
    people = centre.members_of(0)
    for person in people[:3]:
        set_member(centre, person.member_account, base=Decimal(4800))
    kind_file(folder(centre), "基数调整", [[1, *identity(people[0]), "5000"]], name="a.xlsx")
    run_one(centre, date(2024, 3, 1))
    kind_file(folder(centre), "基数调整", [[1, *identity(people[1]), "5000"]], name="b.xlsx")
    july = run_one(centre, date(2024, 7, 1))
    kind_file(folder(centre), "基数调整", [[1, *identity(people[2]), "5000"]], name="c.xlsx")
    june = run_one(centre, date(2025, 6, 30))
    centre.app.close()

    assert july.status is BatchStatus.ACCEPTED and july.serial_number
    assert [i.code for i in june.file_issues] == [Code.ADJUSTED_THIS_YEAR]


def test_sealed_member_cannot_be_adjusted(centre: Centre) -> None:
    person = centre.members_of(0)[0]
    set_member(centre, person.member_account, status="封存", seal_reason="其他封存")
    kind_file(folder(centre), "基数调整", [[1, *identity(person), "5000"]])

    row = run_one(centre).rows[0]

    assert [(i.code, i.column) for i in row.issues] == [(Code.MEMBER_SEALED, "个人账号")]


# --- 封存 / 启封 ----------------------------------------------------------------------------

SEAL_CASES = [
    ("reason not allowed", {"reason": "辞职"}, None, Code.ENUM_VALUE, "封存原因"),
    ("bad month", {"month": "2024-13"}, None, Code.MONTH_FORMAT, "变更年月"),
    ("future month", {"month": "2024-09"}, None, Code.MONTH_RANGE, "变更年月"),
    ("already sealed", {}, {"status": "封存", "seal_reason": "其他封存"}, Code.ALREADY_SEALED, "个人账号"),
    ("name differs", {"name": "王某某"}, None, Code.NAME_MISMATCH, "姓名"),
    ("unknown account", {"account": "999999999"}, None, Code.MEMBER_NOT_FOUND, "个人账号"),
]


@pytest.mark.parametrize(("case", "change", "state", "code", "column"), SEAL_CASES, ids=[c[0] for c in SEAL_CASES])
def test_seal_errors(centre: Centre, case: str, change: dict, state: dict | None, code: Code, column: str) -> None:
    person = centre.members_of(0)[0]
    if state:
        set_member(centre, person.member_account, **state)
    row = [1, change.get("account", person.member_account), change.get("name", person.name), person.id_number, change.get("reason", "退休封存"), change.get("month", "2024-07")]
    kind_file(folder(centre), "封存", [row])

    result = run_one(centre)

    assert result.status is BatchStatus.REJECTED
    assert [(i.code, i.column, i.row) for i in result.rows[0].issues] == [(code, column, 3)]
    assert member(centre, person.member_account).status == (state or {}).get("status", "正常")


def test_leaving_seal_moves_member_to_concentrated_unit(centre: Centre) -> None:
    person = centre.members_of(0)[0]
    kind_file(folder(centre), "封存", [[1, *identity(person), "离职封存", "2024-07"]])

    result = run_one(centre)

    assert result.status is BatchStatus.ACCEPTED
    moved = member(centre, person.member_account)
    assert (moved.status, moved.seal_reason, moved.unit_account) == ("封存", "离职封存", "0000010")
    assert result.rows[0].computed == {"转入单位账号": "0000010"}
    with centre.app.sessions() as session:
        change = session.scalars(select(MemberChange)).one()
    assert change.before == {"status": "正常", "seal_reason": "", "unit_account": centre.unit().unit_account}


def test_seal_then_unseal_in_one_run_in_arrival_order(centre: Centre) -> None:
    person = centre.members_of(0)[0]
    seal = kind_file(folder(centre), "封存", [[1, *identity(person), "其他封存", "2024-06"]], name="b-封存.xlsx")
    unseal = kind_file(folder(centre), "启封", [[1, *identity(person), "正常上班启封", "2024-08", "4070"]], name="a-启封.xlsx")
    now = time.time()
    os.utime(seal, (now - 60, now - 60))
    os.utime(unseal, (now - 30, now - 30))

    sealed, unsealed = (o.result for o in centre.run().outcomes)

    assert (sealed.kind, sealed.status) == ("封存", BatchStatus.ACCEPTED)
    assert (unsealed.kind, unsealed.status) == ("启封", BatchStatus.ACCEPTED)
    assert unsealed.rows[0].amounts == {"缴存基数": Decimal(4070), "单位月缴存额": Decimal(488), "个人月缴存额": Decimal(488), "月缴存额": Decimal(976)}
    after = member(centre, person.member_account)
    assert (after.status, after.base, after.seal_reason) == ("正常", Decimal(4070), "")


@pytest.mark.parametrize(
    ("state", "base", "code", "column"),
    [
        ({}, "4070", Code.NOT_SEALED, "个人账号"),
        ({"status": "封存"}, "30000", Code.BASE_OUT_OF_RANGE, "缴存基数"),
        ({"status": "封存"}, "-1", Code.AMOUNT_OUT_OF_RANGE, "缴存基数"),
    ],
)
def test_unseal_errors(centre: Centre, state: dict, base: str, code: Code, column: str) -> None:
    person = centre.members_of(0)[0]
    if state:
        set_member(centre, person.member_account, **state)
    kind_file(folder(centre), "启封", [[1, *identity(person), "正常上班启封", "2024-08", base]])

    result = run_one(centre)

    assert [(i.code, i.column) for i in result.rows[0].issues] == [(code, column)]


# --- 单位调整 ---------------------------------------------------------------------------------


def _leave(centre: Centre, person) -> None:
    set_member(centre, person.member_account, status="封存", seal_reason="离职封存", unit_account="0000010")


def test_transfer_from_concentrated_unit_then_unseal(centre: Centre) -> None:
    person = centre.members_of(1)[0]
    kind_file(folder(centre, 1), "封存", [[1, *identity(person), "离职封存", "2024-07"]], name="leave.xlsx")
    assert run_one(centre).status is BatchStatus.ACCEPTED
    set_member(centre, person.member_account, balance=Decimal("147084.83"))
    kind_file(folder(centre), "单位调整", [[1, *identity(person), "0000010", "集中封存户", "工作调动"]])

    result = run_one(centre)

    assert result.status is BatchStatus.ACCEPTED
    assert result.rows[0].amounts == {"转移金额": Decimal("147084.83")}
    moved = member(centre, person.member_account)
    assert (moved.unit_account, moved.status) == (centre.unit().unit_account, "封存")
    kind_file(folder(centre), "启封", [[1, *identity(person), "正常上班启封", "2024-08", "4070"]])
    assert run_one(centre).status is BatchStatus.ACCEPTED
    assert member(centre, person.member_account).status == "正常"


def _transfer_row(person, source: str = "0000010", name: str = "集中封存户") -> list[Any]:
    return [1, *identity(person), source, name, "工作调动"]


TRANSFER_CASES = [
    ("not sealed", lambda c, p: None, lambda c, p: _transfer_row(p, c.unit(1).unit_account, c.unit(1).name), Code.NOT_SEALED, "个人账号"),
    ("wrong source account", _leave, lambda c, p: _transfer_row(p, c.unit(1).unit_account), Code.TRANSFER_SOURCE_MISMATCH, "转出单位账号"),
    ("wrong source name", _leave, lambda c, p: _transfer_row(p, "0000010", "某某公司"), Code.TRANSFER_SOURCE_MISMATCH, "转出单位名称"),
    ("name differs", _leave, lambda c, p: [1, p.member_account, "王某某", p.id_number, "0000010", "集中封存户", "工作调动"], Code.MEMBER_NOT_FOUND, "个人账号"),
    ("unknown account", _leave, lambda c, p: [1, "999999999", p.name, p.id_number, "0000010", "集中封存户", "工作调动"], Code.MEMBER_NOT_FOUND, "个人账号"),
    ("reason not allowed", _leave, lambda c, p: [*_transfer_row(p)[:-1], "升职"], Code.ENUM_VALUE, "转移原因"),
]


@pytest.mark.parametrize(("case", "prepare", "make_row", "code", "column"), TRANSFER_CASES, ids=[c[0] for c in TRANSFER_CASES])
def test_transfer_errors_never_reveal_the_other_unit(centre: Centre, case: str, prepare, make_row, code: Code, column: str) -> None:
    person = centre.members_of(1)[0]
    prepare(centre, person)
    kind_file(folder(centre), "单位调整", [make_row(centre, person)])
    before = member(centre, person.member_account).unit_account

    result = run_one(centre)

    issues = result.rows[0].issues
    assert [(i.code, i.column) for i in issues] == [(code, column)]
    assert centre.unit(1).unit_account not in issues[0].message and centre.unit(1).name not in issues[0].message
    assert member(centre, person.member_account).unit_account == before


def test_confirmation_slip_for_member_business(sqlite_centre: Centre) -> None:
    person = sqlite_centre.members_of(0)[0]
    kind_file(folder(sqlite_centre), "封存", [[1, *identity(person), "退休封存", "2024-07"]])

    outcome = sqlite_centre.run().outcomes[0]

    assert outcome.result.serial_number == "124080501_0000000001"
    assert {p.name for p in outcome.outputs.iterdir()} == {"result.json", "slip.pdf", "detail.csv"}


def test_cross_year_policy_allow(tmp_path: Path) -> None:
    from tests.conftest import make_centre
    from tests.factories import backpay_file, row_for

    centre = make_centre(tmp_path / "home", f"sqlite:///{tmp_path / 'db.sqlite'}")
    centre.app.config = replace(centre.app.config, cross_year_backpay="allow")
    backpay_file(folder(centre), [row_for(centre.members_of(0)[0], start="2023-12", end="2024-01")])
    result = run_one(centre)
    centre.app.close()
    assert result.rows[0].status is RowStatus.ACCEPTED


def _identity_cases():
    return [
        ("unknown account", lambda p: [1, "999999999", p.name, p.id_number], Code.MEMBER_NOT_FOUND, "个人账号"),
        ("name differs", lambda p: [1, p.member_account, "王某某", p.id_number], Code.NAME_MISMATCH, "姓名"),
        ("ID of someone else", lambda p: [1, p.member_account, p.name, "11010519491231002X"], Code.ID_MISMATCH, "证件号码"),
        ("bad ID", lambda p: [1, p.member_account, p.name, "11010519491231002"], Code.ID_FORMAT, "证件号码"),
    ]


@pytest.mark.parametrize("kind", ["基数调整", "封存", "启封"])
@pytest.mark.parametrize(("case", "make", "code", "column"), _identity_cases(), ids=[c[0] for c in _identity_cases()])
def test_identity_errors_for_every_member_template(sqlite_centre: Centre, kind: str, case: str, make, code: Code, column: str) -> None:
    person = sqlite_centre.members_of(0)[0]
    if kind == "启封":
        set_member(sqlite_centre, person.member_account, status="封存", seal_reason="其他封存")
    tail = {"基数调整": ["5000"], "封存": ["退休封存", "2024-07"], "启封": ["正常上班启封", "2024-08", "4070"]}[kind]
    kind_file(folder(sqlite_centre), kind, [[*make(person), *tail]])

    result = run_one(sqlite_centre)

    assert result.status is BatchStatus.REJECTED
    assert [(i.code, i.column) for i in result.rows[0].issues] == [(code, column)]


@pytest.mark.parametrize("kind", ["基数调整", "封存", "启封", "单位调整"])
def test_member_twice_in_one_file_is_duplicate_row(sqlite_centre: Centre, kind: str) -> None:
    person = sqlite_centre.members_of(0)[0]
    tail = {"基数调整": ["5000"], "封存": ["退休封存", "2024-07"], "启封": ["正常上班启封", "2024-08", "4070"], "单位调整": ["0000010", "集中封存户", "工作调动"]}[kind]
    kind_file(folder(sqlite_centre), kind, [[1, *identity(person), *tail], [2, *identity(person), *tail]])

    result = run_one(sqlite_centre)

    assert [(i.code, i.row) for i in result.rows[1].issues] == [(Code.DUPLICATE_ROW, 4)]


def test_member_adjusted_this_year_in_master_data(sqlite_centre: Centre) -> None:
    person = sqlite_centre.members_of(0)[0]
    set_member(sqlite_centre, person.member_account, base=Decimal(5000), last_base_adjust_year=2024)
    kind_file(folder(sqlite_centre), "基数调整", [[1, *identity(person), "5100"]])

    row = run_one(sqlite_centre).rows[0]

    assert [(i.code, i.column) for i in row.issues] == [(Code.ADJUSTED_THIS_YEAR, "调整后缴存基数")]


def test_counter_message_names_the_threshold(sqlite_centre: Centre) -> None:
    person = sqlite_centre.members_of(0)[0]
    set_member(sqlite_centre, person.member_account, base=Decimal(5000))
    kind_file(folder(sqlite_centre), "基数调整", [[1, *identity(person), "7000"]])

    issue = run_one(sqlite_centre).rows[0].issues[0]

    assert issue.code is Code.COUNTER_BASE_CHANGE
    assert "40.00%" in issue.message and "超过20%" in issue.message and "银行工资流水" in issue.message
