"""缴存人登记 end to end: a registration file dropped in the inbox, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable

import pytest
import xlsxwriter
from sqlalchemy import func, select, text

from pipeline.errors import Code
from pipeline.intake.scan import settled_files
from pipeline.model import BatchStatus, RowStatus
from pipeline.money import monthly_deposit
from pipeline.services.fakes import fake_id, write_table
from pipeline.store import batches, queries
from pipeline.store.effects.registration import new_account, new_accounts
from pipeline.store.tables import AccountCounter, Member, MemberChange
from schemas import registration
from schemas.cells import id_problem
from tests.conftest import BUSINESS_DATE, Centre, PostgresServer, make_centre
from tests.factories import Formula, formula_file, legacy_id, record_legacy_id, sheet_xml

Rows = list[list[Any]]
Mutation = Callable[[Rows, Centre], None]

# Column positions in registration.HEADER.
NAME, ID, MARITAL, FIXED_PHONE, MOBILE, INCOME, POST, EDUCATION, ADDRESS, POSTCODE = 1, 2, 3, 4, 5, 6, 7, 10, 11, 12
BASE, PERSONAL, UNIT, BANK_NAME, BANK_ACCOUNT = 13, 14, 15, 16, 17

NAMES = ("赵一鸣", "钱二丫", "孙三强", "李四海", "周五福", "吴六顺")


def person(index: int) -> tuple[str, str]:
    """A generated person (name, valid ID) who is never one of the fixture's members."""
    return NAMES[index], fake_id(date(1991, 3, 1 + index), 500 + index)


def reg_row(seq: Any, index: int, base: Any = "4070", ratios: tuple[str, str] = ("0.12", "0.12"), **cells: Any) -> list[Any]:
    """A valid row for ``person(index)`` whose monthly amounts follow the given (unit, personal) ratios."""
    name, id_number = person(index)
    base_value = Decimal(str(base))
    unit_ratio, personal_ratio = (Decimal(ratio) for ratio in ratios)
    row: list[Any] = [
        seq,
        name,
        id_number,
        "已婚",
        "0429-2123456",
        "13812345678",
        "8000",
        "职员",
        "工程技术人员",
        "助理工程师",
        "本科",
        "辽宁省葫芦岛市连山区中央路1号",
        "125000",
        str(base),
        str(monthly_deposit(base_value, personal_ratio)),
        str(monthly_deposit(base_value, unit_ratio)),
        "中国银行葫芦岛分行",
        "6216600000001234566",
    ]
    for column, value in cells.items():
        row[registration.HEADER.index(column)] = value
    return row


def registration_file(folder: Path, rows: Rows, name: str = "缴存人登记.xlsx", total: list[Any] | None = None) -> Path:
    body = list(rows)
    if total is not None:
        body.append(["合计", *([""] * 12), *total, "", ""])
    return write_table(folder / name, registration.HEADER, body, title="缴存人登记清册")


def counts(centre: Centre) -> dict[str, int]:
    with centre.app.sessions() as session:
        return {
            "members": session.scalar(select(func.count()).select_from(Member)),
            "member_changes": session.scalar(select(func.count()).select_from(MemberChange)),
            "account_counters": session.scalar(select(func.count()).select_from(AccountCounter)),
        }


def _set(column: str, value: Any, row: int = 0) -> Mutation:
    def mutate(rows: Rows, centre: Centre) -> None:
        rows[row][registration.HEADER.index(column)] = value

    return mutate


def _wrong_check_digit(rows: Rows, centre: Centre) -> None:
    id_number = rows[0][ID]
    rows[0][ID] = id_number[:17] + ("1" if id_number[17] != "1" else "2")


def _base(value: str, personal: str, unit: str) -> Mutation:
    def mutate(rows: Rows, centre: Centre) -> None:
        rows[0][BASE : UNIT + 1] = [value, personal, unit]

    return mutate


def _same_id_twice(rows: Rows, centre: Centre) -> None:
    rows[1][ID] = rows[0][ID]


def _other_units_member(rows: Rows, centre: Centre) -> None:
    stranger = centre.members_of(1)[3]
    rows[0][NAME : ID + 1] = [stranger.name, stranger.id_number]


def _own_units_member(rows: Rows, centre: Centre) -> None:
    rows[0][ID] = centre.members_of(0)[2].id_number


def _legacy_form(rows: Rows, centre: Centre) -> None:
    rows[0][ID] = legacy_id(rows[0][ID])


