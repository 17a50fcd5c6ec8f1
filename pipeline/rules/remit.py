"""汇缴 monthly remittance rules and the 汇缴核定 (SPEC.md "汇缴"; Huludao 汇缴核定 screen and 汇缴凭条).

Every month a unit lists each of its members in 正常 status with the base the centre holds and the
monthly amounts the centre computes from it, for one month or a range that starts the month after
its 缴至年月. The file is all or nothing (``WHOLE_FILE``, see :func:`pipeline.check.status.decide`):
a 核定 of part of a unit's members makes no sense, so one bad row rejects the file whatever
``row_errors`` says.

The 核定 itself (:func:`assess`) compares the file's members with the previous 核定's. It is pure:
the store hands it the previous members once the file is accepted (:mod:`pipeline.store.effects.remit`),
so a rejected file never reads them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from operator import itemgetter
from typing import NamedTuple

from pipeline.errors import Code, Issue
from pipeline.memory import paused_gc
from pipeline.model import MonthAssessment, RowResult
from pipeline.money import money_text
from pipeline.rules.common import (
    PERSONAL_MONTHLY,
    UNIT_MONTHLY,
    amount_shown,
    members_to_change,
    month_before,
    monthly_amounts,
    next_month,
    percent_text,
)
from pipeline.rules.context import MemberInfo, RemitLine, RuleContext, identity_keys, new_line, settle_statuses

KIND = "汇缴"
#: One bad row rejects the whole file, even with ``row_errors: accept_valid``.
WHOLE_FILE = True
# No CHANGES_MEMBERS: a 汇缴 changes no member record. While it is checked and stored the unit
# lock keeps this unit's other files (登记, 封存, 启封, 基数调整) out, and no other unit's file can
# change this unit's 正常 members or their bases: 单位调整 takes sealed members only, and they
# arrive sealed. So the member lock, which would serialise every unit's member files, is not taken.

ACCOUNT, NAME = "个人账号", "姓名"
BASE = "个人缴存基数"
START, END = "汇缴开始年月", "汇缴结束年月"
#: Computed per accepted row once the file is accepted: how the member changed since the previous 核定.
CHANGE = "变动类型"
#: Computed for members of the previous 核定: their 月缴存额 then.
PREVIOUS_TOTAL = "上期月缴存额"
NEW, ADJUSTED, SAME, LEFT = "新增", "基数调整", "不变", "减少"
ACTIVE = "正常"
#: MEMBER_MISSING names at most this many members, then says how many there are.
MISSING_NAMED = 50


def _plain(value: Decimal) -> str:
    """A base as people write it: 6800, not 6800.00 (a base is a whole 元 when the centre sets it)."""
    return f"{value.normalize():f}" if value == value.to_integral_value() else amount_shown(value)


def _check_member(row: RowResult, member: MemberInfo, context: RuleContext) -> None:
    """正常 status, the recorded base, and the monthly amounts computed from it."""
    if member.status != ACTIVE:
        reason = f"（封存原因：{member.seal_reason}）" if member.seal_reason else ""
        row.issues.append(
            Issue(Code.MEMBER_SEALED, f"该缴存人已封存{reason}，不能汇缴；如已复工请先办理启封，已离职的不要列入汇缴清册", row.excel_row, ACCOUNT)
        )
        return
    stated = Decimal(row.values[BASE])
    if stated != member.base:
        row.issues.append(
            Issue(
                Code.BASE_MISMATCH,
                f"「{BASE}」{amount_shown(stated)} 与中心登记的不符：登记的缴存基数为 {_plain(member.base)}，请先办理基数调整",
                row.excel_row,
                BASE,
            )
        )
        return
    unit, config = context.unit, context.config
    expected = monthly_amounts(member.base, unit, config)
    for column, ratio in ((UNIT_MONTHLY, unit.unit_ratio), (PERSONAL_MONTHLY, unit.personal_ratio)):
        written = Decimal(row.values[column])
        if written != expected[column]:
            row.issues.append(
                Issue(
                    Code.AMOUNT_MISMATCH,
                    f"「{column}」应为 {money_text(expected[column])}（缴存基数 {_plain(member.base)} × {percent_text(ratio)} 四舍五入），"
                    f"实际为 {amount_shown(written)}",
                    row.excel_row,
                    column,
                )
            )
    row.amounts = expected


def _mixed_months(rows: list[RowResult]) -> tuple[str, str]:
    """The first row's month range; a row with another is REMIT_MONTH_MIXED on the cell that differs."""
    first = rows[0]
    start, end = first.values[START], first.values[END]
    for row in rows[1:]:
        for column, expected in ((START, start), (END, end)):
            written = row.values[column]
            if written != expected:
                row.issues.append(
                    Issue(
                        Code.REMIT_MONTH_MIXED,
                        f"「{column}」{written} 与第{first.excel_row}行的 {expected} 不同；一个汇缴清册的所有行必须是同一个汇缴年月范围",
                        row.excel_row,
                        column,
                    )
                )
    return start, end


