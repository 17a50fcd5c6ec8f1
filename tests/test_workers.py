"""Two workers on one PostgreSQL database and one inbox never process a file twice; when one is
killed, the other finishes its units in the same run, and the day's staff summary has both."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

from sqlalchemy import func, select, text

from pipeline.intake.locks import lock_key, lock_number
from pipeline.services.fakes import fake_master_data, write_table
from pipeline.store.tables import BackPayRecord, Batch
from schemas import backpay
from tests.conftest import Centre, PostgresServer, make_centre, wait_until
from tests.factories import aged, backpay_file, row_for
from tests.test_crash import _home_config
from tests.test_intake import _next_tick

FILES = 200


def _night(home: Path, db_url: str, files: int) -> Centre:
    """A home with master data and ``files`` one-row back-pay files, oldest first, none conflicting."""
    centre = make_centre(home, db_url)
    _home_config(home)
    _, members = fake_master_data(unit_count=3, members_per_unit=10)
    for index in range(files):
        member = members[index % len(members)]
        month = 1 + index // len(members)
        row = row_for(member, 1, start=f"2024-{month:02d}", end=f"2024-{month:02d}", amount=str(50 + index))
        aged(backpay_file(home / "inbox" / member.unit_account, [row], name=f"w{index:03d}.xlsx"), 3600 - index)
    return centre


def test_two_workers_share_the_inbox_without_double_processing(tmp_path: Path, postgres_server: PostgresServer) -> None:
    db_url = postgres_server.new_database()
    home = tmp_path / "home"
    centre = _night(home, db_url, FILES)
    gjj = Path(sys.executable).parent / "gjj"
    environment = {**os.environ, "GJJ_HOME": str(home), "GJJ_DB": db_url}
    command = [str(gjj), "run", "--business-date", "2024-08-05", "--json"]

    workers = [subprocess.Popen(command, env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) for _ in range(2)]
    errors = [worker.communicate(timeout=900)[1] for worker in workers]

    assert [worker.returncode for worker in workers] == [0, 0], [e.decode("utf-8", "replace")[-1500:] for e in errors]
    with centre.app.sessions() as session:
        batches = session.scalars(select(Batch)).all()
        records = session.scalars(select(BackPayRecord)).all()
    centre.app.close()
    assert len(batches) == FILES
    assert Counter(b.sha256 for b in batches).most_common(1)[0][1] == 1
    assert {b.status for b in batches} == {"accepted"} and {b.stage for b in batches} == {"done"}
    assert len({b.run_id for b in batches}) == 2  # both workers really took files
    assert len(records) == FILES
    assert sorted(int(b.serial_number.split("_")[1]) for b in batches) == list(range(1, FILES + 1))
    assert [p for p in (home / "inbox").rglob("*") if p.is_file()] == []


def test_gjj_run_with_two_workers_processes_everything_once_and_summarises_it_all(tmp_path: Path) -> None:
    db_url = f"sqlite:///{tmp_path / 'gjj.db'}"
    home = tmp_path / "home"
    files = 100
    centre = _night(home, db_url, files)
    gjj = Path(sys.executable).parent / "gjj"
    environment = {**os.environ, "GJJ_HOME": str(home), "GJJ_DB": db_url}

    done = subprocess.run(
        [str(gjj), "run", "--business-date", "2024-08-05", "--workers", "2", "--json"], env=environment, capture_output=True, timeout=900
    )

    assert done.returncode == 0, done.stderr.decode("utf-8", "replace")[-1500:]
    report = json.loads(done.stdout)
    assert report["workers"] == 2 and 0 < report["helped"] < files  # both processes took files
    assert sorted(entry["source_file"] for entry in report["files"]) == sorted(f"w{index:03d}.xlsx" for index in range(files))
    staff = json.loads((Path(report["staff_summary"]).with_suffix(".json")).read_text(encoding="utf-8"))
    assert len(staff["files"]) == files
    with centre.app.sessions() as session:
        batches = session.scalars(select(Batch)).all()
    centre.app.close()
    assert len(batches) == files and {b.status for b in batches} == {"accepted"} and len({b.run_id for b in batches}) == 1
    assert [p for p in (home / "inbox").rglob("*") if p.is_file()] == []


#: Rows of the file a worker is killed on: enough to hold its unit for a while (and each row is an
#: error, so the file is rejected as a whole and takes no serial number: the worker, stopped inside
#: the file's transaction, holds no row another worker's serial numbers wait for).
HELD_ROWS = 3000


def _unit_lock_held(centre: Centre, unit_account: str) -> bool:
    """Whether some session holds the unit's advisory lock (read from pg_locks, never taken)."""
    key = lock_number(lock_key(unit_account)) & 0xFFFFFFFFFFFFFFFF
    query = text(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 1"
        " AND classid::bigint = :high AND objid::bigint = :low"
    )
    with centre.app.engine.connect() as connection:
        return connection.execute(query, {"high": key >> 32, "low": key & 0xFFFFFFFF}).scalar_one() > 0


def _batches(centre: Centre, *, not_of_run: str = "") -> int:
    with centre.app.sessions() as session:
        return session.scalar(select(func.count()).select_from(Batch).where(Batch.stage == "done", Batch.run_id != not_of_run)) or 0