def _member_recorded_by_the_legacy_number(rows: Rows, centre: Centre) -> None:
    """The person has an account, recorded with the legacy 15-digit number; the file gives the 18-digit one."""
    stranger = centre.members_of(1)[3]
    record_legacy_id(centre.app, stranger, centre.app.home.root / "master")
    rows[0][NAME : ID + 1] = [stranger.name, stranger.id_number]


# (case, mutation, expected code, column, excel row) — every registration code of SPEC.md.
ROW_CASES = [
    ("empty cell", _set("职务", ""), Code.CELL_EMPTY, "职务", 3),
    ("empty mobile", _set("手机号码", ""), Code.CELL_EMPTY, "手机号码", 3),
    ("ID too short", _set("证件号码", "21140219910301"), Code.ID_FORMAT, "证件号码", 3),
    ("ID impossible birth date", _set("证件号码", "211402199102300012"), Code.ID_FORMAT, "证件号码", 3),
    ("ID wrong check digit", _wrong_check_digit, Code.ID_CHECKSUM, "证件号码", 3),
    ("ID turned into a number", _set("证件号码", 211402199103011234), Code.ID_NUMERIC_PRECISION, "证件号码", 3),
    ("marital status not GB/T 2261.2", _set("婚姻状况", "结婚"), Code.ENUM_VALUE, "婚姻状况", 3),
    ("mobile starting 12", _set("手机号码", "12812345678"), Code.PHONE_FORMAT, "手机号码", 3),
    ("mobile too short", _set("手机号码", "1381234567"), Code.PHONE_FORMAT, "手机号码", 3),
    ("fixed phone garbage", _set("固定电话号码", "电话12"), Code.PHONE_FORMAT, "固定电话号码", 3),
    ("postcode five digits", _set("邮政编码", "12500"), Code.POSTCODE_FORMAT, "邮政编码", 3),
    ("bank account with letters", _set("个人存款账户号码", "62166ABC0001"), Code.BANK_ACCOUNT_FORMAT, "个人存款账户号码", 3),
    ("income not a number", _set("家庭月收入", "八千"), Code.NUMBER_FORMAT, "家庭月收入", 3),
    ("income negative", _set("家庭月收入", "-100"), Code.AMOUNT_OUT_OF_RANGE, "家庭月收入", 3),
    ("monthly amount zero", _set("单位月缴存额", "0"), Code.AMOUNT_OUT_OF_RANGE, "单位月缴存额", 3),
    ("name with digits", _set("姓名", "张3"), Code.NAME_FORMAT, "姓名", 3),
    ("address too long", _set("家庭住址", "辽" * 101), Code.TEXT_TOO_LONG, "家庭住址", 3),
    ("base below floor", _base("1900", "228", "228"), Code.BASE_OUT_OF_RANGE, "个人缴存基数", 3),
    ("base above cap", _base("28001", "3360", "3360"), Code.BASE_OUT_OF_RANGE, "个人缴存基数", 3),
    ("personal amount not the unit's ratio", _set("个人月缴存额", "480"), Code.AMOUNT_MISMATCH, "个人月缴存额", 3),
    ("unit amount at another ratio", _set("单位月缴存额", "407"), Code.AMOUNT_MISMATCH, "单位月缴存额", 3),
    ("same ID twice in the file", _same_id_twice, Code.DUPLICATE_ROW, "证件号码", 4),
    ("ID of another unit's member", _other_units_member, Code.ALREADY_REGISTERED, "证件号码", 3),
    ("ID of this unit's member", _own_units_member, Code.ALREADY_REGISTERED, "证件号码", 3),
    ("ID in the legacy 15-digit form", _legacy_form, Code.ID_FORMAT, "证件号码", 3),
    ("ID of a member recorded by the legacy number", _member_recorded_by_the_legacy_number, Code.ALREADY_REGISTERED, "证件号码", 3),
]


@pytest.mark.parametrize(("case", "mutate", "code", "column", "excel_row"), ROW_CASES, ids=[c[0] for c in ROW_CASES])
def test_row_error_rejects_file_and_names_the_cell(
    centre: Centre, case: str, mutate: Mutation, code: Code, column: str, excel_row: int
) -> None:
    rows = [reg_row(1, 0), reg_row(2, 1, base="5000")]
    mutate(rows, centre)
    registration_file(centre.inbox / centre.unit().unit_account, rows)
    before = counts(centre)

    result = centre.run().outcomes[0].result

    assert result.status is BatchStatus.REJECTED
    issues = [issue for row in result.rows for issue in row.issues]
    assert [(i.code, i.column, i.row) for i in issues] == [(code, column, excel_row)]
    assert issues[0].message and not issues[0].message.isascii()
    assert {row.excel_row: row.status for row in result.rows}[excel_row] is RowStatus.REJECTED
    assert all(row.computed == {} for row in result.rows)
    assert result.serial_number is None
    assert counts(centre) == before == {"members": 30, "member_changes": 0, "account_counters": 0}


