"""The staff summary of a business day is built from the database (issue #23, point 9), and a worker
looks once more at the units another worker held (point 8).

The PostgreSQL test with two ``gjj run`` processes, one of them killed, is in ``tests/test_workers.py``.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import shutil
import threading
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.intake.locks import LocalLocks, lock_key
from pipeline.intake.scan import FOLDER_NO_ACCESS, IN_SUBFOLDER, Arrival, NoAccess
from pipeline.model import BatchStatus
from pipeline.run.day import LOCK_NAME
from pipeline.store.tables import Batch, RunEvent
from tests.conftest import BUSINESS_DATE, Centre
from tests.factories import aged, backpay_file, row_for
from tests.test_intake import _next_tick
from tests.test_summary import _drop_files

runner = CliRunner()


def _day_page(centre: Centre) -> Path:
    return centre.app.home.outbox / "_centre" / "days" / BUSINESS_DATE.isoformat() / "summary.html"


def _data(page: Path) -> dict[str, Any]:
    return json.loads(page.with_name("summary.json").read_text(encoding="utf-8"))


def _gjj_summary(centre: Centre, *args: str) -> Any:
    env = {"GJJ_HOME": str(centre.app.home.root), "GJJ_DB": centre.app.engine.url.render_as_string(hide_password=False), "COLUMNS": "300"}
    return runner.invoke(app, ["summary", *args], env=env)


def test_gjj_summary_rebuilds_the_day_from_the_database_alone(sqlite_centre: Centre) -> None:
    """Delete the pages: ``gjj summary`` writes the same page again, every batch read back from the database."""
    _drop_files(sqlite_centre)
    summary = sqlite_centre.run()
    page = _day_page(sqlite_centre)
    assert summary.staff_summary == page
    written = _data(page)
    shutil.rmtree(sqlite_centre.app.home.outbox / "_centre")

    done = _gjj_summary(sqlite_centre, "--business-date", BUSINESS_DATE.isoformat())

    assert done.exit_code == 0, done.output
    assert str(page) in done.output and page.is_file()
    rebuilt = _data(page)
    assert len(rebuilt["files"]) == len(summary.outcomes) == 9
    assert {key: value for key, value in rebuilt.items() if key != "generated_at"} == {
        key: value for key, value in written.items() if key != "generated_at"
    }
    assert len(rebuilt["referrals"]) == 2 and rebuilt["totals"]["accepted_backpay"] == "2213.00"  # rows read back where shown
    index = (sqlite_centre.app.home.outbox / "_centre" / "index.html").read_text(encoding="utf-8")
    assert f"days/{BUSINESS_DATE.isoformat()}/summary.html" in index


def test_a_day_without_files_has_a_page_and_a_bad_date_is_refused(sqlite_centre: Centre) -> None:
    done = _gjj_summary(sqlite_centre, "--business-date", "2024-08-06")
    assert done.exit_code == 0, done.output
    data = _data(sqlite_centre.app.home.outbox / "_centre" / "days" / "2024-08-06" / "summary.html")
    assert data["files"] == [] and data["runs"] == [] and data["totals"]["files"] == 0
    refused = _gjj_summary(sqlite_centre, "--business-date", "2024-13-01")
    assert refused.exit_code == 2 and "业务日期「2024-13-01」无效" in refused.output


def test_what_two_runs_reported_is_listed_once_with_how_often(sqlite_centre: Centre) -> None:
    """A file failing in two runs, a folder that cannot be read and a file in a subfolder, each reported
    by two runs: two events each in the database, one line each on the page."""
    failing, nested, closed = (sqlite_centre.unit(index).unit_account for index in range(3))
    home = sqlite_centre.app.home
    home.outbox.mkdir(parents=True, exist_ok=True)
    (home.outbox / failing).write_text("", encoding="utf-8")  # its outputs cannot be written: an unexpected error
    backpay_file(home.inbox / failing, [row_for(sqlite_centre.members_of(0)[0])])
    backpay_file(home.inbox / nested / "2024", [row_for(sqlite_centre.members_of(1)[0])])
    backpay_file(home.inbox / nested, [row_for(sqlite_centre.members_of(1)[1])], name="直接.xlsx")
    unreadable = NoAccess(home.inbox / closed, closed, FOLDER_NO_ACCESS.format(why="没有读取权限"), folder=True)  # as the scan reports it

    runs = []
    for _ in range(2):
        processor = sqlite_centre.app.processor(BUSINESS_DATE)
        try:
            processor.report([unreadable], [])
            runs.append(processor.run())
        finally:
            processor.close()

    assert [[item.source for item in run.failed] for run in runs] == [["补缴.xlsx"], ["补缴.xlsx"]]
    with sqlite_centre.app.sessions() as session:
        kinds = dict(session.execute(select(RunEvent.kind, func.count()).group_by(RunEvent.kind)).all())
        stored = session.scalars(select(Batch).where(Batch.unit_account == failing)).one()
    assert kinds == {"failed": 2, "no_access": 2, "ignored": 2}
    data = _data(runs[1].staff_summary)
    assert [(item["unit"], item["source_file"], item["times"]) for item in data["failed"]] == [(closed, "", 2), (failing, "补缴.xlsx", 2)]
    assert data["failed"][1]["error"].startswith("FileExistsError") and data["failed"][1]["last_seen"]
    assert [(item["unit"], item["source_file"], item["reason"], item["times"]) for item in data["ignored"]] == [(nested, "2024/补缴.xlsx", IN_SUBFOLDER, 2)]
    assert data["runs"] == sorted(run.run_id for run in runs)
    # the failing file's batch was stored before its outputs failed: listed as stored, not finished
    assert [(item["batch_id"], item["status"]) for item in data["unfinished"]] == [(stored.batch_id, "accepted")] and stored.stage == "stored"
    assert [item["source_file"] for item in data["files"]] == ["直接.xlsx"]
    html = runs[1].staff_summary.read_text(encoding="utf-8")
    assert html.count("2024/补缴.xlsx") == 1 and 'id="unfinished"' in html


def test_a_summary_waits_for_the_one_being_written(sqlite_centre: Centre) -> None:
    """Two processes finishing at once take turns, so the one that builds last reads both runs' batches."""
    backpay_file(sqlite_centre.inbox / sqlite_centre.unit().unit_account, [row_for(sqlite_centre.members_of(0)[0])])
    sqlite_centre.run()
    page = _day_page(sqlite_centre)
    page.unlink()
    lock = os.open(page.parent.parent.parent / LOCK_NAME, os.O_RDWR)
    fcntl.flock(lock, fcntl.LOCK_EX)  # another process is building the page
    writer = threading.Thread(target=sqlite_centre.app.write_summary, args=(BUSINESS_DATE,))
    try:
        writer.start()
        writer.join(0.5)
        assert writer.is_alive() and not page.exists()  # it waits
    finally:
        os.close(lock)
    writer.join(30)
    assert not writer.is_alive() and len(_data(page)["files"]) == 1


