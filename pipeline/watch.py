"""``gjj watch``: keep processing the inbox as files arrive.

watchdog's events are only a hint that something changed. The periodic full rescan is the
authority: watchdog's inotify observer sees nothing on CIFS/NFS shares, drops events in bursts and
fires ``created`` before a copy has finished, and an observer thread can die silently. So:

- every ``rescan_seconds`` the inbox is scanned in full, whatever the observer said;
- an event only wakes the loop early;
- the observer is checked on every turn and started again if it died;
- a file is taken only when the :class:`~pipeline.intake.Settler` says it is complete;
- SIGINT/SIGTERM stop the loop after the file being processed is finished.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

from pipeline.intake import Settler, scan
from pipeline.runner import FileOutcome, Processor, RunSummary
from pipeline.summary import write_run_summary

log = logging.getLogger(__name__)


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
    ):
        self.processor_factory = processor_factory
        self.inbox = inbox
        self.settler = Settler(settle_seconds)
        self.rescan_seconds = rescan_seconds
        self.poll_seconds = min(rescan_seconds, max(settle_seconds / 2, 0.2))
        self.observer_factory = observer_factory
        self.on_run = on_run
        self.stop_event = threading.Event()
        self.wake = threading.Event()
        self.stats = WatchStats()
        self._observer: ObserverLike | None = None

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
        """One rescan: process every complete file; a run summary when something was processed."""
        self.stats.turns += 1
        arrivals, unsafe = scan(self.inbox)
        ready = self.settler.ready(arrivals)
        if not ready and not unsafe:
            return None
        processor = self.processor_factory()
        summary = RunSummary(processor.run_id, processor.business_date)
        try:
            summary.quarantined.extend(processor.quarantine_unsafe())
            for arrival in ready:
                if self.stop_event.is_set():
                    break
                outcome = processor.process(arrival)
                self.settler.forget(arrival)
                if outcome is not None:
                    summary.outcomes.append(outcome)
                    self.stats.outcomes.append(outcome)
        finally:
            processor.close()
        if summary.outcomes or summary.quarantined:
            summary.staff_summary = write_run_summary(summary, processor.home.outbox, centre_name=processor.config.centre_name)
            if self.on_run is not None:
                self.on_run(summary)
        return summary

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