def test_amount_mismatch_states_the_expected_value(sqlite_centre: Centre) -> None:
    registration_file(sqlite_centre.inbox / sqlite_centre.unit().unit_account, [reg_row(1, 0, 个人月缴存额="480")])

    issue = sqlite_centre.run().outcomes[0].result.rows[0].issues[0]

    assert issue.code is Code.AMOUNT_MISMATCH
    assert "应为 488.00（4070 × 12% 四舍五入），实际为 480.00" in issue.message


def test_a_new_account_needs_the_18_digit_number_and_is_told_it(sqlite_centre: Centre) -> None:
    """A legacy 15-digit number names a member who has an account; a new account is opened with the 18-digit one."""
    _, id_number = person(0)
    registration_file(sqlite_centre.inbox / sqlite_centre.unit().unit_account, [reg_row(1, 0, 证件号码=legacy_id(id_number))])

    [issue] = sqlite_centre.run().outcomes[0].result.rows[0].issues

    assert (issue.code, issue.column) == (Code.ID_FORMAT, "证件号码")
    assert legacy_id(id_number) in issue.message and id_number in issue.message and "18位" in issue.message


def test_already_registered_names_neither_unit_nor_account(centre: Centre) -> None:
    stranger = centre.members_of(1)[3]
    other_unit = centre.unit(1)
    row = reg_row(1, 0)
    row[ID] = stranger.id_number
    registration_file(centre.inbox / centre.unit().unit_account, [row])

    issue = centre.run().outcomes[0].result.rows[0].issues[0]

    assert issue.code is Code.ALREADY_REGISTERED
    assert "单位调整" in issue.message and "启封" in issue.message
    for secret in (other_unit.unit_account, other_unit.name, stranger.member_account, stranger.name):
        assert secret not in issue.message


def test_accepted_file_opens_accounts_and_writes_outputs(centre: Centre) -> None:
    unit = centre.unit()
    rows = [reg_row(1, 0, base="4070"), reg_row(2, 1, base="5000")]
    registration_file(centre.inbox / unit.unit_account, rows, total=["9070", "1088", "1088"])

    outcome = centre.run().outcomes[0]

    result = outcome.result
    assert result.status is BatchStatus.ACCEPTED
    assert result.serial_number == "124080501_0000000001"
    assert [row.computed for row in result.rows] == [{"个人账号": "010000100001"}, {"个人账号": "010000100002"}]
    data = json.loads((outcome.outputs / "result.json").read_text(encoding="utf-8"))
    assert data["rows"][0] == {
        "row": 3,
        "序号": "1",
        "status": "accepted",
        "errors": [],
        "amounts": {"缴存基数": "4070.00", "单位月缴存额": "488.00", "个人月缴存额": "488.00", "月缴存额": "976.00"},
        "computed": {"个人账号": "010000100001"},
    }
    assert data["rows"][1]["computed"] == {"个人账号": "010000100002"}
    assert {p.name for p in outcome.outputs.iterdir()} == {"result.json", "slip.pdf", "detail.csv"}
    assert (outcome.outputs / "slip.pdf").stat().st_size > 0
    with centre.app.sessions() as session:
        created = session.scalars(select(Member).where(Member.unit_account == unit.unit_account, Member.member_account.like("0100001%")).order_by(Member.member_account)).all()
        trail = session.scalars(select(MemberChange).order_by(MemberChange.id)).all()
    assert [(m.member_account, m.name, m.id_number) for m in created] == [
        ("010000100001", *person(0)),
        ("010000100002", *person(1)),
    ]
    first = created[0]
    assert (first.status, first.opened_on, first.base, first.balance) == ("正常", BUSINESS_DATE, Decimal("4070"), Decimal("0"))
    assert (first.id_type, first.seal_reason, first.last_base_adjust_year) == ("身份证", "", None)
    assert first.profile is not None
    assert first.profile["婚姻状况"] == "已婚" and first.profile["个人存款账户号码"] == "6216600000001234566"
    assert set(first.profile) == set(registration.PROFILE_COLUMNS)
    opened = {"单位账号": unit.unit_account, "证件类型": "身份证", "个人账户状态": "正常", "开户日期": BUSINESS_DATE.isoformat()}
    assert [(c.member_account, c.kind, c.before, c.after) for c in trail] == [
        ("010000100001", "缴存人登记", {}, {"个人账号": "010000100001", "姓名": person(0)[0], "证件号码": person(0)[1], "缴存基数": "4070", **opened, **created[0].profile}),
        ("010000100002", "缴存人登记", {}, {"个人账号": "010000100002", "姓名": person(1)[0], "证件号码": person(1)[1], "缴存基数": "5000", **opened, **created[1].profile}),
    ]
    assert counts(centre)["members"] == 32


