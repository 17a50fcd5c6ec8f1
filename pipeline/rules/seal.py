"""封存 seal rules (SPEC.md; Huludao manual: 离职封存 moves the member to 集中封存户 0000010).

Only a member in 正常 status can be sealed (ALREADY_SEALED otherwise); the 变更年月 may not be in
the future. The member stays in the unit for 退休封存 and 其他封存; on 离职封存 the member moves to
the concentrated sealed-accounts unit, from which a new employer takes them with 单位调整.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from pipeline.db import Batch
from pipeline.issues import Code, Issue
from pipeline.model import BatchResult, RowResult
from pipeline.read import paused_gc
from pipeline.rules.common import MemberUpdate, check_change_month, duplicate_accounts, ensure_sealed_unit, update_members
from pipeline.rules.context import RuleContext, match_member, settle_statuses

KIND = "封存"
LEAVING = "离职封存"
MOVED_TO = "转入单位账号"


@paused_gc()
def apply(rows: list[RowResult], context: RuleContext) -> list[Issue]:
    context.data.lock_members()  # this file changes member records
    duplicate_accounts(rows)
    for row in rows:
        member = match_member(row, context)
        if member is None or row.issues:
            continue
        if member.status == "封存":
            reason = f"（封存原因：{member.seal_reason}）" if member.seal_reason else ""
            row.issues.append(Issue(Code.ALREADY_SEALED, f"该缴存人已是封存状态{reason}，不能再次封存", row.excel_row, "个人账号"))
            continue
        check_change_month(row, "变更年月", context.business_date)
        if row.values["封存原因"] == LEAVING:
            row.computed[MOVED_TO] = context.config.sealed_unit
    settle_statuses(rows)
    return []


def record(session: Session, batch: Batch, result: BatchResult) -> None:
    updates = []
    for row in result.accepted_rows:
        values: dict[str, str] = {"status": "封存", "seal_reason": row.values["封存原因"]}
        if MOVED_TO in row.computed:
            values["unit_account"] = row.computed[MOVED_TO]
        updates.append(MemberUpdate(row.values["个人账号"], values, row.values["变更年月"]))
    for sealed_unit in {row.computed[MOVED_TO] for row in result.accepted_rows if MOVED_TO in row.computed}:
        ensure_sealed_unit(session, sealed_unit)
    update_members(session, batch, KIND, updates)
