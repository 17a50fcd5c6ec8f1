"""The review queue of 缴存人信息变更 (``gjj review``; SPEC.md "Member details change and review").

A 姓名 or 证件号码 change waits as a ``review_requests`` row, 待审核. A reviewer approves it (审核通过:
the change is applied in the same transaction with the member-change trail), returns it (退回, with a
reason: the unit corrects and sends again) or refuses it (不通过, with a reason). Every decision is
kept in ``review_decisions`` (who, when, why), and the batch's stored row takes the decision (status
``accepted``, ``returned`` or ``refused``, and 审核申请编号/审核结果/审核日期/审核意见 among its computed
values), from which :func:`publish` writes the batch's result.json again and adds the decision's
审批结果通知单 (``notice_<申请编号>.pdf``) to the batch's folder, each atomically.

A request is decided only once its batch is done (its outputs in place): the outputs a run writes
just after the batch's commit come from the result before any decision, and would overwrite a
notice or result.json written in between.

Approval checks again what may have changed since the file came: the member still holds the old
value, and a new 证件号码 is not held by another open account (ID_IN_USE then): such an approval is
refused with the reason, nothing changed, and the request stays 待审核 for the reviewer to refuse.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from pipeline.config import CentreConfig
from pipeline.model import REVIEW_DATE, REVIEW_OPINION, REVIEW_REQUEST, REVIEW_RESULT, BatchResult, RowStatus
from pipeline.services.members import member_details
from pipeline.store.tables import (
    REVIEW_APPROVED,
    REVIEW_PENDING,
    REVIEW_REFUSED,
    REVIEW_RETURNED,
    Batch,
    BatchRowPart,
    Member,
    ReviewDecision,
    ReviewRequest,
)

# Deciding and publishing need the member-change effects, the queries and the outputs (pandas,
# pandera, WeasyPrint): they import them, so ``gjj review list`` starts without them.

#: The row status result.json shows after each decision.
ROW_STATUS = {REVIEW_APPROVED: RowStatus.ACCEPTED, REVIEW_RETURNED: RowStatus.RETURNED, REVIEW_REFUSED: RowStatus.REFUSED}
#: The computed values a decided row gets in result.json (its notice is built from them).
RESULT, OPINION, DECIDED_ON = REVIEW_RESULT, REVIEW_OPINION, REVIEW_DATE


@dataclass(frozen=True)
class DecisionView:
    state: str
    decided_by: str
    decided_at: datetime
    reason: str

    def to_dict(self) -> dict[str, str]:
        return {"state": self.state, "decided_by": self.decided_by, "decided_at": self.decided_at.isoformat(timespec="seconds"), "reason": self.reason}


@dataclass(frozen=True)
class ReviewView:
    """One review request as the commands show it."""

    id: int
    unit_account: str
    batch_id: str
    excel_row: int
    member_account: str
    member_name: str
    item: str
    old_value: str
    new_value: str
    reason: str
    state: str
    submitted_at: datetime
    decisions: list[DecisionView] = field(default_factory=list)
    #: The member's record as the centre holds it now (only for one request shown: ``show_request``).
    current_record: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "unit": self.unit_account,
            "batch_id": self.batch_id,
            "row": self.excel_row,
            "个人账号": self.member_account,
            "姓名": self.member_name,
            "变更项目": self.item,
            "变更前": self.old_value,
            "变更后": self.new_value,
            "变更原因": self.reason,
            "state": self.state,
            "submitted_at": self.submitted_at.isoformat(timespec="seconds"),
            "decisions": [decision.to_dict() for decision in self.decisions],
            "current_record": self.current_record,
        }


@dataclass
class DecisionOutcome:
    """What a decision did: the request as it is now, or why nothing was done (``refused``)."""

    request_id: int
    refused: str | None = None
    request: ReviewView | None = None
    #: The batch's result as the database has it after the decision, for :func:`publish`.
    result: BatchResult | None = None
    decided_at: datetime | None = None
    #: What :func:`publish` wrote: result.json and the 审批结果通知单.
    published: list[Path] = field(default_factory=list)


def _view(session: Session, request: ReviewRequest, *, with_decisions: bool = False) -> ReviewView:
    batch = session.get(Batch, request.batch_pk)
    member = session.get(Member, request.member_account)
    decisions = []
    if with_decisions:
        query = select(ReviewDecision).where(ReviewDecision.request_id == request.id).order_by(ReviewDecision.id)
        decisions = [DecisionView(d.state, d.decided_by, d.decided_at, d.reason) for d in session.scalars(query)]
    record = member_details(member) if with_decisions and member is not None else {}
    return ReviewView(
        request.id,
        request.unit_account,
        batch.batch_id or "" if batch else "",
        request.excel_row,
        request.member_account,
        member.name if member else "",
        request.item,
        request.old_value,
        request.new_value,
        request.reason,
        request.state,
        request.submitted_at,
        decisions,
        record,
    )


def list_requests(session: Session, unit_account: str | None = None, *, include_decided: bool = False) -> list[ReviewView]:
    """The requests waiting (all of them with ``include_decided``), oldest first; one unit's with ``unit_account``."""
    query = select(ReviewRequest).order_by(ReviewRequest.id)
    if unit_account is not None:
        query = query.where(ReviewRequest.unit_account == unit_account)
    if not include_decided:
        query = query.where(ReviewRequest.state == REVIEW_PENDING)
    return [_view(session, request) for request in session.scalars(query)]


def show_request(session: Session, request_id: int) -> ReviewView | None:
    request = session.get(ReviewRequest, request_id)
    return None if request is None else _view(session, request, with_decisions=True)


