"""缴存人登记: new accounts are given out and opened.

New accounts (:func:`new_accounts`) are ``单位账号`` followed by a five-digit per-unit sequence, e.g.
``0100001`` → ``010000100001``, ``010000100002``… The sequence lives in ``account_counters`` and is
bumped in the file's transaction, so numbers are never given out twice and a rolled-back file
gives its numbers back; a number whose account already exists (loaded from the core system) is
skipped. They are given out (:func:`assign`) before the outputs start, which show them.
"""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from pipeline.errors import ConfigError
from pipeline.model import BatchResult
from pipeline.rules.registration import ACCOUNT, BASE, ID_COLUMN, KIND
from pipeline.store.bulk import insert_rows
from pipeline.store.effects.members import TRAIL_COLUMNS
from pipeline.store.master_stage import LOADED
from pipeline.store.tables import AccountCounter, Batch, Member, MemberChange
from schemas.registration import PROFILE_COLUMNS

SEQUENCE_DIGITS = 5
MAX_ACCOUNT_LENGTH = 20
OPEN_STATUS = "正常"
ID_TYPE = "身份证"


def _bump(session: Session, unit_account: str, count: int) -> int:
    """Reserve ``count`` sequence numbers for the unit; returns the last one reserved."""
    dialect = session.get_bind().dialect.name
    module = postgresql if dialect == "postgresql" else sqlite
    statement = (
        module.insert(AccountCounter)
        .values(unit_account=unit_account, last_value=count)
        .on_conflict_do_update(index_elements=["unit_account"], set_={"last_value": AccountCounter.last_value + count})
        .returning(AccountCounter.last_value)
    )
    return session.execute(statement).scalar_one()


def new_accounts(session: Session, unit_account: str, count: int) -> list[str]:
    """``count`` fresh 个人账号 for the unit: 单位账号 + a 5-digit per-unit sequence, in order.

    Numbers whose account already exists are skipped (and stay used), so the result never
    collides with a member loaded from the core system.
    """
    accounts: list[str] = []
    while len(accounts) < count:
        wanted = count - len(accounts)
        last = _bump(session, unit_account, wanted)
        if last >= 10**SEQUENCE_DIGITS or len(unit_account) + SEQUENCE_DIGITS > MAX_ACCOUNT_LENGTH:
            raise ConfigError(f"单位 {unit_account} 的个人账号序号已用尽（最多 {10**SEQUENCE_DIGITS - 1} 个），请联系系统管理员")
        candidates = [f"{unit_account}{number:0{SEQUENCE_DIGITS}d}" for number in range(last - wanted + 1, last + 1)]
        taken = set(session.scalars(select(Member.member_account).where(Member.member_account.in_(candidates))))
        accounts.extend(account for account in candidates if account not in taken)
    return accounts


def new_account(session: Session, unit_account: str) -> str:
    """One fresh 个人账号 for the unit (see :func:`new_accounts`)."""
    return new_accounts(session, unit_account, 1)[0]


#: A registered member's row: the columns master data loads, and the profile only this centre holds.
MEMBER_COLUMNS = (*LOADED, "profile")


def assign(session: Session, result: BatchResult) -> None:
    """Every accepted row gets its new 个人账号 (``computed``), before the outputs that show it start."""
    rows = result.accepted_rows
    for row, account in zip(rows, new_accounts(session, result.unit_account, len(rows)) if rows else []):
        row.computed = {**row.computed, ACCOUNT: account}


def record(session: Session, batch: Batch, result: BatchResult) -> None:
    """Every accepted row opens its account (正常, balance 0) and leaves a 缴存人登记 trail row holding
    every field the account is opened with (nothing before it)."""
    members = []
    trail = []
    for row in result.accepted_rows:
        account = row.computed[ACCOUNT]
        base = row.amounts[BASE]
        profile = {column: row.values[column] for column in PROFILE_COLUMNS}
        members.append(
            (account, result.unit_account, row.values["姓名"], ID_TYPE, row.values[ID_COLUMN], OPEN_STATUS, base, Decimal(0), result.business_date, "", None, profile)
        )
        after = {
            ACCOUNT: account,
            "单位账号": result.unit_account,
            "姓名": row.values["姓名"],
            "证件类型": ID_TYPE,
            ID_COLUMN: row.values[ID_COLUMN],
            "个人账户状态": OPEN_STATUS,
            BASE: str(base),
            "开户日期": result.business_date.isoformat(),
            **profile,
        }
        trail.append((batch.id, account, KIND, f"{result.business_date:%Y-%m}", {}, after))
    insert_rows(session, Member.__table__, MEMBER_COLUMNS, members)
    insert_rows(session, MemberChange.__table__, TRAIL_COLUMNS, trail)