def _span(first: str, last: str) -> str:
    return first if first == last else f"{first} 至 {last}"


def _month_issues(start: str, end: str, context: RuleContext) -> list[Issue]:
    """The range: start ≤ end ≤ the business month, and the first month right after the unit's 缴至年月.

    The 缴至年月 is the later of master data's and the unit's latest standing 核定 here, so a master
    data load that puts it back never lets a month be assessed twice. Without either, any start
    month is taken (a unit new to the centre, or master data without 缴至年月).
    """
    business_month = f"{context.business_date:%Y-%m}"
    issues = []
    if start > end:
        issues.append(Issue(Code.MONTH_RANGE, f"汇缴开始年月 {start} 晚于汇缴结束年月 {end}", None, START))
    elif end > business_month:
        issues.append(
            Issue(Code.MONTH_RANGE, f"汇缴结束年月 {end} 是未来月份（业务日期 {business_month}），汇缴只能核定到当月", None, END)
        )
    paid_to = max(context.unit.paid_to_month, context.data.last_remit_month(context.unit.unit_account))
    if not paid_to:
        return issues
    due = next_month(paid_to)
    if start < due:
        issues.append(
            Issue(
                Code.REMIT_MONTH_DONE,
                f"{_span(start, min(end, paid_to))} 已汇缴核定（单位缴至年月 {paid_to}），不能重复核定；本次汇缴应从 {due} 开始",
                None,
                START,
            )
        )
    elif start > due:
        issues.append(
            Issue(
                Code.REMIT_MONTH_GAP,
                f"单位缴至年月为 {paid_to}，本清册从 {start} 开始，{_span(due, month_before(start))} 未汇缴；"
                f"汇缴不能跳过月份，请从 {due} 开始",
                None,
                START,
            )
        )
    return issues


def _missing(rows: Iterable[RowResult], context: RuleContext) -> Issue | None:
    """MEMBER_MISSING naming the 正常 members no row lists (rows the schema refused count as listing theirs)."""
    listed = {row.values.get(ACCOUNT, "") for row in rows}
    missing = sorted(
        (member for member in context.members.values() if member.status == ACTIVE and member.member_account not in listed),
        key=lambda member: member.member_account,
    )
    if not missing:
        return None
    named = "、".join(f"{member.member_account} {member.name}" for member in missing[:MISSING_NAMED])
    more = f" 等 {len(missing)} 人" if len(missing) > MISSING_NAMED else ""
    return Issue(
        Code.MEMBER_MISSING,
        f"以下正常缴存的职工未列入汇缴清册（共 {len(missing)} 人）：{named}{more}；"
        "每位正常缴存的职工都须列入，已离职的请先办理封存",
    )


def prepare(context: RuleContext) -> None:
    """Read who the unit's members are before ``apply`` needs them (see :mod:`pipeline.rules`)."""
    context.active_bases  # noqa: B018 - a cached property (with identity_set, in one query): read now, used by screen


#: The columns :func:`screen` looks at.
SCREENED = (ACCOUNT, NAME, "证件号码", BASE, UNIT_MONTHLY, PERSONAL_MONTHLY, START, END)


@dataclass(frozen=True)
class Screen:
    """What :func:`screen` found in a whole sheet.

    ``plain`` maps the Excel row of each row that raises no issue of its own (its member one of the
    unit's 正常 members, named by their 姓名 and 证件号码, listed once, with the recorded base and the
    amounts computed from it) to those amounts: one dict per base, shared by its rows (nothing
    changes a 汇缴 row's amounts once the rules gave them). ``months`` is the month range when every
    row of the sheet has the same one (no REMIT_MONTH_MIXED is possible), else None; ``all_listed``
    whether the sheet lists every 正常 member (no MEMBER_MISSING).
    """

    plain: dict[int, dict[str, Decimal]]
    months: tuple[str, str] | None
    all_listed: bool


