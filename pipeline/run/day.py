"""The staff summary of a business day, built from the database: every batch and every report of
that date, whichever run, worker or host made them (issue #23).

A run's memory knows only its own files: not a ``--workers`` helper's failures, not another
host's files, not the files a killed worker finished. The database has them all, so the day's page
is built from it — the batches of that business date (finished, and those a worker stored but did
not finish) and the ``run_events`` (:mod:`pipeline.store.events`) — at the end of every run and
watch turn, and by ``gjj summary``. A failure reported by several runs or workers is one line.

Two processes finishing at once must not leave a stale page: each builds and writes while holding
an exclusive ``flock`` on ``_centre/summary.lock``, and each has committed its batches before, so
the one that builds last reads what both committed.

Cost: outcomes the caller still holds (``known``) are used as they are; any other batch is read
with only its rows that have issues (its row totals are stored with it), so a day of 1,000 files
or of one 100k-row file is a few queries per batch, not its rows again.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from pipeline.config import Home
from pipeline.outputs.writer import batch_folder
from pipeline.run.outcomes import DaySummary, FileOutcome, Reported
from pipeline.run.reviews import review_day
from pipeline.run.summary import centre_folder, day_folder, write_summary
from pipeline.store import batches, events, queries
from pipeline.store.events import EventKind
from pipeline.store.tables import Batch

LOCK_NAME = "summary.lock"
SHOWN_STAGES = ("stored", "done")  # a batch still "claimed" is inside a transaction nobody else sees


def write_day_summary(
    sessions: sessionmaker[Session],
    home: Home,
    business_date: date,
    *,
    centre_name: str = "",
    known: Iterable[FileOutcome] = (),
    unrecorded: Iterable[Reported] = (),
) -> Path:
    """Rebuild the business day's page (and the index) from the database; returns the page.

    ``unrecorded``: failures the database could not take when they happened (it was locked or down).
    """
    root = centre_folder(home.outbox)
    root.mkdir(parents=True, exist_ok=True)
    with _exclusive(root / LOCK_NAME), sessions() as session:
        day = build_day(session, home, business_date, known)
        day.failed.extend(unrecorded)
        return write_summary(day, home.outbox, centre_name=centre_name)


@contextmanager
def _exclusive(path: Path) -> Iterator[None]:
    """An exclusive ``flock`` on ``path``, waited for; the kernel drops it if the process dies."""
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)


def build_day(session: Session, home: Home, business_date: date, known: Iterable[FileOutcome] = ()) -> DaySummary:
    """Every batch and every report of ``business_date``, each once; the review queue and the day's decisions."""
    by_id = {outcome.result.batch_id: outcome for outcome in known}
    day = DaySummary(business_date)
    runs: set[str] = set()
    query = select(Batch).where(Batch.business_date == business_date, Batch.stage.in_(SHOWN_STAGES)).order_by(Batch.id)
    for batch in session.scalars(query):
        runs.add(batch.run_id)
        if batch.stage == "done":
            day.outcomes.append(by_id.get(batch.batch_id or "") or rebuild(session, home, batch, summary_only=True))
        else:
            day.unfinished.append(rebuild(session, home, batch, summary_only=True))
    reported: dict[tuple[str, str, str], Reported] = {}
    for event in events.of_day(session, business_date):
        runs.add(event.run_id)
        if event.kind == EventKind.QUARANTINED:  # moved once, by one worker: never reported twice
            day.quarantined.append(home.quarantine / event.unit_account / event.source_name)
            continue
        key = (event.kind, event.unit_account, event.source_name)
        earlier = reported.get(key)
        times = earlier.times + 1 if earlier is not None else 1
        reported[key] = Reported(event.unit_account, event.source_name, event.message, times, event.happened_at)
    for (kind, _, _), item in reported.items():
        (day.ignored if kind == EventKind.IGNORED else day.failed).append(item)
    day.runs = sorted(runs)  # run ids begin with their start time
    day.reviews = review_day(session, business_date, home.outbox, day_folder(home.outbox, business_date))
    return day


def rebuild(session: Session, home: Home, batch: Batch, *, summary_only: bool = False) -> FileOutcome:
    """A stored batch's outcome, from the database and where its file and outputs are.

    ``summary_only``: only the rows with issues, what the staff summary shows, when the batch's
    row totals are stored (every batch since migration 0007).
    """
    unit = queries.unit_info(session, batch.unit_account)
    thin = summary_only and batch.totals is not None
    result = batches.load_result(session, batch, unit, rows_with_issues_only=thin)
    result.forget_clean_values()
    outputs = (
        batch_folder(home.outbox, batch.unit_account, result.batch_id)
        if unit is not None
        else home.quarantine / batch.unit_account / f"{result.batch_id}_result.json"  # a folder that is not a unit
    )
    moved = placed(home, batch.unit_account, f"{result.batch_id}_{batch.source_name}")
    return FileOutcome(batch.source_name, batch.unit_account, result, outputs, moved or Path(), stored_totals=batch.totals)


def outcomes_of_run(session: Session, home: Home, run_id: str, skip: Iterable[str] = ()) -> list[FileOutcome]:
    """The finished batches of one run (e.g. its ``--workers`` helpers'), whole, except those in ``skip``."""
    known = set(skip)
    query = select(Batch).where(Batch.run_id == run_id, Batch.stage == "done").order_by(Batch.id)
    return [rebuild(session, home, batch) for batch in session.scalars(query) if batch.batch_id not in known]


def placed(home: Home, unit_account: str, name: str) -> Path | None:
    """Where a processed file went: ``archive/`` or ``quarantine/``."""
    candidates = [root / unit_account / name for root in (home.archive, home.quarantine)]
    return next((path for path in candidates if path.exists()), None)

