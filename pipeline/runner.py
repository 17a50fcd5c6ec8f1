"""One run over the inbox: intake → read → schema → rules → store → render, file by file.

Each file is one database transaction for its business effects. Outputs are put in place after
the commit (a big batch's are written by other processes while its rows are stored, into a hidden
folder that is removed if the commit fails) and the file is moved to ``archive/`` last, so a run
killed at any point is finished by the next one: a file still in the inbox whose batch is already
stored is not applied again, its outputs are rendered and it is archived.
"""

from __future__ import annotations

import functools
import json
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import NamedTuple, Protocol

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from pipeline import store
from pipeline.config import CentreConfig
from pipeline.db import Batch, session_factory
from pipeline.detect import detect
from pipeline.claims import file_locks, lock_key
from pipeline.intake import Arrival, move_into, move_to, scan, settled_files, sha256_of
from pipeline.issues import Code, Issue
from pipeline.logs import mask_ids
from pipeline.model import BatchResult, BatchStatus, RowResult, RowStatus, Sheet
from pipeline.read import ReadFailure, read_raw, thaw_gc
from pipeline.render import OutputWriter, PendingOutputs, needs_report, write_result_json
from pipeline.rules import RULES
from pipeline.summary import write_run_summary
from pipeline.rules.context import RuleContext, UnitInfo
from pipeline.validate import Columns, validate
from schemas import TEMPLATES

log = logging.getLogger(__name__)

UNREADABLE = (Code.FILE_UNREADABLE, Code.FILE_TOO_LARGE)


@dataclass(frozen=True)
class Home:
    """The folders of one installation (``GJJ_HOME``)."""

    root: Path

    @property
    def inbox(self) -> Path:
        return self.root / "inbox"

    @property
    def outbox(self) -> Path:
        return self.root / "outbox"

    @property
    def archive(self) -> Path:
        return self.root / "archive"

    @property
    def quarantine(self) -> Path:
        return self.root / "quarantine"

    @property
    def var(self) -> Path:
        return self.root / "var"

    def create(self) -> None:
        for folder in (self.inbox, self.outbox, self.archive, self.quarantine, self.var):
            folder.mkdir(parents=True, exist_ok=True)


@dataclass
class FileOutcome:
    source: str
    unit_account: str
    result: BatchResult
    outputs: Path
    moved_to: Path


@dataclass(frozen=True)
class FailedFile:
    """A file whose processing stopped on an unexpected error: nothing of it was applied (or its
    batch is stored and only its outputs are missing); it stays in the inbox for the next run."""

    unit_account: str
    source: str
    error: str

    def to_dict(self) -> dict[str, str]:
        return {"unit": self.unit_account, "source_file": self.source, "error": self.error}


@dataclass
class RunSummary:
    run_id: str
    business_date: date
    outcomes: list[FileOutcome] = field(default_factory=list)
    quarantined: list[Path] = field(default_factory=list)
    staff_summary: Path | None = None
    helped: list[FileOutcome] = field(default_factory=list)
    failed: list[FailedFile] = field(default_factory=list)

    def count(self, status: BatchStatus) -> int:
        return sum(1 for outcome in self.outcomes if outcome.result.status is status)


class Helpers(Protocol):
    """Worker processes helping with one run (see :mod:`pipeline.workers`)."""

    def wait(self) -> list[str]:
        """Wait until every helper has finished its pass; a description of each that failed."""


class HelperFailed(RuntimeError):
    """A helper process of the run failed; what it committed is in the run's summary all the same."""

    def __init__(self, failures: list[str]):
        super().__init__("; ".join(failures))
        self.failures = failures


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


class CheckedFile(NamedTuple):
    """What :func:`check_file` found: the template kind, the sheet, file-level issues, the rows with
    their issues and the rows' values by column (empty when no row was checked)."""

    kind: str | None
    sheet: Sheet | None
    file_issues: list[Issue]
    rows: list[RowResult]
    columns: Columns


