"""The log of what staff did in the web console (操作日志): who, when, what, on what, how it went."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from pipeline.store.console_tables import ConsoleAudit

#: What the 操作日志 page calls each action; the log keeps the stable code (the page shows it on hover).
ACTION_LABELS = {
    "login": "登录",
    "login failed": "登录失败",
    "logout": "退出登录",
    "denied": "无权限被拒",
    "csrf refused": "CSRF 校验失败被拒",
    "member search": "查询缴存人",
    "member view": "查看缴存人",
    "review approve": "审核：通过",
    "review return": "审核：退回",
    "review refuse": "审核：不通过",
    "review approve batch": "审核：整批通过",
    "review return batch": "审核：整批退回",
    "review refuse batch": "审核：整批不通过",
    "backpay delete": "删除补缴",
    "remit delete": "删除汇缴核定",
    "quarantine requeue": "隔离文件重新处理",
}


@dataclass(frozen=True)
class AuditEntry:
    at: datetime
    staff: str
    action: str
    target: str
    detail: str

    @property
    def label(self) -> str:
        """The action in Chinese; an action without a label (a code from an older version) as it was logged."""
        return ACTION_LABELS.get(self.action, self.action)


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
