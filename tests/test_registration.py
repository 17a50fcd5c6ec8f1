"""缴存人登记 end to end: a registration file dropped in the inbox, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable

import pytest
from sqlalchemy import func, select

from pipeline.errors import Code
from pipeline.model import BatchStatus, RowStatus
from pipeline.money import monthly_deposit
from pipeline.services.fakes import fake_id, write_table
from pipeline.store.effects.registration import new_account, new_accounts
from pipeline.store.tables import AccountCounter, Member, MemberChange
from schemas import registration
from tests.conftest import BUSINESS_DATE, Centre
from tests.factories import Formula, formula_file, sheet_xml

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
        "6216600000001234567",
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
    assert first.profile["婚姻状况"] == "已婚" and first.profile["个人存款账户号码"] == "6216600000001234567"
    assert set(first.profile) == set(registration.PROFILE_COLUMNS)
    assert [(c.member_account, c.kind, c.before, c.after) for c in trail] == [
        ("010000100001", "缴存人登记", {}, {"个人账号": "010000100001", "姓名": person(0)[0], "缴存基数": "4070"}),
        ("010000100002", "缴存人登记", {}, {"个人账号": "010000100002", "姓名": person(1)[0], "缴存基数": "5000"}),
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
