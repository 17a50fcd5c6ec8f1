"""Two workers on one PostgreSQL database and one inbox never process a file twice."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

from sqlalchemy import select

from pipeline.services.fakes import fake_master_data
from pipeline.store.tables import BackPayRecord, Batch
from tests.conftest import Centre, PostgresServer, make_centre
from tests.factories import aged, backpay_file, row_for
from tests.test_crash import _home_config

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
