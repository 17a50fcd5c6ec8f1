"""The review part of a business day's staff summary (issue #19; every kind under the centre's policy,
issue #22): the queue of requests waiting (待审核, per unit and per kind of business) and the
decisions taken on that date.

Decisions are made outside a run (``gjj review``, at any hour), so they are read from
``review_decisions`` by date: every decision whose ``decided_at`` falls on the business date. The
queue is what waits when the page is built. ``gjj review`` rebuilds the decision date's page after
each decision, so it is current without waiting for the next run.
"""

from __future__ import annotations

import os
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from pipeline.outputs.pdf.review import notice_name
from pipeline.outputs.writer import batch_folder
from pipeline.store.states import REVIEW_PENDING
from pipeline.store.tables import Batch, Member, ReviewDecision, ReviewRequest, Unit


def review_day(session: Session, business_date: date, outbox: Path, folder: Path) -> dict[str, Any]:
    """The queue and the day's decisions as summary.json holds them; links relative to ``folder``."""
    return {"queue": _queue(session), "decisions": _decisions(session, business_date, outbox, folder)}


def empty_reviews() -> dict[str, Any]:
    return {"queue": {"open": 0, "by_unit": [], "by_kind": []}, "decisions": []}


def _queue(session: Session) -> dict[str, Any]:
    query = (
        select(ReviewRequest.unit_account, Unit.name, func.count(), func.min(ReviewRequest.submitted_at))
        .outerjoin(Unit, Unit.unit_account == ReviewRequest.unit_account)
        .where(ReviewRequest.state == REVIEW_PENDING)
        .group_by(ReviewRequest.unit_account, Unit.name)
        .order_by(ReviewRequest.unit_account)
    )
    by_unit = [
        {"unit": unit, "unit_name": name or "", "open": count, "oldest_submitted_at": _when(oldest)}
        for unit, name, count, oldest in session.execute(query)
    ]
    kinds = (
        select(Batch.kind, func.count())
        .select_from(ReviewRequest)
        .join(Batch, Batch.id == ReviewRequest.batch_pk)
        .where(ReviewRequest.state == REVIEW_PENDING)
        .group_by(Batch.kind)
        .order_by(Batch.kind)
    )
    by_kind = [{"kind": kind or "", "open": count} for kind, count in session.execute(kinds)]
    return {"open": sum(entry["open"] for entry in by_unit), "by_unit": by_unit, "by_kind": by_kind}


def _decisions(session: Session, business_date: date, outbox: Path, folder: Path) -> list[dict[str, Any]]:
    start = datetime.combine(business_date, time())
    query = (
        select(ReviewDecision, ReviewRequest, Batch.batch_id, Unit.name, Member.name)
        .join(ReviewRequest, ReviewRequest.id == ReviewDecision.request_id)
        .join(Batch, Batch.id == ReviewRequest.batch_pk)
        .outerjoin(Unit, Unit.unit_account == ReviewRequest.unit_account)
        .outerjoin(Member, Member.member_account == ReviewRequest.member_account)
        .where(ReviewDecision.decided_at >= start, ReviewDecision.decided_at < start + timedelta(days=1))
        .order_by(ReviewDecision.decided_at, ReviewDecision.id)
    )
    entries = []
    for decision, request, batch_id, unit_name, member_name in session.execute(query):
        notice = batch_folder(outbox, request.unit_account, batch_id or "") / notice_name(request.id)
        entries.append(
            {
                "request_id": request.id,
                "decided_at": _when(decision.decided_at),
                "decided_by": decision.decided_by,
                "unit": request.unit_account,
                "unit_name": unit_name or "",
                "batch_id": batch_id or "",
                "row": request.excel_row,
                "member_account": request.member_account,
                "member_name": member_name or "",
                "item": request.item,
                "state": decision.state,
                "reason": decision.reason,
                "notice": Path(os.path.relpath(notice, folder)).as_posix() if notice.is_file() else None,
            }
        )
    return entries


def _when(moment: datetime | None) -> str:
    return moment.isoformat(timespec="seconds") if moment is not None else ""