@pytest.mark.parametrize(
    ("unit_index", "base", "stored_base", "monthly"),
    [(1, "2125", "2125", "213"), (0, "4070", "4070", "488"), (1, "2124.5", "2125", "213"), (0, "4150", "4150", "498")],
)
def test_monthly_amounts_round_half_up(centre: Centre, unit_index: int, base: str, stored_base: str, monthly: str) -> None:
    unit = centre.unit(unit_index)
    row = reg_row(1, 0, base=base, ratios=(unit.unit_ratio, unit.personal_ratio))
    row[PERSONAL] = row[UNIT] = monthly
    registration_file(centre.inbox / unit.unit_account, [row])

    result = centre.run().outcomes[0].result

    assert result.status is BatchStatus.ACCEPTED, result.rows[0].issues
    amounts = result.rows[0].amounts
    assert (amounts["缴存基数"], amounts["个人月缴存额"], amounts["单位月缴存额"]) == (Decimal(stored_base), Decimal(monthly), Decimal(monthly))
    assert amounts["月缴存额"] == 2 * Decimal(monthly)
    assert result.rows[0].computed == {"个人账号": f"{unit.unit_account}00001"}


def test_half_up_expected_value_at_ten_percent(sqlite_centre: Centre) -> None:
    unit = sqlite_centre.unit(1)
    row = reg_row(1, 0, base="2125", ratios=("0.10", "0.10"), 个人月缴存额="212")
    registration_file(sqlite_centre.inbox / unit.unit_account, [row])

    issues = sqlite_centre.run().outcomes[0].result.rows[0].issues

    assert [(i.code, i.column) for i in issues] == [(Code.AMOUNT_MISMATCH, "个人月缴存额")]
    assert "应为 213.00（2125 × 10% 四舍五入），实际为 212.00" in issues[0].message


# (case, rounding, unit, 个人缴存基数 cell, 个人/单位月缴存额 cells, 缴存基数 and each monthly amount). The
# cached values are the doubles Excel computes and saves (17 significant digits: 1920.4999999999998).
FORMULA_REGISTRATIONS = [
    ("base =19.205*100 is 1920.5, 1921 元 × 12%", "yuan", 0, Formula("=19.205*100", 19.205 * 100), "231", "1921", "231"),
    ("monthly =N3*0.12 to 分", "fen", 0, "1915", Formula("=N3*0.12", 1915 * 0.12), "1915", "229.80"),
    ("monthly =N3*0.1 to 分", "fen", 1, "1911", Formula("=N3*0.1", 1911 * 0.1), "1911", "191.10"),
]


@pytest.mark.parametrize(("case", "rounding", "unit_index", "base", "monthly", "stored_base", "amount"), FORMULA_REGISTRATIONS, ids=[c[0] for c in FORMULA_REGISTRATIONS])
def test_formula_made_amounts_match_as_excel_shows_them(
    centre: Centre, case: str, rounding: str, unit_index: int, base: Any, monthly: Any, stored_base: str, amount: str
) -> None:
    centre.app.config = replace(centre.app.config, rounding=rounding)
    unit = centre.unit(unit_index)
    row = reg_row(1, 0)
    row[BASE], row[PERSONAL], row[UNIT] = base, monthly, monthly
    path = formula_file(centre.inbox / unit.unit_account / "缴存人登记.xlsx", registration.HEADER, [row], title="缴存人登记清册")
    noisy = base if isinstance(base, Formula) else monthly
    assert f"<v>{noisy.cached!r}</v>" in sheet_xml(path) and len(repr(noisy.cached).replace(".", "")) == 17

    result = centre.run().outcomes[0].result

    assert result.status is BatchStatus.ACCEPTED, result.rows[0].issues
    amounts = result.rows[0].amounts
    assert (amounts["缴存基数"], amounts["个人月缴存额"], amounts["单位月缴存额"]) == (Decimal(stored_base), Decimal(amount), Decimal(amount))
    with centre.app.sessions() as session:
        assert session.scalars(select(Member.base).where(Member.id_number == person(0)[1])).one() == Decimal(stored_base)


