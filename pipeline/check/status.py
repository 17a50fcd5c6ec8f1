"""The file status policy: what a file's issues make of it, and of the good rows of a bad file."""

from __future__ import annotations

from pipeline.model import BatchResult, BatchStatus, RowStatus


def decide(result: BatchResult, accept_valid_rows: bool) -> None:
    """The batch status from its issues, and what becomes of the good rows of a bad file."""
    if any(not issue.code.is_counter for issue in result.file_issues) or not result.rows:
        result.status = BatchStatus.REJECTED
    elif result.has_status(RowStatus.REJECTED):
        if accept_valid_rows and result.has_accepted_rows():
            result.status = BatchStatus.PARTIALLY_ACCEPTED
            return
        result.status = BatchStatus.REJECTED
    else:
        result.status = BatchStatus.ACCEPTED
        return
    for row in result.rows:
        if row.status is RowStatus.ACCEPTED:
            row.status = RowStatus.NOT_APPLIED
