"""Rows waiting for review under the centre's policy (``review: review``: 补缴, 基数调整, 封存, 启封,
单位调整, 缴存人登记 under ``strict``): one ``review_requests`` row each, 待审核, and nothing else.

The request names the kind (``item``), the row's cells in one line (``new_value``,
:func:`pipeline.policy.waiting_summary`) and its reason; the row itself stays in the batch's stored
rows, from which :mod:`pipeline.services.review` applies it, on approval, through the kind's own
effect module. Each request keeps the scans of its row (``<个人账号>_<文档类型>``, a 缴存人登记 row's
by its 证件号码) and those of the whole file (``<文档类型>``), which belong to every request of the file.
缴存人信息变更 queues its own 姓名/证件号码 rows (:mod:`pipeline.store.effects.member_change`).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from pipeline.model import BatchResult, Document, RowStatus
from pipeline.policy import DEFAULT_KEY_COLUMN, REASON_COLUMNS, key_column, waiting_summary
from pipeline.store import documents
from pipeline.store.bulk import insert_rows
from pipeline.store.states import REVIEW_PENDING
from pipeline.store.tables import Batch, ReviewRequest


def record(session: Session, batch: Batch, result: BatchResult) -> None:
    """A review request per row of ``result`` waiting for review, with its scans and the file's.

    The requests go to the database in bulk (a 100k-row 补缴 under ``strict`` waits whole), in row
    order, so their numbers follow the rows; then their scans are linked, each stored scan once.
    """
    kind = result.kind or ""
    waiting = [row for row in result.rows if row.status is RowStatus.PENDING_REVIEW]
    if not waiting:
        return
    submitted_at = result.processed_at or datetime.now().replace(microsecond=0)
    key, reason = key_column(kind), REASON_COLUMNS.get(kind, "")
    requests = (
        (
            row.excel_row,
            row.values.get(DEFAULT_KEY_COLUMN, ""),  # a 缴存人登记 row gets its account on approval
            waiting_summary(kind, row.values)[:100],
            row.values.get(reason, "") if reason else "",
        )
        for row in waiting
    )
    shared = {"batch_pk": batch.id, "unit_account": result.unit_account, "item": kind, "old_value": "", "state": REVIEW_PENDING, "submitted_at": submitted_at}
    insert_rows(session, ReviewRequest.__table__, ("excel_row", "member_account", "new_value", "reason"), requests, shared)
    if not result.documents:
        return
    query = select(ReviewRequest.excel_row, ReviewRequest.id).where(ReviewRequest.batch_pk == batch.id)
    numbers = {excel_row: number for excel_row, number in session.execute(query)}
    file_scans = [document for document in result.documents if not document.member_account]
    own_scans: dict[str, list[Document]] = defaultdict(list)
    for document in result.documents:
        if document.member_account:
            own_scans[document.member_account.upper()].append(document)
    scans = ((numbers[row.excel_row], document) for row in waiting for document in [*file_scans, *own_scans.get(str(row.values.get(key, "")).upper(), [])])
    documents.link_all(session, scans, submitted_at)
