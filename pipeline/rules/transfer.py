"""单位调整 transfer rules: a sealed member moves into the submitting unit (SPEC.md; Huludao manual).

The member must be sealed (NOT_SEALED otherwise). 转出单位账号 and 转出单位名称 must be the member's
current unit — for 离职封存 that is 集中封存户 0000010 — and a mismatch never reveals the real unit
(TRANSFER_SOURCE_MISMATCH). An account whose 姓名 or 证件号码 does not match is reported like an
unknown account. The transfer amount is the member's balance; the member arrives sealed and is
then unsealed with 启封.
"""

from __future__ import annotations

from pipeline.errors import Code, Issue
from pipeline.memory import paused_gc
from pipeline.model import RowResult
from pipeline.rules.common import duplicate_accounts
from pipeline.rules.context import RuleContext, UnitInfo, check_identity, same_id, settle_statuses

KIND = "单位调整"
AMOUNT = "转移金额"
CHANGES_MEMBERS = True  # the check takes the member lock before these rules read


@paused_gc()
def apply(rows: list[RowResult], context: RuleContext) -> list[Issue]:
    duplicate_accounts(rows)
    found = context.data.members(row.values["个人账号"] for row in rows)
    units: dict[str, UnitInfo | None] = {}
    own = context.unit.unit_account
    for row in rows:
        if row.issues:
            continue
        account = row.values["个人账号"]
        member = found.get(account)
        if member is not None and member.unit_account == own:
            if check_identity(row, member):
                row.issues.append(Issue(Code.TRANSFER_SOURCE_MISMATCH, "该缴存人已在本单位，不需要办理单位调整", row.excel_row, "个人账号"))
            continue
        if member is None or member.name != row.values["姓名"] or not same_id(member.id_number, row.values["证件号码"]):
            row.issues.append(
                Issue(Code.MEMBER_NOT_FOUND, f"个人账号「{account}」与姓名、证件号码不符或不存在，请核对", row.excel_row, "个人账号")
            )
            continue
        if member.status != "封存":
            row.issues.append(
                Issue(Code.NOT_SEALED, "该缴存人不是封存状态，须由原单位先办理封存后才能调入", row.excel_row, "个人账号")
            )
            continue
        if member.unit_account not in units:
            units[member.unit_account] = context.data.unit(member.unit_account)
        source = units[member.unit_account]
        for column, expected in (("转出单位账号", member.unit_account), ("转出单位名称", source.name if source else "")):
            if row.values[column] != expected:
                row.issues.append(
                    Issue(
                        Code.TRANSFER_SOURCE_MISMATCH,
                        f"「{column}」与该缴存人当前所在单位不符；离职封存的缴存人，转出单位为集中封存户（{context.config.sealed_unit}）",
                        row.excel_row,
                        column,
                    )
                )
        row.amounts = {AMOUNT: member.balance}
    settle_statuses(rows)
    return []
