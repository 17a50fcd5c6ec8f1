"""Faults other than a killed process (issue #21, README "Faults"), each with real machinery: a full
tmpfs or a read-only bind mount over the outbox or the archive, another SQLite writer holding the
lock, a PostgreSQL server stopped and started again, folders and files that go away mid-run.

Every test ends the same way: the fault is gone, a second run finishes the work, and nothing is
lost (every file has its batch, its outputs and its archived copy; the inbox is empty) and nothing
is applied twice (one batch per file, each back-pay row recorded once).
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy

from pipeline.app import App
from pipeline.intake.scan import Arrival
from pipeline.model import BatchStatus
from pipeline.run.faults import DATABASE_LOCKED, DATABASE_LOST, DISK_ERRORS, SummaryNotWritten
from pipeline.run.outcomes import RunSummary
from pipeline.run.processor import Processor
from pipeline.run.watch import Watcher
from pipeline.store.engine import make_engine
from tests.ci_skips import skip_even_in_ci
from tests.conftest import BUSINESS_DATE, Centre, PostgresServer, _pg_bin, make_centre, wait_until
from tests.factories import aged, backpay_file, row_for

REPO = Path(__file__).resolve().parent.parent
MOUNT_NEEDS = "mounting needs root with CAP_SYS_ADMIN (a container may not allow it)"


def _mount(*args: str) -> None:
    if os.geteuid() != 0 or shutil.which("mount") is None:
        skip_even_in_ci(f"cannot mount here: {MOUNT_NEEDS}")
    done = subprocess.run(["mount", *args], capture_output=True, text=True)
    if done.returncode != 0:
        skip_even_in_ci(f"mount {' '.join(args)} refused ({done.stderr.strip()}): {MOUNT_NEEDS}")


def _umount(folder: Path) -> None:
    subprocess.run(["umount", str(folder)], check=True, capture_output=True)


@contextmanager
def full_disk(folder: Path) -> Iterator[Path]:
    """A 64 kB tmpfs over ``folder``, filled to the last byte: every write there fails with ENOSPC."""
    folder.mkdir(parents=True, exist_ok=True)
    _mount("-t", "tmpfs", "-o", "size=64k", "gjj-full", str(folder))
    try:
        descriptor = os.open(folder / ".filler", os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            while os.write(descriptor, b"\0" * 4096):
                pass
        except OSError:
            pass  # full
        finally:
            os.close(descriptor)
        with pytest.raises(OSError):
            (folder / ".probe").write_bytes(b"\0" * 8192)
        (folder / ".probe").unlink()
        yield folder
    finally:
        _umount(folder)


@contextmanager
def read_only(folder: Path) -> Iterator[Path]:
    """``folder`` bind-mounted read-only over itself: every write there fails with EROFS, root's too."""
    folder.mkdir(parents=True, exist_ok=True)
    _mount("--bind", str(folder), str(folder))
    try:
        _mount("-o", "remount,ro,bind", str(folder))
        with pytest.raises(OSError):
            (folder / ".probe").write_bytes(b"x")
        yield folder
    finally:
        _umount(folder)


def night(centre: Centre) -> dict[str, Path]:
    """Two back-pay files of unit 0 (先 before 后) and one of unit 1, all complete."""
    unit0, unit1 = (centre.inbox / centre.unit(index).unit_account for index in (0, 1))
    member0, member1 = centre.members_of(0)[0], centre.members_of(1)[0]
    return {
        "先": aged(backpay_file(unit0, [row_for(member0, start="2024-03", end="2024-05")], name="先.xlsx"), 7200),
        "后": aged(backpay_file(unit0, [row_for(member0, start="2024-06", end="2024-06")], name="后.xlsx"), 3600),
        "other": aged(backpay_file(unit1, [row_for(member1)], name="补缴.xlsx"), 5400),
    }


def visible(folder: Path) -> list[str]:
    """What a unit sees in its outbox folder (hidden names are the processor's own)."""
    return sorted(path.name for path in folder.iterdir() if not path.name.startswith(".")) if folder.exists() else []


