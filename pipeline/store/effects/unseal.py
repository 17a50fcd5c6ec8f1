"""启封: the member is 正常 again at its new base."""

from __future__ import annotations

from sqlalchemy.orm import Session

from pipeline.model import BatchResult
from pipeline.rules.unseal import BASE, KIND
from pipeline.store.effects.members import MemberUpdate, update_members
from pipeline.store.tables import Batch


def record(session: Session, batch: Batch, result: BatchResult) -> None:
    update_members(
        session,
        batch,
        KIND,
        (
            MemberUpdate(row.values["个人账号"], {"status": "正常", "seal_reason": "", "base": row.amounts[BASE]}, row.values["变更年月"])
            for row in result.accepted_rows
        ),
    )
