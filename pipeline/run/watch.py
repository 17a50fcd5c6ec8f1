"""``gjj watch``: keep processing the inbox as files arrive.

watchdog's events are only a hint that something changed. The periodic full rescan is the
authority: watchdog's inotify observer sees nothing on CIFS/NFS shares, drops events in bursts and
fires ``created`` before a copy has finished, and an observer thread can die silently. So:

- every ``rescan_seconds`` the inbox is scanned in full, whatever the observer said;
- an event only wakes the loop early;
- the observer is checked on every turn and started again if it died;
- a file is taken only when the :class:`~pipeline.intake.scan.Settler` says it is complete (and
  not open for writing), a unit's files in the order they arrived: the Settler remembers when it
  first saw each, whatever the file's modification time says;
- a folder or file that cannot be read is reported like a failed file (its unit is held back the
  same way); a file in a unit folder's subfolder is reported once, and never taken;
- a file that fails on an unexpected error does not stop the watcher: its unit is held back
  (its later files wait with it) and tried again after a delay that doubles at each failure;
- batches a killed worker stored but did not finish are finished on the first turn;
- a turn that did something rewrites the business day's staff summary from the database;
- a database that is down or locked (PostgreSQL restarted, SQLite held by another writer) ends
  the turn: the file in hand stays in the inbox, and the next rescan tries again;
- SIGINT/SIGTERM stop the loop after the file being processed is finished.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

from pipeline.intake.scan import Ignored, Settler, scan
from pipeline.run.faults import database_unavailable, describe
from pipeline.run.outcomes import FailedFile, FileOutcome, RunSummary
from pipeline.run.processor import Processor

log = logging.getLogger(__name__)

#: The longest a unit whose file keeps failing waits between tries (the first wait is one rescan).
RETRY_MAX_SECONDS = 3600.0


class ObserverLike(Protocol):
    def schedule(self, handler: Any, path: str, recursive: bool = ...) -> Any: ...

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def join(self, timeout: float | None = ...) -> None: ...

    def is_alive(self) -> bool: ...


class _Wake(FileSystemEventHandler):
    def __init__(self, wake: threading.Event):
        self.wake = wake

    def on_any_event(self, event: FileSystemEvent) -> None:
        self.wake.set()


@dataclass
class WatchStats:
    turns: int = 0
    observer_restarts: int = 0
    outcomes: list[FileOutcome] = field(default_factory=list)


class Watcher:
    """Runs turns of (rescan → settle → process) until stopped."""

    def __init__(
        self,
        processor_factory: Callable[[], Processor],
        inbox: Path,
        settle_seconds: float,
        rescan_seconds: float = 30.0,
        observer_factory: Callable[[], ObserverLike] = Observer,
        on_run: Callable[[RunSummary], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        register: Path | None = None,
        on_fault: Callable[[str], None] | None = None,
    ):
        self.processor_factory = processor_factory
        self.inbox = inbox
        self.settler = Settler(settle_seconds, register=register)  # register: when each waiting file was first seen
        self.rescan_seconds = rescan_seconds
        self.poll_seconds = min(rescan_seconds, max(settle_seconds / 2, 0.2))
        self.observer_factory = observer_factory
        self.on_run = on_run
        self.on_fault = on_fault  # told, in Chinese, why a turn ended early (the database is unavailable)
        self.stop_event = threading.Event()
        self.wake = threading.Event()
        self.stats = WatchStats()
        self.clock = clock
        self._observer: ObserverLike | None = None
        self._recovered = False
        self._held: dict[str, tuple[int, float]] = {}  # unit → (failures in a row, when to try again)
        self._ignored: set[Path] = set()  # files in subfolders already reported

    def stop(self, *_: object) -> None:
        self.stop_event.set()
        self.wake.set()

    def install_signal_handlers(self) -> None:
        signal.signal(signal.SIGINT, self.stop)
        signal.signal(signal.SIGTERM, self.stop)

    def _ensure_observer(self) -> None:
        if self._observer is not None and self._observer.is_alive():
            return
        if self._observer is not None:
            log.warning("file observer died; starting a new one")
            self.stats.observer_restarts += 1
        try:
            observer = self.observer_factory()
            observer.schedule(_Wake(self.wake), str(self.inbox), recursive=True)
            observer.start()
            self._observer = observer
        except OSError as exc:  # e.g. inotify limits: the rescan still finds everything
            log.warning("file observer unavailable (%s); relying on rescans", exc)
            self._observer = None

    def turn(self) -> RunSummary | None:
        """One rescan: process every complete file; a run summary when something was processed or failed.

        A database that is down or locked ends the turn, not the watcher: the next rescan tries again.
        """
        self.stats.turns += 1
        try:
            return self._turn()
        except Exception as exc:
            if not database_unavailable(exc):
                raise
            message = describe(exc, then=f"{self.rescan_seconds:g} 秒后重试")
            log.warning("database unavailable; trying again at the next rescan: %s", message)
            if self.on_fault is not None:
                self.on_fault(message)
            return None

    def _turn(self) -> RunSummary | None:
        found = scan(self.inbox)
        ready = [arrival for arrival in self.settler.ready(found.arrivals) if not self._held_back(arrival.unit_account)]
        no_access = [item for item in found.no_access if not self._held_back(item.unit_account)]
        ignored = self._new_ignored(found.ignored)
        if not ready and not found.unsafe and not no_access and not ignored and self._recovered:
            return None
        processor = self.processor_factory()
        summary = RunSummary(processor.run_id, processor.business_date)
        try:
            if not self._recovered:
                summary.outcomes.extend(processor.recover_stored())
                self._recovered = True
            summary.quarantined.extend(processor.quarantine_unsafe())
            processor.report(no_access, ignored)
            for arrival in ready:
                if self.stop_event.is_set() or processor.database_lost is not None:
                    break
                outcome = processor.take(arrival)
                self.settler.forget(arrival)
                if outcome is not None:
                    summary.outcomes.append(outcome)
            summary.failed, summary.ignored = [*processor.no_access, *processor.failed], list(processor.ignored)
        finally:
            processor.close()
        self.stats.outcomes.extend(summary.outcomes)
        self._hold_back(summary.failed, summary.outcomes)
        if summary.outcomes or summary.quarantined or summary.failed or summary.ignored:
            summary.staff_summary = processor.write_staff_summary(summary.outcomes)
            if self.on_run is not None:
                self.on_run(summary)
        return summary

    def _new_ignored(self, ignored: list[Ignored]) -> list[Ignored]:
        """Files in subfolders not reported yet: each is reported once while it stays."""
        new = [entry for entry in ignored if entry.path not in self._ignored]
        self._ignored = {entry.path for entry in ignored}
        return new

    def _held_back(self, unit_account: str) -> bool:
        held = self._held.get(unit_account)
        return held is not None and self.clock() < held[1]

    def _hold_back(self, failed: list[FailedFile], outcomes: list[FileOutcome]) -> None:
        """A unit with a failed file waits one rescan, then twice as long at each new failure."""
        failing = {item.unit_account for item in failed}
        for outcome in outcomes:
            if outcome.unit_account not in failing:
                self._held.pop(outcome.unit_account, None)
        for item in failed:
            failures = self._held.get(item.unit_account, (0, 0.0))[0] + 1
            delay = min(self.rescan_seconds * 2 ** (failures - 1), RETRY_MAX_SECONDS)
            self._held[item.unit_account] = (failures, self.clock() + delay)
            log.warning("%s/%s failed (%d in a row); the unit's files are tried again in %.0f s", item.unit_account, item.source, failures, delay)

    def run(self, max_turns: int | None = None) -> WatchStats:
        """Watch until stopped (or for ``max_turns`` turns, for tests)."""
        self.inbox.mkdir(parents=True, exist_ok=True)
        waited = self.rescan_seconds
        try:
            while not self.stop_event.is_set():
                self._ensure_observer()
                if waited >= self.rescan_seconds or self.wake.is_set():
                    self.wake.clear()
                    waited = 0.0
                    self.turn()
                    if max_turns is not None and self.stats.turns >= max_turns:
                        break
                self.wake.wait(self.poll_seconds)
                waited += self.poll_seconds
                if self.settler.pending:
                    waited = self.rescan_seconds
        finally:
            if self._observer is not None:
                self._observer.stop()
                self._observer.join(timeout=5)
        return self.stats
