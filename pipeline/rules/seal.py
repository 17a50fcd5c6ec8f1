"""封存 seal rules (SPEC.md; Huludao manual: 离职封存 moves the member to 集中封存户 0000010).

Only a member in 正常 status can be sealed (ALREADY_SEALED otherwise); the 变更年月 may not be in
the future. The member stays in the unit for 退休封存 and 其他封存; on 离职封存 the member moves to
the concentrated sealed-accounts unit, from which a new employer takes them with 单位调整.
"""

from __future__ import annotations

from pipeline.errors import Code, Issue
from pipeline.memory import paused_gc
from pipeline.model import RowResult
from pipeline.rules.common import check_change_month, members_to_change
from pipeline.rules.context import RuleContext, settle_statuses

KIND = "封存"
LEAVING = "离职封存"
MOVED_TO = "转入单位账号"
CHANGES_MEMBERS = True  # the check takes the member lock before these rules read


@paused_gc()
def apply(rows: list[RowResult], context: RuleContext) -> list[Issue]:
    for row, member in members_to_change(rows, context):
        if member.status == "封存":
            reason = f"（封存原因：{member.seal_reason}）" if member.seal_reason else ""
            row.issues.append(Issue(Code.ALREADY_SEALED, f"该缴存人已是封存状态{reason}，不能再次封存", row.excel_row, "个人账号"))
            continue
        check_change_month(row, "变更年月", context.business_date)
        if row.values["封存原因"] == LEAVING:
            row.computed = {**row.computed, MOVED_TO: context.config.sealed_unit}
    settle_statuses(rows)
    return []
