"""Intake: a file is taken only when complete; the watcher's rescan is the authority."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy
import yaml
from sqlalchemy import select

from pipeline.config import DEFAULT_CONFIG
from pipeline.errors import Code, Issue
from pipeline.intake.locks import file_locks, lock_key
from pipeline.intake.scan import IN_SUBFOLDER, Arrival, Settler, scan, settled_files
from pipeline.intake.writers import open_for_writing
from pipeline.model import BatchStatus, RowResult
from pipeline.rules import backpay as backpay_rules
from pipeline.rules.context import RuleContext
from pipeline.run.outcomes import IgnoredFile
from pipeline.run.processor import FailedFile, RunSummary
from pipeline.run.watch import Watcher
from pipeline.services.fakes import FakeMember
from pipeline.store.engine import make_engine, migrate, session_factory
from pipeline.store.queries import hold_member_lock
from pipeline.store.tables import Batch, Member
from tests.conftest import BUSINESS_DATE, Centre, PostgresServer, make_centre, wait_until
from tests.factories import aged, backpay_file, identity, kind_file, row_for
from tests.run_as import gjj_as

REPO = Path(__file__).resolve().parent.parent
SETTLE = 0.5


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _arrival(path: Path) -> Arrival:
    return Arrival(path, path.parent.name)


def _next_tick(path: Path) -> None:
    """Let the clock pass the file's change time, so that a file written next has a later one.

    The kernel keeps file times at its clock tick (a few ms): files written within one tick share
    a change time. Time itself is what is waited for here."""
    later = path.lstat().st_ctime_ns + 30_000_000
    while time.time_ns() < later:
        time.sleep(0.005)


def _saved_hours_ago(path: Path, hours: float) -> Path:
    """What WinSCP's "preserve timestamp" and an Explorer copy do: the mtime is when the unit saved it."""
    then = time.time() - hours * 3600
    os.utime(path, (then, then))
    return path


def test_settler_waits_until_size_and_times_are_stable(tmp_path: Path) -> None:
    path = tmp_path / "0100001" / "a.xlsx"
    path.parent.mkdir()
    path.write_bytes(b"part")
    clock = FakeClock()
    settler = Settler(5, clock=clock, wall=lambda: path.stat().st_ctime)  # the file looks brand new

    assert settler.ready([_arrival(path)]) == []
    clock.now += 3
    with path.open("ab") as handle:
        handle.write(b" more")
    assert settler.ready([_arrival(path)]) == []
    clock.now += 4.9
    assert settler.ready([_arrival(path)]) == []
    clock.now += 0.2
    assert settler.ready([_arrival(path)]) == [_arrival(path)]


def test_a_file_is_ready_at_once_when_its_change_time_is_old_or_it_has_a_done_file(tmp_path: Path) -> None:
    copied, fresh, waiting = (tmp_path / unit / "a.xlsx" for unit in ("0100001", "0100002", "0100003"))
    for path in (copied, fresh, waiting):
        path.parent.mkdir()
        path.write_bytes(b"x")
    aged(copied)  # a copy that kept the time the unit saved it: it arrived just now all the same
    (fresh.parent / "a.xlsx.done").write_bytes(b"")
    arrivals = scan(tmp_path).arrivals

    assert Settler(60).ready(arrivals) == [_arrival(fresh)]
    a_minute_later = Settler(60, wall=lambda: time.time() + 60)  # e.g. the watcher was restarted
    assert a_minute_later.ready(arrivals) == arrivals


def test_scan_orders_by_arrival_not_by_modification_time_and_skips_temporary_names(tmp_path: Path) -> None:
    folder = tmp_path / "0100001"
    folder.mkdir()
    (folder / "b.xlsx").write_bytes(b"x")
    _next_tick(folder / "b.xlsx")
    for name in ["a.xlsx", "c.xlsx.part", "~$a.xlsx", ".x.xlsx", "d.tmp", "b.xlsx.done"]:
        (folder / name).write_bytes(b"x")
    _saved_hours_ago(folder / "a.xlsx", 2)  # arrived after b.xlsx, saved long before it

    found = scan(tmp_path)

    assert [a.name for a in found.arrivals] == ["b.xlsx", "a.xlsx"]
    assert found.unsafe == found.no_access == found.ignored == []


