"""Killing ``gjj run`` at random points loses nothing and applies nothing twice.

A real ``gjj run`` process works through 200 files and is killed with SIGKILL again and again at
seeded random moments — during start-up, inside a file's transaction, while outputs are written,
between the outputs and the archive move. A last run then finishes. Every file must end in
exactly one batch with its outputs, every accepted back-pay row must be recorded exactly once,
and serial numbers must be gap-free.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import yaml
from sqlalchemy import select

from pipeline.config import DEFAULT_CONFIG
from pipeline.services.fakes import fake_master_data
from pipeline.store.tables import BackPayRecord, Batch
from tests.conftest import make_centre
from tests.factories import aged, backpay_file, row_for

FILES = 200
KILLS = 20
SEED = 20261124


def _home_config(home: Path) -> None:
    raw = yaml.safe_load(DEFAULT_CONFIG.read_text(encoding="utf-8"))
    raw["settle_seconds"] = 0
    (home / "config").mkdir(parents=True, exist_ok=True)
    (home / "config" / "centre.yaml").write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")


def _gjj(home: Path, db_url: str, keep_stderr: bool = False) -> subprocess.Popen:
    gjj = Path(sys.executable).parent / "gjj"
    environment = {**os.environ, "GJJ_HOME": str(home), "GJJ_DB": db_url, "COLUMNS": "120"}
    return subprocess.Popen(
        [str(gjj), "run", "--business-date", "2024-08-05", "--json"],
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE if keep_stderr else subprocess.DEVNULL,
        start_new_session=True,
    )


def test_sigkill_at_random_points_then_rerun_converges(tmp_path: Path) -> None:
    home = tmp_path / "home"
    db_url = f"sqlite:///{tmp_path / 'gjj.db'}"
    centre = make_centre(home, db_url)
    centre.app.close()
    units, members = fake_master_data(unit_count=3, members_per_unit=10)
    _home_config(home)
    rng = random.Random(SEED)
    expected_rows = 0
    for index in range(FILES):
        member = members[index % len(members)]
        month = 1 + (index // len(members))  # a fresh month per round over the members
        rows = [row_for(member, 1, start=f"2024-{month:02d}", end=f"2024-{month:02d}", amount=str(100 + index))]
        if index % 5 == 4:
            rows[0][4] = "欠缴"  # rejected file
        else:
            expected_rows += 1
        aged(backpay_file(home / "inbox" / member.unit_account, rows, name=f"f{index:03d}.xlsx"), 3600 - index)

    kill_points = sorted(rng.uniform(0.5, 6.0) for _ in range(KILLS))
    killed_mid_run = 0
    for delay in kill_points:
        if not any((home / "inbox").rglob("*.xlsx")):
            break  # the killed runs got to the end: nothing is left to interrupt
        process = _gjj(home, db_url)
        time.sleep(delay)
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            killed_mid_run += 1
        process.wait(timeout=30)
    left_after_kills = len([p for p in (home / "inbox").rglob("*.xlsx")])
    final = _gjj(home, db_url, keep_stderr=True)
    _, stderr = final.communicate(timeout=900)

    assert final.returncode == 0, stderr.decode("utf-8", "replace")[-2000:]
    assert left_after_kills < FILES and killed_mid_run >= 3  # runs were killed while working, and got somewhere
    assert [p for p in (home / "inbox").rglob("*") if p.is_file()] == []
    with centre.app.sessions() as session:
        batches = session.scalars(select(Batch)).all()
        records = session.scalars(select(BackPayRecord)).all()
    assert len(batches) == FILES
    assert Counter(b.sha256 for b in batches).most_common(1)[0][1] == 1
    assert {b.stage for b in batches} == {"done"}
    assert len(records) == expected_rows
    assert Counter((r.member_account, r.start_month) for r in records).most_common(1)[0][1] == 1
    serials = sorted(int(b.serial_number.split("_")[1]) for b in batches if b.serial_number)
    assert serials == list(range(1, expected_rows + 1))
    for batch in batches:
        folder = home / "outbox" / batch.unit_account / batch.batch_id
        result = json.loads((folder / "result.json").read_text(encoding="utf-8"))
        assert result["status"] == batch.status
        wanted = {"slip.pdf", "detail.csv"} if batch.status == "accepted" else {"report.pdf", "report.xlsx"}
        assert wanted <= {p.name for p in folder.iterdir()}, (batch.batch_id, batch.status)
        assert (home / "archive" / batch.unit_account / f"{batch.batch_id}_{batch.source_name}").is_file()
    assert not list((home / "outbox").rglob(".*.tmp-*"))
