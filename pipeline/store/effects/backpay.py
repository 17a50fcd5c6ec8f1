"""补缴: accepted rows become back-pay records, entered and unallocated (未分配)."""

from __future__ import annotations

from itertools import compress

from sqlalchemy.orm import Session

from pipeline.model import BatchResult, RowStatus
from pipeline.rules.backpay import AMOUNT, KIND
from pipeline.store.bulk import insert_rows
from pipeline.store.states import BACKPAY_ENTERED
from pipeline.store.tables import BackPayRecord, Batch

__all__ = ["KIND", "record"]


#: What a back-pay record takes from its row's cells, in record column order.
_RECORD_CELLS = {
    "member_account": "个人账号",
    "name": "姓名",
    "id_number": "证件号码",
    "reason": "补缴原因",
    "start_month": "补缴开始年月",
    "end_month": "补缴结束年月",
}


def record(session: Session, batch: Batch, result: BatchResult) -> None:
    """Accepted rows become back-pay records, entered and unallocated (未分配); made a column at a time."""
    accepted = [row.status is RowStatus.ACCEPTED for row in result.rows]
    amounts = [row.amounts[AMOUNT] for row in compress(result.rows, accepted)]
    records = zip(*(compress(result.column(cell), accepted) for cell in _RECORD_CELLS.values()), amounts)
    shared = {
        "batch_pk": batch.id,
        "unit_account": result.unit_account,
        "state": BACKPAY_ENTERED,
        "serial_number": result.serial_number,
        "entered_on": result.business_date,
    }
    insert_rows(session, BackPayRecord.__table__, [*_RECORD_CELLS, "amount"], records, shared)
