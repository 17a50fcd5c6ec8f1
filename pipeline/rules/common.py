"""Checks shared by the member templates: bases, monthly amounts, one row per member, change months."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from decimal import Decimal

from pipeline.config import CentreConfig
from pipeline.errors import Code, Issue
from pipeline.model import RowResult
from pipeline.money import FEN, YUAN, half_up, money_text, monthly_deposit, quantum_for
from pipeline.rules.context import MemberInfo, RuleContext, UnitInfo, match_member
from schemas.cells import id_maybe_cut

UNIT_MONTHLY = "单位月缴存额"
PERSONAL_MONTHLY = "个人月缴存额"
TOTAL_MONTHLY = "月缴存额"


def parse_base(row: RowResult, column: str, config: CentreConfig) -> Decimal | None:
    """A 缴存基数 rounded half-up to a whole 元, within the configured floor and cap."""
    base = half_up(Decimal(row.values[column]), YUAN)
    if not config.base_floor <= base <= config.base_cap:
        row.issues.append(
            Issue(
                Code.BASE_OUT_OF_RANGE,
                f"「{column}」{base} 不在缴存基数下限 {config.base_floor} 与上限 {config.base_cap} 之间",
                row.excel_row,
                column,
            )
        )
        return None
    return base


def monthly_amounts(base: Decimal, unit: UnitInfo, config: CentreConfig) -> dict[str, Decimal]:
    """Monthly deposit = base × unit ratio (rounded) + base × personal ratio (rounded)."""
    quantum = quantum_for(config.rounding)
    unit_part = monthly_deposit(base, unit.unit_ratio, quantum)
    personal_part = monthly_deposit(base, unit.personal_ratio, quantum)
    return {UNIT_MONTHLY: unit_part, PERSONAL_MONTHLY: personal_part, TOTAL_MONTHLY: unit_part + personal_part}


def percent_text(ratio: Decimal) -> str:
    """0.12 → "12%", 0.1000 → "10%", 0.075 → "7.5%"."""
    return f"{(ratio * 100).normalize():f}%"


def amount_shown(value: Decimal) -> str:
    """An amount as the unit wrote it, in the usual two decimals unless that would hide a digit."""
    return money_text(value) if value == half_up(value, FEN) else f"{value:f}"


def duplicate_accounts(rows: list[RowResult]) -> None:
    """A member named twice in one file: the later row is DUPLICATE_ROW."""
    seen: dict[str, int] = {}
    for row in rows:
        account = row.values["个人账号"]
        if account in seen:
            row.issues.append(Issue(Code.DUPLICATE_ROW, f"个人账号「{account}」与第{seen[account]}行重复", row.excel_row, "个人账号"))
        else:
            seen[account] = row.excel_row


def check_change_month(row: RowResult, column: str, business_date: date) -> bool:
    """A 变更年月 may not lie after the business month."""
    month = row.values[column]
    if month > f"{business_date:%Y-%m}":
        row.issues.append(
            Issue(Code.MONTH_RANGE, f"「{column}」{month} 是未来月份（业务日期 {business_date:%Y-%m}）", row.excel_row, column)
        )
        return False
    return True


def next_month(month: str) -> str:
    """The month after a ``yyyy-mm`` month: 2022-12 → 2023-01."""
    year, number = int(month[:4]), int(month[5:7])
    return f"{year + number // 12}-{number % 12 + 1:02d}"


def month_before(month: str) -> str:
    """The month before a ``yyyy-mm`` month: 2023-01 → 2022-12."""
    year, number = int(month[:4]), int(month[5:7])
    return f"{year - 1}-12" if number == 1 else f"{year}-{number - 1:02d}"


def months_from(start: str, end: str) -> list[str]:
    """Every ``yyyy-mm`` month from ``start`` to ``end``, both included (none when start is after end)."""
    months = []
    month = start
    while month <= end:
        months.append(month)
        month = next_month(month)
    return months


def refer_cut_id(row: RowResult, column: str = "证件号码", id_number: str | None = None) -> bool:
    """A new 证件号码 (one that opens an account or replaces a member's) ending in 000 goes to the
    counter (COUNTER_ID_SUSPECT): Excel may have cut it, and a wrong account is worse than a visit.

    ``id_number`` is the ID when it is not the cell's whole value (a 变更后内容). Whether the row
    was referred.
    """
    value = row.values[column] if id_number is None else id_number
    if not id_maybe_cut(value):
        return False
    row.issues.append(
        Issue(
            Code.COUNTER_ID_SUSPECT,
            f"证件号码「{value}」以000结尾，可能是在数字格式的单元格中输入后被Excel截断了末几位（Excel只保留15位有效数字）；"
            "请核对原件后到柜台办理：号码无误的，经办人携带该职工身份证原件及复印件到柜台办理；"
            "号码被截断的，请把该列设为文本格式，重新输入完整的18位号码后再上传",
            row.excel_row,
            column,
        )
    )
    return True


def members_to_change(rows: list[RowResult], context: RuleContext) -> Iterator[tuple[RowResult, MemberInfo]]:
    """The rows of a file that changes members, each with the member it names: rows naming a member
    twice (DUPLICATE_ROW) or not one of this unit's (MEMBER_NOT_FOUND, NAME_MISMATCH, ID_MISMATCH)
    get their issue and are left out."""
    duplicate_accounts(rows)
    for row in rows:
        member = match_member(row, context)
        if member is not None and not row.issues:
            yield row, member