def test_a_formula_amount_that_does_not_match_is_named_as_excel_shows_it(sqlite_centre: Centre) -> None:
    row = reg_row(1, 0, base="1915")
    row[PERSONAL] = Formula("=N3*0.12", 1915 * 0.12)  # 229.79999999999998 in the file, 229.8 on screen; 230 expected (元)
    formula_file(sqlite_centre.inbox / sqlite_centre.unit().unit_account / "缴存人登记.xlsx", registration.HEADER, [row], title="缴存人登记清册")

    issues = sqlite_centre.run().outcomes[0].result.rows[0].issues

    assert [(i.code, i.column) for i in issues] == [(Code.AMOUNT_MISMATCH, "个人月缴存额")]
    assert "应为 230.00（1915 × 12% 四舍五入），实际为 229.80；" in issues[0].message


def _under_the_table(*cells: tuple[int, str]) -> list[str]:
    row = [""] * len(registration.HEADER)
    for column, value in cells:
        row[column] = value
    return row


@pytest.mark.parametrize(
    ("tail", "total_mismatch"),
    [
        ([_under_the_table((NAME, "合\u3000计"), (BASE, "9070"), (PERSONAL, "1088"), (UNIT, "1088")), _under_the_table((NAME, "制表人：张三"), (ID, "单位（盖章）"))], False),
        ([_under_the_table((NAME, "总 计"), (BASE, "9070"), (PERSONAL, "1088"), (UNIT, "1000")), _under_the_table((NAME, "制表人：张三"))], True),
        ([[], _under_the_table((NAME, "制表人：张三  审核人：李四")), _under_the_table((ID, "单位盖章"))], False),
    ],
    ids=["合计-in-姓名-and-footer", "总计-that-does-not-add-up", "footer-only"],
)
def test_totals_in_the_name_column_and_lines_under_the_table(sqlite_centre: Centre, tail: Rows, total_mismatch: bool) -> None:
    """Registration's second column is 姓名: a clerk writes 合计 there, and signs under the table."""
    write_table(sqlite_centre.inbox / sqlite_centre.unit().unit_account / "缴存人登记.xlsx", registration.HEADER,
                [reg_row(1, 0, base="4070"), reg_row(2, 1, base="5000"), *tail], title="缴存人登记清册")

    result = sqlite_centre.run().outcomes[0].result

    assert [row.excel_row for row in result.rows] == [3, 4]
    assert [issue.code for issue in result.file_issues] == ([Code.TOTAL_MISMATCH] if total_mismatch else [])
    assert result.status is (BatchStatus.REJECTED if total_mismatch else BatchStatus.ACCEPTED), [i.message for i in result.all_issues]
    assert counts(sqlite_centre)["members"] == (30 if total_mismatch else 32)


def test_zero_placeholders_are_accepted(centre: Centre) -> None:
    row = reg_row(1, 0, 固定电话号码="0", 邮政编码="0", 家庭月收入="0", 职务="0", 职称="0")
    registration_file(centre.inbox / centre.unit().unit_account, [row])

    result = centre.run().outcomes[0].result

    assert result.status is BatchStatus.ACCEPTED, result.rows[0].issues
    with centre.app.sessions() as session:
        profile = session.scalars(select(Member.profile).where(Member.member_account == "010000100001")).one()
    assert profile is not None
    assert (profile["固定电话号码"], profile["邮政编码"], profile["家庭月收入"]) == ("0", "0", "0")


def test_lower_case_x_is_stored_upper_case(sqlite_centre: Centre) -> None:
    id_number = next(fake_id(date(1992, 5, 6), n) for n in range(500, 1000) if fake_id(date(1992, 5, 6), n).endswith("X"))
    row = reg_row(1, 0, 证件号码=id_number.lower())
    registration_file(sqlite_centre.inbox / sqlite_centre.unit().unit_account, [row])

    result = sqlite_centre.run().outcomes[0].result

    assert result.status is BatchStatus.ACCEPTED, result.rows[0].issues
    with sqlite_centre.app.sessions() as session:
        assert session.scalars(select(Member.id_number).where(Member.member_account == "010000100001")).one() == id_number


