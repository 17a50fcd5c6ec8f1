"""Member updates with their before/after trail (``member_changes``), shared by the member templates."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from pipeline.store.bulk import insert_rows, update_rows
from pipeline.store.tables import Batch, Member, MemberChange, Unit


@dataclass
class MemberUpdate:
    """New values for some columns of one member, and the 变更年月 they take effect."""

    member_account: str
    values: dict[str, Any]
    changed_month: str = ""


def _text(value: Any) -> str:
    return "" if value is None else str(value)


TRAIL_COLUMNS = ("batch_pk", "member_account", "kind", "changed_month", "before", "after")


def update_members(session: Session, batch: Batch, kind: str, updates: Iterable[MemberUpdate]) -> None:
    """Apply the updates and keep a before/after trail in ``member_changes``.

    A file names each member once (DUPLICATE_ROW), so the values before are read once, in one
    query per 5,000 members, and the new values go out as one bulk update per set of changed
    columns: no ORM object per member.
    """
    updates = list(updates)
    names = list(dict.fromkeys(name for update in updates for name in update.values))
    if not updates:
        return
    columns = [Member.__table__.c[name] for name in names]
    before: dict[str, dict[str, str]] = {}
    accounts = [update.member_account for update in updates]
    for start in range(0, len(accounts), 5000):
        query = select(Member.member_account, *columns).where(Member.member_account.in_(accounts[start : start + 5000]))
        for account, *values in session.execute(query):
            before[account] = dict(zip(names, map(_text, values)))
    by_columns: dict[tuple[str, ...], list[tuple[Any, ...]]] = {}
    for update in updates:
        by_columns.setdefault(tuple(update.values), []).append((*update.values.values(), update.member_account))
    for changed, rows in by_columns.items():
        update_rows(session, Member.__table__, "member_account", changed, rows)
    trail = (
        (
            batch.id,
            update.member_account,
            kind,
            update.changed_month,
            {name: before[update.member_account][name] for name in update.values},
            {name: _text(value) for name, value in update.values.items()},
        )
        for update in updates
    )
    insert_rows(session, MemberChange.__table__, TRAIL_COLUMNS, trail)


def ensure_sealed_unit(session: Session, unit_account: str) -> None:
    """集中封存户 (0000010) receives members sealed on leaving; create it if the snapshot lacks it."""
    if session.get(Unit, unit_account) is None:
        session.add(Unit(unit_account=unit_account, name="集中封存户", unit_ratio=Decimal(0), personal_ratio=Decimal(0), status="正常"))
        session.flush()