def _files(centre: Centre, index: int, names: list[str]) -> list[Path]:
    """One-row back-pay files of unit ``index``, in this arrival order."""
    paths = []
    for number, name in enumerate(names):
        member = centre.members_of(index)[number]
        paths.append(aged(backpay_file(centre.inbox / centre.unit(index).unit_account, [row_for(member)], name=name)))
        _next_tick(paths[-1])
    return paths


def test_a_unit_another_worker_held_is_taken_at_the_end_once_that_worker_is_gone(sqlite_centre: Centre, caplog: pytest.LogCaptureFixture) -> None:
    """SQLite's unit locks are file locks: held here by another holder, one let go during the pass (as
    a killed worker's are), one kept (a live worker). The first unit's files are taken at the end, in
    their order; the second unit's are left to their holder, and the log says so once."""
    gone, alive, free = (sqlite_centre.unit(index).unit_account for index in range(3))
    _files(sqlite_centre, 0, ["先.xlsx", "后.xlsx"])
    _files(sqlite_centre, 1, ["留.xlsx"])
    _files(sqlite_centre, 2, ["自由.xlsx"])
    other = LocalLocks(sqlite_centre.app.home.var / "locks")  # another worker
    assert other.acquire(lock_key(gone)) and other.acquire(lock_key(alive))
    seen: list[str] = []

    def progress(arrival: Arrival) -> None:
        seen.append(arrival.name)
        if arrival.unit_account == gone:
            other.release(lock_key(gone))  # the other worker dies once this one has found the unit taken

    processor = sqlite_centre.app.processor(BUSINESS_DATE)
    caplog.set_level(logging.INFO, logger="pipeline.run.recovery")
    try:
        outcomes = processor.process_waiting(progress)
    finally:
        processor.close()
        other.close()

    assert seen == ["先.xlsx", "后.xlsx", "留.xlsx", "自由.xlsx"]  # the pass, in arrival order
    assert [(outcome.unit_account, outcome.source) for outcome in outcomes] == [(free, "自由.xlsx"), (gone, "先.xlsx"), (gone, "后.xlsx")]
    assert {outcome.result.status for outcome in outcomes} == {BatchStatus.ACCEPTED}
    assert [path.name for path in (sqlite_centre.inbox / alive).iterdir()] == ["留.xlsx"]
    assert not list((sqlite_centre.inbox / gone).iterdir())
    said = [record.getMessage() for record in caplog.records if "still held by another worker" in record.getMessage()]
    assert said == [f"unit {alive} is still held by another worker: its files are left to it"]
