"""启封 unseal rules (SPEC.md; Huludao manual: 正常上班启封 with a base, new monthly amount computed).

Only a sealed member of this unit can be unsealed (NOT_SEALED otherwise). The base is rounded
half-up to a whole 元 within the floor and cap; the monthly amounts follow the unit's ratios
(4070 at 12% | 12% → 488 + 488 = 976).
"""

from __future__ import annotations

from pipeline.errors import Code, Issue
from pipeline.memory import paused_gc
from pipeline.model import RowResult
from pipeline.rules.common import check_change_month, members_to_change, monthly_amounts, parse_base
from pipeline.rules.context import RuleContext, settle_statuses

KIND = "启封"
BASE = "缴存基数"
CHANGES_MEMBERS = True  # the check takes the member lock before these rules read


@paused_gc()
def apply(rows: list[RowResult], context: RuleContext) -> list[Issue]:
    for row, member in members_to_change(rows, context):
        if member.status != "封存":
            row.issues.append(Issue(Code.NOT_SEALED, "该缴存人不是封存状态，不需要启封", row.excel_row, "个人账号"))
            continue
        check_change_month(row, "变更年月", context.business_date)
        base = parse_base(row, BASE, context.config)
        if base is not None:
            row.amounts = {BASE: base, **monthly_amounts(base, context.unit, context.config)}
    settle_statuses(rows)
    return []
