"""What a run did: each file's outcome, the files that failed, the run's summary."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Protocol

from pipeline.model import BatchResult, BatchStatus


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
    batch is stored and only its outputs are missing); it stays in the inbox for the next run.
    Also a file or a unit folder (``source`` empty) the processor may not read, ``error`` saying so."""

    unit_account: str
    source: str
    error: str

    def to_dict(self) -> dict[str, str]:
        return {"unit": self.unit_account, "source_file": self.source, "error": self.error}


@dataclass(frozen=True)
class IgnoredFile:
    """A file the processor does not take and leaves where it is (one in a unit folder's subfolder)."""

    unit_account: str
    source: str  # relative to the unit folder, e.g. ``sub/x.xlsx``
    reason: str

    def to_dict(self) -> dict[str, str]:
        return {"unit": self.unit_account, "source_file": self.source, "reason": self.reason}


@dataclass
class RunSummary:
    run_id: str
    business_date: date
    outcomes: list[FileOutcome] = field(default_factory=list)
    quarantined: list[Path] = field(default_factory=list)
    staff_summary: Path | None = None
    helped: list[FileOutcome] = field(default_factory=list)
    failed: list[FailedFile] = field(default_factory=list)
    ignored: list[IgnoredFile] = field(default_factory=list)

    def count(self, status: BatchStatus) -> int:
        return sum(1 for outcome in self.outcomes if outcome.result.status is status)


class Helpers(Protocol):
    """Worker processes helping with one run (see :mod:`pipeline.run.workers`)."""

    def wait(self) -> list[str]:
        """Wait until every helper has finished its pass; a description of each that failed."""
