"""基数调整: the new base takes effect."""

from __future__ import annotations

from sqlalchemy.orm import Session

from pipeline.model import BatchResult
from pipeline.rules.base_adjust import KIND, NEW_BASE, YEAR
from pipeline.store.effects.members import MemberUpdate, update_members
from pipeline.store.tables import Batch


def record(session: Session, batch: Batch, result: BatchResult) -> None:
    """The new base takes effect; the member's 最近基数调整年度 becomes this adjustment year."""
    update_members(
        session,
        batch,
        KIND,
        (
            MemberUpdate(
                row.values["个人账号"],
                {"base": row.amounts[NEW_BASE], "last_base_adjust_year": int(row.computed[YEAR])},
                f"{result.business_date:%Y-%m}",
            )
            for row in result.accepted_rows
        ),
    )