def _decimals(texts: Iterable[str]) -> dict[str, Decimal | None]:
    """Each distinct cell text as a Decimal; None where it is not a number (the schema reports it)."""
    found: dict[str, Decimal | None] = {}
    for text in texts:
        try:
            found[text] = Decimal(text)
        except ArithmeticError:
            found[text] = None
    return found


def _expected(
    stated: Decimal | None, written: tuple[Decimal | None, Decimal | None], base: Decimal, context: RuleContext
) -> dict[str, Decimal] | None:
    """The amounts of a row stating ``stated`` and ``written`` for a 正常 member of base ``base``, if
    :func:`_check_member` finds nothing wrong with them; None if it would."""
    try:
        if stated is None or stated != base:
            return None
        expected = monthly_amounts(base, context.unit, context.config)
        if written != (expected[UNIT_MONTHLY], expected[PERSONAL_MONTHLY]):
            return None
    except ArithmeticError:  # a signalling NaN compared: not plain (the schema refuses it anyway)
        return None
    return expected


@paused_gc()
def screen(columns: dict[str, list[str]], excel_rows: list[int], context: RuleContext) -> Screen:
    """The rows that need no row-by-row check, found by column (a big sheet's, while its schema runs).

    Pure: nothing is decided here. :func:`apply` gives a plain row its amounts and checks only the
    others one by one, so every message comes from the same code whichever way a row went. The
    bases of the 正常 members come with the members' identities (one query, in :func:`prepare`), and
    the amounts are worked out once per distinct (base, cells) combination: bases take few values
    in a unit.
    """
    accounts, names, id_numbers, bases, units, personals, starts, ends = (columns[name] for name in SCREENED)
    active = context.active_bases
    listed = set(accounts)
    named = list(map(context.identity_set.__contains__, identity_keys(accounts, names, id_numbers)))
    if not all(named):  # not recorded as written: the 证件号码 may be in its other form (15 or 18 digits)
        named = [ok or context.names_member(*identity) for ok, identity in zip(named, zip(accounts, names, id_numbers))]
    if len(listed) < len(accounts):  # a member listed twice: their rows are checked one by one (DUPLICATE_ROW)
        repeated = {account for account, count in Counter(accounts).items() if count > 1}
        named = [ok and account not in repeated for ok, account in zip(named, accounts)]
    numbers = _decimals({*bases, *units, *personals})
    verdicts: dict[tuple[Decimal | None, str, str, str], dict[str, Decimal] | None] = {}
    for key in set(zip(map(active.get, accounts), bases, units, personals)):
        base, stated, unit_text, personal_text = key
        verdicts[key] = None if base is None else _expected(numbers[stated], (numbers[unit_text], numbers[personal_text]), base, context)
    amounts = map(verdicts.__getitem__, zip(map(active.get, accounts), bases, units, personals))
    plain = {excel_row: found for excel_row, ok, found in zip(excel_rows, named, amounts) if ok and found is not None}
    ranges = set(zip(starts, ends))
    return Screen(plain, next(iter(ranges)) if len(ranges) == 1 else None, active.keys() <= listed)


@paused_gc()
def apply(rows: list[RowResult], context: RuleContext) -> list[Issue]:
    """Check every schema-valid row and the file as a whole; rows keep ACCEPTED or become REJECTED.

    A big sheet was screened while its schema was checked (``context.screened``): its plain rows
    only take their amounts and the others are checked one by one. A small sheet's rows are all
    checked one by one.
    """
    found = context.screened if isinstance(context.screened, Screen) else None
    checked = rows
    if found is not None:
        checked = []
        plain = found.plain
        for row in rows:
            amounts = plain.get(row.excel_row)
            if amounts is None:
                checked.append(row)
            else:
                row.amounts = amounts
    for row, member in members_to_change(checked, context):
        _check_member(row, member, context)
    file_issues: list[Issue] = []
    if rows:
        start, end = found.months if found is not None and found.months is not None else _mixed_months(rows)
        file_issues.extend(_month_issues(start, end, context))
    missing = None if found is not None and found.all_listed else _missing([*rows, *context.schema_failed], context)
    if missing is not None:
        file_issues.append(missing)
    settle_statuses(rows)
    return file_issues


# --- the 核定 ---------------------------------------------------------------------------------


class Reckoning(NamedTuple):
    """What an accepted 汇缴清册 comes to: one 核定 per month, and the previous 核定's members who left."""

    assessments: list[MonthAssessment]
    departed: list[RemitLine]


#: A line's figures, (base, 单位, 个人): what a member's 变动类型 and the 核定's amounts depend on.
_figures = itemgetter(slice(1, None))


