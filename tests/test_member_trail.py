"""The member-change trail (``member_changes``): every kind that changes a member records the old and
new value of each field it changes (issue #19), and ``gjj export members`` shows a 姓名 or 证件号码
change only once it is approved; SQLite and PostgreSQL."""

from __future__ import annotations

import csv
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from pipeline.services.fakes import FakeMember
from pipeline.services.listings import list_requests
from pipeline.services.review import review
from pipeline.store.dbapi import session_reader
from pipeline.store.tables import Member, MemberChange
from tests.conftest import BUSINESS_DATE, Centre
from tests.factories import bundle_file, identity, kind_file, scans_for
from tests.test_member_change import NEW_ID, gjj
from tests.test_member_templates import set_member
from tests.test_registration import person, reg_row, registration_file

SEALED_UNIT = "0000010"


def one_file(centre: Centre, kind: str, rows: list[list[Any]], unit: int = 0) -> None:
    folder = centre.inbox / centre.unit(unit).unit_account
    needs_scans = [row[1] for row in rows if kind == "缴存人信息变更" and row[4] in ("姓名", "证件号码")]
    if needs_scans:  # a change that waits for review comes as a zip drop with its scans
        bundle_file(folder, kind, rows, scans_for(*needs_scans))
    else:
        kind_file(folder, kind, rows)
    (outcome,) = centre.run().outcomes
    assert outcome.result.status.value == "accepted", outcome.result.all_issues


def approve_all(centre: Centre) -> None:
    with centre.app.sessions() as session:
        waiting = [view.id for view in list_requests(session_reader(session))]
    for request_id in waiting:
        assert review(centre.app.sessions, centre.app.home.outbox, request_id, "审核通过", "审核员甲", now=datetime(2024, 8, 6)).refused is None


# Each case: what to do to the centre's first member of unit 0 (``m``), and the trail row expected
# (kind, member, before, after); ``u0`` is unit 0's account.
Case = Callable[[Centre, FakeMember], tuple[str, str, dict[str, str], dict[str, str]]]


def base_adjust(centre: Centre, m: FakeMember) -> tuple[str, str, dict[str, str], dict[str, str]]:
    set_member(centre, m.member_account, base=Decimal(10000), last_base_adjust_year=None)
    one_file(centre, "基数调整", [[1, *identity(m), "11000"]])
    return "基数调整", m.member_account, {"base": "10000", "last_base_adjust_year": ""}, {"base": "11000", "last_base_adjust_year": "2024"}


def seal_other(centre: Centre, m: FakeMember) -> tuple[str, str, dict[str, str], dict[str, str]]:
    one_file(centre, "封存", [[1, *identity(m), "其他封存", "2024-07"]])
    return "封存", m.member_account, {"status": "正常", "seal_reason": ""}, {"status": "封存", "seal_reason": "其他封存"}


def seal_leaving(centre: Centre, m: FakeMember) -> tuple[str, str, dict[str, str], dict[str, str]]:
    one_file(centre, "封存", [[1, *identity(m), "离职封存", "2024-07"]])
    before = {"status": "正常", "seal_reason": "", "unit_account": centre.unit().unit_account}
    return "封存", m.member_account, before, {"status": "封存", "seal_reason": "离职封存", "unit_account": SEALED_UNIT}


def unseal(centre: Centre, m: FakeMember) -> tuple[str, str, dict[str, str], dict[str, str]]:
    set_member(centre, m.member_account, status="封存", seal_reason="其他封存")
    one_file(centre, "启封", [[1, *identity(m), "正常上班启封", "2024-08", "4070"]])
    before = {"status": "封存", "seal_reason": "其他封存", "base": str(m.base)}
    return "启封", m.member_account, before, {"status": "正常", "seal_reason": "", "base": "4070"}


