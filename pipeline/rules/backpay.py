"""补缴 back-pay rules (SPEC.md, Rules; Huludao manual; Baoji notice 2024-19).

A row names a member of this unit, a reason from the configured list, a month range that starts
no later than it ends and does not reach into the future, and an amount above zero rounded half-up
to 元. A range spanning two years goes to the counter (跨年补缴需到前台办理). Ranges may not
overlap another row of the same member in the file (MONTH_OVERLAP) nor a back-pay already
recorded and not deleted (BACKPAY_DUPLICATE), so a resubmitted, edited file never charges twice.

A member who left the unit by 离职封存 (moved to the 集中封存户, maybe since taken over by another unit)
is not its member any more, but the months they worked there may still be owed: such a row, its
account, 姓名 and 证件号码 still the member's, goes to the counter (COUNTER_FORMER_MEMBER, naming the
封存's 变更年月); months after that one are an error (MONTH_RANGE). Anyone else is MEMBER_NOT_FOUND.
"""

from __future__ import annotations

import functools
from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from itertools import compress
from operator import not_
from types import MappingProxyType

from pipeline.errors import Code, Issue
from pipeline.memory import paused_gc
from pipeline.model import RowResult
from pipeline.money import half_up, quantum_for
from pipeline.rules.context import FormerMember, RecordedBackPay, RuleContext, find_member, identity_keys, not_found, same_id, settle_statuses

KIND = "补缴"
AMOUNT = "补缴金额"


@functools.lru_cache(maxsize=4096)
def _month_key(month: str) -> int:
    year, number = month.split("-")
    return int(year) * 12 + int(number) - 1


def _overlaps(a_start: str, a_end: str, b_start: str, b_end: str) -> bool:
    return _month_key(a_start) <= _month_key(b_end) and _month_key(b_start) <= _month_key(a_end)


def _current_month_key(context: RuleContext) -> int:
    return context.business_date.year * 12 + context.business_date.month - 1


def _check_months(row: RowResult, context: RuleContext, current: int) -> bool:
    """The month range of ``row``; ``current`` is the business month's key (see :func:`_month_key`)."""
    start, end = row.values["补缴开始年月"], row.values["补缴结束年月"]
    start_key, end_key = _month_key(start), _month_key(end)
    if start_key <= end_key <= current and start[:4] == end[:4]:
        return True  # the usual row: nothing to report
    ok = True
    if start_key > end_key:
        row.issues.append(
            Issue(Code.MONTH_RANGE, f"补缴开始年月 {start} 晚于补缴结束年月 {end}", row.excel_row, "补缴开始年月")
        )
        ok = False
    for column, month, key in (("补缴开始年月", start, start_key), ("补缴结束年月", end, end_key)):
        if key > current:
            row.issues.append(
                Issue(
                    Code.MONTH_RANGE,
                    f"{column} {month} 是未来月份（业务日期 {context.business_date:%Y-%m}），不能补缴",
                    row.excel_row,
                    column,
                )
            )
            ok = False
    if ok and start[:4] != end[:4] and context.config.cross_year_backpay == "counter":
        row.issues.append(
            Issue(
                Code.COUNTER_CROSS_YEAR,
                f"补缴 {start} 至 {end} 跨年度，须由单位携带加盖公章的补缴说明到柜台办理",
                row.excel_row,
                "补缴结束年月",
            )
        )
    return ok


def _month_text(key: int) -> str:
    return f"{key // 12:04d}-{key % 12 + 1:02d}"


def _former_members(rows: list[RowResult], plain: dict[int, Decimal], context: RuleContext) -> dict[str, FormerMember]:
    """The members who left this unit among the accounts of the rows checked one by one that are not
    its members: one question for the whole file, asked only once such a row is met."""
    identities = context.identities
    accounts = {row.values["个人账号"] for row in rows if row.excel_row not in plain} - identities.keys()
    return context.data.former_members(context.unit.unit_account, context.config.sealed_unit, accounts) if accounts else {}


def _find_former(row: RowResult, former: dict[str, FormerMember]) -> FormerMember | None:
    """The member who left this unit that the row names, 姓名 and 证件号码 included; else MEMBER_NOT_FOUND
    exactly as for an unknown account (nothing is said about which part did not match)."""
    account = row.values["个人账号"]
    member = former.get(account)
    if member is None or member.name != row.values["姓名"] or not same_id(member.id_number, row.values["证件号码"]):
        not_found(row, account)
        return None
    return member


