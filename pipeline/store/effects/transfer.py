"""单位调整: the sealed member moves into the submitting unit (still sealed)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from pipeline.model import BatchResult
from pipeline.rules.transfer import KIND
from pipeline.store.effects.members import MemberUpdate, update_members
from pipeline.store.tables import Batch


def record(session: Session, batch: Batch, result: BatchResult) -> None:
    update_members(
        session,
        batch,
        KIND,
        (MemberUpdate(row.values["个人账号"], {"unit_account": result.unit_account}) for row in result.accepted_rows),
    )
