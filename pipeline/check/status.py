"""The file status policy: what a file's issues make of it, and of the good rows of a bad file."""

from __future__ import annotations

from pipeline.model import BatchResult, BatchStatus, RowStatus
from pipeline.rules import RULES


def keeps_valid_rows(kind: str | None, accept_valid_rows: bool) -> bool:
    """Whether a file of ``kind`` with bad rows may keep its good ones: the configuration says so
    (``row_errors: accept_valid``) and the kind is not all or nothing (``WHOLE_FILE``, e.g. 汇缴)."""
    return accept_valid_rows and not getattr(RULES.get(kind or ""), "WHOLE_FILE", False)


def decide(result: BatchResult, accept_valid_rows: bool) -> None:
    """The batch status from its issues, and what becomes of the good rows of a bad file."""
    if any(not issue.code.is_counter for issue in result.file_issues) or not result.rows:
        result.status = BatchStatus.REJECTED
    elif result.has_status(RowStatus.REJECTED):
        if keeps_valid_rows(result.kind, accept_valid_rows) and result.has_status(RowStatus.ACCEPTED, RowStatus.PENDING_REVIEW):
            result.status = BatchStatus.PARTIALLY_ACCEPTED
            return
        result.status = BatchStatus.REJECTED
    else:
        result.status = BatchStatus.ACCEPTED
        return
    for row in result.rows:
        if row.status in (RowStatus.ACCEPTED, RowStatus.PENDING_REVIEW):
            row.status = RowStatus.NOT_APPLIED