def _approval_refused(session: Session, request: ReviewRequest, member: Member | None) -> str | None:
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


def _mark_row(session: Session, request: ReviewRequest, status: RowStatus, computed: dict[str, str]) -> None:
    """The batch's stored row of the request takes the decision (its status and computed values)."""
    for part in session.scalars(select(BatchRowPart).where(BatchRowPart.batch_pk == request.batch_pk).order_by(BatchRowPart.part)):
        rows = part.rows
        if not isinstance(rows, dict) or request.excel_row not in rows["excel_row"]:
            continue
        index = rows["excel_row"].index(request.excel_row)
        statuses = list(rows["status"])
        statuses[index] = str(status)
        extra = list(rows["computed"] or [None] * len(statuses))
        extra[index] = {**(extra[index] or {}), **computed}
        part.rows = {**rows, "status": statuses, "computed": extra}  # a new document: the JSON column sees the change
        return


def decide(session: Session, request_id: int, state: str, by: str, reason: str = "", now: datetime | None = None) -> DecisionOutcome:
    """Decide a request that is 待审核: ``state`` 审核通过, 退回 or 不通过 (the last two with a reason).

    Refused (``refused`` says why, nothing changed; the caller rolls back): an unknown request, one
    decided already, a return or refusal without a reason, an approval that no longer applies.
    """
    from pipeline.store.batches import load_result
    from pipeline.store.effects.member_change import change_member
    from pipeline.store.queries import hold_member_lock, unit_info

    if state not in ROW_STATUS:
        raise ValueError(f"unknown review state {state!r}")
    now = now or datetime.now().replace(microsecond=0)
    hold_member_lock(session)  # no file changes members while an approval reads and writes them
    request = session.get(ReviewRequest, request_id, with_for_update=True)
    if request is None:
        return DecisionOutcome(request_id, refused=f"没有编号为 {request_id} 的审核申请")
    if request.state != REVIEW_PENDING:
        when = f"（{request.decided_by}，{request.decided_at:%Y-%m-%d %H:%M:%S}）" if request.decided_at else ""
        return DecisionOutcome(request_id, refused=f"审核申请 {request_id} 已是「{request.state}」{when}，不能再审核")
    batch = session.get(Batch, request.batch_pk)
    assert batch is not None
    if batch.stage != "done":  # its outputs, rendered from the result before any decision, are not in place yet
        return DecisionOutcome(request_id, refused=f"批次 {batch.batch_id} 的回执尚未生成完毕（正在处理，或处理中断、待下一次运行补齐），请稍后再审核")
    reason = reason.strip()
    if state != REVIEW_APPROVED and not reason:
        return DecisionOutcome(request_id, refused=f"{state}须写明原因（--reason）")
    if state == REVIEW_APPROVED:
        member = session.get(Member, request.member_account, with_for_update=True)
        refused = _approval_refused(session, request, member)
        if refused is not None:
            return DecisionOutcome(request_id, refused=refused)
        assert member is not None
        change_member(session, request.batch_pk, member, request.item, request.new_value, f"{now:%Y-%m}")
    request.state, request.decided_by, request.decided_at, request.decision_reason = state, by, now, reason
    session.add(ReviewDecision(request_id=request.id, state=state, decided_by=by, decided_at=now, reason=reason))
    computed = {REVIEW_REQUEST: str(request.id), RESULT: state, DECIDED_ON: f"{now:%Y-%m-%d}"} | ({OPINION: reason} if reason else {})
    _mark_row(session, request, ROW_STATUS[state], computed)
    session.flush()
    result = load_result(session, batch, unit_info(session, batch.unit_account))
    batch.totals = result.totals()
    return DecisionOutcome(request_id, request=_view(session, request, with_decisions=True), result=result, decided_at=now)


def _replace(target: Path, write: Callable[[Path], None]) -> Path:
    """Write ``target`` atomically: into a temporary file beside it, then renamed over it."""
    temporary = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    try:
        write(temporary)
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)
    return target


def publish(outbox: Path, result: BatchResult, config: CentreConfig | None = None, request_id: int | None = None) -> list[Path]:
    """After the decision is committed: the batch's result.json written again and, with ``config``
    and ``request_id``, the request's 审批结果通知单 added to the batch's folder; each atomically.
    The paths written."""
    from pipeline.outputs.pdf.review import notice_for
    from pipeline.outputs.result_files import write_result_json
    from pipeline.outputs.writer import OutputWriter, batch_folder

    folder = batch_folder(outbox, result.unit_account, result.batch_id)
    folder.mkdir(parents=True, exist_ok=True)
    written = [_replace(folder / "result.json", lambda path: write_result_json(result, path))]
    if config is not None and request_id is not None and (notice := notice_for(result, request_id, config)) is not None:
        name, document = notice
        writer = OutputWriter(outbox, config)  # the installation's font cache, as a run's outputs use
        try:
            written.append(_replace(folder / name, lambda path: writer.pdf.render(document, path)))
        finally:
            writer.close()
    return written


def review(
    sessions: Callable[[], Session],
    outbox: Path,
    request_id: int,
    state: str,
    by: str,
    reason: str = "",
    now: datetime | None = None,
    *,
    config: CentreConfig | None = None,
) -> DecisionOutcome:
    """:func:`decide` in a transaction of its own, committed unless refused; then :func:`publish`
    (the 审批结果通知单 too, given the centre's ``config``)."""
    with sessions() as session, session.begin():
        outcome = decide(session, request_id, state, by, reason, now)
        if outcome.refused is not None:
            session.rollback()
    if outcome.result is not None:
        outcome.published = publish(outbox, outcome.result, config, request_id)
    return outcome