def stages(centre: Centre) -> dict[str, str]:
    with centre.app.engine.connect() as connection:
        return dict(connection.execute(sqlalchemy.text("SELECT source_name, stage FROM batches")).all())


def assert_all_done(centre: Centre, files: dict[str, Path]) -> None:
    """Nothing lost, nothing twice: a done batch per file with its outputs and archived copy, an empty inbox."""
    counts = centre.table_counts()
    assert counts["batches"] == len(files)
    assert counts["backpay_records"] == len(files)  # one row in each file, recorded once
    assert set(stages(centre).values()) == {"done"}
    assert not [path for path in centre.inbox.rglob("*") if path.is_file()]
    for path in files.values():
        unit = path.parent.name
        folders = visible(centre.app.home.outbox / unit)
        assert all({"result.json", "slip.pdf"} <= set(visible(centre.app.home.outbox / unit / name)) for name in folders)
        assert [archived.name.endswith(path.name) for archived in (centre.app.home.archive / unit).iterdir()].count(True) == 1
    assert len(visible(centre.app.home.outbox / files["先"].parent.name)) == 2


@pytest.mark.parametrize("fault", ["full", "read-only"])
def test_an_outbox_that_cannot_be_written_keeps_the_batch_and_the_next_run_writes_its_outputs(centre: Centre, fault: str) -> None:
    files = night(centre)
    unit0 = centre.unit(0).unit_account
    outbox = centre.app.home.outbox / unit0
    broken = full_disk(outbox) if fault == "full" else read_only(outbox)

    with broken:
        summary = centre.run()
        assert visible(outbox) == []  # no batch folder, whole or half: the staging folder went with the failure
        assert not list(outbox.glob(".*.tmp-*"))

    assert [outcome.source for outcome in summary.outcomes] == ["补缴.xlsx"]  # the other unit went on
    assert [(item.unit_account, item.source) for item in summary.failed] == [(unit0, "先.xlsx")]
    what = DISK_ERRORS[28] if fault == "full" else DISK_ERRORS[30]  # ENOSPC, EROFS
    assert summary.failed[0].error.startswith(what) and "下次运行重试" in summary.failed[0].error
    assert stages(centre) == {"先.xlsx": "stored", "补缴.xlsx": "done"}  # 先 is recorded; 后 waits for it
    assert centre.table_counts()["backpay_records"] == 2  # 先 and the other unit's
    assert sorted(path.name for path in files["先"].parent.iterdir()) == ["先.xlsx", "后.xlsx"]
    staff = json.loads(summary.staff_summary.with_suffix(".json").read_text(encoding="utf-8"))
    assert [entry["source_file"] for entry in staff["unfinished"]] == ["先.xlsx"]
    assert staff["failed"][0]["error"].startswith(what)
    page = summary.staff_summary.read_text(encoding="utf-8")
    assert "已入库、未完成" in page and what in page

    again = centre.run()
    assert {outcome.source: outcome.result.status for outcome in again.outcomes} == {"先.xlsx": BatchStatus.ACCEPTED, "后.xlsx": BatchStatus.ACCEPTED}
    assert again.failed == []
    assert_all_done(centre, files)


def test_an_archive_that_cannot_be_written_leaves_the_file_for_the_next_run(sqlite_centre: Centre) -> None:
    centre = sqlite_centre
    files = night(centre)
    unit0 = centre.unit(0).unit_account
    archive = centre.app.home.archive / unit0

    with read_only(archive):
        summary = centre.run()
        assert list(archive.iterdir()) == []

    assert [(item.unit_account, item.source) for item in summary.failed] == [(unit0, "先.xlsx")]
    assert summary.failed[0].error.startswith(DISK_ERRORS[30])
    assert stages(centre)["先.xlsx"] == "stored"
    assert files["先"].exists() and files["后"].exists()

    again = centre.run()
    assert {outcome.source for outcome in again.outcomes} == {"先.xlsx", "后.xlsx"}
    assert_all_done(centre, files)


