"""缴存人登记 registration rules (SPEC.md, Rules; Huludao manual, 缴存人登记).

One file holds one deposit ratio, the unit's: 个人月缴存额 and 单位月缴存额 must equal the base
times the unit's personal and unit ratio, each rounded half-up. A 证件号码 may appear once in a
file and may not already have an account anywhere: a worker arriving from another unit keeps
that account and comes over by 单位调整 + 启封. The message never says where the account is.

New accounts (``new_accounts``) are ``单位账号`` followed by a five-digit per-unit sequence, e.g.
``0100001`` → ``010000100001``, ``010000100002``… The sequence lives in ``account_counters`` and is
bumped in the file's transaction, so numbers are never given out twice and a rolled-back file
gives its numbers back; a number whose account already exists (loaded from the core system) is
skipped.
"""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from pipeline.bulk import insert_rows
from pipeline.db import AccountCounter, Batch, Member, MemberChange
from pipeline.issues import Code, ConfigError, Issue
from pipeline.model import BatchResult, RowResult
from pipeline.money import FEN, half_up, money_text
from pipeline.read import paused_gc
from pipeline.rules.common import PERSONAL_MONTHLY, TOTAL_MONTHLY, TRAIL_COLUMNS, UNIT_MONTHLY, monthly_amounts, parse_base
from pipeline.rules.context import RuleContext, settle_statuses
from schemas.registration import PROFILE_COLUMNS

KIND = "缴存人登记"
BASE_COLUMN = "个人缴存基数"
BASE = "缴存基数"
ID_COLUMN = "证件号码"
ACCOUNT = "个人账号"
SEQUENCE_DIGITS = 5
MAX_ACCOUNT_LENGTH = 20
OPEN_STATUS = "正常"
ID_TYPE = "身份证"


def _percent(ratio: Decimal) -> str:
    """0.12 → "12%", 0.1000 → "10%", 0.075 → "7.5%"."""
    return f"{(ratio * 100).normalize():f}%"


def _shown(value: Decimal) -> str:
    """An amount as the unit wrote it, in the usual two decimals unless that would hide a digit."""
    return money_text(value) if value == half_up(value, FEN) else f"{value:f}"


def _check_amounts(row: RowResult, context: RuleContext) -> None:
    base = parse_base(row, BASE_COLUMN, context.config)
    if base is None:
        return
    expected = monthly_amounts(base, context.unit, context.config)
    ratios = {PERSONAL_MONTHLY: context.unit.personal_ratio, UNIT_MONTHLY: context.unit.unit_ratio}
    for column, ratio in ratios.items():
        stated = Decimal(row.values[column])
        if stated != expected[column]:
            row.issues.append(
                Issue(
                    Code.AMOUNT_MISMATCH,
                    f"「{column}」应为 {money_text(expected[column])}（{base} × {_percent(ratio)} 四舍五入），"
                    f"实际为 {_shown(stated)}；本单位只能按单位缴存比例 {_percent(context.unit.unit_ratio)}、"
                    f"个人缴存比例 {_percent(context.unit.personal_ratio)} 登记",
                    row.excel_row,
                    column,
                )
            )
    row.amounts[BASE] = base
    row.amounts.update((name, expected[name]) for name in (UNIT_MONTHLY, PERSONAL_MONTHLY, TOTAL_MONTHLY))


def _check_ids(rows: list[RowResult], context: RuleContext) -> None:
    """DUPLICATE_ROW within the file, ALREADY_REGISTERED against every account of the centre."""
    registered = context.data.registered_ids(row.values[ID_COLUMN] for row in rows)
    first_row: dict[str, int] = {}
    for row in rows:
        id_number = row.values[ID_COLUMN]
        if id_number in registered:
            row.issues.append(
                Issue(
                    Code.ALREADY_REGISTERED,
                    "该证件号码已有住房公积金个人账户，不能重复开户；如该职工从其他单位调入，请办理单位调整后再启封",
                    row.excel_row,
                    ID_COLUMN,
                )
            )
        elif id_number in first_row:
            row.issues.append(
                Issue(Code.DUPLICATE_ROW, f"与第{first_row[id_number]}行证件号码重复", row.excel_row, ID_COLUMN)
            )
        first_row.setdefault(id_number, row.excel_row)


@paused_gc()
def apply(rows: list[RowResult], context: RuleContext) -> list[Issue]:
    """Check every schema-valid row; rows keep ACCEPTED or become REJECTED."""
    context.data.lock_members()  # this file changes member records
    for row in rows:
        _check_amounts(row, context)
    _check_ids(rows, context)
    settle_statuses(rows)
    return []


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


MEMBER_COLUMNS = (
    "member_account",
    "unit_account",
    "name",
    "id_type",
    "id_number",
    "status",
    "base",
    "balance",
    "opened_on",
    "seal_reason",
    "last_base_adjust_year",
    "profile",
)


def record(session: Session, batch: Batch, result: BatchResult) -> None:
    """Every accepted row opens an account (正常, balance 0) and leaves a 缴存人登记 trail row."""
    rows = result.accepted_rows
    if not rows:
        return
    accounts = new_accounts(session, result.unit_account, len(rows))
    members = []
    trail = []
    for row, account in zip(rows, accounts):
        row.computed[ACCOUNT] = account
        base = row.amounts[BASE]
        profile = {column: row.values[column] for column in PROFILE_COLUMNS}
        members.append(
            (account, result.unit_account, row.values["姓名"], ID_TYPE, row.values[ID_COLUMN], OPEN_STATUS, base, Decimal(0), result.business_date, "", None, profile)
        )
        after = {ACCOUNT: account, "姓名": row.values["姓名"], BASE: str(base)}
        trail.append((batch.id, account, KIND, f"{result.business_date:%Y-%m}", {}, after))
    insert_rows(session, Member.__table__, MEMBER_COLUMNS, members)
    insert_rows(session, MemberChange.__table__, TRAIL_COLUMNS, trail)
