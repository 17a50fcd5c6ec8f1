"""What the rules may ask the database, answered in the file's transaction (:class:`SqlMasterData`).

Master data is read as plain driver rows, never as ORM objects: a 100k-member unit would otherwise
fill the session's identity map.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from datetime import date
from decimal import Decimal
from itertools import compress, repeat
from typing import Any

import orjson
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from pipeline.config import CentreConfig
from pipeline.intake.locks import MEMBER_LOCK, lock_number
from pipeline.memory import paused_gc
from pipeline.rules.common import PERSONAL_MONTHLY, UNIT_MONTHLY
from pipeline.rules.context import (
    IDENTITY_SEPARATOR,
    FormerMember,
    MemberInfo,
    RecordedBackPay,
    RemitLine,
    RuleContext,
    UnitInfo,
    new_line,
)
from pipeline.rules.remit import ACCOUNT, BASE
from pipeline.rules.seal import KIND as SEAL_KIND
from pipeline.store.bulk import driver_rows
from pipeline.store.states import BACKPAY_ENTERED, REMIT_DELETED, REVIEW_PENDING
from pipeline.store.tables import BackPayRecord, Batch, BatchRowPart, Member, MemberChange, RemitAssessment, RemitMember, ReviewRequest, Unit

#: The status of a closed account (销户): its 证件号码 is free again (see ``OPEN_MEMBER``).
CLOSED = "销户"
from schemas.cells import id18, id_forms

ACTIVE = "正常"


def _unit_info(unit: Unit) -> UnitInfo:
    return UnitInfo(
        unit.unit_account,
        unit.name,
        unit.unit_ratio,
        unit.personal_ratio,
        unit.status,
        unit.contact_name,
        unit.contact_phone,
        unit.paid_to_month,
    )


#: A member's identity as the rules look it up (:func:`pipeline.rules.context.identity_key`), joined
#: by the database: one string per member fetched, no 3-tuples (100k members: tens of megabytes).
_IDENTITY = Member.member_account + IDENTITY_SEPARATOR + Member.name + IDENTITY_SEPARATOR + Member.id_number

#: The columns of :class:`MemberInfo`, in its field order.
_MEMBER_COLUMNS = (
    Member.member_account,
    Member.unit_account,
    Member.name,
    Member.id_number,
    Member.status,
    Member.base,
    Member.balance,
    Member.seal_reason,
    Member.last_base_adjust_year,
)


def _member_infos(rows: Iterable[tuple[Any, ...]]) -> Iterator[MemberInfo]:
    """MemberInfo of each driver row; values most members share (unit, status, base) are one object each.

    A 100k-member unit otherwise holds 100k copies of "正常" and of a handful of bases. Money
    comes as text from SQLite and as ``Decimal`` from PostgreSQL; a base is shared only between
    equal driver values, so 6800 stays 6800 and never becomes 6800.00.
    """
    shared: dict[Any, Any] = {}
    for account, unit, name, id_number, status, base, balance, seal_reason, year in rows:
        if base is not None:
            base = shared.get(("base", base)) or shared.setdefault(("base", base), _decimal(base))
        yield MemberInfo(
            account,
            shared.setdefault(unit, unit),
            name,
            id_number,
            shared.setdefault(status, status),
            base,
            None if balance is None else _decimal(balance),
            shared.setdefault(seal_reason, seal_reason) if seal_reason is not None else None,
            year,
        )


def _decimal(value: Decimal | str) -> Decimal:
    return value if isinstance(value, Decimal) else Decimal(value)


def unit_info(session: Session, unit_account: str) -> UnitInfo | None:
    unit = session.get(Unit, unit_account)
    return None if unit is None else _unit_info(unit)


def _chunks(values: Iterable[str], size: int = 5000) -> Iterator[list[str]]:
    items = sorted(set(values))
    for start in range(0, len(items), size):
        yield items[start : start + size]


def open_id_holders(session: Session, id_numbers: Iterable[str]) -> dict[str, str]:
    """Of ``id_numbers``, those an open account holds (recorded in either form), each with its 个人账号."""
    wanted = list(id_numbers)
    held: dict[str, str] = {}  # 18-digit form → account
    for chunk in _chunks(form for id_number in wanted for form in id_forms(id_number)):
        query = select(Member.id_number, Member.member_account).where(Member.id_number.in_(chunk), Member.status != CLOSED)
        held.update((id18(id_number), account) for id_number, account in session.execute(query))
    return {id_number: held[id18(id_number)] for id_number in wanted if id18(id_number) in held}


class SqlMasterData:
    """The :class:`~pipeline.rules.context.MasterData` questions, answered in the file's transaction."""

    def __init__(self, session: Session):
        self.session = session

    def unit(self, unit_account: str) -> UnitInfo | None:
        return unit_info(self.session, unit_account)

    @paused_gc()
    def unit_members(self, unit_account: str) -> dict[str, MemberInfo]:
        query = select(*_MEMBER_COLUMNS).where(Member.unit_account == unit_account)
        return {info.member_account: info for info in _member_infos(driver_rows(self.session, query))}

    @paused_gc()
    def unit_identities(self, unit_account: str) -> frozenset[str]:
        query = select(_IDENTITY).where(Member.unit_account == unit_account)
        return frozenset(row[0] for row in driver_rows(self.session, query))

    @paused_gc()
    def unit_identities_and_bases(self, unit_account: str) -> tuple[frozenset[str], dict[str, Decimal | None]]:
        query = select(_IDENTITY, Member.member_account, Member.status, Member.base).where(Member.unit_account == unit_account)
        rows = list(driver_rows(self.session, query))
        if not rows:
            return frozenset(), {}
        identities, accounts, statuses, bases = zip(*rows)  # by column, at C speed
        del rows
        active = list(map(ACTIVE.__eq__, statuses))
        # a few bases among many members: one Decimal each (a member without one is never plain)
        shared = {base: None if base is None else _decimal(base) for base in set(compress(bases, active))}
        return frozenset(identities), dict(zip(compress(accounts, active), map(shared.__getitem__, compress(bases, active))))

    @paused_gc()
    def members(self, accounts: Iterable[str]) -> dict[str, MemberInfo]:
        found: dict[str, MemberInfo] = {}
        for chunk in _chunks(accounts):
            query = select(*_MEMBER_COLUMNS).where(Member.member_account.in_(chunk))
            found.update((info.member_account, info) for info in _member_infos(driver_rows(self.session, query)))
        return found

    def registered_ids(self, id_numbers: Iterable[str]) -> set[str]:
        wanted = list(id_numbers)
        held: set[str] = set()  # in 18-digit form
        for chunk in _chunks(form for id_number in wanted for form in id_forms(id_number)):
            held.update(map(id18, self.session.scalars(select(Member.id_number).where(Member.id_number.in_(chunk)))))
        return {id_number for id_number in wanted if id18(id_number) in held}

    def ids_in_use(self, id_numbers: Iterable[str]) -> dict[str, str]:
        return open_id_holders(self.session, id_numbers)

    def open_reviews(self, accounts: Iterable[str]) -> set[str]:
        found: set[str] = set()
        for chunk in _chunks(accounts):
            query = select(ReviewRequest.member_account).where(ReviewRequest.member_account.in_(chunk), ReviewRequest.state == REVIEW_PENDING)
            found.update(self.session.scalars(query))
        return found

    def recorded_backpay(self, unit_account: str) -> dict[str, list[RecordedBackPay]]:
        recorded: dict[str, list[RecordedBackPay]] = defaultdict(list)
        query = select(
            BackPayRecord.member_account, BackPayRecord.start_month, BackPayRecord.end_month, BackPayRecord.serial_number
        ).where(BackPayRecord.unit_account == unit_account, BackPayRecord.state == BACKPAY_ENTERED)
        for account, start, end, serial in self.session.execute(query):
            recorded[account].append(RecordedBackPay(account, start, end, serial))
        return dict(recorded)

    def former_members(self, unit_account: str, sealed_unit: str, accounts: Iterable[str]) -> dict[str, FormerMember]:
        """The 封存 changes of ``accounts`` whose ``before`` has this unit and ``after`` the sealed unit
        (as :mod:`pipeline.store.effects.seal` writes them), with the member's 姓名 and 证件号码 now.

        The trail is filtered in SQL (the JSON values read as text, on SQLite and PostgreSQL alike), so
        a change out of another unit never leaves the database; one query per 5,000 accounts.
        """
        found: dict[str, FormerMember] = {}
        for chunk in _chunks(accounts):
            query = (
                select(Member.member_account, Member.name, Member.id_number, MemberChange.changed_month)
                .join(MemberChange, MemberChange.member_account == Member.member_account)
                .where(
                    Member.member_account.in_(chunk),
                    Member.unit_account != unit_account,
                    MemberChange.kind == SEAL_KIND,
                    MemberChange.changed_month != "",  # a 封存 always has its 变更年月; a trail row without one names no month
                    MemberChange.before["unit_account"].as_string() == unit_account,
                    MemberChange.after["unit_account"].as_string() == sealed_unit,
                )
                .order_by(MemberChange.id)
            )
            for account, name, id_number, month in self.session.execute(query):
                found[account] = FormerMember(account, name, id_number, month)  # the latest 封存 out of this unit wins
        return found

    def applied_batches(self, unit_account: str, kind: str, since: date, until: date) -> list[str]:
        """The unit's accepted batches of ``kind`` in the period. A batch whose rows went to review counts
        only while one of them waits or once one was applied: rows all returned or refused took nothing."""
        changed = select(MemberChange.id).where(MemberChange.batch_pk == Batch.id, MemberChange.kind == kind).exists()
        waiting = select(ReviewRequest.id).where(ReviewRequest.batch_pk == Batch.id, ReviewRequest.state == REVIEW_PENDING).exists()
        reviewed = select(ReviewRequest.id).where(ReviewRequest.batch_pk == Batch.id).exists()
        query = select(Batch.batch_id).where(
            Batch.unit_account == unit_account,
            Batch.kind == kind,
            Batch.status.in_(("accepted", "partially_accepted")),
            Batch.serial_number.is_not(None),
            Batch.business_date >= since,
            Batch.business_date <= until,
            changed | waiting | ~reviewed,
        )
        return [batch_id for batch_id in self.session.scalars(query) if batch_id]

    def last_remit_month(self, unit_account: str) -> str:
        query = select(func.max(RemitAssessment.month)).where(RemitAssessment.unit_account == unit_account, RemitAssessment.state != REMIT_DELETED)
        return self.session.scalar(query) or ""

    @paused_gc()
    def remit_previous(self, unit_account: str) -> dict[str, RemitLine]:
        """The members of the latest standing 核定 (its batch's stored rows), else the unit's baseline
        (``remit_members`` with ``batch_pk`` NULL, written by ``gjj load``); a 100k-member unit being usual."""
        latest = (
            select(RemitAssessment.batch_pk)
            .where(RemitAssessment.unit_account == unit_account, RemitAssessment.state != REMIT_DELETED)
            .order_by(RemitAssessment.month.desc(), RemitAssessment.id.desc())
            .limit(1)
        )
        batch_pk = self.session.scalar(latest)
        if batch_pk is not None:
            return _batch_lines(self.session, batch_pk)
        return _baseline_lines(self.session, unit_account)

    def lock_members(self) -> None:
        hold_member_lock(self.session)


