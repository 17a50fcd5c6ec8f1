"""汇缴: an accepted 汇缴清册 becomes one 汇缴核定 per month and the unit's new 缴至年月.

The 核定 is worked out by the pure :func:`pipeline.rules.remit.assess` in :func:`assign`, before
the outputs start (they show it): the previous 核定's members are read only for a file that was
accepted. The members a 核定 counted are its batch's stored rows (the file is accepted whole), so
nothing is written per member; ``gjj load`` keeps each unit's baseline (:func:`refresh_baselines`,
the only rows of ``remit_members``), the 上期 of its first 核定 here.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from decimal import Decimal
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from pipeline.config import CentreConfig
from pipeline.memory import paused_gc
from pipeline.model import BatchResult, DepartedMember, MonthAssessment
from pipeline.money import money_text
from pipeline.rules.common import monthly_amounts, months_from
from pipeline.rules.context import RemitLine, UnitInfo
from pipeline.rules.remit import (
    ACCOUNT,
    BASE,
    CHANGE,
    END,
    KIND,
    NAME,
    PREVIOUS_TOTAL,
    START,
    Pair,
    assess,
    change_of_figures,
    current_lines,
    member_pairs,
)
from pipeline.store.bulk import driver_rows, insert_rows
from pipeline.store.queries import SqlMasterData
from pipeline.store.states import REMIT_UNPAID
from pipeline.store.tables import Batch, Member, RemitAssessment, RemitMember, Unit

__all__ = ["KIND", "assign", "record", "refresh_baselines", "restore", "units_of"]

ID_NUMBER, UNIT_AMOUNT, PERSONAL_AMOUNT = "证件号码", "单位月缴存额", "个人月缴存额"
_LINE_COLUMNS = ("member_account", "base", "unit_amount", "personal_amount")
ACTIVE = "正常"


def _chunks(values: Iterable[str], size: int = 5000) -> Iterator[list[str]]:
    items = sorted(set(values))
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _lines(result: BatchResult) -> dict[str, RemitLine]:
    """The accepted file's members (every row: a 汇缴清册 is accepted whole or not at all)."""
    return current_lines(result.column(ACCOUNT), result.column(BASE), [row.amounts for row in result.rows])


@paused_gc()
def assign(session: Session, result: BatchResult) -> None:
    """The 核定 of each month and the members who left, and each row's 变动类型: before the outputs start.

    Under :func:`paused_gc`: a 100k-member unit makes 100k lines twice (before and now), ≈0.05 s of
    collections otherwise."""
    previous = SqlMasterData(session).remit_previous(result.unit_account)
    current = _lines(result)
    assert len(current) == len(result.rows), "an accepted 汇缴清册 lists each member once: its lines are in the rows' order"
    pairs = member_pairs(previous, current)
    reckoning = assess(previous, current, months_from(result.column(START)[0], result.column(END)[0]), pairs)
    # One computed dict per distinct (figures before, figures now), shared by its rows: nothing
    # changes a 汇缴 row's computed values once given, and 100k rows need only a few dozen.
    computed: dict[Pair, dict[str, str]] = {}
    for before, now in set(pairs):
        given = computed[(before, now)] = {CHANGE: change_of_figures(before, now)}
        if before is not None:
            given[PREVIOUS_TOTAL] = money_text(before[1] + before[2])
    for row, given in zip(result.rows, map(computed.__getitem__, pairs)):
        row.computed = given
    result.assessments = reckoning.assessments
    result.departed = _departed(session, reckoning.departed)


def _departed(session: Session, lines: list[RemitLine]) -> list[DepartedMember]:
    """The members who left, with their 姓名 and 证件号码 as recorded now (they left this very unit)."""
    who: dict[str, tuple[str, str]] = {}
    for chunk in _chunks(line.member_account for line in lines):
        query = select(Member.member_account, Member.name, Member.id_number).where(Member.member_account.in_(chunk))
        who.update((account, (name, id_number)) for account, name, id_number in session.execute(query))
    return [
        DepartedMember(line.member_account, *who.get(line.member_account, ("", "")), line.base, line.unit_amount, line.personal_amount)
        for line in lines
    ]


def _departed_json(departed: list[DepartedMember]) -> list[dict[str, str]]:
    return [
        {
            ACCOUNT: member.member_account,
            NAME: member.name,
            ID_NUMBER: member.id_number,
            BASE: str(member.base),
            UNIT_AMOUNT: str(member.unit_amount),
            PERSONAL_AMOUNT: str(member.personal_amount),
        }
        for member in departed
    ]


