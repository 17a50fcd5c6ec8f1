"""Finishing what another worker left: the part of :class:`~pipeline.run.processor.Processor` that
deals with batches stored by a worker that died, and with units another worker held.

- A batch stored but not done whose file already left the inbox (its worker died between the
  archive move and the end) is finished from the database and the archived copy: outputs rendered
  again, nothing applied twice. One whose file is still in the inbox is finished when that file
  is taken (:meth:`Recovery._recover`).
- A worker that found a unit's lock held leaves that unit's files of its pass to the holder. Before
  it ends it looks once more (:meth:`Recovery.look_again`): a holder that died has lost its lock
  (locks die with their holders, see :mod:`pipeline.intake.locks`), so the unit's interrupted
  batches and waiting files are taken in this run rather than waiting for the next night; a unit
  still held by a live worker stays with it, and the log says so.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Collection
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from pipeline.config import CentreConfig, Home
from pipeline.errors import ReadFailure
from pipeline.intake.locks import FileLocks, lock_key
from pipeline.intake.scan import Arrival
from pipeline.memory import one_file
from pipeline.model import BatchResult, Sheet
from pipeline.outputs.result_files import write_result_json
from pipeline.outputs.writer import OutputWriter
from pipeline.read.header import detect, holds_header
from pipeline.read.workbook import read_raw
from pipeline.rules.context import UnitInfo
from pipeline.run.day import placed
from pipeline.run.outcomes import FileOutcome
from pipeline.store import batches, queries
from pipeline.store.tables import Batch

log = logging.getLogger(__name__)


class Recovery(ABC):
    """Interrupted batches and units left by other workers; mixed into the processor, whose state it uses."""

    home: Home
    config: CentreConfig
    sessions: sessionmaker[Session]
    locks: FileLocks
    outputs: OutputWriter
    headers: dict[str, Any]
    _busy_units: set[str]
    _elsewhere: set[str]  # units whose lock another worker held when this one wanted it

    @abstractmethod
    def take(self, arrival: Arrival) -> FileOutcome | None: ...

    @abstractmethod
    def _failed(self, unit_account: str, source: str, error: Exception) -> None: ...

    def look_again(self, arrivals: list[Arrival]) -> list[FileOutcome]:
        """The units another worker held during the pass, once more: what it left is taken if it is gone.

        ``arrivals`` are the pass's files; a unit's interrupted batches come before its waiting
        files, which keep their arrival order. Units that failed in this run stay held back.
        """
        held, self._elsewhere = set(self._elsewhere), set()
        self._busy_units -= held
        outcomes = self.recover_stored(held) if held else []
        for arrival in arrivals:
            if arrival.unit_account in held and (outcome := self.take(arrival)) is not None:
                outcomes.append(outcome)
        for unit_account in sorted(self._elsewhere):
            log.info("unit %s is still held by another worker: its files are left to it", unit_account)
        return outcomes

    def recover_stored(self, units: Collection[str] | None = None) -> list[FileOutcome]:
        """Batches stored by a worker that died before finishing, whose file already left the inbox
        (of ``units`` only, when given)."""
        query = select(Batch.batch_id, Batch.unit_account, Batch.source_name).where(Batch.stage == "stored")
        if units is not None:
            query = query.where(Batch.unit_account.in_(sorted(units)))
        with self.sessions() as session:
            stale = session.execute(query.order_by(Batch.id)).all()
        outcomes = []
        for batch_id, unit_account, source_name in stale:
            if (self.home.inbox / unit_account / source_name).exists() or unit_account in self._busy_units:
                continue
            key = lock_key(unit_account)
            if not self.locks.acquire(key):
                self._elsewhere.add(unit_account)
                continue
            try:
                with one_file():
                    outcome = self._finish_stored(batch_id, unit_account, source_name)
                if outcome is not None:
                    outcomes.append(outcome)
            except Exception as exc:
                self._failed(unit_account, source_name, exc)
            finally:
                self.locks.release(key)
        return outcomes

    def _finish_stored(self, batch_id: str, unit_account: str, source_name: str) -> FileOutcome | None:
        with self.sessions() as session, session.begin():
            batch = session.scalars(select(Batch).where(Batch.batch_id == batch_id)).one()
            if batch.stage == "done":
                return None
            unit = queries.unit_info(session, unit_account)
            archived = placed(self.home, unit_account, f"{batch_id}_{source_name}")
            result, sheet = self._recover(session, batch, unit, archived)
            outputs = self._quarantine_result(result) if unit is None else self.outputs.write(result, sheet)
            result.forget_clean_values()
            batch.stage = "done"
        log.info("finished interrupted batch %s (%s)", batch_id, result.status)
        return FileOutcome(source_name, unit_account, result, outputs, archived or Path(), stored_totals=batch.totals)

    def _recover(self, session: Session, batch: Batch, unit: UnitInfo | None, source: Path | None) -> tuple[BatchResult, Sheet | None]:
        """A stored batch whose outputs may be missing: render again from the database, apply nothing."""
        result = batches.load_result(session, batch, unit)
        sheet = None
        if result.kind is not None and source is not None:
            try:
                sheet = detect(read_raw(source, self.config.limits, holds_header(self.headers)), self.headers).sheet
            except ReadFailure:
                sheet = None
        return result, sheet

    def _quarantine_result(self, result: BatchResult) -> Path:
        """A file from an unknown unit folder: no outbox to write to, the result sits beside it."""
        folder = self.home.quarantine / result.unit_account
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{result.batch_id}_result.json"
        write_result_json(result, path)
        return path