def transfer(centre: Centre, m: FakeMember) -> tuple[str, str, dict[str, str], dict[str, str]]:
    mover = centre.members_of(1)[0]
    set_member(centre, mover.member_account, status="封存", seal_reason="离职封存", unit_account=SEALED_UNIT)
    one_file(centre, "单位调整", [[1, *identity(mover), SEALED_UNIT, "集中封存户", "工作调动"]])
    return "单位调整", mover.member_account, {"unit_account": SEALED_UNIT}, {"unit_account": centre.unit().unit_account}


def change_phone(centre: Centre, m: FakeMember) -> tuple[str, str, dict[str, str], dict[str, str]]:
    one_file(centre, "缴存人信息变更", [[1, *identity(m), "手机号码", "13912345678", "换号"]])
    return "缴存人信息变更", m.member_account, {"手机号码": ""}, {"手机号码": "13912345678"}


def change_id_approved(centre: Centre, m: FakeMember) -> tuple[str, str, dict[str, str], dict[str, str]]:
    one_file(centre, "缴存人信息变更", [[1, *identity(m), "证件号码", NEW_ID, "证件号码登记错误"]])
    approve_all(centre)
    return "缴存人信息变更", m.member_account, {"证件号码": m.id_number}, {"证件号码": NEW_ID}


def register(centre: Centre, m: FakeMember) -> tuple[str, str, dict[str, str], dict[str, str]]:
    unit = centre.unit().unit_account
    registration_file(centre.inbox / unit, [reg_row(1, 0)])
    centre.run()
    account = f"{unit}00001"
    with centre.app.sessions() as session:
        profile = session.get(Member, account).profile
    name, id_number = person(0)
    after = {"个人账号": account, "单位账号": unit, "姓名": name, "证件类型": "身份证", "证件号码": id_number, "个人账户状态": "正常", "缴存基数": "4070"}
    return "缴存人登记", account, {}, after | {"开户日期": BUSINESS_DATE.isoformat(), **profile}


CASES: dict[str, Case] = {
    "基数调整": base_adjust,
    "封存（其他）": seal_other,
    "封存（离职，转入集中封存户）": seal_leaving,
    "启封": unseal,
    "单位调整": transfer,
    "缴存人信息变更（立即生效）": change_phone,
    "缴存人信息变更（审核通过）": change_id_approved,
    "缴存人登记": register,
}


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_every_kind_records_old_and_new_values_of_what_it_changes(centre: Centre, case: str) -> None:
    expected = CASES[case](centre, centre.members_of()[0])

    with centre.app.sessions() as session:
        trail = [(c.kind, c.member_account, c.before, c.after) for c in session.scalars(select(MemberChange).order_by(MemberChange.id))]

    assert [(kind, account, numbers(before), numbers(after)) for kind, account, before, after in trail] == [
        (expected[0], expected[1], numbers(expected[2]), numbers(expected[3]))
    ]


def numbers(values: dict[str, str]) -> dict[str, Any]:
    """A base as a number: the database gives 10000 or 10000.00 (SQLite, PostgreSQL)."""
    return {name: Decimal(value) if name == "base" else value for name, value in values.items()}


def exported(centre: Centre, tmp_path: Path) -> dict[str, dict[str, str]]:
    path = tmp_path / "members.csv"
    done = gjj(centre, "export", "members", "-o", str(path))
    assert done.exit_code == 0, done.output
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return {row["个人账号"]: row for row in csv.DictReader(handle)}


def test_export_shows_a_name_change_only_after_approval(centre: Centre, tmp_path: Path) -> None:
    member = centre.members_of()[0]
    one_file(centre, "缴存人信息变更", [[1, *identity(member), "姓名", "王小明", "身份证姓名变更"]])

    waiting = exported(centre, tmp_path)[member.member_account]
    approve_all(centre)
    approved = exported(centre, tmp_path)[member.member_account]

    assert waiting["姓名"] == member.name
    assert approved["姓名"] == "王小明"
    assert {name: value for name, value in approved.items() if name != "姓名"} == {name: value for name, value in waiting.items() if name != "姓名"}
