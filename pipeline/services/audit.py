"""The log of what staff did in the web console (操作日志): who, when, what, on what, how it went."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from pipeline.store.console_tables import ConsoleAudit


@dataclass(frozen=True)
class AuditEntry:
    at: datetime
    staff: str
    action: str
    target: str
    detail: str


def record(session: Session, staff: str, action: str, target: str = "", detail: str = "", now: datetime | None = None) -> None:
    """Add one entry; it commits with the caller's transaction (an action and its entry go together)."""
    at = now or datetime.now().replace(microsecond=0)
    session.add(ConsoleAudit(at=at, staff=staff[:50], action=action[:40], target=target[:255], detail=detail))


def entries(session: Session, *, staff: str | None = None, limit: int = 200) -> list[AuditEntry]:
    """The newest entries first."""
    query = select(ConsoleAudit).order_by(ConsoleAudit.id.desc()).limit(limit)
    if staff:
        query = query.where(ConsoleAudit.staff == staff)
    return [AuditEntry(e.at, e.staff, e.action, e.target, e.detail) for e in session.scalars(query)]