def _batch_lines(session: Session, batch_pk: int) -> dict[str, RemitLine]:
    """The members a 核定 counted: its 汇缴 batch's stored rows, every one (a 汇缴清册 is accepted whole).

    Only four columns of each part leave the database (个人账号, 个人缴存基数 and the two monthly
    amounts, each a JSON array as text, decoded by orjson): no row is made, and the other cells and
    the computed values are never decoded. Every part of a 汇缴 batch is by column (the kind came
    after parts were).
    """
    paths = (("values", ACCOUNT), ("values", BASE), ("amounts", UNIT_MONTHLY), ("amounts", PERSONAL_MONTHLY))
    query = select(*(BatchRowPart.rows[path].as_string() for path in paths)).where(BatchRowPart.batch_pk == batch_pk).order_by(BatchRowPart.part)
    columns: tuple[list[Any], ...] = ([], [], [], [])
    for part in session.execute(query):  # a part per 5,000 rows
        for column, cells in zip(columns, part):
            column += orjson.loads(cells)
    return _remit_lines(*columns)


def _baseline_lines(session: Session, unit_account: str) -> dict[str, RemitLine]:
    """A unit's baseline, one row per distinct (base, 单位, 个人) with its members' 个人账号 as a JSON
    array (a few rows for 100k members: no driver row, and one Decimal per figure, per member)."""
    figures = (RemitMember.base, RemitMember.unit_amount, RemitMember.personal_amount)
    accounts = func.json_agg if session.get_bind().dialect.name == "postgresql" else func.json_group_array
    query = select(*figures, accounts(RemitMember.member_account)).where(RemitMember.unit_account == unit_account, RemitMember.batch_pk.is_(None))
    lines: dict[str, RemitLine] = {}
    for base, unit, personal, members in list(driver_rows(session, query.group_by(*figures))):
        listed = orjson.loads(members) if isinstance(members, str | bytes) else members  # psycopg decodes json itself
        figure = (_decimal(base), _decimal(unit), _decimal(personal))
        lines.update(zip(listed, map(new_line, zip(listed, *map(repeat, figure)))))
    return lines


