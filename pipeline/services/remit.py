"""汇缴核定查询 (the Huludao 汇缴核定查询 screen: 打印/明细/删除): a unit's 核定, deleting the latest
unpaid one, and the rows of a pre-filled 汇缴清册 (``gjj template 汇缴 --unit``).

A 核定 is one ``remit_assessments`` row per month; the months of one accepted 汇缴清册 share its
业务流水号 and are listed, deleted and paid (:mod:`pipeline.services.payments`) together. A deleted
核定 stays in the table as 已删除: the partial unique index on (unit, month) counts standing ones
only, so the month can be assessed again, and the history keeps what was deleted and when.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from pipeline.config import CentreConfig
from pipeline.intake.locks import lock_key, lock_number
from pipeline.store.states import REMIT_DELETED, REMIT_PAID
from pipeline.store.tables import Batch, Member, RemitAssessment, Unit

if TYPE_CHECKING:
    from pipeline.rules.context import UnitInfo

# The rules, the queries and the template import pandas and pandera: :func:`prefill_remit` and
# :func:`delete_assessment` import what they need, so ``gjj remit list`` starts without them.


@dataclass(frozen=True)
class RemitDeletion:
    """What ``gjj remit delete`` did: the months deleted and the 缴至年月 put back, or why nothing changed."""

    serial_number: str
    months: tuple[str, ...] = ()
    paid_to_month: str = ""
    refused: str | None = None

    @property
    def deleted(self) -> bool:
        return self.refused is None


def _hold_unit_lock(session: Session, unit_account: str) -> None:
    """On PostgreSQL, wait until no worker processes this unit's files, and keep them out until commit.

    A worker holds the same key (:func:`pipeline.intake.locks.lock_key`) while it processes one of
    the unit's files, so a 汇缴清册 being assessed and a delete never read each other's half. Taken
    before any row lock, so the two never wait on each other. On SQLite every writer waits for the
    other's transaction anyway.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": lock_number(lock_key(unit_account))})


def delete_assessment(session: Session, unit_account: str, serial_number: str, now: datetime | None = None) -> RemitDeletion:
    """Delete the unit's latest standing 核定 (every month of ``serial_number``) while it is unpaid.

    The months become 已删除 with ``deleted_at`` and the unit's 缴至年月 goes back to what it was
    before that file. Refused, with the reason and nothing changed: a serial this unit does not
    have (another unit's is told exactly like an unknown one), one already deleted, one paid
    (已入账), one that a later standing 核定 follows (named: it has to go first).
    """
    from pipeline.outputs.pdf.context import month_span

    _hold_unit_lock(session, unit_account)
    records = session.scalars(
        select(RemitAssessment)
        .where(RemitAssessment.unit_account == unit_account, RemitAssessment.serial_number == serial_number)
        .order_by(RemitAssessment.month)
        .with_for_update()
    ).all()
    if not records:
        return RemitDeletion(serial_number, refused=f"单位 {unit_account} 没有业务流水号为 {serial_number} 的汇缴核定")
    span = month_span([record.month for record in records])
    standing = [record for record in records if record.state != REMIT_DELETED]
    if not standing:
        times = [record.deleted_at for record in records if record.deleted_at]
        at = f"于 {max(times):%Y-%m-%d %H:%M:%S} " if times else ""
        return RemitDeletion(serial_number, refused=f"业务流水号 {serial_number} 的汇缴核定（汇缴月度 {span}）已{at}删除")
    paid = [record for record in standing if record.state == REMIT_PAID]
    if paid:
        paid_on = paid[0].paid_on.isoformat() if paid[0].paid_on else ""
        return RemitDeletion(serial_number, refused=f"业务流水号 {serial_number} 的汇缴核定（汇缴月度 {span}）已入账（到账日期 {paid_on}），不能删除")
    later = session.scalars(
        select(RemitAssessment)
        .where(
            RemitAssessment.unit_account == unit_account,
            RemitAssessment.state != REMIT_DELETED,
            RemitAssessment.month > standing[-1].month,
        )
        .order_by(RemitAssessment.month.desc())
        .limit(1)
    ).first()
    if later is not None:
        later_months = session.scalars(
            select(RemitAssessment.month).where(RemitAssessment.serial_number == later.serial_number, RemitAssessment.state != REMIT_DELETED)
        ).all()
        return RemitDeletion(
            serial_number,
            refused=(
                f"业务流水号 {serial_number} 的汇缴核定（汇缴月度 {span}）不是本单位最新的核定：其后还有业务流水号 "
                f"{later.serial_number}（汇缴月度 {month_span(later_months)}，{later.state}）的核定，只能从最新的核定删起"
            ),
        )
    moment = now or datetime.now().replace(microsecond=0)
    for record in standing:
        record.state = REMIT_DELETED
        record.deleted_at = moment
    batch = session.get(Batch, standing[0].batch_pk)
    if batch is not None:
        batch.withdrawn_at = moment  # the same bytes may be sent again and assessed anew
    paid_to = standing[0].paid_to_before
    unit = session.get(Unit, unit_account)
    if unit is not None:
        unit.paid_to_month = paid_to
    return RemitDeletion(serial_number, tuple(record.month for record in standing), paid_to)


@dataclass(frozen=True)
class RemitPrefill:
    """A unit's 汇缴清册 ready to send: its 正常 members with the amounts the centre computes, for ``month``."""

    unit: UnitInfo
    month: str
    #: One row per member, in the template's column order; 序号 an int, amounts ``Decimal``.
    rows: list[list[str | int | Decimal]]


def prefill_remit(session: Session, config: CentreConfig, unit_account: str, business_date: date) -> RemitPrefill | None:
    """The rows of the unit's next 汇缴清册, or None for a unit not in the master data.

    The month is the next one to assess: 缴至年月 (or the latest standing 核定's month, if later) + 1,
    or the business month when the unit has neither. Members are the unit's 正常 ones by 个人账号, with the base the centre holds and the
    monthly amounts :func:`pipeline.rules.common.monthly_amounts` computes from it, so the file
    passes the 汇缴 checks as it is unless something changed since.
    """
    from pipeline.rules.common import PERSONAL_MONTHLY, UNIT_MONTHLY, monthly_amounts, next_month
    from pipeline.store.queries import SqlMasterData, unit_info
    from schemas.remit import TEMPLATE as REMIT_TEMPLATE

    unit = unit_info(session, unit_account)
    if unit is None:
        return None
    # As the 汇缴 rules see it: the later of master data's 缴至年月 and the latest standing 核定 here.
    paid_to = max(unit.paid_to_month, SqlMasterData(session).last_remit_month(unit_account))
    month = next_month(paid_to) if paid_to else f"{business_date:%Y-%m}"
    members = session.execute(
        select(Member.member_account, Member.name, Member.id_number, Member.base)
        .where(Member.unit_account == unit_account, Member.status == "正常")
        .order_by(Member.member_account)
    ).all()
    rows: list[list[str | int | Decimal]] = []
    for index, (account, name, id_number, base) in enumerate(members, start=1):
        base = Decimal(base)
        amounts = monthly_amounts(base, unit, config)
        values: dict[str, str | int | Decimal] = {
            "序号": index,
            "个人账号": account,
            "姓名": name,
            "证件号码": id_number,
            "个人缴存基数": base,
            UNIT_MONTHLY: amounts[UNIT_MONTHLY],
            PERSONAL_MONTHLY: amounts[PERSONAL_MONTHLY],
            "汇缴开始年月": month,
            "汇缴结束年月": month,
        }
        rows.append([values[column] for column in REMIT_TEMPLATE.HEADER])
    return RemitPrefill(unit, month, rows)