def test_run_waits_one_settle_period_and_leaves_a_growing_file_and_its_units_later_files(tmp_path: Path) -> None:
    folder, other = tmp_path / "0100001", tmp_path / "0100002"
    folder.mkdir()
    other.mkdir()
    steady, growing, later = folder / "steady.xlsx", folder / "growing.xlsx", folder / "later.xlsx"
    for path in (steady, growing, later, other / "other.xlsx"):
        path.write_bytes(b"x")
        _next_tick(path)

    def sleep(seconds: float) -> None:
        with growing.open("ab") as handle:
            handle.write(b"more")

    ready = settled_files(tmp_path, 0.5, sleep=sleep)

    assert [a.name for a in ready] == ["steady.xlsx", "other.xlsx"]  # later.xlsx waits for growing.xlsx


def test_done_file_is_archived_with_its_file(sqlite_centre: Centre) -> None:
    folder = sqlite_centre.inbox / sqlite_centre.unit().unit_account
    backpay_file(folder, [row_for(sqlite_centre.members_of(0)[0])])
    (folder / "补缴.xlsx.done").write_bytes(b"")

    outcome = sqlite_centre.run().outcomes[0]

    assert outcome.result.status is BatchStatus.ACCEPTED
    assert (outcome.moved_to.parent / f"{outcome.result.batch_id}_补缴.xlsx.done").exists()
    assert list(folder.iterdir()) == []


def test_a_unit_another_worker_is_on_is_left_whole_and_its_files_stay_in_order(centre: Centre) -> None:
    member = centre.members_of(0)[0]
    held = centre.inbox / centre.unit(0).unit_account
    aged(backpay_file(held, [row_for(member, start="2024-03", end="2024-05")], name="先.xlsx"), 7200)
    aged(backpay_file(held, [row_for(member, start="2024-05", end="2024-06")], name="后.xlsx"), 3600)
    aged(backpay_file(centre.inbox / centre.unit(1).unit_account, [row_for(centre.members_of(1)[0])]), 5400)
    other_worker = file_locks(centre.app.engine, centre.app.home.var)
    assert other_worker.acquire(lock_key(centre.unit(0).unit_account))

    assert [outcome.source for outcome in centre.run().outcomes] == ["补缴.xlsx"]  # only the other unit's
    assert sorted(path.name for path in held.iterdir()) == ["先.xlsx", "后.xlsx"]
    other_worker.close()

    outcomes = {outcome.source: outcome.result for outcome in centre.run().outcomes}
    assert outcomes["先.xlsx"].status is BatchStatus.ACCEPTED  # the older file first
    assert outcomes["后.xlsx"].status is BatchStatus.REJECTED
    assert [issue.code for issue in outcomes["后.xlsx"].errors] == [Code.BACKPAY_DUPLICATE]


def test_a_file_that_fails_unexpectedly_waits_with_its_unit_while_the_others_go_on(
    sqlite_centre: Centre, monkeypatch: pytest.MonkeyPatch
) -> None:
    member = sqlite_centre.members_of(0)[0]
    failing = sqlite_centre.inbox / sqlite_centre.unit(0).unit_account
    aged(backpay_file(failing, [row_for(member, start="2024-03", end="2024-05")], name="先.xlsx"), 7200)
    aged(backpay_file(failing, [row_for(member, start="2024-06", end="2024-06")], name="后.xlsx"), 3600)
    aged(backpay_file(sqlite_centre.inbox / sqlite_centre.unit(1).unit_account, [row_for(sqlite_centre.members_of(1)[0])]), 5400)
    apply = backpay_rules.apply

    def broken_for_unit_0(rows: list[RowResult], context: RuleContext) -> list[Issue]:
        if context.unit.unit_account == sqlite_centre.unit(0).unit_account:
            raise RuntimeError("规则出错")
        return apply(rows, context)

    monkeypatch.setattr(backpay_rules, "apply", broken_for_unit_0)
    before = sqlite_centre.table_counts()

    summary = sqlite_centre.run()

    assert [outcome.source for outcome in summary.outcomes] == ["补缴.xlsx"]  # the other unit went on
    assert summary.failed == [FailedFile(sqlite_centre.unit(0).unit_account, "先.xlsx", "RuntimeError: 规则出错")]
    assert sorted(path.name for path in failing.iterdir()) == ["先.xlsx", "后.xlsx"]  # 后 waits for 先
    assert sqlite_centre.table_counts()["batches"] == before["batches"] + 1
    staff = json.loads(summary.staff_summary.with_suffix(".json").read_text(encoding="utf-8"))
    assert staff["totals"]["failed"] == 1 and staff["failed"][0]["source_file"] == "先.xlsx"
    assert "处理失败" in summary.staff_summary.read_text(encoding="utf-8")
    monkeypatch.undo()

    again = {outcome.source: outcome.result.status for outcome in sqlite_centre.run().outcomes}
    assert again == {"先.xlsx": BatchStatus.ACCEPTED, "后.xlsx": BatchStatus.ACCEPTED}


