"""What the staff console reads and shows as stored: the latest runs and their files, members and
their history, counter referrals, the units with back-pay or 核定 to list. Read-only; nothing here
decides or recomputes a business rule."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from pipeline.errors import Code
from pipeline.model import BatchStatus
from pipeline.store.states import BACKPAY_ENTERED, REMIT_DELETED
from pipeline.store.tables import BackPayRecord, Batch, BatchIssue, Member, MemberChange, RemitAssessment, ReviewRequest, Unit


@dataclass(frozen=True)
class RunView:
    run_id: str
    business_date: date
    started_at: datetime
    files: int
    by_status: dict[str, int]
    rows: int
    errors: int
    #: Rows referred to the counter and rows waiting for review, from the batches' stored totals.
    counter: int = 0
    pending_review: int = 0


@dataclass(frozen=True)
class FileView:
    batch_id: str
    unit_account: str
    source_name: str
    kind: str
    status: str
    status_label: str
    received_at: datetime
    rows: int
    errors: int
    totals: dict[str, object] = field(default_factory=dict)


def _label(status: str) -> str:
    return BatchStatus(status).label if status in BatchStatus._value2member_map_ else status


def latest_runs(session: Session, limit: int = 20) -> list[RunView]:
    """The newest runs that processed files (by when their first file came), with files per status."""
    newest = (
        select(Batch.run_id, func.min(Batch.received_at).label("started"))
        .where(Batch.stage == "done")
        .group_by(Batch.run_id)
        .order_by(func.min(Batch.received_at).desc())
        .limit(limit)
    ).subquery()
    runs = session.execute(select(newest.c.run_id, newest.c.started).order_by(newest.c.started.desc())).all()
    views = []
    for run_id, started in runs:
        batches = session.execute(
            select(Batch.status, Batch.row_count, Batch.error_count, Batch.business_date, Batch.totals).where(Batch.run_id == run_id, Batch.stage == "done")
        ).all()
        statuses = Counter(batch.status for batch in batches)
        stored = [batch.totals or {} for batch in batches]
        views.append(
            RunView(
                run_id,
                batches[0].business_date,
                started,
                len(batches),
                {str(status): statuses.get(str(status), 0) for status in BatchStatus},
                sum(batch.row_count for batch in batches),
                sum(batch.error_count for batch in batches),
                sum(int(totals.get("counter", 0)) for totals in stored),
                sum(int(totals.get("pending_review", 0)) for totals in stored),
            )
        )
    return views


def run_files(session: Session, run_id: str) -> list[FileView]:
    """The files one run processed, in order."""
    query = select(Batch).where(Batch.run_id == run_id, Batch.stage == "done").order_by(Batch.id)
    return [
        FileView(b.batch_id or "", b.unit_account, b.source_name, b.kind or "未识别", b.status, _label(b.status), b.received_at, b.row_count, b.error_count, b.totals or {})
        for b in session.scalars(query)
    ]


@dataclass(frozen=True)
class MemberRecord:
    member: Member
    unit_name: str
    changes: list[MemberChange]
    requests: list[ReviewRequest]


def find_members(session: Session, text: str, limit: int = 50) -> list[Member]:
    """Members whose 个人账号 or 证件号码 is ``text`` exactly."""
    text = text.strip()
    if not text:
        return []
    query = select(Member).where(or_(Member.member_account == text, Member.id_number == text.upper())).order_by(Member.member_account).limit(limit)
    return list(session.scalars(query))


def member_record(session: Session, member_account: str) -> MemberRecord | None:
    """One member as stored, with the changes files made and the review requests, newest first."""
    member = session.get(Member, member_account)
    if member is None:
        return None
    unit = session.get(Unit, member.unit_account)
    changes = session.scalars(select(MemberChange).where(MemberChange.member_account == member_account).order_by(MemberChange.id.desc())).all()
    requests = session.scalars(select(ReviewRequest).where(ReviewRequest.member_account == member_account).order_by(ReviewRequest.id.desc())).all()
    return MemberRecord(member, unit.name if unit else "", list(changes), list(requests))


@dataclass(frozen=True)
class ReferralView:
    """A row (or file) the processor referred to the counter, with what the unit is to bring."""

    code: str
    title: str
    unit_account: str
    unit_name: str
    batch_id: str
    source_name: str
    kind: str
    business_date: date
    row: int | None
    message: str


def referrals(session: Session, limit: int = 300) -> list[ReferralView]:
    """The counter referrals the processor stored, newest batch first (what to bring: :mod:`pipeline.run.counter_documents`)."""
    counter_codes = [str(code) for code in Code if code.is_counter]
    query = (
        select(BatchIssue, Batch, Unit.name)
        .join(Batch, Batch.id == BatchIssue.batch_pk)
        .outerjoin(Unit, Unit.unit_account == Batch.unit_account)
        .where(BatchIssue.code.in_(counter_codes), Batch.stage == "done")
        .order_by(Batch.id.desc(), BatchIssue.excel_row, BatchIssue.id)
        .limit(limit)
    )
    return [
        ReferralView(
            issue.code, Code(issue.code).title, batch.unit_account, unit_name or "", batch.batch_id or "", batch.source_name, batch.kind or "",
            batch.business_date, issue.excel_row, issue.message,
        )
        for issue, batch, unit_name in session.execute(query)
    ]


def units_with_backpay(session: Session) -> list[tuple[str, int]]:
    """Units holding entered, unallocated back-pay records, with how many."""
    query = select(BackPayRecord.unit_account, func.count()).where(BackPayRecord.state == BACKPAY_ENTERED).group_by(BackPayRecord.unit_account).order_by(BackPayRecord.unit_account)
    return [(unit, count) for unit, count in session.execute(query)]


def units_with_assessments(session: Session) -> list[tuple[str, int]]:
    """Units holding standing 汇缴核定, with how many months."""
    query = select(RemitAssessment.unit_account, func.count()).where(RemitAssessment.state != REMIT_DELETED).group_by(RemitAssessment.unit_account).order_by(RemitAssessment.unit_account)
    return [(unit, count) for unit, count in session.execute(query)]