def test_a_killed_workers_unit_is_finished_by_the_other_in_the_same_run_and_the_day_lists_both(
    tmp_path: Path, postgres_server: PostgresServer
) -> None:
    """Issue #23's must-show. Worker A takes a few files, then unit U's big file; while it holds U it is
    stopped, and worker B starts: B finds U taken and leaves U's files. Once B has finished a file of
    its own, A is killed (SIGKILL) with B far from done. B's run ends with U's files done: archived,
    outputs written, serial numbers gap-free, nothing applied twice. ``gjj summary`` for the day then
    lists every batch of both workers once, and what each reported: a link each quarantined, a file in
    a subfolder both saw (one line, reported twice)."""
    db_url = postgres_server.new_database()
    home = tmp_path / "home"
    centre = make_centre(home, db_url)
    _home_config(home)
    held, first, second = (centre.unit(index).unit_account for index in range(3))
    others = [member for member in centre.members if member.unit_account != held]
    inbox = home / "inbox"

    def arrived(path: Path) -> Path:
        _next_tick(aged(path))  # the next file arrives after this one
        return path

    def small(index: int) -> Path:
        member = others[index % len(others)]
        month = f"2024-{1 + index // len(others):02d}"
        return arrived(backpay_file(inbox / member.unit_account, [row_for(member, 1, start=month, end=month, amount=str(100 + index))], name=f"w{index:02d}.xlsx"))

    for index in range(4):
        small(index)  # A's, before it reaches U
    bad = [row_for(centre.members_of(0)[index % 10], index + 1, amount="abc") for index in range(HELD_ROWS)]
    big = arrived(write_table(inbox / held / "big.csv", backpay.HEADER, bad))
    for index in (1, 2):
        arrived(backpay_file(inbox / held, [row_for(centre.members_of(0)[index], 1)], name=f"u{index}.xlsx"))
    for index in range(4, 24):
        small(index)
    backpay_file(inbox / second / "sub", [row_for(others[0], 1)], name="nested.xlsx")  # both report it
    os.symlink(big, inbox / first / "a_link.xlsx")  # quarantined by A
    gjj = Path(sys.executable).parent / "gjj"
    environment = {**os.environ, "GJJ_HOME": str(home), "GJJ_DB": db_url}
    command = [str(gjj), "run", "--business-date", "2024-08-05", "--json"]

    a = subprocess.Popen(command, env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    b = None
    try:
        wait_until(lambda: _unit_lock_held(centre, held), "worker A to hold unit U", timeout=60)
        os.killpg(a.pid, signal.SIGSTOP)  # A holds U for as long as it is stopped
        assert _unit_lock_held(centre, held), "A let U go before it was stopped"
        (a_run,) = {batch.run_id for batch in _all_batches(centre)}  # A finished its first files, none of U's
        os.symlink(big, inbox / second / "b_link.xlsx")  # quarantined by B
        with (tmp_path / "b.err").open("wb") as errors:
            b = subprocess.Popen(command, env=environment, stdout=subprocess.PIPE, stderr=errors, start_new_session=True)
        wait_until(lambda: _batches(centre, not_of_run=a_run) >= 1, "worker B to finish a file of its own", timeout=60)
        os.killpg(a.pid, signal.SIGKILL)
        a.wait(timeout=30)
        waiting = [path for path in (inbox / first, inbox / second) for path in path.glob("w*.xlsx")]
        assert len(waiting) >= 10, "B was nearly done when A was killed"
        out, _ = b.communicate(timeout=300)
    finally:
        for process in (a, b):
            if process is not None and process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()

    assert b.returncode == 0, (tmp_path / "b.err").read_text(encoding="utf-8", errors="replace")[-2000:]
    report = json.loads(out)
    took = {(entry["unit"], entry["source_file"]): entry["status"] for entry in report["files"]}
    assert {key: status for key, status in took.items() if key[0] == held} == {
        (held, "big.csv"): "rejected", (held, "u1.xlsx"): "accepted", (held, "u2.xlsx"): "accepted"
    }  # B finished A's unit in the same run …
    assert [entry["source_file"] for entry in report["files"]][-3:] == ["big.csv", "u1.xlsx", "u2.xlsx"]  # … at its second look
    batches = _all_batches(centre)
    assert len(batches) == 27 and Counter(b.sha256 for b in batches).most_common(1)[0][1] == 1
    assert {batch.stage for batch in batches} == {"done"} and {batch.run_id for batch in batches} == {a_run, report["run_id"]}
    assert sorted(int(b.serial_number.split("_")[1]) for b in batches if b.serial_number) == list(range(1, 27))
    with centre.app.sessions() as session:
        records = session.scalars(select(BackPayRecord)).all()
    assert len(records) == 26 and Counter((r.member_account, r.start_month) for r in records).most_common(1)[0][1] == 1
    for batch in batches:
        assert (home / "outbox" / batch.unit_account / batch.batch_id / "result.json").is_file()
        assert (home / "archive" / batch.unit_account / f"{batch.batch_id}_{batch.source_name}").is_file()
    assert [p.relative_to(inbox).as_posix() for p in inbox.rglob("*") if p.is_file()] == [f"{second}/sub/nested.xlsx"]

    summary = subprocess.run([str(gjj), "summary", "--business-date", "2024-08-05"], env=environment, capture_output=True, text=True, timeout=300)

    assert summary.returncode == 0, summary.stderr[-2000:]
    staff = json.loads((home / "outbox" / "_centre" / "days" / "2024-08-05" / "summary.json").read_text(encoding="utf-8"))
    centre.app.close()
    assert sorted(entry["batch_id"] for entry in staff["files"]) == sorted(batch.batch_id for batch in batches)
    assert staff["runs"] == sorted({a_run, report["run_id"]}) and staff["unfinished"] == []
    assert sorted(entry["name"].split("_", 1)[1] for entry in staff["quarantined"]) == ["a_link.xlsx", "b_link.xlsx"]
    assert [(item["unit"], item["source_file"], item["times"]) for item in staff["ignored"]] == [(second, "sub/nested.xlsx", 2)]
    assert staff["failed"] == []


def _all_batches(centre: Centre) -> list[Batch]:
    with centre.app.sessions() as session:
        return list(session.scalars(select(Batch).order_by(Batch.id)))