def current_lines(accounts: list[str], bases: list[str], amounts: list[dict[str, Decimal]]) -> dict[str, RemitLine]:
    """The members of an accepted file by 个人账号, from its columns and its rows' computed amounts
    (built at C speed: a 100k-member unit lists 100k; a base is one Decimal per distinct cell text)."""
    decimals = {base: Decimal(base) for base in set(bases)}
    units, personals = map(itemgetter(UNIT_MONTHLY), amounts), map(itemgetter(PERSONAL_MONTHLY), amounts)
    return dict(zip(accounts, map(new_line, zip(accounts, map(decimals.__getitem__, bases), units, personals))))


def change_of(before: RemitLine | None, now: RemitLine) -> str:
    """变动类型 of a member listed now: 新增 (not in the previous 核定), 基数调整 (base or amounts changed), 不变."""
    return change_of_figures(None if before is None else _figures(before), _figures(now))


def _sum_totals(lines: Iterable[RemitLine]) -> Decimal:
    """月缴存额 summed over ``lines``: once per distinct (单位, 个人), times its members."""
    pairs = Counter(map(itemgetter(2, 3), lines))
    return sum(((unit + personal) * members for (unit, personal), members in pairs.items()), Decimal(0))


#: (figures before or None, figures now) of each member listed now: what their 变动类型, their
#: 上期月缴存额 and the 核定's counts depend on (see :func:`member_pairs`).
Pair = tuple[tuple[Decimal, Decimal, Decimal] | None, tuple[Decimal, Decimal, Decimal]]


def member_pairs(previous: Mapping[str, RemitLine], current: Mapping[str, RemitLine]) -> list[Pair]:
    """(figures before, figures now) of each member of ``current``, in its order: worked out once for
    :func:`assess` and for each row's 变动类型 (a 100k-member unit: made at C speed)."""
    before_of = dict(zip(previous, map(_figures, previous.values())))
    return list(zip(map(before_of.get, current), map(_figures, current.values())))


def change_of_figures(before: tuple[Decimal, Decimal, Decimal] | None, now: tuple[Decimal, Decimal, Decimal]) -> str:
    """:func:`change_of` from a member's figures (base, 单位, 个人) before and now."""
    if before is None:
        return NEW
    return ADJUSTED if before != now else SAME


def assess(previous: Mapping[str, RemitLine], current: Mapping[str, RemitLine], months: list[str], pairs: list[Pair] | None = None) -> Reckoning:
    """The 核定 of each month of an accepted file (SPEC.md "汇缴").

    First month: 上期 = the previous 核定's members; 本期增加 = members not in it (count and their
    amounts) plus the increases of members whose amount went up (amount only); 本期减少 = members
    no longer listed (count and their previous amounts) plus the decreases; 本期 = the file's
    members. Each later month of a range: 上期 = the month before's 本期, nothing added or removed.
    本期 = 上期 + 增加 − 减少 holds by construction, for the counts and the amounts. ``pairs`` are
    :func:`member_pairs` of ``previous`` and ``current`` when the caller has them already.
    """
    zero = Decimal(0)
    increase_count, increase_amount, decrease_amount = 0, zero, zero
    # Members are counted by distinct (figures before, figures now): a unit's bases and amounts take
    # few values, so a 100k-member unit is a few dozen steps (the pairs counted at C speed). A sum
    # of n equal Decimals is their product by n, to the last digit and exponent (the amounts of one
    # 核定 are all rounded to one quantum, so equal amounts have one exponent).
    for (before, now), members in Counter(member_pairs(previous, current) if pairs is None else pairs).items():
        now_total = now[1] + now[2]
        if before is None:
            increase_count += members
            increase_amount += now_total * members
            continue
        before_total = before[1] + before[2]
        if now_total > before_total:
            increase_amount += (now_total - before_total) * members
        elif now_total < before_total:
            decrease_amount += (before_total - now_total) * members
    departed = [previous[account] for account in sorted(previous.keys() - current.keys())]
    decrease_amount += sum((line.total for line in departed), zero)
    previous_amount = _sum_totals(previous.values())
    count, amount = len(current), _sum_totals(current.values())
    first = MonthAssessment(
        months[0], len(previous), previous_amount, increase_count, increase_amount, len(departed), decrease_amount, count, amount
    )
    later = [MonthAssessment(month, count, amount, 0, zero, 0, zero, count, amount) for month in months[1:]]
    return Reckoning([first, *later], departed)
