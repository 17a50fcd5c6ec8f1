"""补缴查询 (Baoji notice 2024-19): deleting a unit's entered but unallocated back-pay (listing it:
:func:`pipeline.services.listings.list_unallocated`)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from pipeline.store.states import BACKPAY_DELETED, BACKPAY_ENTERED
from pipeline.store.tables import BackPayRecord


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