def record(session: Session, batch: Batch, result: BatchResult) -> None:
    """One 核定 per month (未入账; the members who left kept on the first) and the unit's 缴至年月 moved
    to the end month (the one before is kept on each 核定, for a delete to put back); the members
    counted are the batch's rows, which :func:`pipeline.store.batches.record` writes anyway."""
    unit = session.get(Unit, result.unit_account)
    assert unit is not None and result.serial_number and result.assessments, "an accepted 汇缴 has its unit, serial and 核定"
    paid_to_before = unit.paid_to_month or ""
    departed = _departed_json(result.departed)
    for index, month in enumerate(result.assessments):
        session.add(
            RemitAssessment(
                batch_pk=batch.id,
                unit_account=result.unit_account,
                month=month.month,
                serial_number=result.serial_number,
                previous_count=month.previous_count,
                previous_amount=month.previous_amount,
                increase_count=month.increase_count,
                increase_amount=month.increase_amount,
                decrease_count=month.decrease_count,
                decrease_amount=month.decrease_amount,
                count=month.count,
                amount=month.amount,
                paid_to_before=paid_to_before,
                state=REMIT_UNPAID,
                assessed_on=result.business_date,
                departed=departed if index == 0 else [],
            )
        )
    unit.paid_to_month = result.assessments[-1].month
    session.flush()  # a month assessed meanwhile breaks the unique index here, before the rows go in
    # The members counted are the batch's own rows (stored by ``write_rows``, read back by
    # ``SqlMasterData.remit_previous``): nothing more is written for them.


def restore(session: Session, batch: Batch, result: BatchResult) -> None:
    """The 核定 of a stored batch, and the members who left, back on its rebuilt result (deleted ones too)."""
    stored = session.scalars(select(RemitAssessment).where(RemitAssessment.batch_pk == batch.id).order_by(RemitAssessment.month)).all()
    result.assessments = [
        MonthAssessment(
            month.month,
            month.previous_count,
            month.previous_amount,
            month.increase_count,
            month.increase_amount,
            month.decrease_count,
            month.decrease_amount,
            month.count,
            month.amount,
        )
        for month in stored
    ]
    result.departed = [
        DepartedMember(
            member[ACCOUNT], member[NAME], member[ID_NUMBER], Decimal(member[BASE]), Decimal(member[UNIT_AMOUNT]), Decimal(member[PERSONAL_AMOUNT])
        )
        for member in (stored[0].departed if stored else [])
    ]


def units_of(session: Session, member_accounts: Iterable[str]) -> set[str]:
    """The units these members belong to now (asked by ``gjj load`` before it moves any of them)."""
    units: set[str] = set()
    for chunk in _chunks(member_accounts):
        units.update(session.scalars(select(Member.unit_account).where(Member.member_account.in_(chunk)).distinct()))
    return units


def refresh_baselines(session: Session, config: CentreConfig, unit_accounts: Iterable[str]) -> None:
    """Each unit's baseline (``remit_members`` without a batch) rewritten from its 正常 members as they stand.

    ``gjj load`` calls it for every unit it names or moves a member out of, after its upserts: the
    baseline is the 上期 of a unit's first 核定 here (SPEC.md "汇缴"); once a 核定 stands, the next
    one starts from it and the baseline waits, unused, until none stands (all deleted).
    """
    for chunk in _chunks(unit_accounts, 1000):
        session.execute(delete(RemitMember).where(RemitMember.batch_pk.is_(None), RemitMember.unit_account.in_(chunk)))
        ratios = select(Unit.unit_account, Unit.unit_ratio, Unit.personal_ratio).where(Unit.unit_account.in_(chunk))
        units = {account: UnitInfo(account, "", unit_ratio, personal_ratio, "") for account, unit_ratio, personal_ratio in session.execute(ratios)}
        members = select(Member.unit_account, Member.member_account, Member.base).where(Member.unit_account.in_(chunk), Member.status == ACTIVE)
        insert_rows(session, RemitMember.__table__, ("unit_account", *_LINE_COLUMNS), _baseline(list(driver_rows(session, members)), units, config))


def _baseline(members: Iterable[tuple[Any, ...]], units: dict[str, UnitInfo], config: CentreConfig) -> Iterator[tuple[Any, ...]]:
    """(unit, account, base, 单位月缴存额, 个人月缴存额) per member; amounts worked out once per unit and base."""
    worked: dict[tuple[str, Any], tuple[Decimal, Decimal, Decimal]] = {}
    for unit_account, account, base in members:
        amounts = worked.get((unit_account, base))
        if amounts is None:
            value = base if isinstance(base, Decimal) else Decimal(base)
            monthly = monthly_amounts(value, units[unit_account], config)
            amounts = worked[(unit_account, base)] = (value, monthly[UNIT_AMOUNT], monthly[PERSONAL_AMOUNT])
        yield (unit_account, account, *amounts)
