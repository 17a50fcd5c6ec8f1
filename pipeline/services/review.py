"""The review queue (``gjj review``, the console's 待审核): 缴存人信息变更 (SPEC.md "Member details change
and review") and, under the centre's policy (``review: review``), the rows of every kind that wait.

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

Approval checks again what may have changed since the file came (:mod:`pipeline.services.approval`):
the member still holds the old value, and a new 证件号码 is not held by another open account (ID_IN_USE
then); a row of another kind that waited under the centre's policy is judged again by its kind's
rules. Such an approval is refused with the reason, nothing changed, and the request stays 待审核 for
the reviewer to refuse. A batch's waiting requests are decided at once, all or none (:func:`decide_batch`).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from pipeline.config import CentreConfig
from pipeline.model import MEMBER_CHANGE, REVIEW_DATE, REVIEW_OPINION, REVIEW_REQUEST, REVIEW_RESULT, BatchResult, RowStatus
from pipeline.services.listings import DecisionView, ReviewView
from pipeline.services.members import member_details
from pipeline.store.states import REVIEW_APPROVED, REVIEW_PENDING, REVIEW_REFUSED, REVIEW_RETURNED
from pipeline.store.tables import Batch, BatchRowPart, Member, ReviewDecision, ReviewRequest

# Deciding and publishing need the member-change effects, the queries and the outputs (pandas,
# pandera, WeasyPrint): they import them, so ``gjj review list`` starts without them.

#: The row status result.json shows after each decision.
ROW_STATUS = {REVIEW_APPROVED: RowStatus.ACCEPTED, REVIEW_RETURNED: RowStatus.RETURNED, REVIEW_REFUSED: RowStatus.REFUSED}
#: The computed values a decided row gets in result.json (its notice is built from them).
RESULT, OPINION, DECIDED_ON = REVIEW_RESULT, REVIEW_OPINION, REVIEW_DATE


@dataclass
class DecisionOutcome:
    """What a decision did: the request as it is now, or why nothing was done (``refused``)."""

    request_id: int
    refused: str | None = None
    request: ReviewView | None = None
    #: The batch's result as the database has it after the decision, for :func:`publish`.
    result: BatchResult | None = None
    decided_at: datetime | None = None
    #: What :func:`publish` wrote: result.json, the 审批结果通知单 and, for approved 补缴 rows, the 补缴凭条.
    published: list[Path] = field(default_factory=list)
    #: Every request decided: the one, or the batch's (:func:`decide_batch`).
    request_ids: list[int] = field(default_factory=list)
    batch_id: str = ""


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
        batch.kind or "" if batch else "",
    )


def show_request(session: Session, request_id: int) -> ReviewView | None:
    request = session.get(ReviewRequest, request_id)
    return None if request is None else _view(session, request, with_decisions=True)


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


def _decide(
    session: Session, batch: Batch, requests: list[ReviewRequest], state: str, by: str, reason: str, now: datetime, config: CentreConfig | None
) -> str | None:
    """Decide ``requests`` (all 待审核, of ``batch``) together; why not (nothing changed: the caller rolls back)."""
    from pipeline.services.approval import approve_changes, approve_rows

    if batch.stage != "done":  # its outputs, rendered from the result before any decision, are not in place yet
        return f"批次 {batch.batch_id} 的回执尚未生成完毕（正在处理，或处理中断、待下一次运行补齐），请稍后再审核"
    if state != REVIEW_APPROVED and not reason:
        return f"{state}须写明原因（告知单位为何{state}）"
    applied: dict[int, dict[str, str]] = {}
    if state == REVIEW_APPROVED:
        if batch.kind == MEMBER_CHANGE:
            refused = approve_changes(session, requests, now)
        else:
            refused, applied = approve_rows(session, batch, requests, config)
        if refused is not None:
            return refused
    for request in requests:
        request.state, request.decided_by, request.decided_at, request.decision_reason = state, by, now, reason
        session.add(ReviewDecision(request_id=request.id, state=state, decided_by=by, decided_at=now, reason=reason))
        computed = {REVIEW_REQUEST: str(request.id), RESULT: state, DECIDED_ON: f"{now:%Y-%m-%d}"} | ({OPINION: reason} if reason else {})
        _mark_row(session, request, ROW_STATUS[state], applied.get(request.excel_row, {}) | computed)
    session.flush()
    return None


def _decided(session: Session, batch: Batch, outcome: DecisionOutcome) -> DecisionOutcome:
    """``outcome`` with the batch's result as the database has it now (its totals kept on the batch)."""
    from pipeline.store.batches import load_result
    from pipeline.store.queries import unit_info

    outcome.result = load_result(session, batch, unit_info(session, batch.unit_account))
    batch.totals = outcome.result.totals()
    return outcome


def decide(
    session: Session, request_id: int, state: str, by: str, reason: str = "", now: datetime | None = None, config: CentreConfig | None = None
) -> DecisionOutcome:
    """Decide a request that is 待审核: ``state`` 审核通过, 退回 or 不通过 (the last two with a reason).

    Refused (``refused`` says why, nothing changed; the caller rolls back): an unknown request, one
    decided already, a return or refusal without a reason, an approval that no longer applies.
    ``config`` (the centre's) judges again a row that waited under the policy (the packaged one without it).
    """
    from pipeline.store.queries import hold_member_lock

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
    refused = _decide(session, batch, [request], state, by, reason.strip(), now, config)
    if refused is not None:
        return DecisionOutcome(request_id, refused=refused)
    outcome = DecisionOutcome(request_id, request=_view(session, request, with_decisions=True), decided_at=now, request_ids=[request_id], batch_id=batch.batch_id or "")
    return _decided(session, batch, outcome)