def test_a_full_archive_on_another_file_system_leaves_no_partial_copy(sqlite_centre: Centre) -> None:
    centre = sqlite_centre
    files = night(centre)
    unit0 = centre.unit(0).unit_account
    archive = centre.app.home.archive / unit0

    with full_disk(archive):  # a rename cannot cross file systems: the file is copied, and the copy fails
        summary = centre.run()
        assert [path.name for path in archive.iterdir() if path.name != ".filler"] == []

    assert [(item.unit_account, item.source) for item in summary.failed] == [(unit0, "先.xlsx")]
    assert summary.failed[0].error.startswith(DISK_ERRORS[28])
    assert files["先"].exists()
    assert centre.run().failed == []
    assert_all_done(centre, files)


def test_a_full_staff_summary_folder_ends_the_run_with_a_message_and_gjj_summary_writes_it_later(sqlite_centre: Centre) -> None:
    centre = sqlite_centre
    files = night(centre)
    centre_folder = centre.app.home.outbox / "_centre"

    with full_disk(centre_folder):
        with pytest.raises(SummaryNotWritten) as stopped:
            centre.run()
        assert not list(centre_folder.rglob("*.html"))  # written atomically: no half page either

    assert str(stopped.value).startswith(DISK_ERRORS[28]) and "gjj summary" in str(stopped.value)
    assert len(stopped.value.summary.outcomes) == 3 and stopped.value.summary.failed == []
    assert_all_done(centre, files)  # the files themselves are done
    page = centre.app.write_summary(BUSINESS_DATE)
    staff = json.loads(page.with_suffix(".json").read_text(encoding="utf-8"))
    assert staff["totals"]["files"] == 3


def test_a_sqlite_database_locked_by_another_writer_fails_the_file_cleanly_and_the_next_run_takes_it(sqlite_centre: Centre) -> None:
    centre = sqlite_centre
    files = night(centre)
    impatient = App(centre.app.home, centre.app.config, make_engine(str(centre.app.engine.url), busy_seconds=0.5))
    other_writer = sqlite3.connect(centre.app.engine.url.database, isolation_level=None)
    other_writer.execute("BEGIN IMMEDIATE")  # holds the write lock, as a long `gjj load` would
    try:
        summary = impatient.run(BUSINESS_DATE)
    finally:
        other_writer.execute("ROLLBACK")
        other_writer.close()

    assert summary.outcomes == []
    assert [(item.unit_account, item.source) for item in summary.failed] == [(centre.unit(0).unit_account, "先.xlsx")]  # the pass stopped there
    assert summary.failed[0].error.startswith(DATABASE_LOCKED) and "下次运行重试" in summary.failed[0].error
    assert centre.table_counts()["batches"] == 0
    assert all(path.exists() for path in files.values())
    staff = json.loads(summary.staff_summary.with_suffix(".json").read_text(encoding="utf-8"))
    assert [entry["source_file"] for entry in staff["failed"]] == ["先.xlsx"]  # kept in memory: the database refused it
    impatient.close()

    again = centre.run()
    assert {outcome.source for outcome in again.outcomes} == {"先.xlsx", "后.xlsx", "补缴.xlsx"}
    assert again.failed == []
    assert_all_done(centre, files)