def test_the_watcher_holds_a_failing_unit_back_and_tries_it_again_later(
    sqlite_centre: Centre, monkeypatch: pytest.MonkeyPatch
) -> None:
    member = sqlite_centre.members_of(0)[0]
    failing_unit = sqlite_centre.unit(0).unit_account
    aged(backpay_file(sqlite_centre.inbox / failing_unit, [row_for(member, start="2024-03", end="2024-05")], name="先.xlsx"), 7200)
    aged(backpay_file(sqlite_centre.inbox / failing_unit, [row_for(member, start="2024-06", end="2024-06")], name="后.xlsx"), 3600)
    aged(backpay_file(sqlite_centre.inbox / sqlite_centre.unit(1).unit_account, [row_for(sqlite_centre.members_of(1)[0])]), 5400)
    apply = backpay_rules.apply
    tried: list[str] = []

    def broken_for_unit_0(rows: list[RowResult], context: RuleContext) -> list[Issue]:
        if context.unit.unit_account == failing_unit:
            tried.append(rows[0].values["补缴开始年月"])
            raise RuntimeError("规则出错")
        return apply(rows, context)

    monkeypatch.setattr(backpay_rules, "apply", broken_for_unit_0)
    now = [1000.0]
    runs: list[RunSummary] = []
    watcher = Watcher(lambda: sqlite_centre.app.processor(BUSINESS_DATE), sqlite_centre.inbox, 0, rescan_seconds=30, on_run=runs.append, clock=lambda: now[0])

    first = watcher.turn()
    assert first is not None and [outcome.source for outcome in first.outcomes] == ["补缴.xlsx"]  # the other unit goes on
    assert first.failed == [FailedFile(failing_unit, "先.xlsx", "RuntimeError: 规则出错")]
    staff = json.loads(first.staff_summary.with_suffix(".json").read_text(encoding="utf-8"))
    assert staff["failed"][0]["source_file"] == "先.xlsx" and runs == [first]
    assert tried == ["2024-03"]  # 后 waited for 先

    now[0] += 29
    assert watcher.turn() is None and tried == ["2024-03"]  # held back for one rescan: not tried, nothing logged
    now[0] += 2
    assert [item.source for item in watcher.turn().failed] == ["先.xlsx"] and tried == ["2024-03"] * 2
    now[0] += 59
    assert watcher.turn() is None and len(tried) == 2  # the second failure doubled the wait
    monkeypatch.undo()
    now[0] += 2

    again = watcher.turn()
    assert [(outcome.source, outcome.result.status) for outcome in again.outcomes] == [("先.xlsx", BatchStatus.ACCEPTED), ("后.xlsx", BatchStatus.ACCEPTED)]
    assert again.failed == [] and not any((sqlite_centre.inbox / failing_unit).iterdir())


def test_member_changes_wait_for_each_other_on_postgresql(postgres_server: PostgresServer) -> None:
    engine = make_engine(postgres_server.new_database())
    migrate(engine)
    sessions = session_factory(engine)
    first, second = sessions(), sessions()
    first.begin()
    hold_member_lock(first)
    second_has_the_lock = threading.Event()

    def second_file() -> None:
        second.begin()
        hold_member_lock(second)
        second_has_the_lock.set()
        second.commit()

    waiting = threading.Thread(target=second_file)
    waiting.start()
    # PostgreSQL itself says the second session waits for the advisory lock the first holds.
    waiting_sql = sqlalchemy.text(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
        " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
    )
    with engine.connect() as observer:
        wait_until(lambda: observer.execute(waiting_sql).scalar_one() == 1, "the second session to wait for the member lock", timeout=10)
    assert not second_has_the_lock.is_set()  # the second file waits while the first holds the lock
    first.commit()
    assert second_has_the_lock.wait(timeout=10)
    waiting.join(timeout=10)
    assert not waiting.is_alive()
    first.close()
    second.close()
    engine.dispose()


