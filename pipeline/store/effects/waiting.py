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

from datetime import datetime

from sqlalchemy.orm import Session

from pipeline.model import BatchResult, RowStatus
from pipeline.policy import DEFAULT_KEY_COLUMN, REASON_COLUMNS, key_column, waiting_summary
from pipeline.store import documents
from pipeline.store.states import REVIEW_PENDING
from pipeline.store.tables import Batch, ReviewRequest


def record(session: Session, batch: Batch, result: BatchResult) -> None:
    """A review request per row of ``result`` waiting for review, with its scans and the file's."""
    kind = result.kind or ""
    waiting = [row for row in result.rows if row.status is RowStatus.PENDING_REVIEW]
    if not waiting:
        return
    submitted_at = result.processed_at or datetime.now().replace(microsecond=0)
    file_scans = [document for document in result.documents if not document.member_account]
    key, reason = key_column(kind), REASON_COLUMNS.get(kind, "")
    for row in waiting:
        request = ReviewRequest(
            batch_pk=batch.id,
            excel_row=row.excel_row,
            unit_account=result.unit_account,
            member_account=row.values.get(DEFAULT_KEY_COLUMN, ""),  # a 缴存人登记 row gets its account on approval
            item=kind,
            old_value="",
            new_value=waiting_summary(kind, row.values)[:100],
            reason=row.values.get(reason, "") if reason else "",
            state=REVIEW_PENDING,
            submitted_at=submitted_at,
        )
        session.add(request)
        session.flush()
        own = str(row.values.get(key, "")).upper()
        scans = file_scans + [document for document in result.documents if document.member_account and document.member_account.upper() == own]
        documents.link(session, request.id, scans, submitted_at)
