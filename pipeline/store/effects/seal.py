"""封存: the member becomes 封存 with its reason; on 离职封存 it moves to 集中封存户."""

from __future__ import annotations

from sqlalchemy.orm import Session

from pipeline.model import BatchResult
from pipeline.rules.seal import KIND, MOVED_TO
from pipeline.store.effects.members import MemberUpdate, ensure_sealed_unit, update_members
from pipeline.store.tables import Batch


def record(session: Session, batch: Batch, result: BatchResult) -> None:
    updates = []
    for row in result.accepted_rows:
        values: dict[str, str] = {"status": "封存", "seal_reason": row.values["封存原因"]}
        if MOVED_TO in row.computed:
            values["unit_account"] = row.computed[MOVED_TO]
        updates.append(MemberUpdate(row.values["个人账号"], values, row.values["变更年月"]))
    for sealed_unit in {row.computed[MOVED_TO] for row in result.accepted_rows if MOVED_TO in row.computed}:
        ensure_sealed_unit(session, sealed_unit)
    update_members(session, batch, KIND, updates)
