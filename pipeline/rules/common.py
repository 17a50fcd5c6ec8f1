"""Checks and effects shared by the member templates: bases, monthly amounts, member updates."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from pipeline.bulk import insert_rows, update_rows
from pipeline.config import CentreConfig
from pipeline.db import Batch, Member, MemberChange, Unit
from pipeline.issues import Code, Issue
from pipeline.model import RowResult
from pipeline.money import YUAN, half_up, monthly_deposit, quantum_for
from pipeline.rules.context import UnitInfo

UNIT_MONTHLY = "单位月缴存额"
PERSONAL_MONTHLY = "个人月缴存额"
TOTAL_MONTHLY = "月缴存额"


def parse_base(row: RowResult, column: str, config: CentreConfig) -> Decimal | None:
    """A 缴存基数 rounded half-up to a whole 元, within the configured floor and cap."""
    base = half_up(Decimal(row.values[column]), YUAN)
    if not config.base_floor <= base <= config.base_cap:
        row.issues.append(
            Issue(
                Code.BASE_OUT_OF_RANGE,
                f"「{column}」{base} 不在缴存基数下限 {config.base_floor} 与上限 {config.base_cap} 之间",
                row.excel_row,
                column,
            )
        )
        return None
    return base


def monthly_amounts(base: Decimal, unit: UnitInfo, config: CentreConfig) -> dict[str, Decimal]:
    """Monthly deposit = base × unit ratio (rounded) + base × personal ratio (rounded)."""
    quantum = quantum_for(config.rounding)
    unit_part = monthly_deposit(base, unit.unit_ratio, quantum)
    personal_part = monthly_deposit(base, unit.personal_ratio, quantum)
    return {UNIT_MONTHLY: unit_part, PERSONAL_MONTHLY: personal_part, TOTAL_MONTHLY: unit_part + personal_part}


def duplicate_accounts(rows: list[RowResult]) -> None:
    """A member named twice in one file: the later row is DUPLICATE_ROW."""
    seen: dict[str, int] = {}
    for row in rows:
        account = row.values["个人账号"]
        if account in seen:
            row.issues.append(Issue(Code.DUPLICATE_ROW, f"个人账号「{account}」与第{seen[account]}行重复", row.excel_row, "个人账号"))
        else:
            seen[account] = row.excel_row


def check_change_month(row: RowResult, column: str, business_date: date) -> bool:
    """A 变更年月 may not lie after the business month."""
    month = row.values[column]
    if month > f"{business_date:%Y-%m}":
        row.issues.append(
            Issue(Code.MONTH_RANGE, f"「{column}」{month} 是未来月份（业务日期 {business_date:%Y-%m}）", row.excel_row, column)
        )
        return False
    return True


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
