"""What an accepted file changes, one module per template kind: each has ``KIND`` and
``record(session, batch, result)``, which writes the accepted rows' effects in the file's
transaction once the batch has its serial number.

A module may also have ``assign(session, result)``, which gives out numbers the outputs show (the
new 个人账号 of a 缴存人登记) in the same transaction, before the outputs start: a big batch's
outputs are written while its rows are stored.

A module may also have ``restore(session, batch, result)``, which puts back on a result rebuilt
from the database (:func:`pipeline.store.batches.load_result`) what the module keeps beside the
rows (汇缴: the 核定 of each month and the members who left), so every output renders again.

A row waiting for review (the centre's policy) changes nothing: :mod:`~pipeline.store.effects.waiting`
queues it, and on approval :mod:`pipeline.services.review` calls the same ``record`` with a result
holding that row alone (:func:`apply_rows`).

The rules (:mod:`pipeline.rules`) decide; these modules only write what was decided.
"""

from __future__ import annotations

from types import ModuleType

from sqlalchemy.orm import Session

from pipeline.model import BatchResult
from pipeline.store.effects import backpay, base_adjust, member_change, registration, remit, seal, transfer, unseal, waiting
from pipeline.store.tables import Batch

EFFECTS: dict[str, ModuleType] = {module.KIND: module for module in (backpay, base_adjust, seal, unseal, transfer, registration, remit, member_change)}


def assign(session: Session, result: BatchResult) -> None:
    """Numbers the accepted rows get before their outputs are written (see the module's docstring)."""
    effect = EFFECTS[result.kind] if result.kind else None
    if effect is not None and result.serial_number and hasattr(effect, "assign"):
        effect.assign(session, result)


def record(session: Session, batch: Batch, result: BatchResult) -> None:
    """Write what the accepted rows of a numbered batch change; its rows waiting for review become
    review requests (:mod:`~pipeline.store.effects.waiting`; 缴存人信息变更 queues its own)."""
    if result.kind and result.serial_number:
        EFFECTS[result.kind].record(session, batch, result)
        if result.kind != member_change.KIND:
            waiting.record(session, batch, result)


def restore(session: Session, batch: Batch, result: BatchResult) -> None:
    """Put back what a kind keeps beside the rows on a result rebuilt from the database (see the module's docstring)."""
    effect = EFFECTS.get(result.kind or "")
    if effect is not None and hasattr(effect, "restore"):
        effect.restore(session, batch, result)


def apply_rows(session: Session, batch: Batch, result: BatchResult) -> None:
    """Write the effect of ``result``'s accepted rows (approved rows rebuilt from a stored batch):
    their numbers first (a 缴存人登记's new 个人账号), then the kind's ``record``, as for a new file."""
    assign(session, result)
    if result.kind and result.serial_number:
        EFFECTS[result.kind].record(session, batch, result)
