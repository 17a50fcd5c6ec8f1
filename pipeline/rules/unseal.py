"""启封 unseal rules (SPEC.md; Huludao manual: 正常上班启封 with a base, new monthly amount computed).

Only a sealed member of this unit can be unsealed (NOT_SEALED otherwise). The base is rounded
half-up to a whole 元 within the floor and cap; the monthly amounts follow the unit's ratios
(4070 at 12% | 12% → 488 + 488 = 976).
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from pipeline.db import Batch
from pipeline.issues import Code, Issue
from pipeline.model import BatchResult, RowResult
from pipeline.read import paused_gc
from pipeline.rules.common import MemberUpdate, check_change_month, duplicate_accounts, monthly_amounts, parse_base, update_members
from pipeline.rules.context import RuleContext, match_member, settle_statuses

KIND = "启封"
BASE = "缴存基数"


@paused_gc()
def apply(rows: list[RowResult], context: RuleContext) -> list[Issue]:
    context.data.lock_members()  # this file changes member records
    duplicate_accounts(rows)
    for row in rows:
        member = match_member(row, context)
        if member is None or row.issues:
            continue
        if member.status != "封存":
            row.issues.append(Issue(Code.NOT_SEALED, "该缴存人不是封存状态，不需要启封", row.excel_row, "个人账号"))
            continue
        check_change_month(row, "变更年月", context.business_date)
        base = parse_base(row, BASE, context.config)
        if base is not None:
            row.amounts = {BASE: base, **monthly_amounts(base, context.unit, context.config)}
    settle_statuses(rows)
    return []


def record(session: Session, batch: Batch, result: BatchResult) -> None:
    update_members(
        session,
        batch,
        KIND,
        (
            MemberUpdate(row.values["个人账号"], {"status": "正常", "seal_reason": "", "base": row.amounts[BASE]}, row.values["变更年月"])
            for row in result.accepted_rows
        ),
    )
