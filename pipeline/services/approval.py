"""What an approval applies, and whether it still may (:mod:`pipeline.services.review` decides).

- 缴存人信息变更 (:func:`approve_changes`): the member still holds the old value and a new 证件号码 is
  not another open account's (ID_IN_USE); then the change is applied with its trail.
- A row of any other kind that waited under the centre's policy (:func:`approve_rows`): judged again
  by its kind's rules against today's records, then applied by the kind's own effect module
  (:func:`pipeline.store.effects.apply_rows`), exactly as a file applied at once would have.

Each returns why not (Chinese, for the reviewer), and then nothing must be committed.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from pipeline.config import CentreConfig
from pipeline.model import RowResult, RowStatus
from pipeline.store.tables import Batch, Member, RequestDocument, ReviewRequest


def approval_refused(session: Session, request: ReviewRequest, member: Member | None) -> str | None:
    """Why the change can no longer be applied as it was asked for, or None."""
    from pipeline.store.effects.member_change import current_values
    from pipeline.store.queries import open_id_holders
    from schemas.member_change import ID_NUMBER

    if member is None:
        return f"个人账号 {request.member_account} 已不存在，不能审核通过"
    current = current_values(member, request.item)[request.item]
    if current != request.old_value:
        return f"该缴存人的{request.item}已由「{request.old_value}」变为「{current}」，与申请时不同，不能审核通过；请以不通过结束该申请，由单位重新提交"
    if request.item == ID_NUMBER:
        holder = open_id_holders(session, [request.new_value]).get(request.new_value)
        if holder is not None and holder != member.member_account:
            return (
                f"证件号码「{request.new_value}」现已属于另一个住房公积金个人账户（ID_IN_USE，申请提交后开立或变更），不能审核通过；"
                "请以不通过结束该申请并告知单位"
            )
    return None


def approve_changes(session: Session, requests: list[ReviewRequest], now: datetime) -> str | None:
    """缴存人信息变更: each 姓名/证件号码 change applied, unless one no longer applies (why, then)."""
    from pipeline.store.effects.member_change import change_member

    for request in requests:
        member = session.get(Member, request.member_account, with_for_update=True)
        refused = approval_refused(session, request, member)
        if refused is not None:
            return refused if len(requests) == 1 else f"申请 {request.id}（第 {request.excel_row} 行）：{refused}"
        assert member is not None
        change_member(session, request.batch_pk, member, request.item, request.new_value, f"{now:%Y-%m}")
    return None


def online(session: Session, kind: str, requests: list[ReviewRequest], rows: list[RowResult]) -> list[RowResult]:
    """The rows judged again that leave their counter referral for review (issue #22, slice C) with the
    scans their requests keep: the 工资流水 of a 基数调整 over the threshold, the 补缴说明 of a cross-year 补缴."""
    from pipeline.rules.documents import go_online, row_key

    query = select(RequestDocument.request_id, RequestDocument.kind).where(RequestDocument.request_id.in_([request.id for request in requests]))
    kept: dict[int, set[str]] = {}
    for request_id, document in session.execute(query):
        kept.setdefault(request_id, set()).add(document)
    moved = []
    for request, row in zip(requests, rows):
        kinds = kept.get(request.id, set())
        moved += go_online(kind, [row], kinds, {(row_key(kind, row), document) for document in kinds})
    return moved


def approve_rows(session: Session, batch: Batch, requests: list[ReviewRequest], config: CentreConfig | None) -> tuple[str | None, dict[int, dict[str, str]]]:
    """Rows that waited under the centre's policy (封存, 补缴 …): judged again by the kind's rules against
    today's master data (the member sealed meanwhile, adjusted, moved …) and, when every one still
    applies as it was accepted, applied through the kind's own effect. Why not, or the computed
    values the applied rows got (a 缴存人登记's 个人账号), by Excel row."""
    from pipeline.config import load_config
    from pipeline.rules import RULES
    from pipeline.store import effects
    from pipeline.store.batches import load_result
    from pipeline.store.queries import recheck_context, unit_info

    unit = unit_info(session, batch.unit_account)
    if unit is None or not unit.is_active:
        return f"单位 {batch.unit_account} 的账户状态为「{unit.status if unit else '不存在'}」，不能审核通过；请以不通过结束申请", {}
    stored = load_result(session, batch, unit)
    by_row = {row.excel_row: row for row in stored.rows}
    rows = [
        RowResult(row.excel_row, row.seq_no, dict(row.values), RowStatus.ACCEPTED, [], dict(row.amounts), {})
        for row in (by_row[request.excel_row] for request in requests)
    ]
    context = recheck_context(session, config or load_config(), unit, batch.business_date, batch.batch_id or "")
    file_issues = RULES[stored.kind or ""].apply(rows, context)
    for row in online(session, stored.kind or "", requests, rows):
        row.status = RowStatus.ACCEPTED  # a counter referral its documents sent to review, as when it came
    problems = [issue.message for issue in file_issues]
    for request, row in zip(requests, rows):
        if row.status is RowStatus.ACCEPTED and not row.issues:
            continue
        why = "；".join(issue.message for issue in row.issues) or "该行所申请的内容已与缴存人现有记录相同，无需再办理"
        problems.append(why if len(requests) == 1 else f"申请 {request.id}（第 {row.excel_row} 行）：{why}")
    if problems:
        return "提交后情况已变化，不能审核通过：" + "；".join(problems) + "。请以不通过结束申请，由单位按现状重新提交", {}
    effects.apply_rows(session, batch, replace(stored, rows=rows, columns=None, documents=[]))
    for request, row in zip(requests, rows):
        if not request.member_account and "个人账号" in row.computed:
            request.member_account = row.computed["个人账号"]  # a 缴存人登记's new account, given on approval
    return None, {row.excel_row: {key: str(value) for key, value in row.computed.items()} for row in rows}
