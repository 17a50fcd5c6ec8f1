"""缴存人登记 registration rules (SPEC.md, Rules; Huludao manual, 缴存人登记).

One file holds one deposit ratio, the unit's: 个人月缴存额 and 单位月缴存额 must equal the base
times the unit's personal and unit ratio, each rounded half-up. A 证件号码 may appear once in a
file and may not already have an account anywhere: a worker arriving from another unit keeps
that account and comes over by 单位调整 + 启封. The message never says where the account is.

Accepted rows open accounts (their numbers and the opening: :mod:`pipeline.store.effects.registration`).
"""

from __future__ import annotations

from decimal import Decimal

from pipeline.errors import Code, Issue
from pipeline.memory import paused_gc
from pipeline.model import RowResult
from pipeline.money import money_text
from pipeline.rules.common import (
    PERSONAL_MONTHLY,
    TOTAL_MONTHLY,
    UNIT_MONTHLY,
    amount_shown,
    monthly_amounts,
    parse_base,
    percent_text,
    refer_cut_id,
)
from pipeline.rules.context import RuleContext, settle_statuses
from schemas.cells import id18

KIND = "缴存人登记"
BASE_COLUMN = "个人缴存基数"
BASE = "缴存基数"
ID_COLUMN = "证件号码"
ACCOUNT = "个人账号"
CHANGES_MEMBERS = True  # opens accounts: the check takes the member lock before these rules read


def _check_amounts(row: RowResult, context: RuleContext) -> None:
    base = parse_base(row, BASE_COLUMN, context.config)
    if base is None:
        return
    expected = monthly_amounts(base, context.unit, context.config)
    ratios = {PERSONAL_MONTHLY: context.unit.personal_ratio, UNIT_MONTHLY: context.unit.unit_ratio}
    for column, ratio in ratios.items():
        stated = Decimal(row.values[column])
        if stated != expected[column]:
            row.issues.append(
                Issue(
                    Code.AMOUNT_MISMATCH,
                    f"「{column}」应为 {money_text(expected[column])}（{base} × {percent_text(ratio)} 四舍五入），"
                    f"实际为 {amount_shown(stated)}；本单位只能按单位缴存比例 {percent_text(context.unit.unit_ratio)}、"
                    f"个人缴存比例 {percent_text(context.unit.personal_ratio)} 登记",
                    row.excel_row,
                    column,
                )
            )
    row.amounts = {BASE: base, **{name: expected[name] for name in (UNIT_MONTHLY, PERSONAL_MONTHLY, TOTAL_MONTHLY)}}


def _legacy_ids(rows: list[RowResult]) -> list[RowResult]:
    """A new account is opened with an 18-digit 居民身份证号码: a legacy 15-digit one (valid for naming a
    member who has an account) is ID_FORMAT here, its message giving the 18-digit form. The other rows."""
    others = []
    for row in rows:
        id_number = row.values[ID_COLUMN]
        if len(id_number) != 15:
            others.append(row)
            continue
        row.issues.append(
            Issue(
                Code.ID_FORMAT,
                f"证件号码「{id_number}」是15位旧号码；新开户须填写18位居民身份证号码（该号码的18位为 {id18(id_number)}，请与本人身份证核对）",
                row.excel_row,
                ID_COLUMN,
            )
        )
    return others


def _check_ids(rows: list[RowResult], context: RuleContext) -> None:
    """DUPLICATE_ROW within the file, ALREADY_REGISTERED against every account of the centre; a person's
    legacy 15-digit number and its 18-digit form are the same person (``registered_ids`` looks both up);
    a new ID Excel may have cut goes to the counter (COUNTER_ID_SUSPECT)."""
    rows = _legacy_ids(rows)
    registered = context.data.registered_ids(row.values[ID_COLUMN] for row in rows)
    first_row: dict[str, int] = {}
    for row in rows:
        id_number = row.values[ID_COLUMN]
        if id_number in registered:
            row.issues.append(
                Issue(
                    Code.ALREADY_REGISTERED,
                    "该证件号码已有住房公积金个人账户，不能重复开户；如该职工从其他单位调入，请办理单位调整后再启封",
                    row.excel_row,
                    ID_COLUMN,
                )
            )
        elif id_number in first_row:
            row.issues.append(
                Issue(Code.DUPLICATE_ROW, f"与第{first_row[id_number]}行证件号码重复", row.excel_row, ID_COLUMN)
            )
        else:
            refer_cut_id(row, ID_COLUMN)
        first_row.setdefault(id_number, row.excel_row)


@paused_gc()
def apply(rows: list[RowResult], context: RuleContext) -> list[Issue]:
    """Check every schema-valid row; rows keep ACCEPTED or become REJECTED."""
    for row in rows:
        _check_amounts(row, context)
    _check_ids(rows, context)
    settle_statuses(rows)
    return []