def _check_former(row: RowResult, member: FormerMember) -> None:
    """Months up to the 封存 go to the counter; months after it are not this unit's to pay."""
    sealed, sealed_key = member.sealed_month, _month_key(member.sealed_month)
    left = f"该职工已于 {sealed} 离职封存，转入集中封存户"
    start, end = row.values["补缴开始年月"], row.values["补缴结束年月"]
    if _month_key(end) > sealed_key:
        column = "补缴开始年月" if _month_key(start) > sealed_key else "补缴结束年月"
        row.issues.append(
            Issue(
                Code.MONTH_RANGE,
                f"{left}；{_month_text(sealed_key + 1)} 起不是本单位职工，不能由本单位补缴"
                f"（{sealed} 及以前在本单位工作期间的月份须到柜台办理）",
                row.excel_row,
                column,
            )
        )
        return
    row.issues.append(Issue(Code.COUNTER_FORMER_MEMBER, f"{left}；补缴其在本单位工作期间的月份须到柜台办理", row.excel_row, "个人账号"))


def _check_amount(row: RowResult, context: RuleContext, rounded: dict[str, Decimal] | None = None) -> None:
    """补缴金额 rounded half-up to the configured unit; ``rounded`` caches it per distinct cell text."""
    text = row.values[AMOUNT]
    amount = rounded.get(text) if rounded is not None else None
    if amount is None:
        amount = half_up(Decimal(text), quantum_for(context.config.rounding))
        if rounded is not None:
            rounded[text] = amount
    if amount <= 0:
        row.issues.append(
            Issue(Code.AMOUNT_OUT_OF_RANGE, f"补缴金额「{row.values[AMOUNT]}」四舍五入后为0，须大于0", row.excel_row, AMOUNT)
        )
        return
    row.amounts = {AMOUNT: amount}


def _check_overlaps(rows: list[RowResult], recorded_backpay: dict[str, list[RecordedBackPay]]) -> None:
    """MONTH_OVERLAP within the file, BACKPAY_DUPLICATE against what is already recorded."""
    seen: dict[str, list[RowResult]] = defaultdict(list)
    for row in rows:
        account = row.values["个人账号"]
        start, end = row.values["补缴开始年月"], row.values["补缴结束年月"]
        for earlier in seen[account]:
            if _overlaps(start, end, earlier.values["补缴开始年月"], earlier.values["补缴结束年月"]):
                row.issues.append(
                    Issue(
                        Code.MONTH_OVERLAP,
                        f"与第{earlier.excel_row}行同一缴存人的补缴年月（{earlier.values['补缴开始年月']}至"
                        f"{earlier.values['补缴结束年月']}）重叠",
                        row.excel_row,
                        "补缴开始年月",
                    )
                )
                break
        seen[account].append(row)
        for recorded in recorded_backpay.get(account, ()):
            if _overlaps(start, end, recorded.start_month, recorded.end_month):
                row.issues.append(
                    Issue(
                        Code.BACKPAY_DUPLICATE,
                        f"该缴存人 {recorded.start_month} 至 {recorded.end_month} 已录入补缴（业务流水号 "
                        f"{recorded.serial_number}），不能重复补缴；如需更正请先删除原补缴记录",
                        row.excel_row,
                        "补缴开始年月",
                    )
                )
                break


def prepare(context: RuleContext) -> None:
    """Read who the unit's members are before ``apply`` needs them (see :mod:`pipeline.rules`)."""
    context.identity_set  # noqa: B018 - a cached property: read now, used by screen (and apply, by account)


#: The columns :func:`screen` looks at.
SCREENED = ("个人账号", "姓名", "证件号码", "补缴开始年月", "补缴结束年月", AMOUNT)


@dataclass(frozen=True)
class Screen:
    """What :func:`screen` found in a whole sheet.

    ``plain`` maps the Excel row of each row that raises no issue of its own (its member found,
    姓名 and 证件号码 theirs, its months in order, in one year and not in the future, its amount
    above zero once rounded) to that rounded amount. Only the rows in ``may_overlap`` (their
    member named twice in the file, or with back-pay already recorded) can have overlapping months.
    """

    plain: dict[int, Decimal]
    may_overlap: frozenset[int]
    recorded: dict[str, list[RecordedBackPay]]


def _month_keys(months: set[str]) -> dict[str, int | None]:
    keys: dict[str, int | None] = {}
    for month in months:
        try:
            keys[month] = _month_key(month)
        except ValueError:
            keys[month] = None  # not a month: the schema reports it
    return keys