def _remit_lines(accounts: Sequence[str], bases: Sequence[Any], units: Sequence[Any], personals: Sequence[Any]) -> dict[str, RemitLine]:
    """RemitLine by 个人账号 from columns of text (or ``Decimal``): a few distinct bases and amounts among
    many members, so one Decimal each, the lines made at C speed."""
    decimal = {value: _decimal(value) for value in {*bases, *units, *personals}}.__getitem__
    return dict(zip(accounts, map(new_line, zip(accounts, map(decimal, bases), map(decimal, units), map(decimal, personals)))))


def hold_member_lock(session: Session) -> None:
    """Wait for the member lock and hold it until the session's transaction ends.

    PostgreSQL only (a transaction-level advisory lock): on SQLite the first write of a file's
    transaction (its batch row) already makes every other writer wait until it commits.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": lock_number(MEMBER_LOCK)})


def rule_context(session: Session, config: CentreConfig, unit: UnitInfo, business_date: date) -> RuleContext:
    return RuleContext(config, unit, business_date, SqlMasterData(session))


class _StoredBatchData(SqlMasterData):
    """The master data for rows of a stored batch checked again: the batch is not one of its unit's applied batches."""

    def __init__(self, session: Session, batch_id: str):
        super().__init__(session)
        self.batch_id = batch_id

    def applied_batches(self, unit_account: str, kind: str, since: date, until: date) -> list[str]:
        return [batch_id for batch_id in super().applied_batches(unit_account, kind, since, until) if batch_id != self.batch_id]


def recheck_context(session: Session, config: CentreConfig, unit: UnitInfo, business_date: date, batch_id: str) -> RuleContext:
    """The rules' context for rows of the stored batch ``batch_id`` judged again now (an approval of
    rows that waited for review): today's master data, the batch's business date."""
    return RuleContext(config, unit, business_date, _StoredBatchData(session, batch_id))
