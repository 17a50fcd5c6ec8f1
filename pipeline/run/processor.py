"""One run over the inbox: intake → read → schema → rules → store → render, file by file.

Each file is one database transaction for its business effects. Outputs are put in place after
the commit (a big batch's are written by other processes while its rows are stored, into a hidden
folder that is removed if the commit fails; the scans of a zip drop's review requests go to
``var/documents`` before it) and the file is moved to ``archive/`` last, so a run
killed at any point is finished by the next one — or by another worker of the same night, before
that one ends (:mod:`pipeline.run.recovery`): a file still in the inbox whose batch is already
stored is not applied again, its outputs are rendered and it is archived.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Callable, Iterable
from datetime import date, datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session

from pipeline.check.file import check_file
from pipeline.check.status import decide
from pipeline.config import CentreConfig, Home
from pipeline.errors import Code, HelperFailed, Issue
from pipeline.intake.archive import move_to, quarantine_unsafe
from pipeline.intake.arrivals import REGISTER_NAME
from pipeline.intake.locks import file_locks, lock_key
from pipeline.intake.scan import Arrival, Ignored, NoAccess, scan, settled_files, sha256_of
from pipeline.logs import mask_ids
from pipeline.memory import one_file
from pipeline.model import BatchResult, BatchStatus, Sheet
from pipeline.outputs.writer import OutputWriter, PendingOutputs, needs_report
from pipeline.read.workbook import drop_early_read, finish_early_read
from pipeline.rules.context import UnitInfo
from pipeline.run.day import outcomes_of_run, write_day_summary
from pipeline.run.faults import SummaryNotWritten, database_unavailable, describe, machine_fault
from pipeline.run.outcomes import FailedFile, FileOutcome, Helpers, IgnoredFile, Reported, RunSummary
from pipeline.run.recovery import Recovery
from pipeline.store import batches, documents, events, queries
from pipeline.store.engine import session_factory
from pipeline.store.events import EventKind
from pipeline.store.tables import Batch
from schemas import TEMPLATES

log = logging.getLogger(__name__)

UNREADABLE = (Code.FILE_UNREADABLE, Code.FILE_TOO_LARGE)


class Processor(Recovery):
    """Processes the files waiting in one home's inbox; several may run at once on PostgreSQL.

    What it reports besides batches (failures, what it may not read or take) is also kept in the
    database as run events, for the day's staff summary (:mod:`pipeline.run.day`).
    """

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
        self._elsewhere: set[str] = set()
        self.failed: list[FailedFile] = []
        self.no_access: list[FailedFile] = []  # folders and files it may not read: reported, not failed
        self.ignored: list[IgnoredFile] = []
        self.database_lost: str | None = None  # why the database stopped answering: the pass stops
        self._unnoted: list[tuple[EventKind, str, str, str]] = []  # reports the database did not take yet

    def close(self) -> None:
        """Let go of the file locks and the PDF renderer (its temporary fonts)."""
        self.locks.close()
        self.outputs.close()

    def run(self, progress: Callable[[Arrival], None] | None = None, helpers: Callable[[], Helpers] | None = None) -> RunSummary:
        """One pass over the inbox: finish interrupted batches, then every complete file, in arrival order.

        ``helpers`` starts other worker processes of this run (``gjj run --workers``) once the
        interrupted batches and unsafe entries are dealt with (and what cannot be read, or sits
        in a subfolder, is reported: by this process only); their files join the summary. At the
        end the business day's staff summary is rebuilt from the database (after the helpers).
        """
        finish_early_read()  # before anything forks
        summary = RunSummary(self.run_id, self.business_date)
        for state in (self.failed, self.no_access, self.ignored, self._busy_units, self._elsewhere):
            state.clear()
        self.database_lost = None
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
            with self.sessions() as session:
                summary.helped = outcomes_of_run(session, self.home, self.run_id, skip=(o.result.batch_id for o in summary.outcomes))
            summary.outcomes.extend(summary.helped)
        try:
            summary.staff_summary = self.write_staff_summary(summary.outcomes)
        except Exception as exc:
            if not machine_fault(exc):
                raise
            raise SummaryNotWritten(f"{describe(exc, then='中心工作人员汇总未能更新，故障排除后运行 gjj summary 重新生成')}", summary) from exc
        if failures:
            raise HelperFailed(failures)
        return summary

    def write_staff_summary(self, known: Iterable[FileOutcome] = ()) -> Path:
        """The business day's staff page, rebuilt from the database; ``known``: outcomes still in memory.

        Reports the database did not take when they happened (it was down) are kept first.
        """
        unnoted, self._unnoted = self._unnoted, []
        for report in unnoted:
            self._note(*report)
        unrecorded = [Reported(unit, source, message) for kind, unit, source, message in self._unnoted if kind != EventKind.IGNORED]
        return write_day_summary(self.sessions, self.home, self.business_date, centre_name=self.config.centre_name, known=known, unrecorded=unrecorded)

    def process_waiting(self, progress: Callable[[Arrival], None] | None = None) -> list[FileOutcome]:
        """Every complete file of the inbox, in arrival order, except those of units another worker is on
        (looked at once more at the end: :meth:`~pipeline.run.recovery.Recovery.look_again`).

        A file that fails on an unexpected error (a bug, a full disk) does not stop the night: it
        is logged and listed in :attr:`failed`, stays in the inbox for the next run, and the rest
        of its unit's files wait with it (they may depend on it); other units go on.
        """
        self._busy_units.clear()
        outcomes = []
        arrivals = settled_files(self.home.inbox, self.config.settle_seconds, register=self.home.var / REGISTER_NAME)
        for arrival in arrivals:
            if self.database_lost is not None:
                break  # the next files would fail the same way: they wait for the next run
            outcome = self.take(arrival)
            if outcome is not None:
                outcomes.append(outcome)
            if progress is not None:
                progress(arrival)
        return outcomes + (self.look_again(arrivals) if self.database_lost is None else [])

    def take(self, arrival: Arrival) -> FileOutcome | None:
        """:meth:`process`, except that an unexpected error is logged and listed in :attr:`failed`
        (and the unit's later files wait), as :meth:`process_waiting` explains."""
        try:
            return self.process(arrival)
        except Exception as exc:
            self._failed(arrival.unit_account, arrival.name, exc)
            if database_unavailable(exc):
                self.database_lost = describe(exc)
            return None

    def report(self, no_access: list[NoAccess], ignored: list[Ignored]) -> None:
        """Folders and files it may not read, files it does not take: logged once, without a traceback."""
        for item in no_access:
            log.warning("%s/%s cannot be read; left where it is: %s", item.unit_account, item.name, item.reason)
            self.no_access.append(FailedFile(item.unit_account, item.name, item.reason))
            self._note(EventKind.NO_ACCESS, item.unit_account, item.name, item.reason)
        for entry in ignored:
            log.warning("%s/%s is in a subfolder: not processed, left where it is", entry.unit_account, entry.name)
            self.ignored.append(IgnoredFile(entry.unit_account, entry.name, entry.reason))
            self._note(EventKind.IGNORED, entry.unit_account, entry.name, entry.reason)

    def _failed(self, unit_account: str, source: str, error: Exception) -> None:
        log.exception("processing %s/%s failed; it stays for the next run", unit_account, source)
        failed = FailedFile(unit_account, source, mask_ids(describe(error))[:500])
        self.failed.append(failed)
        self._busy_units.add(unit_account)
        self._note(EventKind.FAILED, unit_account, source, failed.error)

    def _note(self, kind: EventKind, unit_account: str, source: str, message: str) -> None:
        """Keep a report in the database for the day's summary; if the database fails too, the log has it."""
        try:
            with self.sessions() as session, session.begin():
                events.record(
                    session, run_id=self.run_id, business_date=self.business_date, kind=kind, unit_account=unit_account, source_name=source, message=message
                )
        except SQLAlchemyError:
            log.exception("could not record that %s/%s %s; kept for the staff summary", unit_account, source, kind)
            self._unnoted.append((kind, unit_account, source, message))

    def quarantine_unsafe(self) -> list[Path]:
        """Links and stray files are moved away unread, with a note saying why."""
        moved = quarantine_unsafe(self.home.inbox, self.home.quarantine)
        for path, reason in moved:
            self._note(EventKind.QUARANTINED, path.parent.name, path.name, reason)
        return [path for path, _ in moved]

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
            # a later file is never processed before an earlier one (and look again at the end).
            self._busy_units.add(arrival.unit_account)
            self._elsewhere.add(arrival.unit_account)
            return None
        try:
            if arrival.path.is_symlink() or not arrival.path.is_file():
                return None
            with one_file():
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
            drop_early_read()  # the first file is done: what was parsed for it early is not needed any more
            self.locks.release(key)

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
                    elif earlier is not None and earlier.status != "rejected" and earlier.withdrawn_at is None:
                        result, sheet = self._duplicate(session, earlier, unit, arrival, sha256), None
                    else:  # new bytes, or bytes rejected as a whole before: nothing of them was applied
                        result, sheet, pending = self._check_and_store(session, unit, arrival, sha256, earlier)
            except BaseException:
                if pending is not None:
                    pending.discard()  # the batch was not stored: its outputs must never appear
                raise
            return self._finish(session, arrival, result, sheet, unit, pending)

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
            if result.documents:  # the scans its review requests keep, in place before the commit
                documents.keep_files(session, self.home.documents, arrival.path, batch.id, self.config.limits)
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
        checked = check_file(
            arrival.path,
            self.headers,
            self.config,
            lambda: queries.rule_context(session, self.config, unit, self.business_date),
            sha256=result.sha256,
        )
        result.kind = checked.kind
        result.header = list(TEMPLATES[checked.kind].HEADER) if checked.kind else []
        result.file_issues.extend(checked.file_issues)
        result.rows = checked.rows
        result.columns = checked.columns or None
        result.documents = list(checked.documents)
        return checked.sheet

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
        return FileOutcome(arrival.name, arrival.unit_account, result, outputs, moved, stored_totals=batch.totals)  # counted once, when stored