def _positive_amounts(texts: set[str], quantum: Decimal) -> dict[str, Decimal | None]:
    amounts: dict[str, Decimal | None] = {}
    for text in texts:
        try:
            amount = half_up(Decimal(text), quantum)
            amounts[text] = amount if amount > 0 else None
        except ArithmeticError:
            amounts[text] = None  # not a number: the schema reports it
    return amounts


@paused_gc()
def screen(columns: dict[str, list[str]], excel_rows: list[int], context: RuleContext) -> Screen:
    """The rows that need no row-by-row check, found by column (a big sheet's, while its schema runs).

    Pure: nothing is decided here. :func:`apply` takes a plain row as it is and checks only the
    others one by one, so every message comes from the same code whichever way a row went. The
    work is done on distinct values and with set lookups, at C speed.
    """
    current = _current_month_key(context)
    accounts, names, id_numbers, starts, ends, texts = (columns[name] for name in SCREENED)
    members_named = list(map(context.identity_set.__contains__, identity_keys(accounts, names, id_numbers)))
    if not all(members_named):  # not recorded as written: the 证件号码 may be in its other form (15 or 18 digits)
        for index in list(compress(range(len(members_named)), map(not_, members_named))):
            members_named[index] = context.names_member(accounts[index], names[index], id_numbers[index])
    keys = _month_keys({*starts, *ends})
    months_fine: dict[tuple[str, str], bool] = {}
    for start, end in set(zip(starts, ends)):
        start_key, end_key = keys[start], keys[end]
        known = start_key is not None and end_key is not None
        months_fine[start, end] = known and start_key <= end_key <= current and start[:4] == end[:4]
    amounts = map(_positive_amounts(set(texts), quantum_for(context.config.rounding)).__getitem__, texts)
    plain = {
        excel_row: amount
        for excel_row, named, fine, amount in zip(excel_rows, members_named, map(months_fine.__getitem__, zip(starts, ends)), amounts)
        if named and fine and amount is not None
    }
    recorded = context.data.recorded_backpay(context.unit.unit_account)
    repeated = _repeated(accounts) | recorded.keys()
    may_overlap = frozenset(row for row, account in zip(excel_rows, accounts) if account in repeated) if repeated else frozenset()
    return Screen(plain, may_overlap, recorded)


def _repeated(values: list[str]) -> set[str]:
    """The values that occur more than once (looked for only when a set of them is smaller)."""
    if len(set(values)) == len(values):
        return set()
    return {value for value, count in Counter(values).items() if count > 1}


def _screen_rows(rows: list[RowResult], context: RuleContext) -> Screen:
    columns = {name: [row.values[name] for row in rows] for name in SCREENED}
    return screen(columns, [row.excel_row for row in rows], context)


@paused_gc()
def apply(rows: list[RowResult], context: RuleContext) -> list[Issue]:
    """Check every schema-valid row; rows keep ACCEPTED, or become REJECTED or COUNTER.

    A big sheet was screened while its schema was checked (``context.screened``); a small one is
    screened here. Plain rows only take their amount; the others are checked cell by cell.
    """
    found = context.screened if isinstance(context.screened, Screen) else _screen_rows(rows, context)
    plain, may_overlap = found.plain, found.may_overlap
    in_range: list[RowResult] = []
    rounded: dict[str, Decimal] = {}
    current = _current_month_key(context)
    former: dict[str, FormerMember] | None = None  # asked once, when a row names someone not the unit's
    shared: dict[int, Mapping[str, Decimal]] = {}  # the plain rows of one amount share its mapping, read-only
    for row in rows:
        amount = plain.get(row.excel_row)
        if amount is not None:
            row.amounts = shared.get(id(amount)) or shared.setdefault(id(amount), MappingProxyType({AMOUNT: amount}))
            if row.excel_row in may_overlap:
                in_range.append(row)
            continue
        left: FormerMember | None = None
        if row.values["个人账号"] in context.identities:
            named = find_member(row, context.identities) is not None
        else:
            if former is None:
                former = _former_members(rows, plain, context)
            left = _find_former(row, former)
            named = left is not None
        months_ok = _check_months(row, context, current)
        if left is not None and months_ok:
            _check_former(row, left)
        _check_amount(row, context, rounded)
        if named and months_ok:
            in_range.append(row)
    _check_overlaps(in_range, found.recorded)
    settle_statuses(rows)
    return []