def find_batch(session: Session, reference: str) -> Batch | None:
    """A batch by its 批次号 or its 业务流水号."""
    reference = reference.strip()
    return session.scalars(select(Batch).where(or_(Batch.batch_id == reference, Batch.serial_number == reference)).order_by(Batch.id)).first()


def decide_batch(
    session: Session, reference: str, state: str, by: str, reason: str = "", now: datetime | None = None, config: CentreConfig | None = None
) -> DecisionOutcome:
    """Decide every request of a batch (``reference``: its 批次号 or 业务流水号) still 待审核, as one
    decision: all of them or, refused (why; nothing changed), none — an approval is refused when one
    row no longer applies (the reviewer refuses that one alone, then approves the rest)."""
    from pipeline.store.queries import hold_member_lock

    if state not in ROW_STATUS:
        raise ValueError(f"unknown review state {state!r}")
    now = now or datetime.now().replace(microsecond=0)
    hold_member_lock(session)
    batch = find_batch(session, reference)
    if batch is None:
        return DecisionOutcome(0, refused=f"没有批次号或业务流水号为「{reference}」的批次")
    query = select(ReviewRequest).where(ReviewRequest.batch_pk == batch.id, ReviewRequest.state == REVIEW_PENDING).order_by(ReviewRequest.excel_row)
    requests = list(session.scalars(query.with_for_update()))
    if not requests:
        return DecisionOutcome(0, refused=f"批次 {batch.batch_id} 没有待审核的申请", batch_id=batch.batch_id or "")
    refused = _decide(session, batch, requests, state, by, reason.strip(), now, config)
    if refused is not None:
        return DecisionOutcome(requests[0].id, refused=refused, batch_id=batch.batch_id or "")
    ids = [request.id for request in requests]
    outcome = DecisionOutcome(ids[0], request=_view(session, requests[0], with_decisions=True), decided_at=now, request_ids=ids, batch_id=batch.batch_id or "")
    return _decided(session, batch, outcome)


def _replace(target: Path, write: Callable[[Path], None]) -> Path:
    """Write ``target`` atomically: into a temporary file beside it, then renamed over it."""
    temporary = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    try:
        write(temporary)
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)
    return target


def publish(outbox: Path, result: BatchResult, config: CentreConfig | None = None, request_id: int | Iterable[int] | None = None) -> list[Path]:
    """After the decision is committed: the batch's result.json written again and, with ``config``
    and the decided ``request_id`` (one or several), each request's 审批结果通知单 added to the
    batch's folder; when 补缴 rows were approved, the 补缴凭条 (slip.pdf, the batch's 业务流水号) and
    detail.csv as well, which wait until then. Each atomically; the paths written."""
    from pipeline.outputs.pdf.context import MONEY_KIND, slip_document
    from pipeline.outputs.pdf.review import notice_for
    from pipeline.outputs.result_files import write_detail_csv, write_result_json
    from pipeline.outputs.writer import OutputWriter, batch_folder

    ids = [] if request_id is None else [request_id] if isinstance(request_id, int) else list(request_id)
    folder = batch_folder(outbox, result.unit_account, result.batch_id)
    folder.mkdir(parents=True, exist_ok=True)
    written = [_replace(folder / "result.json", lambda path: write_result_json(result, path))]
    if config is None:
        return written
    documents = [notice for decided in ids if (notice := notice_for(result, decided, config)) is not None]
    decided = {str(decided) for decided in ids}
    if result.kind == MONEY_KIND and any(row.status is RowStatus.ACCEPTED and row.computed.get(REVIEW_REQUEST) in decided for row in result.rows):
        written.append(_replace(folder / "detail.csv", lambda path: write_detail_csv(result, path)))
        documents.append(("slip.pdf", slip_document(result, config)))
    if documents:
        writer = OutputWriter(outbox, config)  # the installation's font cache, as a run's outputs use
        try:
            for name, document in documents:
                written.append(_replace(folder / name, functools.partial(writer.pdf.render, document)))
        finally:
            writer.close()
    return written


#: What a caller records with a decision taken, in the decision's transaction (the console: its audit log entry).
Recorder = Callable[[Session, DecisionOutcome], None]


def _committed(
    sessions: Callable[[], Session], outbox: Path, config: CentreConfig | None, decision: Callable[[Session], DecisionOutcome], record: Recorder | None
) -> DecisionOutcome:
    with sessions() as session, session.begin():
        outcome = decision(session)
        if outcome.refused is not None:
            session.rollback()
        elif record is not None:
            record(session, outcome)
    if outcome.result is not None:
        outcome.published = publish(outbox, outcome.result, config, outcome.request_ids)
    return outcome


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
    record: Recorder | None = None,
) -> DecisionOutcome:
    """:func:`decide` in a transaction of its own (with what ``record`` writes), committed unless refused;
    then :func:`publish` (the 审批结果通知单 too, given the centre's ``config``)."""
    return _committed(sessions, outbox, config, lambda session: decide(session, request_id, state, by, reason, now, config), record)


def review_batch(
    sessions: Callable[[], Session],
    outbox: Path,
    reference: str,
    state: str,
    by: str,
    reason: str = "",
    now: datetime | None = None,
    *,
    config: CentreConfig | None = None,
    record: Recorder | None = None,
) -> DecisionOutcome:
    """:func:`decide_batch` (every waiting request of a batch, by 批次号 or 业务流水号) in a transaction of
    its own (with what ``record`` writes), committed unless refused; then :func:`publish` with a notice per request."""
    return _committed(sessions, outbox, config, lambda session: decide_batch(session, reference, state, by, reason, now, config), record)