def test_folders_and_files_that_go_away_during_a_run_crash_nothing_and_lose_nothing(sqlite_centre: Centre, tmp_path: Path) -> None:
    centre = sqlite_centre
    files = night(centre)
    unit2 = centre.inbox / centre.unit(2).unit_account
    files["third"] = aged(backpay_file(unit2, [row_for(centre.members_of(2)[0])], name="补缴.xlsx"), 1800)
    unit1 = files["other"].parent
    renamed, aside = unit1.with_name(unit1.name + "-改名"), tmp_path / "aside"
    aside.mkdir()

    def meanwhile(arrival: Arrival) -> None:
        """After the first file, with the scan done: a unit folder renamed, one removed, a file gone."""
        if arrival.name == "先.xlsx":
            unit1.rename(renamed)
            shutil.move(unit2, aside / unit2.name)
            files["后"].rename(aside / "后.xlsx")

    processor = centre.app.processor(BUSINESS_DATE)
    try:
        summary = processor.run(progress=meanwhile)
    finally:
        processor.close()

    assert [outcome.source for outcome in summary.outcomes] == ["先.xlsx"]
    assert summary.failed == []  # what went away was not there to fail
    assert stages(centre) == {"先.xlsx": "done"}

    renamed.rename(unit1)
    shutil.move(aside / unit2.name, unit2)
    (aside / "后.xlsx").rename(files["后"])
    again = centre.run()
    assert {(outcome.unit_account, outcome.source) for outcome in again.outcomes} == {
        (path.parent.name, path.name) for name, path in files.items() if name != "先"
    }
    assert again.failed == []
    counts = centre.table_counts()
    assert counts["batches"] == 4 and counts["backpay_records"] == 4
    assert set(stages(centre).values()) == {"done"}
    assert not [path for path in centre.inbox.rglob("*") if path.is_file()]


# --- PostgreSQL stopped and started again: a server of this module's own, not the session's -------


@pytest.fixture(scope="module")
def own_postgres() -> Iterator[PostgresServer]:
    bin_dir = _pg_bin()
    if bin_dir is None:
        pytest.skip("PostgreSQL binaries (initdb) not installed")
    server = PostgresServer(bin_dir)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def pg_centre(tmp_path: Path, own_postgres: PostgresServer) -> Iterator[Centre]:
    centre = make_centre(tmp_path / "home", own_postgres.new_database())
    yield centre
    centre.app.close()


def test_postgresql_stopped_mid_night_fails_the_file_in_hand_and_stops_the_run(pg_centre: Centre, own_postgres: PostgresServer) -> None:
    centre = pg_centre
    files = night(centre)

    def meanwhile(arrival: Arrival) -> None:
        if arrival.name == "先.xlsx":
            own_postgres.pause()

    processor = centre.app.processor(BUSINESS_DATE)
    try:
        with pytest.raises(SummaryNotWritten) as stopped:
            processor.run(progress=meanwhile)
    finally:
        processor.close()
        own_postgres.resume()

    assert str(stopped.value).startswith(DATABASE_LOST) and "中心工作人员汇总未能更新" in str(stopped.value) and "gjj summary" in str(stopped.value)
    summary = stopped.value.summary
    assert [outcome.source for outcome in summary.outcomes] == ["先.xlsx"]
    assert [(item.unit_account, item.source) for item in summary.failed] == [(centre.unit(0).unit_account, "后.xlsx")]  # then it stopped
    assert summary.failed[0].error.startswith(DATABASE_LOST)
    assert files["other"].exists() and files["后"].exists()
    assert centre.table_counts()["batches"] == 1

    again = centre.run()
    assert {outcome.source for outcome in again.outcomes} == {"后.xlsx", "补缴.xlsx"}
    assert again.failed == []
    assert_all_done(centre, files)


def test_postgresql_restarted_between_two_files_is_not_noticed(pg_centre: Centre, own_postgres: PostgresServer) -> None:
    centre = pg_centre
    files = night(centre)

    def meanwhile(arrival: Arrival) -> None:
        if arrival.name == "先.xlsx":
            own_postgres.pause()
            own_postgres.resume()

    processor = centre.app.processor(BUSINESS_DATE)
    try:
        summary = processor.run(progress=meanwhile)
    finally:
        processor.close()
    assert summary.failed == []
    assert len(summary.outcomes) == 3
    assert_all_done(centre, files)


def _waiting_on_a_lock(url: str) -> bool:
    engine = sqlalchemy.create_engine(url)
    try:
        with engine.connect() as connection:
            query = "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query ILIKE '%serial_counters%'"
            return bool(connection.execute(sqlalchemy.text(query)).scalar())
    finally:
        engine.dispose()