def check_file(
    path: Path, kind_headers: dict[str, tuple[str, ...]], config: CentreConfig, context_loader: Callable[[], RuleContext]
) -> CheckedFile:
    """Read, detect, validate and apply rules to one file; nothing is written here."""
    try:
        raw = read_raw(path, config.limits)
    except ReadFailure as failure:
        return CheckedFile(None, None, [failure.issue], [], {})
    detected = detect(raw, kind_headers)
    if detected.kind is None or detected.sheet is None or detected.issues:
        return CheckedFile(detected.kind, detected.sheet, detected.issues, [], {})
    template, rules = TEMPLATES[detected.kind], RULES[detected.kind]
    context = functools.cache(context_loader)  # one context, made when first needed
    prepare, screen = getattr(rules, "prepare", None), getattr(rules, "screen", None)
    excel_rows = detected.sheet.excel_rows

    def meanwhile(columns: Columns) -> None:
        if prepare is not None:
            prepare(context())
        if screen is not None:
            context().screened = screen(columns, excel_rows, context())

    rows, file_issues, columns = validate(detected.sheet, template, config, meanwhile=meanwhile if prepare or screen else None)
    if rows and not file_issues:
        clean = [row for row in rows if not row.issues]
        file_issues = rules.apply(clean, context())
        for row in rows:
            if row.issues and row.errors:
                row.status = RowStatus.REJECTED
    return CheckedFile(detected.kind, detected.sheet, file_issues, rows, columns)


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

    def close(self) -> None:
        self.locks.close()

    def run(self, progress: Callable[[Arrival], None] | None = None, helpers: Callable[[], Helpers] | None = None) -> RunSummary:
        """One pass over the inbox: finish interrupted batches, then every complete file, oldest first.

        ``helpers`` starts other worker processes of this run (``gjj run --workers``) once the
        interrupted batches and unsafe entries are dealt with; their files join the summary.
        """
        summary = RunSummary(self.run_id, self.business_date)
        self.failed.clear()
        summary.outcomes.extend(self.recover_stored())
        summary.quarantined.extend(self.quarantine_unsafe())
        started = helpers() if helpers is not None else None
        try:
            summary.outcomes.extend(self.process_waiting(progress))
        finally:
            failures = started.wait() if started is not None else []
        summary.failed = list(self.failed)
        if started is not None:
            summary.helped = self.outcomes_of_others(summary)
            summary.outcomes.extend(summary.helped)
        summary.staff_summary = write_run_summary(summary, self.home.outbox, centre_name=self.config.centre_name)
        if failures:
            raise HelperFailed(failures)
        return summary

    def process_waiting(self, progress: Callable[[Arrival], None] | None = None) -> list[FileOutcome]:
        """Every complete file of the inbox, oldest first, except those of units another worker is on.

        A file that fails on an unexpected error (a bug, a full disk) does not stop the night: it
        is logged and listed in :attr:`failed`, stays in the inbox for the next run, and the rest
        of its unit's files wait with it (they may depend on it); other units go on.
        """
        self._busy_units.clear()
        outcomes = []
        for arrival in settled_files(self.home.inbox, self.config.settle_seconds):
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
                unit = store.unit_info(session, batch.unit_account)
                result = store.load_result(session, batch, unit)
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
        moved = []
        for entry in scan(self.home.inbox)[1]:
            target = move_into(entry.path, self.home.quarantine / entry.unit_account)
            note = {"source_file": entry.path.name, "unit": entry.unit_account, "code": str(Code.FILE_UNREADABLE), "message": entry.reason}
            target.with_name(target.name + ".reason.json").write_text(json.dumps(note, ensure_ascii=False, indent=2), encoding="utf-8")
            log.warning("quarantined %s/%s: %s", entry.unit_account, entry.path.name, entry.reason)
            moved.append(target)
        return moved

    def process(self, arrival: Arrival) -> FileOutcome | None:
        """Process one file unless another worker is on its unit or it is already gone."""
        if arrival.unit_account in self._busy_units:
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
                # Another worker committed the same bytes under another name a moment ago:
                # this file is now a duplicate of that batch.
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
                    unit = store.unit_info(session, arrival.unit_account)
                    earlier = store.processed_batch(session, arrival.unit_account, sha256)
                    if earlier is not None and earlier.stage != "done" and earlier.source_name == arrival.name:
                        result, sheet = self._recover(session, earlier, unit, arrival.path)
                    elif earlier is not None:
                        result, sheet = self._duplicate(session, earlier, unit, arrival, sha256), None
                    else:
                        result, sheet, pending = self._check_and_store(session, unit, arrival, sha256)
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
            unit = store.unit_info(session, unit_account)
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
        self, session: Session, unit: UnitInfo | None, arrival: Arrival, sha256: str
    ) -> tuple[BatchResult, Sheet | None, PendingOutputs | None]:
        """Check the file and store the batch; a big batch's outputs are started before it is stored."""
        batch = store.new_batch(
            session, run_id=self.run_id, unit_account=arrival.unit_account, source_name=arrival.name, sha256=sha256, business_date=self.business_date
        )
        result = self._base_result(batch, unit, arrival, sha256)
        pending = None
        # A big file's PDF process warms up on the idle core while this one reads and checks it.
        pdfs = self.outputs.warm_pdfs(arrival.path) if unit is not None and unit.is_active else None
        try:
            sheet = self._check(session, unit, arrival, result)
            decide(result, self.config.accept_valid_rows)
            store.number(session, result, self.config.serial_channel)
            if not needs_report(result):
                sheet = None  # only the rejection report shows the unit's own sheet: free it before rendering
            if unit is not None and self.outputs.writes_aside(result):
                # Written while the rows are stored; put in place only once the batch is committed.
                pending, pdfs = self.outputs.start(result, sheet, pdfs), None
        finally:
            if pdfs is not None:
                pdfs.cancel()
        try:
            store.record(session, batch, result)
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
            lambda: store.rule_context(session, self.config, unit, self.business_date),
        )
        result.kind = kind
        result.header = list(TEMPLATES[kind].HEADER) if kind else []
        result.file_issues.extend(file_issues)
        result.rows = rows
        result.columns = columns or None
        return sheet

    def _duplicate(self, session: Session, earlier: Batch, unit: UnitInfo | None, arrival: Arrival, sha256: str) -> BatchResult:
        batch = store.new_batch(
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
        store.record(session, batch, result)
        return result

    def _recover(self, session: Session, batch: Batch, unit: UnitInfo | None, source: Path | None) -> tuple[BatchResult, Sheet | None]:
        """A stored batch whose outputs may be missing: render again from the database, apply nothing."""
        result = store.load_result(session, batch, unit)
        sheet = None
        if result.kind is not None and source is not None:
            try:
                sheet = detect(read_raw(source, self.config.limits), self.headers).sheet
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