def test_second_file_cannot_register_the_same_person_again(centre: Centre) -> None:
    folder = centre.inbox / centre.unit().unit_account
    registration_file(folder, [reg_row(1, 0)], name="第一批.xlsx")
    first = centre.run().outcomes[0].result
    registration_file(folder, [reg_row(1, 1), reg_row(2, 0)], name="第二批.xlsx")

    second = centre.run().outcomes[0].result

    assert first.status is BatchStatus.ACCEPTED
    assert second.status is BatchStatus.REJECTED
    assert [(i.code, i.column, i.row) for row in second.rows for i in row.issues] == [(Code.ALREADY_REGISTERED, "证件号码", 4)]
    assert counts(centre)["members"] == 31
    registration_file(folder, [reg_row(1, 1)], name="第三批.xlsx")

    third = centre.run().outcomes[0].result

    assert third.rows[0].computed == {"个人账号": "010000100002"}, "a rejected file gives no number away"


def test_another_unit_cannot_register_the_same_person_either(centre: Centre) -> None:
    registration_file(centre.inbox / centre.unit(0).unit_account, [reg_row(1, 0)])
    centre.run()
    unit = centre.unit(2)
    registration_file(centre.inbox / unit.unit_account, [reg_row(1, 0, ratios=(unit.unit_ratio, unit.personal_ratio))])

    result = centre.run().outcomes[0].result

    assert [i.code for i in result.rows[0].issues] == [Code.ALREADY_REGISTERED]
    assert "0100001" not in result.rows[0].issues[0].message


def test_account_numbers_skip_existing_accounts_and_count_per_unit(centre: Centre) -> None:
    unit = centre.unit()
    with centre.app.sessions() as session, session.begin():
        session.add(
            Member(
                member_account="010000100002",
                unit_account=unit.unit_account,
                name="郑七",
                id_number=fake_id(date(1980, 1, 1), 900),
                base=Decimal("3000"),
                balance=Decimal("0"),
            )
        )
    with centre.app.sessions() as session, session.begin():
        assert new_account(session, unit.unit_account) == "010000100001"
        assert new_accounts(session, unit.unit_account, 2) == ["010000100003", "010000100004"]
        assert new_account(session, centre.unit(1).unit_account) == "010000200001"
    with centre.app.sessions() as session:
        counters = {account: value for account, value in session.execute(select(AccountCounter.unit_account, AccountCounter.last_value))}
    assert counters == {"0100001": 4, "0100002": 1}


