"""补缴查询 (Baoji notice 2024-19): a unit's entered but unallocated back-pay, and deleting it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from pipeline.money import money_text
from pipeline.store.tables import BACKPAY_DELETED, BACKPAY_ENTERED, BackPayRecord


@dataclass(frozen=True)
class BackPayListing:
    unit_account: str
    records: list[BackPayRecord]

    @property
    def unallocated_total(self) -> Decimal:
        """未分配金额: the sum of what is entered and not yet allocated."""
        return sum((record.amount for record in self.records), Decimal(0))

    def to_dict(self) -> dict[str, object]:
        return {
            "unit": self.unit_account,
            "未分配金额": money_text(self.unallocated_total),
            "records": [
                {
                    "业务流水号": r.serial_number,
                    "个人账号": r.member_account,
                    "姓名": r.name,
                    "补缴原因": r.reason,
                    "补缴开始年月": r.start_month,
                    "补缴结束年月": r.end_month,
                    "补缴金额": money_text(r.amount),
                    "录入日期": r.entered_on.isoformat(),
                    "状态": r.state,
                }
                for r in self.records
            ],
        }


def list_unallocated(session: Session, unit_account: str) -> BackPayListing:
    records = session.scalars(
        select(BackPayRecord)
        .where(BackPayRecord.unit_account == unit_account, BackPayRecord.state == BACKPAY_ENTERED)
        .order_by(BackPayRecord.serial_number, BackPayRecord.id)
    ).all()
    return BackPayListing(unit_account, list(records))


def delete_unallocated(session: Session, unit_account: str, serial_number: str) -> int:
    """Mark every unallocated record of one 业务流水号 of this unit 已删除; returns how many.

    Another unit's serial number simply matches nothing, exactly like an unknown one.
    """
    records = session.scalars(
        select(BackPayRecord).where(
            BackPayRecord.unit_account == unit_account,
            BackPayRecord.serial_number == serial_number,
            BackPayRecord.state == BACKPAY_ENTERED,
        )
    ).all()
    now = datetime.now().replace(microsecond=0)
    for record in records:
        record.state = BACKPAY_DELETED
        record.deleted_at = now
    return len(records)
