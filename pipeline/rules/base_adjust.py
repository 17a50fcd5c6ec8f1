"""基数调整 base adjustment rules (SPEC.md; Huludao manual: 基数调整每年可以调整一次，调整比例超20%的只能来前台办理).

The new base is rounded half-up to a whole 元 and must lie within the floor and cap. An unchanged
base is ``unchanged``, not an error. A change of more than the threshold (exactly 20% is allowed)
goes to the counter, where the unit brings last year's bank salary statements. A unit adjusts once
per year (calendar year, or the 缴存年度 1 July – 30 June): a second file after one was applied is
ADJUSTED_THIS_YEAR (a rejected file does not count). Sealed members cannot be adjusted.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from pipeline.config import CentreConfig
from pipeline.errors import Code, Issue
from pipeline.memory import paused_gc
from pipeline.model import RowResult, RowStatus
from pipeline.rules.common import members_to_change, monthly_amounts, parse_base
from pipeline.rules.context import RuleContext, settle_statuses

KIND = "基数调整"
NEW_BASE = "调整后缴存基数"
OLD_BASE = "原缴存基数"
YEAR = "调整年度"
CHANGES_MEMBERS = True  # the check takes the member lock before these rules read


def adjustment_year(business_date: date, config: CentreConfig) -> tuple[int, date, date, str]:
    """The year a business date falls in: ``(label, first day, last day, Chinese name)``."""
    if config.base_adjust_year == "deposit_year":
        start_year = business_date.year if business_date.month >= 7 else business_date.year - 1
        return start_year, date(start_year, 7, 1), date(start_year + 1, 6, 30), f"{start_year}-{start_year + 1}缴存年度"
    year = business_date.year
    return year, date(year, 1, 1), date(year, 12, 31), f"{year}年度"


def _change_percent(old: Decimal, new: Decimal) -> Decimal:
    return (abs(new - old) / old * 100).quantize(Decimal("0.01"))


@paused_gc()
def apply(rows: list[RowResult], context: RuleContext) -> list[Issue]:
    config = context.config
    year, since, until, label = adjustment_year(context.business_date, config)
    file_issues: list[Issue] = []
    if config.base_adjust_once_per_year:
        earlier = context.data.applied_batches(context.unit.unit_account, KIND, since, until)
        if earlier:
            file_issues.append(
                Issue(
                    Code.ADJUSTED_THIS_YEAR,
                    f"本单位{label}已办理过基数调整（批次 {earlier[0]}），每年只能调整一次；如确需调整请到柜台办理",
                )
            )
    unchanged: list[RowResult] = []
    for row, member in members_to_change(rows, context):
        if member.status == "封存":
            row.issues.append(Issue(Code.MEMBER_SEALED, "该缴存人已封存，不能调整基数；如已复工请先办理启封", row.excel_row, "个人账号"))
            continue
        if config.base_adjust_once_per_year and member.last_base_adjust_year == year:
            row.issues.append(Issue(Code.ADJUSTED_THIS_YEAR, f"该缴存人{label}已调整过基数", row.excel_row, NEW_BASE))
            continue
        base = parse_base(row, NEW_BASE, config)
        if base is None:
            continue
        row.amounts = {OLD_BASE: member.base, NEW_BASE: base, **monthly_amounts(base, context.unit, config)}
        row.computed = {**row.computed, YEAR: str(year)}
        if base == member.base:
            unchanged.append(row)
        elif member.base > 0 and abs(base - member.base) / member.base > config.counter_threshold:
            row.issues.append(
                Issue(
                    Code.COUNTER_BASE_CHANGE,
                    f"基数由 {member.base} 调整为 {base}，变动 {_change_percent(member.base, base)}%，超过"
                    f"{config.counter_threshold_text}，须到柜台办理（提供该职工上一年度银行工资流水）",
                    row.excel_row,
                    NEW_BASE,
                )
            )
    settle_statuses(rows)
    for row in unchanged:
        if row.status is RowStatus.ACCEPTED:
            row.status = RowStatus.UNCHANGED
    return file_issues