class DyingObserver:
    """An observer whose thread dies after the first check, as watchdog's PollingObserver can."""

    created = 0

    def __init__(self) -> None:
        DyingObserver.created += 1
        self.checks = 0

    def schedule(self, handler, path, recursive=False):  # noqa: ANN001 - watchdog's signature
        self.handler = handler

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def join(self, timeout=None) -> None: ...  # noqa: ANN001

    def is_alive(self) -> bool:
        self.checks += 1
        return self.checks < 2


def test_watcher_restarts_a_dead_observer_and_rescans(sqlite_centre: Centre) -> None:
    DyingObserver.created = 0
    folder = sqlite_centre.inbox / sqlite_centre.unit().unit_account
    aged(backpay_file(folder, [row_for(sqlite_centre.members_of(0)[0])]))
    watcher = Watcher(lambda: sqlite_centre.app.processor(BUSINESS_DATE), sqlite_centre.inbox, 0, rescan_seconds=0.05, observer_factory=DyingObserver)

    stats = watcher.run(max_turns=4)

    assert DyingObserver.created >= 2 and stats.observer_restarts >= 1
    assert [o.result.status for o in stats.outcomes] == [BatchStatus.ACCEPTED]


def test_watcher_with_real_observer_takes_a_new_file_and_stops_gracefully(sqlite_centre: Centre) -> None:
    """The file is dropped once the watcher is watching; with a rescan only every 10 minutes, only
    the observer's event can have it taken within the 30 s waited."""
    runs: list[RunSummary] = []
    taken = threading.Event()

    def on_run(summary: RunSummary) -> None:
        runs.append(summary)
        taken.set()

    watcher = Watcher(lambda: sqlite_centre.app.processor(BUSINESS_DATE), sqlite_centre.inbox, 0.3, rescan_seconds=600, on_run=on_run)
    thread = threading.Thread(target=watcher.run)
    thread.start()
    try:
        # The first turn comes after the observer is started (watchdog adds the inotify watch in start()).
        wait_until(lambda: watcher.stats.turns >= 1, "the watcher's first turn", timeout=30)
        dropped = time.monotonic()
        backpay_file(sqlite_centre.inbox / sqlite_centre.unit().unit_account, [row_for(sqlite_centre.members_of(0)[0])])
        assert taken.wait(timeout=30), "the observer did not wake the watcher for the new file"
        assert time.monotonic() - dropped < watcher.rescan_seconds
    finally:
        watcher.stop()
        thread.join(timeout=30)

    assert not thread.is_alive()
    assert [o.result.status for o in watcher.stats.outcomes] == [BatchStatus.ACCEPTED]
    assert len(runs) == 1 and runs[0].outcomes[0].source == "补缴.xlsx"


# --- arrival order, writers on this host, what cannot be read, subfolders ------------------------

WRITER = """
import sys
data = open(sys.argv[2], "rb").read()
with open(sys.argv[1], "wb") as target:
    target.write(data[: len(data) // 2])
    target.flush()
    print("half", flush=True)
    sys.stdin.readline()
    target.write(data[len(data) // 2 :])
print("done", flush=True)
"""


class LocalWriter:
    """Another process of this host writing ``source``'s bytes to ``target``: half, then, when told, the rest."""

    def __init__(self, source: Path, target: Path):
        target.parent.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, "-c", WRITER, str(target), str(source)]
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None and self.process.stdout.readline() == "half\n"

    def finish(self) -> None:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write("\n")
        self.process.stdin.flush()
        assert self.process.stdout.readline() == "done\n"
        assert self.process.wait(timeout=30) == 0

    def __enter__(self) -> LocalWriter:
        return self

    def __exit__(self, *_: object) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.communicate(timeout=30)  # closes the pipes


def _key(path: Path) -> tuple[int, int]:
    info = path.lstat()
    return info.st_dev, info.st_ino


