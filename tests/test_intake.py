"""Intake: a file is taken only when complete; the watcher's rescan is the authority."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

import pytest
import sqlalchemy

from pipeline.errors import Code, Issue
from pipeline.intake.locks import file_locks, lock_key
from pipeline.intake.scan import Arrival, Settler, scan, settled_files
from pipeline.model import BatchStatus, RowResult
from pipeline.rules import backpay as backpay_rules
from pipeline.rules.context import RuleContext
from pipeline.run.processor import FailedFile, RunSummary
from pipeline.run.watch import Watcher
from pipeline.store.engine import make_engine, migrate, session_factory
from pipeline.store.queries import hold_member_lock
from tests.conftest import BUSINESS_DATE, Centre, PostgresServer, wait_until
from tests.factories import aged, backpay_file, row_for


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _arrival(path: Path) -> Arrival:
    return Arrival(path, path.parent.name)


def test_settler_waits_until_size_and_mtime_are_stable(tmp_path: Path) -> None:
    path = tmp_path / "0100001" / "a.xlsx"
    path.parent.mkdir()
    path.write_bytes(b"part")
    clock = FakeClock()
    settler = Settler(5, clock=clock, wall=lambda: path.stat().st_mtime)  # the file looks brand new

    assert settler.ready([_arrival(path)]) == []
    clock.now += 3
    with path.open("ab") as handle:
        handle.write(b" more")
    assert settler.ready([_arrival(path)]) == []
    clock.now += 4.9
    assert settler.ready([_arrival(path)]) == []
    clock.now += 0.2
    assert settler.ready([_arrival(path)]) == [_arrival(path)]


def test_old_files_and_done_files_are_ready_at_once(tmp_path: Path) -> None:
    folder = tmp_path / "0100001"
    folder.mkdir()
    (folder / "old.xlsx").write_bytes(b"x")
    old = aged(folder / "old.xlsx")
    fresh = folder / "fresh.xlsx"
    fresh.write_bytes(b"x")
    (folder / "fresh.xlsx.done").write_bytes(b"")
    waiting = folder / "waiting.xlsx"
    waiting.write_bytes(b"x")

    ready = Settler(60).ready([_arrival(p) for p in (old, fresh, waiting)])

    assert ready == [_arrival(old), _arrival(fresh)]


def test_scan_orders_by_arrival_and_skips_temporary_names(tmp_path: Path) -> None:
    folder = tmp_path / "0100001"
    folder.mkdir()
    for index, name in enumerate(["b.xlsx", "a.xlsx", "c.xlsx.part", "~$a.xlsx", ".x.xlsx", "d.tmp", "b.xlsx.done"]):
        (folder / name).write_bytes(b"x")
        os.utime(folder / name, (1000 + index, 1000 + index))

    arrivals, unsafe = scan(tmp_path)

    assert [a.name for a in arrivals] == ["b.xlsx", "a.xlsx"] and unsafe == []


def test_run_waits_one_settle_period_and_leaves_a_growing_file(tmp_path: Path) -> None:
    folder = tmp_path / "0100001"
    folder.mkdir()
    steady, growing = folder / "steady.xlsx", folder / "growing.xlsx"
    steady.write_bytes(b"x")
    growing.write_bytes(b"x")

    def sleep(seconds: float) -> None:
        with growing.open("ab") as handle:
            handle.write(b"more")

    ready = settled_files(tmp_path, 0.5, sleep=sleep)

    assert [a.name for a in ready] == ["steady.xlsx"]


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
