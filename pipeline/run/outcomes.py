"""What a run did: each file's outcome, the files that failed, the run's summary; and a whole
business day's, as the staff summary shows it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, Protocol

from pipeline.model import BatchResult, BatchStatus, RowStatus


@dataclass
class FileOutcome:
    source: str
    unit_account: str
    result: BatchResult
    outputs: Path
    moved_to: Path
    #: The rows' totals as stored with the batch (counted once); what counts when ``result`` holds only the rows with issues.
    stored_totals: dict[str, Any] | None = None

    def totals(self) -> dict[str, Any]:
        """Rows per status and the accepted amounts, as :meth:`BatchResult.totals` gives them.

        Totals stored before a row status existed (pending_review, returned and refused came with
        issue #19) count 0 rows of it.
        """
        if self.stored_totals is None:
            return self.result.totals()
        return {str(status): 0 for status in RowStatus} | self.stored_totals


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


@dataclass
class RunSummary:
    run_id: str
    business_date: date
    outcomes: list[FileOutcome] = field(default_factory=list)
    quarantined: list[Path] = field(default_factory=list)
    staff_summary: Path | None = None  # the business day's page, every run's (pipeline.run.day)
    helped: list[FileOutcome] = field(default_factory=list)
    failed: list[FailedFile] = field(default_factory=list)
    ignored: list[IgnoredFile] = field(default_factory=list)

    def count(self, status: BatchStatus) -> int:
        return sum(1 for outcome in self.outcomes if outcome.result.status is status)


@dataclass(frozen=True)
class Reported:
    """One thing the staff were told of on a business day (a failed file, a folder or file that cannot
    be read, a file in a subfolder), once however many runs or workers reported it."""

    unit_account: str
    source: str
    message: str  # the latest report's
    times: int = 1
    last_seen: datetime | None = None


@dataclass
class DaySummary:
    """A business day as the staff summary shows it, built from the database (:mod:`pipeline.run.day`)."""

    business_date: date
    outcomes: list[FileOutcome] = field(default_factory=list)
    #: Batches stored by a worker that stopped before their outputs and archive move were done.
    unfinished: list[FileOutcome] = field(default_factory=list)
    failed: list[Reported] = field(default_factory=list)
    ignored: list[Reported] = field(default_factory=list)
    quarantined: list[Path] = field(default_factory=list)
    runs: list[str] = field(default_factory=list)
    #: The review queue and the day's decisions, as summary.json holds them (:mod:`pipeline.run.reviews`).
    reviews: dict[str, Any] = field(default_factory=dict)


class Helpers(Protocol):
    """Worker processes helping with one run (see :mod:`pipeline.run.workers`)."""

    def wait(self) -> list[str]:
        """Wait until every helper has finished its pass; a description of each that failed."""