def _wait_until(condition: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting until {what}")
        time.sleep(0.05)


def _seal_and_unseal(centre: Centre) -> tuple[FakeMember, list[list[object]], list[list[object]]]:
    person = centre.members_of(0)[0]
    return person, [[1, *identity(person), "其他封存", "2024-06"]], [[1, *identity(person), "正常上班启封", "2024-08", "4070"]]


def _batches_and_status(centre: Centre, person: FakeMember) -> tuple[list[tuple[str, str]], str]:
    with centre.app.sessions() as session:
        batches = [(batch.source_name, batch.status) for batch in session.scalars(select(Batch).order_by(Batch.id))]
        return batches, session.get(Member, person.member_account).status


def _home_config(home: Path, settle_seconds: float) -> None:
    raw = yaml.safe_load(DEFAULT_CONFIG.read_text(encoding="utf-8"))
    raw["settle_seconds"] = settle_seconds
    (home / "config").mkdir(parents=True, exist_ok=True)
    (home / "config" / "centre.yaml").write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")


def _gjj(home: Path, db_url: str, *args: str) -> subprocess.Popen[str]:
    environment = {**os.environ, "GJJ_HOME": str(home), "GJJ_DB": db_url, "PYTHONPATH": str(REPO), "COLUMNS": "120"}
    command = [sys.executable, "-m", "pipeline", *args]
    return subprocess.Popen(command, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)


@pytest.mark.parametrize("command", ["run", "watch"])
def test_a_unseal_saved_before_the_seal_it_follows_but_copied_after_it_is_processed_second(tmp_path: Path, command: str) -> None:
    db_url = f"sqlite:///{tmp_path / 'gjj.db'}"
    centre = make_centre(tmp_path / "home", db_url)
    _home_config(centre.app.home.root, 0)
    folder = centre.inbox / centre.unit().unit_account
    person, seal_rows, unseal_rows = _seal_and_unseal(centre)
    seal = _saved_hours_ago(kind_file(folder, "封存", seal_rows), 1)  # copied with the time it was saved
    _next_tick(seal)
    unseal = _saved_hours_ago(kind_file(folder, "启封", unseal_rows), 2)  # saved before the 封存, copied after it
    assert seal.lstat().st_ctime_ns < unseal.lstat().st_ctime_ns and seal.lstat().st_mtime_ns > unseal.lstat().st_mtime_ns

    if command == "run":
        process = _gjj(centre.app.home.root, db_url, "run", "--business-date", BUSINESS_DATE.isoformat(), "--json")
        _, stderr = process.communicate(timeout=300)
        assert process.returncode == 0, stderr[-2000:]
    else:
        process = _gjj(centre.app.home.root, db_url, "watch", "--rescan-seconds", "0.5")
        try:
            _wait_until(lambda: len(_batches_and_status(centre, person)[0]) == 2 and not any(folder.iterdir()), "both files are processed")
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            _, stderr = process.communicate(timeout=120)
        assert process.returncode == 0, stderr[-2000:]
    batches, status = _batches_and_status(centre, person)
    centre.app.close()

    assert batches == [("封存.xlsx", "accepted"), ("启封.xlsx", "accepted")]
    assert status == "正常"


def test_a_file_a_local_process_is_still_writing_is_not_taken_however_long_it_pauses(tmp_path: Path) -> None:
    centre = make_centre(tmp_path / "home", f"sqlite:///{tmp_path / 'gjj.db'}", settle_seconds=SETTLE)
    try:
        folder = centre.inbox / centre.unit().unit_account
        members = centre.members_of(0)
        source = backpay_file(tmp_path / "local", [row_for(members[0], 1), row_for(members[1], 2)])
        target = folder / "补缴.xlsx"
        other_unit = aged(backpay_file(centre.inbox / centre.unit(1).unit_account, [row_for(centre.members_of(1)[0])], name="读.xlsx"))
        with LocalWriter(source, target) as writer, other_unit.open("rb"):
            _next_tick(target)
            later = backpay_file(folder, [row_for(members[2], 1)], name="后.xlsx")  # the unit's next file, complete
            time.sleep(SETTLE * 3)  # the upload pauses longer than the settle time: that is what is tested
            assert _key(target) in open_for_writing() and _key(other_unit) not in open_for_writing()

            held = centre.run()

            assert [outcome.source for outcome in held.outcomes] == ["读.xlsx"]  # open for reading only: taken
            assert sorted(path.name for path in folder.iterdir()) == ["后.xlsx", "补缴.xlsx"]  # 后 waits for 补缴
            assert target.stat().st_size == source.stat().st_size // 2
            writer.finish()
        assert _key(target) not in open_for_writing()

        done = centre.run()

        assert [(o.source, o.result.status, len(o.result.rows)) for o in done.outcomes] == [
            ("补缴.xlsx", BatchStatus.ACCEPTED, 2),
            ("后.xlsx", BatchStatus.ACCEPTED, 1),
        ]
        assert done.outcomes[0].moved_to.read_bytes() == source.read_bytes() and not later.exists()
    finally:
        centre.app.close()


def test_the_watcher_keeps_a_units_files_in_the_order_it_first_saw_them(tmp_path: Path) -> None:
    centre = make_centre(tmp_path / "home", f"sqlite:///{tmp_path / 'gjj.db'}", settle_seconds=SETTLE)
    folder = centre.inbox / centre.unit().unit_account
    person, seal_rows, unseal_rows = _seal_and_unseal(centre)
    seal_source = kind_file(tmp_path / "local", "封存", seal_rows)
    watcher = Watcher(lambda: centre.app.processor(BUSINESS_DATE), centre.inbox, SETTLE, rescan_seconds=0.2)
    thread = threading.Thread(target=watcher.run, daemon=True)
    thread.start()

    def turns_pass(count: int) -> None:
        start = watcher.stats.turns
        _wait_until(lambda: watcher.stats.turns >= start + count, f"{count} turns of the watcher")

    try:
        with LocalWriter(seal_source, folder / "封存.xlsx") as writer:
            turns_pass(2)  # the watcher has seen the 封存 begin to arrive
            unseal = _saved_hours_ago(kind_file(folder, "启封", unseal_rows), 2)
            time.sleep(SETTLE * 3)  # the 启封 is complete; the 封存's upload pauses longer than the settle time
            turns_pass(2)
            assert watcher.stats.outcomes == []  # the 启封 waits for the 封存 that came first
            writer.finish()
        seal = folder / "封存.xlsx"
        assert seal.lstat().st_ctime_ns > unseal.lstat().st_ctime_ns  # by change time alone the 启封 came first now
        _wait_until(lambda: len(watcher.stats.outcomes) == 2, "both files are processed")
    finally:
        watcher.stop()
        thread.join(timeout=60)
    batches, status = _batches_and_status(centre, person)
    centre.app.close()

    assert [(o.source, o.result.status) for o in watcher.stats.outcomes] == [("封存.xlsx", BatchStatus.ACCEPTED), ("启封.xlsx", BatchStatus.ACCEPTED)]
    assert batches == [("封存.xlsx", "accepted"), ("启封.xlsx", "accepted")] and status == "正常"


def test_files_in_a_subfolder_are_reported_once_and_never_taken(sqlite_centre: Centre, caplog: pytest.LogCaptureFixture) -> None:
    unit = sqlite_centre.unit().unit_account
    members = sqlite_centre.members_of(0)
    nested = backpay_file(sqlite_centre.inbox / unit / "2024" / "八月", [row_for(members[0])])
    content = nested.read_bytes()
    backpay_file(sqlite_centre.inbox / unit, [row_for(members[1])], name="直接.xlsx")

    summary = sqlite_centre.run()

    assert [outcome.source for outcome in summary.outcomes] == ["直接.xlsx"]
    assert nested.read_bytes() == content  # not moved, not touched
    assert summary.ignored == [IgnoredFile(unit, "2024/八月/补缴.xlsx", IN_SUBFOLDER)] and summary.failed == []
    staff = json.loads(summary.staff_summary.with_suffix(".json").read_text(encoding="utf-8"))
    assert [(item["unit"], item["source_file"], item["reason"], item["times"]) for item in staff["ignored"]] == [
        (unit, "2024/八月/补缴.xlsx", "子目录中的文件不会被处理，请直接放在单位目录下", 1)
    ]
    assert "子目录中的文件不会被处理，请直接放在单位目录下" in summary.staff_summary.read_text(encoding="utf-8")
    assert [record.levelname for record in caplog.records if "2024/八月/补缴.xlsx" in record.getMessage()] == ["WARNING"]

    watcher = Watcher(lambda: sqlite_centre.app.processor(BUSINESS_DATE), sqlite_centre.inbox, 0)
    first = watcher.turn()
    assert first is not None and [item.source for item in first.ignored] == ["2024/八月/补缴.xlsx"] and first.staff_summary is not None
    assert watcher.turn() is None  # reported once while it stays
    assert nested.read_bytes() == content


@pytest.mark.skipif(os.geteuid() != 0, reason="runs the processor as the user nobody: needs root")
def test_a_folder_or_file_the_processor_cannot_read_is_reported_and_the_other_units_go_on(tmp_path: Path) -> None:
    # As root nothing is unreadable, so the processor runs as nobody, in a home nobody may use.
    root = Path(tempfile.mkdtemp(prefix="gjj-unreadable-"))
    try:
        root.chmod(0o755)
        home = root / "home"
        db_url = f"sqlite:///{home / 'var' / 'gjj.db'}"
        centre = make_centre(home, db_url)
        centre.app.close()
        _home_config(home, 0)
        closed, careless, fine = (centre.unit(index).unit_account for index in range(3))
        for unit in (closed, careless, fine):
            (home / "inbox" / unit).mkdir()
        subprocess.run(["chown", "-R", "nobody:nogroup", str(home)], check=True)  # the files below stay root's, mode 644
        backpay_file(home / "inbox" / closed, [row_for(centre.members_of(0)[0])])
        (home / "inbox" / closed).chmod(0)  # e.g. a wrong owner or mode after a restore
        members = centre.members_of(1)
        first = backpay_file(home / "inbox" / careless, [row_for(members[0])], name="先.xlsx")
        _next_tick(first)
        locked = backpay_file(home / "inbox" / careless, [row_for(members[1])], name="锁.xlsx")
        locked.chmod(0o600)  # the unit's upload, closed to the processor (root's file: nobody may not read it)
        _next_tick(locked)
        backpay_file(home / "inbox" / careless, [row_for(members[2])], name="后.xlsx")
        backpay_file(home / "inbox" / fine, [row_for(centre.members_of(2)[0])])
        gjj, environment = gjj_as("nobody", home)
        command = [*gjj, "run", "--business-date", BUSINESS_DATE.isoformat(), "--json"]

        done = subprocess.run(command, env={**environment, "GJJ_DB": db_url, "HOME": str(home)}, capture_output=True, text=True, timeout=600, check=False)

        assert done.returncode == 1, done.stderr[-3000:]  # something waits for a person: as for a failed file
        report = json.loads(done.stdout)
        processed = sorted((item["unit"], item["source_file"], item["status"]) for item in report["files"])
        assert processed == [(careless, "先.xlsx", "accepted"), (fine, "补缴.xlsx", "accepted")]
        folder_problem, file_problem = report["failed"]
        assert (folder_problem["unit"], folder_problem["source_file"]) == (closed, "") and "无法读取单位目录" in folder_problem["error"]
        assert (file_problem["unit"], file_problem["source_file"]) == (careless, "锁.xlsx") and "无法读取文件" in file_problem["error"]
        assert sorted(path.name for path in (home / "inbox" / careless).iterdir()) == ["后.xlsx", "锁.xlsx"]  # 后 waits for 锁
        assert "Traceback" not in done.stderr
        staff = json.loads(Path(report["staff_summary"]).with_suffix(".json").read_text(encoding="utf-8"))
        assert [{key: item[key] for key in ("unit", "source_file", "error")} for item in staff["failed"]] == report["failed"]
        assert staff["totals"]["failed"] == 2 and [item["times"] for item in staff["failed"]] == [1, 1]
        page = Path(report["staff_summary"]).read_text(encoding="utf-8")
        assert "（整个单位目录）" in page and folder_problem["error"] in page and file_problem["error"] in page
        log = (home / "var" / "log" / "gjj.log").read_text(encoding="utf-8")
        assert "Traceback" not in log
        assert log.count("cannot be read; left where it is") == 2  # once each per run
        assert log.count("the open files of") == 1  # nobody cannot see root's processes: said once
    finally:
        subprocess.run(["rm", "-rf", str(root)], check=False)


def test_an_inbox_whose_folder_refuses_a_stat_is_no_access_not_a_crash(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """While deploy/add-unit.sh changes the home's permissions, the service user may not stat the inbox
    for a moment (EACCES): the scan reports it (and the watch looks again) instead of raising."""
    inbox = tmp_path / "inbox"
    (inbox / "0100001").mkdir(parents=True)
    real_stat = Path.stat

    def refused(path: Path, *args: object, **kwargs: object) -> os.stat_result:
        if path == inbox:
            raise PermissionError(13, "Permission denied", str(path))
        return real_stat(path, *args, **kwargs)

    monkeypatch.setattr(Path, "stat", refused)
    found = scan(inbox)

    assert found.arrivals == [] and found.unsafe == []
    assert [entry.path for entry in found.no_access] == [inbox]
    assert found.no_access[0].reason.startswith("无法读取收件箱目录")
