"""One run over the inbox: intake → read → schema → rules → store → render, file by file.

Each file is one database transaction for its business effects. Outputs are put in place after
the commit (a big batch's are written by other processes while its rows are stored, into a hidden
folder that is removed if the commit fails) and the file is moved to ``archive/`` last, so a run
killed at any point is finished by the next one: a file still in the inbox whose batch is already
stored is not applied again, its outputs are rendered and it is archived.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from pipeline.check.file import check_file
from pipeline.check.status import decide
from pipeline.config import CentreConfig, Home
from pipeline.errors import Code, HelperFailed, Issue, ReadFailure
from pipeline.intake.archive import move_to, quarantine_unsafe
from pipeline.intake.arrivals import REGISTER_NAME
from pipeline.intake.locks import file_locks, lock_key
from pipeline.intake.scan import Arrival, Ignored, NoAccess, scan, settled_files, sha256_of
from pipeline.logs import mask_ids
from pipeline.memory import thaw_gc
from pipeline.model import BatchResult, BatchStatus, Sheet
from pipeline.outputs.result_files import write_result_json
from pipeline.outputs.writer import OutputWriter, PendingOutputs, needs_report
from pipeline.read.header import detect, holds_header
from pipeline.read.workbook import read_raw
from pipeline.rules.context import UnitInfo
from pipeline.run.outcomes import FailedFile, FileOutcome, Helpers, IgnoredFile, RunSummary
from pipeline.run.summary import write_run_summary
from pipeline.store import batches, queries
from pipeline.store.engine import session_factory
from pipeline.store.tables import Batch
from schemas import TEMPLATES

log = logging.getLogger(__name__)

UNREADABLE = (Code.FILE_UNREADABLE, Code.FILE_TOO_LARGE)


class Processor:
    """Processes the files waiting in one home's inbox; several may run at once on PostgreSQL."""

    def __init__(self, home: Home, config: CentreConfig, engine: Engine, business_date: date | None = None, run_id: str | None = None):
        self.home = home
        self.config = config
        self.sessions = session_factory(engine)
        self.business_date = business_date or date.today()
        self.run_id = run_id or f"{datetime.now():%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:6]}"
        self.outputs = OutputWriter(home.outbox, config)
        self.headers = {kind: module.HEADER for kind, module in TEMPLATES.items()}
        self.locks = file_locks(engine, home.var)
        self._busy_units: set[str] = set()
        self.failed: list[FailedFile] = []
        self.no_access: list[FailedFile] = []  # folders and files it may not read: reported, not failed
        self.ignored: list[IgnoredFile] = []

    def close(self) -> None:
        self.locks.close()

    def run(self, progress: Callable[[Arrival], None] | None = None, helpers: Callable[[], Helpers] | None = None) -> RunSummary:
        """One pass over the inbox: finish interrupted batches, then every complete file, in arrival order.

        ``helpers`` starts other worker processes of this run (``gjj run --workers``) once the
        interrupted batches and unsafe entries are dealt with (and what cannot be read, or sits
        in a subfolder, is reported: by this process only); their files join the summary.
        """
        summary = RunSummary(self.run_id, self.business_date)
        self.failed.clear()
        self.no_access.clear()
        self.ignored.clear()
        summary.outcomes.extend(self.recover_stored())
        summary.quarantined.extend(self.quarantine_unsafe())
        found = scan(self.home.inbox)
        self.report(found.no_access, found.ignored)
        started = helpers() if helpers is not None else None
        try:
            summary.outcomes.extend(self.process_waiting(progress))
        finally:
            failures = started.wait() if started is not None else []
        summary.failed, summary.ignored = [*self.no_access, *self.failed], list(self.ignored)
        if started is not None:
            summary.helped = self.outcomes_of_others(summary)
            summary.outcomes.extend(summary.helped)
        summary.staff_summary = write_run_summary(summary, self.home.outbox, centre_name=self.config.centre_name)
        if failures:
            raise HelperFailed(failures)
        return summary

    def process_waiting(self, progress: Callable[[Arrival], None] | None = None) -> list[FileOutcome]:
        """Every complete file of the inbox, in arrival order, except those of units another worker is on.

        A file that fails on an unexpected error (a bug, a full disk) does not stop the night: it
        is logged and listed in :attr:`failed`, stays in the inbox for the next run, and the rest
        of its unit's files wait with it (they may depend on it); other units go on.
        """
        self._busy_units.clear()
        outcomes = []
        for arrival in settled_files(self.home.inbox, self.config.settle_seconds, register=self.home.var / REGISTER_NAME):
            outcome = self.take(arrival)
            if outcome is not None:
                outcomes.append(outcome)
            if progress is not None:
                progress(arrival)
        return outcomes

    def take(self, arrival: Arrival) -> FileOutcome | None:
        """:meth:`process`, except that an unexpected error is logged and listed in :attr:`failed`
        (and the unit's later files wait), as :meth:`process_waiting` explains."""
        try:
            return self.process(arrival)
        except Exception as exc:
            self._failed(arrival.unit_account, arrival.name, exc)
            return None

    def report(self, no_access: list[NoAccess], ignored: list[Ignored]) -> None:
        """Folders and files it may not read, files it does not take: logged once, without a traceback."""
        for item in no_access:
            log.warning("%s/%s cannot be read; left where it is: %s", item.unit_account, item.name, item.reason)
            self.no_access.append(FailedFile(item.unit_account, item.name, item.reason))
        for entry in ignored:
            log.warning("%s/%s is in a subfolder: not processed, left where it is", entry.unit_account, entry.name)
            self.ignored.append(IgnoredFile(entry.unit_account, entry.name, entry.reason))

    def _failed(self, unit_account: str, source: str, error: Exception) -> None:
        log.exception("processing %s/%s failed; it stays for the next run", unit_account, source)
        self.failed.append(FailedFile(unit_account, source, mask_ids(f"{type(error).__name__}: {error}")[:500]))
        self._busy_units.add(unit_account)

    def outcomes_of_others(self, summary: RunSummary) -> list[FileOutcome]:
        """The files other processes of this run took, rebuilt from the database."""
        own = {outcome.result.batch_id for outcome in summary.outcomes}
        outcomes = []
        with self.sessions() as session:
            query = select(Batch).where(Batch.run_id == self.run_id, Batch.stage == "done").order_by(Batch.id)
            for batch in session.scalars(query):
                if batch.batch_id in own:
                    continue
                unit = queries.unit_info(session, batch.unit_account)
                result = batches.load_result(session, batch, unit)
                result.forget_clean_values()
                moved = self._placed(batch.unit_account, f"{batch.batch_id}_{batch.source_name}")
                outputs = (
                    self.outputs.folder_for(result)
                    if unit is not None
                    else self.home.quarantine / batch.unit_account / f"{batch.batch_id}_result.json"
                )
                outcomes.append(FileOutcome(batch.source_name, batch.unit_account, result, outputs, moved or Path()))
        return outcomes

    def _placed(self, unit_account: str, name: str) -> Path | None:
        """Where a processed file went: ``archive/`` or ``quarantine/``."""
        placed = [root / unit_account / name for root in (self.home.archive, self.home.quarantine)]
        return next((path for path in placed if path.exists()), None)

    def quarantine_unsafe(self) -> list[Path]:
        """Links and stray files are moved away unread, with a note saying why."""
        return quarantine_unsafe(self.home.inbox, self.home.quarantine)

    def process(self, arrival: Arrival) -> FileOutcome | None:
        """Process one file unless another worker is on its unit or it is already gone."""
        if arrival.unit_account in self._busy_units:
            return None
        if not os.access(arrival.path, os.R_OK, effective_ids=True) and arrival.path.exists():
            self._busy_units.add(arrival.unit_account)  # reported by the scan; the unit's later files wait
            return None
        key = lock_key(arrival.unit_account)
        if not self.locks.acquire(key):
            # Another worker is on this unit: leave all of the unit's files of this pass to it, so
            # a later file is never processed before an earlier one.
            self._busy_units.add(arrival.unit_account)
            return None
        try:
            if arrival.path.is_symlink() or not arrival.path.is_file():
                return None
            try:
                return self._process(arrival)
            except IntegrityError:
                # Another worker committed a moment ago what this file would break a unique index
                # with: the same bytes under another name (this file is now a duplicate of that
                # batch), or a new member with the same 证件号码 (now ALREADY_REGISTERED). Again.
                return self._process(arrival)
        except FileNotFoundError:
            return None
        finally:
            self.locks.release(key)
            thaw_gc()

    def _process(self, arrival: Arrival) -> FileOutcome:
        sha256 = sha256_of(arrival.path)
        pending: PendingOutputs | None = None
        with self.sessions() as session:
            try:
                with session.begin():
                    unit = queries.unit_info(session, arrival.unit_account)
                    earlier = batches.processed_batch(session, arrival.unit_account, sha256)
                    if earlier is not None and earlier.stage != "done" and earlier.source_name == arrival.name:
                        result, sheet = self._recover(session, earlier, unit, arrival.path)
                    elif earlier is not None and earlier.status != "rejected":
                        result, sheet = self._duplicate(session, earlier, unit, arrival, sha256), None
                    else:  # new bytes, or bytes rejected as a whole before: nothing of them was applied
                        result, sheet, pending = self._check_and_store(session, unit, arrival, sha256, earlier)
            except BaseException:
                if pending is not None:
                    pending.discard()  # the batch was not stored: its outputs must never appear
                raise
            return self._finish(session, arrival, result, sheet, unit, pending)

    def recover_stored(self) -> list[FileOutcome]:
        """Batches stored by a worker that died before finishing, whose file already left the inbox."""
        with self.sessions() as session:
            stale = session.execute(select(Batch.batch_id, Batch.unit_account, Batch.source_name).where(Batch.stage == "stored")).all()
        outcomes = []
        for batch_id, unit_account, source_name in stale:
            if (self.home.inbox / unit_account / source_name).exists():
                continue
            key = lock_key(unit_account)
            if not self.locks.acquire(key):
                continue
            try:
                outcome = self._finish_stored(batch_id, unit_account, source_name)
                if outcome is not None:
                    outcomes.append(outcome)
            except Exception as exc:
                self._failed(unit_account, source_name, exc)
            finally:
                self.locks.release(key)
                thaw_gc()
        return outcomes

    def _finish_stored(self, batch_id: str, unit_account: str, source_name: str) -> FileOutcome | None:
        with self.sessions() as session, session.begin():
            batch = session.scalars(select(Batch).where(Batch.batch_id == batch_id)).one()
            if batch.stage == "done":
                return None
            unit = queries.unit_info(session, unit_account)
            archived = self._placed(unit_account, f"{batch_id}_{source_name}")
            result, sheet = self._recover(session, batch, unit, archived)
            outputs = self._quarantine_result(result) if unit is None else self.outputs.write(result, sheet)
            result.forget_clean_values()
            batch.stage = "done"
        log.info("finished interrupted batch %s (%s)", batch_id, result.status)
        return FileOutcome(source_name, unit_account, result, outputs, archived or Path())

    def _base_result(self, batch: Batch, unit: UnitInfo | None, arrival: Arrival, sha256: str) -> BatchResult:
        return BatchResult(
            batch_id=batch.batch_id or "",
            unit_account=arrival.unit_account,
            unit_name=unit.name if unit else "",
            kind=None,
            source_name=arrival.name,
            sha256=sha256,
            business_date=self.business_date,
            status=BatchStatus.REJECTED,
            contact_name=unit.contact_name if unit else "",
            contact_phone=unit.contact_phone if unit else "",
            processed_at=datetime.now().replace(microsecond=0),
        )

    def _check_and_store(
        self, session: Session, unit: UnitInfo | None, arrival: Arrival, sha256: str, rejected_before: Batch | None = None
    ) -> tuple[BatchResult, Sheet | None, PendingOutputs | None]:
        """Check the file and store the batch; a big batch's outputs are started before it is stored."""
        batch = batches.new_batch(
            session, run_id=self.run_id, unit_account=arrival.unit_account, source_name=arrival.name, sha256=sha256, business_date=self.business_date
        )
        result = self._base_result(batch, unit, arrival, sha256)
        result.resubmission_of = rejected_before.batch_id if rejected_before is not None else None
        pending = None
        # A big file's PDF process warms up on the idle core while this one reads and checks it.
        pdfs = self.outputs.warm_pdfs(arrival.path) if unit is not None and unit.is_active else None
        try:
            sheet = self._check(session, unit, arrival, result)
            decide(result, self.config.accept_valid_rows)
            batches.number(session, result, self.config.serial_channel)
            if not needs_report(result):
                sheet = None  # only the rejection report shows the unit's own sheet: free it before rendering
            if unit is not None and self.outputs.writes_aside(result):
                # Written while the rows are stored; put in place only once the batch is committed.
                pending, pdfs = self.outputs.start(result, sheet, pdfs), None
        finally:
            if pdfs is not None:
                pdfs.cancel()
        try:
            batches.record(session, batch, result)
        except BaseException:
            if pending is not None:
                pending.discard()
            raise
        return result, sheet, pending

    def _check(self, session: Session, unit: UnitInfo | None, arrival: Arrival, result: BatchResult) -> Sheet | None:
        """Fill ``result`` with what the file holds and its issues; the sheet as read, if it was."""
        if unit is None:
            result.file_issues.append(
                Issue(Code.UNIT_UNKNOWN, f"单位账号「{arrival.unit_account}」不存在，文件已隔离，请联系公积金中心")
            )
            return None
        if not unit.is_active:
            result.file_issues.append(
                Issue(Code.UNIT_INACTIVE, f"单位账户状态为「{unit.status}」，不能办理业务，请联系公积金中心")
            )
            return None
        kind, sheet, file_issues, rows, columns = check_file(
            arrival.path,
            self.headers,
            self.config,
            lambda: queries.rule_context(session, self.config, unit, self.business_date),
        )
        result.kind = kind
        result.header = list(TEMPLATES[kind].HEADER) if kind else []
        result.file_issues.extend(file_issues)
        result.rows = rows
        result.columns = columns or None
        return sheet

    def _duplicate(self, session: Session, earlier: Batch, unit: UnitInfo | None, arrival: Arrival, sha256: str) -> BatchResult:
        batch = batches.new_batch(
            session,
            run_id=self.run_id,
            unit_account=arrival.unit_account,
            source_name=arrival.name,
            sha256=sha256,
            business_date=self.business_date,
            status="duplicate",
        )
        result = self._base_result(batch, unit, arrival, sha256)
        result.status = BatchStatus.DUPLICATE
        result.kind = earlier.kind
        result.duplicate_of = earlier.batch_id
        result.file_issues.append(
            Issue(
                Code.DUPLICATE_FILE,
                f"与 {earlier.business_date:%Y-%m-%d} 已处理的批次 {earlier.batch_id}（文件「{earlier.source_name}」）内容完全相同，"
                "本次未做任何处理；如需更正，请修改后重新上传",
            )
        )
        batches.record(session, batch, result)
        return result

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

    def _finish(
        self,
        session: Session,
        arrival: Arrival,
        result: BatchResult,
        sheet: Sheet | None,
        unit: UnitInfo | None,
        pending: PendingOutputs | None = None,
    ) -> FileOutcome:
        unreadable = any(issue.code in UNREADABLE or issue.code is Code.UNIT_UNKNOWN for issue in result.file_issues)
        if pending is not None:
            outputs = pending.finish()
        elif unit is None:
            outputs = self._quarantine_result(result)
        else:
            outputs = self.outputs.write(result, sheet)
        result.forget_clean_values()
        root = self.home.quarantine if unreadable else self.home.archive
        moved = move_to(arrival, root, prefix=result.batch_id)
        with session.begin():
            batch = session.scalars(select(Batch).where(Batch.batch_id == result.batch_id)).one()
            batch.stage = "done"
        log.info("processed %s/%s → %s (%s)", arrival.unit_account, arrival.name, result.batch_id, result.status)
        return FileOutcome(arrival.name, arrival.unit_account, result, outputs, moved)

    def _quarantine_result(self, result: BatchResult) -> Path:
        """A file from an unknown unit folder: no outbox to write to, the result sits beside it."""
        folder = self.home.quarantine / result.unit_account
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{result.batch_id}_result.json"
        write_result_json(result, path)
        return path