def test_postgresql_restarted_while_a_file_is_in_its_transaction(pg_centre: Centre, own_postgres: PostgresServer) -> None:
    centre = pg_centre
    files = night(centre)
    url = centre.app.engine.url.render_as_string(hide_password=False)
    blocker = sqlalchemy.create_engine(url).connect()
    blocker.begin()
    blocker.execute(sqlalchemy.text("LOCK TABLE serial_counters IN ACCESS EXCLUSIVE MODE"))  # the first file waits for its 业务流水号
    ended: list[object] = []
    processor = centre.app.processor(BUSINESS_DATE)
    worker = threading.Thread(target=lambda: ended.append(_run_or_error(processor)))
    worker.start()
    try:
        wait_until(lambda: _waiting_on_a_lock(url), "the first file to wait inside its transaction")
        own_postgres.pause()  # its batch row is written, its transaction is not committed
        own_postgres.resume()
    finally:
        worker.join(timeout=120)
        processor.close()
        blocker.invalidate()
        blocker.close()

    # The run stops after the file in hand; whether the server is back in time for the staff summary
    # is a race with its start-up: either way the run says what happened.
    summary = ended[0] if isinstance(ended[0], RunSummary) else ended[0].summary  # type: ignore[attr-defined]
    assert isinstance(ended[0], RunSummary | SummaryNotWritten), ended[0]
    assert summary.outcomes == []
    assert [(item.unit_account, item.source) for item in summary.failed] == [(centre.unit(0).unit_account, "先.xlsx")]
    assert summary.failed[0].error.startswith(DATABASE_LOST)
    assert centre.table_counts()["batches"] == 0  # rolled back with the connection
    if isinstance(ended[0], RunSummary):
        staff = json.loads(summary.staff_summary.with_suffix(".json").read_text(encoding="utf-8"))
        assert [entry["source_file"] for entry in staff["failed"]] == ["先.xlsx"]

    again = centre.run()
    assert {outcome.source for outcome in again.outcomes} == {"先.xlsx", "后.xlsx", "补缴.xlsx"}
    assert_all_done(centre, files)


def _run_or_error(processor: Processor) -> object:
    try:
        return processor.run()
    except Exception as exc:
        return exc


def test_gjj_watch_waits_out_a_postgresql_outage(pg_centre: Centre, own_postgres: PostgresServer) -> None:
    centre = pg_centre
    files = night(centre)
    told: list[str] = []
    watcher = Watcher(lambda: centre.app.processor(BUSINESS_DATE), centre.inbox, 0, rescan_seconds=30, on_fault=told.append)
    own_postgres.pause()
    try:
        assert watcher.turn() is None  # the turn ends, the watcher does not
        assert watcher.turn() is None
    finally:
        own_postgres.resume()
    assert len(told) == 2 and all(message.startswith(DATABASE_LOST) and "30 秒后重试" in message for message in told)
    resumed = watcher.turn()
    assert resumed is not None and {outcome.source for outcome in resumed.outcomes} == {"先.xlsx", "后.xlsx", "补缴.xlsx"}
    assert_all_done(centre, files)


def test_gjj_run_with_postgresql_down_says_so_and_leaves_the_inbox(pg_centre: Centre, own_postgres: PostgresServer) -> None:
    centre = pg_centre
    files = night(centre)
    url = centre.app.engine.url.render_as_string(hide_password=False)
    environment = {**os.environ, "GJJ_HOME": str(centre.app.home.root), "GJJ_DB": url, "PYTHONPATH": str(REPO)}
    own_postgres.pause()
    try:
        done = subprocess.run([sys.executable, "-m", "pipeline", "run", "--business-date", str(BUSINESS_DATE)], env=environment, capture_output=True, text=True, timeout=120)
    finally:
        own_postgres.resume()
    assert done.returncode == 1
    assert "无法打开数据库" in done.stderr and DATABASE_LOST in done.stderr
    assert "Traceback" not in done.stderr
    assert all(path.exists() for path in files.values())