def test_two_units_registering_one_person_at_the_same_instant_one_wins(tmp_path: Path, postgres_server: PostgresServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """The unique index among open accounts holds even when the member lock does not: the second
    unit's insert waits for the first's transaction, fails when it commits, and the file is checked
    again — now ALREADY_REGISTERED."""
    centre = make_centre(tmp_path / "home", postgres_server.new_database())
    first, third = centre.unit(0), centre.unit(2)
    registration_file(centre.inbox / first.unit_account, [reg_row(1, 0)])
    registration_file(centre.inbox / third.unit_account, [reg_row(1, 0, ratios=(third.unit_ratio, third.personal_ratio))])
    monkeypatch.setattr(queries, "hold_member_lock", lambda session: None)  # only the index stands between them
    stored, release = threading.Event(), threading.Event()
    record = batches.record

    def record_then_hold(session: Any, batch: Any, result: Any) -> None:
        record(session, batch, result)
        if result.unit_account == first.unit_account:
            stored.set()
            assert release.wait(120)

    monkeypatch.setattr(batches, "record", record_then_hold)
    arrivals = {arrival.unit_account: arrival for arrival in settled_files(centre.inbox, 0)}
    outcomes: dict[str, Any] = {}

    def take(unit: str) -> None:
        processor = centre.app.processor(BUSINESS_DATE)
        try:
            outcomes[unit] = processor.process(arrivals[unit])
        except BaseException as error:  # shown by the assertion below
            outcomes[unit] = error
        finally:
            processor.close()

    workers = [threading.Thread(target=take, args=(unit.unit_account,)) for unit in (first, third)]
    workers[0].start()
    assert stored.wait(120)  # the first unit's member is inserted, not committed
    workers[1].start()
    deadline = time.monotonic() + 120
    with centre.app.engine.connect() as connection:
        waiting = "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()"
        while connection.execute(text(waiting)).scalar_one() == 0:
            assert time.monotonic() < deadline, "the second registration never waited for the first"
            connection.rollback()
    release.set()
    for worker in workers:
        worker.join(120)

    assert not any(isinstance(outcome, BaseException) for outcome in outcomes.values()), outcomes
    assert outcomes[first.unit_account].result.status is BatchStatus.ACCEPTED
    second = outcomes[third.unit_account].result
    assert second.status is BatchStatus.REJECTED and [i.code for i in second.rows[0].issues] == [Code.ALREADY_REGISTERED]
    with centre.app.sessions() as session:
        assert session.scalars(select(Member.unit_account).where(Member.id_number == person(0)[1])).all() == [first.unit_account]
    centre.app.close()


def test_a_big_registration_file_shows_its_new_accounts_in_every_output(sqlite_centre: Centre, tmp_path: Path) -> None:
    """20,001 rows take the path where the outputs are written by other processes while the rows are
    stored: the new 个人账号 are given out before those outputs start."""
    count = 20_001
    unit = sqlite_centre.unit()
    path = sqlite_centre.inbox / unit.unit_account / "缴存人登记_大.xlsx"
    path.parent.mkdir(parents=True, exist_ok=True)
    template = reg_row(0, 0)
    workbook = xlsxwriter.Workbook(str(path), {"constant_memory": True})
    sheet = workbook.add_worksheet()
    sheet.write_row(0, 0, registration.HEADER)
    generated = (fake_id(date(1970, 1, 1) + timedelta(days=index // 900), 100 + index % 900) for index in range(count + 100))
    ids = [id_number for id_number in generated if not id_number.endswith("000")][:count]  # those go to the counter
    for index, id_number in enumerate(ids):
        row = [index + 1, "王" + "伟芳娜秀英敏静丽强磊"[index % 10] + "明", id_number, *template[3:]]
        sheet.write_row(index + 1, 0, [str(cell) for cell in row])
    workbook.close()

    outcome = sqlite_centre.run().outcomes[0]

    first, last = f"{unit.unit_account}00001", f"{unit.unit_account}{count:05d}"
    result = json.loads((outcome.outputs / "result.json").read_text(encoding="utf-8"))
    assert result["status"] == "accepted" and result["totals"]["accepted"] == count
    accounts = [row["computed"]["个人账号"] for row in result["rows"]]
    assert accounts[0] == first and accounts[-1] == last and len(set(accounts)) == count
    detail = (outcome.outputs / "detail.csv").read_text(encoding="utf-8-sig").splitlines()
    column = detail[0].split(",").index("个人账号")
    assert [line.split(",")[column] for line in (detail[1], detail[-1])] == [first, last]
    slip = subprocess.run(["pdftotext", "-layout", str(outcome.outputs / "slip.pdf"), "-"], capture_output=True, text=True, check=True).stdout
    assert first in slip and result["serial_number"] in slip
    # The 确认单 never breaks a number: each shown row has its account, ID and mobile whole on one line.
    shown = [line for line in slip.splitlines() if f"{unit.unit_account}000" in line]
    assert len(shown) == 40 and all(ids[index] in line and template[5] in line for index, line in enumerate(shown))
    with sqlite_centre.app.sessions() as session:
        stored = dict(session.execute(select(Member.id_number, Member.member_account).where(Member.unit_account == unit.unit_account, Member.member_account.like(f"{unit.unit_account}_____"))).all())
    assert [stored[ids[0]], stored[ids[-1]]] == [first, last]
    assert len(stored) == count


# --- what Excel does to long numbers, as a CSV saved from the sheet carries it ------------------

#: 211402199005017035 typed into a number cell (formatted 0, so it shows all its digits) is saved in a
#: CSV as 211402199005017000: Excel keeps 15 significant digits. That one still has a valid check digit.
REAL_ID, CUT_ID = "211402199005017035", "211402199005017000"
#: A cut ID whose check digit no longer fits (ten in eleven of them).
BAD_CUT_ID = next(f"21140219900501{n}000" for n in range(10) if id_problem(f"21140219900501{n}000") is Code.ID_CHECKSUM)
#: 银联 cards and the same cards from a number cell: 15 digits, then zeros.
CARD_19, CARD_16 = "6222021234567890128", "6228480012345671"

# (case, column, cell text in the CSV, code, row status, what the message must say)
EXCEL_CUT_CASES = [
    ("ID cut, check digit still valid", "证件号码", CUT_ID, Code.COUNTER_ID_SUSPECT, RowStatus.COUNTER, ("以000结尾", "Excel截断", "身份证原件", "柜台")),
    ("ID cut, check digit wrong", "证件号码", BAD_CUT_ID, Code.ID_CHECKSUM, RowStatus.REJECTED, ("以000结尾", "Excel截断", "文本格式")),
    ("19-digit card cut", "个人存款账户号码", CARD_19[:15] + "0000", Code.BANK_ACCOUNT_FORMAT, RowStatus.REJECTED, ("校验位", "Excel截断")),
    ("16-digit card cut", "个人存款账户号码", CARD_16[:15] + "0", Code.BANK_ACCOUNT_FORMAT, RowStatus.REJECTED, ("校验位", "Excel截断")),
    ("card in a General cell", "个人存款账户号码", "6.22202E+18", Code.BANK_ACCOUNT_FORMAT, RowStatus.REJECTED, ("已被Excel转成数字",)),
]


@pytest.mark.parametrize(
    ("case", "column", "cell", "code", "status", "says"), EXCEL_CUT_CASES, ids=[case[0] for case in EXCEL_CUT_CASES]
)
def test_numbers_excel_cut_never_open_an_account(
    centre: Centre, case: str, column: str, cell: str, code: Code, status: RowStatus, says: tuple[str, ...]
) -> None:
    assert id_problem(CUT_ID) is None and id_problem(REAL_ID) is None  # the cut ID passes GB 11643
    rows = [reg_row(1, 0, **{column: cell}), reg_row(2, 1, base="5000")]
    registration_file(centre.inbox / centre.unit().unit_account, rows, name="缴存人登记.csv")

    summary = centre.run()

    result = summary.outcomes[0].result
    first, second = result.rows
    assert [(i.code, i.column, i.row) for i in first.issues] == [(code, column, 2)]  # a CSV has no title row
    assert all(part in first.issues[0].message for part in says), first.issues[0].message
    assert first.status is status and first.computed == {}
    with centre.app.sessions() as session:
        assert session.scalars(select(Member).where(Member.id_number == first.values["证件号码"])).all() == []
    if status is RowStatus.COUNTER:
        # the rest of the file goes ahead; the staff summary tells the counter what to ask for
        assert result.status is BatchStatus.ACCEPTED and second.computed == {"个人账号": "010000100001"}
        assert counts(centre)["members"] == 31
        staff = json.loads(summary.staff_summary.with_name("summary.json").read_text(encoding="utf-8"))
        (referral,) = staff["referrals"]
        assert referral["code"] == "COUNTER_ID_SUSPECT" and referral["row"] == 2
        assert referral["documents"] == ["经办人身份证", "该职工身份证原件及复印件"]
    else:
        assert result.status is BatchStatus.REJECTED and counts(centre)["members"] == 30


@pytest.mark.parametrize("cells", [{"证件号码": REAL_ID}, {"个人存款账户号码": CARD_19}, {"个人存款账户号码": CARD_16}, {"个人存款账户号码": "4367421234567890123"}])
def test_whole_numbers_typed_as_text_are_accepted(sqlite_centre: Centre, cells: dict[str, str]) -> None:
    registration_file(sqlite_centre.inbox / sqlite_centre.unit().unit_account, [reg_row(1, 0, **cells)], name="缴存人登记.csv")

    result = sqlite_centre.run().outcomes[0].result

    assert result.status is BatchStatus.ACCEPTED, result.rows[0].issues
    with sqlite_centre.app.sessions() as session:
        member = session.scalars(select(Member).where(Member.member_account == "010000100001")).one()
    assert member.profile is not None
    assert {"证件号码": member.id_number, "个人存款账户号码": member.profile["个人存款账户号码"]}.items() >= cells.items()


# --- names as they are typed ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("赵　一鸣", "赵一鸣"),  # padded for alignment with an ideographic space
        ("赵 一 鸣", "赵一鸣"),
        ("买买提•艾力", "买买提·艾力"),
        ("买买提・艾力", "买买提·艾力"),
        ("买买提．艾力", "买买提·艾力"),
        ("买买提 · 艾力", "买买提·艾力"),
        ("John  Smith", "John Smith"),
    ],
)
def test_a_new_member_is_stored_with_the_normalised_name(sqlite_centre: Centre, typed: str, stored: str) -> None:
    registration_file(sqlite_centre.inbox / sqlite_centre.unit().unit_account, [reg_row(1, 0, 姓名=typed)])

    result = sqlite_centre.run().outcomes[0].result

    assert result.status is BatchStatus.ACCEPTED, result.rows[0].issues
    with sqlite_centre.app.sessions() as session:
        member = session.scalars(select(Member).where(Member.member_account == "010000100001")).one()
        trail = session.scalars(select(MemberChange.after)).one()
    assert member.name == stored and trail["姓名"] == stored
