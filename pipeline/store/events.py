"""What runs reported besides batches, kept in ``run_events`` for the day's staff summary.

A run's own memory knows which files failed, which folders it may not read, which files sat in a
subfolder and which it quarantined unread; another worker's run, or a run killed before its
summary, does not. Each report is a row here, in a transaction of its own, so the summary of a
business date can list every worker's (:mod:`pipeline.run.day`).
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session

from pipeline.store.tables import RunEvent


class EventKind(StrEnum):
    FAILED = "failed"  # an unexpected error: the file stays in the inbox
    NO_ACCESS = "no_access"  # a unit folder (no source name) or a file the processor may not read
    IGNORED = "ignored"  # a file in a subfolder of a unit folder: never taken
    QUARANTINED = "quarantined"  # a link or a stray file, moved to quarantine/ unread


def record(session: Session, *, run_id: str, business_date: date, kind: EventKind, unit_account: str, source_name: str, message: str) -> None:
    session.add(
        RunEvent(
            run_id=run_id,
            business_date=business_date,
            kind=str(kind),
            unit_account=unit_account,
            source_name=source_name,
            message=message,
            happened_at=datetime.now().replace(microsecond=0),
        )
    )


def of_day(session: Session, business_date: date) -> list[RunEvent]:
    """Every event of ``business_date``, oldest first."""
    return list(session.scalars(select(RunEvent).where(RunEvent.business_date == business_date).order_by(RunEvent.id)))
