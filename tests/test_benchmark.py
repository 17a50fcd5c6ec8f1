"""The benchmark harness (``python -m benchmarks.run``) on tiny inputs, so it cannot rot.

The real command runs in a subprocess with ``--small`` and every field of the JSON it writes is
checked for presence and a sane type. Times are never asserted: performance is benchmarked,
not tested (SPEC.md), and this machine runs other work at the same time.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent
COMMITTED = REPO / "benchmarks" / "results.json"
BIG_FILES = ("backpay_100k_accepted", "backpay_100k_rejected", "base_adjust_100k", "remit_100k")


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("benchmark")
    output = folder / "results.json"
    command = [sys.executable, "-m", "benchmarks.run", "--small", "--workdir", str(folder / "work"), "--output", str(output)]
    environment = dict(os.environ)  # with the session's shared font cache: the subset is made once, not again here
    completed = subprocess.run(command, cwd=REPO, env=environment, capture_output=True, text=True, timeout=1200)
    assert completed.returncode == 0, completed.stderr[-4000:]
    return json.loads(output.read_text(encoding="utf-8"))


def positive(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value > 0


def test_run_is_described(results: dict[str, Any]) -> None:
    assert results["schema"] == 1
    assert results["small"] is True
    assert results["command"] == "python -m benchmarks.run --small"
    assert isinstance(results["generated_at"], str)
    assert re.fullmatch(r"[0-9a-f]{7,40}", results["source"]["commit"])  # the tests run in a git checkout
    assert isinstance(results["source"]["uncommitted_changes"], bool)
    assert isinstance(results["machine"]["cpus"], int)
    assert len(results["machine"]["load_average_at_start"]) == 3
    assert isinstance(results["machine"]["python"], str)
    assert {"python-calamine", "pandera", "weasyprint", "xlsxwriter"} <= set(results["machine"]["packages"])
    data = results["data"]
    for key in ("backpay_rows", "backpay_file_bytes", "rejected_variant_bad_cells", "rejected_variant_cells", "base_adjust_rows", "night_files", "night_rows"):
        assert positive(data[key]), key
    assert data["rejected_variant_bad_cells"] == round(data["rejected_variant_cells"] * data["sizes"]["bad_cell_share"])
    assert positive(results["total_seconds"])


def test_summary_has_every_figure_the_issue_asks_for(results: dict[str, Any]) -> None:
    summary = results["summary"]
    for key in (
        "read_floor_seconds",
        "backpay_100k_seconds",
        "ratio_to_read_floor",
        "rows_per_second",
        "peak_rss_mb",
        "rejected_100k_seconds",
        "xlsxwriter_floor_seconds",
        "ratio_rejected_to_xlsxwriter_floor",
        "night_sqlite_seconds_1_worker",
        "night_sqlite_seconds_2_workers",
        "slip_seconds_after_warmup",
    ):
        assert positive(summary[key]), key
    for key in ("night_postgresql_seconds_1_worker", "night_postgresql_seconds_2_workers"):
        assert summary[key] is None or positive(summary[key]), key
    assert summary["ratio_to_read_floor"] == pytest.approx(summary["backpay_100k_seconds"] / summary["read_floor_seconds"], rel=0.01)


def test_floors(results: dict[str, Any]) -> None:
    for name in ("read_floor", "xlsxwriter_floor", "read_floor_remit"):
        floor = results["measurements"][name]
        assert positive(floor["seconds"])
        assert floor["runs"] and all(positive(run) for run in floor["runs"])
        assert positive(floor["peak_rss_mb"])
    assert results["measurements"]["read_floor"]["sheet_rows"] == results["data"]["backpay_rows"] + 2  # title and header
    assert results["measurements"]["read_floor_remit"]["sheet_rows"] == results["data"]["remit_rows"] + 2


@pytest.mark.parametrize("name", BIG_FILES)
def test_big_files_went_through_the_whole_pipeline(results: dict[str, Any], name: str) -> None:
    measured = results["measurements"][name]
    assert measured["rows"] == results["data"]["backpay_rows"]
    for key in ("seconds", "cpu_seconds", "rows_per_second", "peak_rss_mb"):
        assert positive(measured[key]), key
    assert len(measured["runs"]) == results["data"]["sizes"]["big_file_repeats"]
    assert measured["seconds"] in measured["runs"]
    assert {"read", "detect", "schema", "rules", "store.record", "result.json"} <= set(measured["stages"])
    assert all(isinstance(value, float) for value in measured["stages"].values())
    if name == "backpay_100k_rejected":
        assert measured["status"] == "rejected"
        assert measured["row_errors"] == results["data"]["rejected_variant_bad_cells"]
        assert {"report.xlsx", "report.pdf", "result.json"} <= set(measured["outputs"])
    else:
        assert measured["status"] == "accepted"
        assert measured["row_errors"] == 0
        assert {"slip.pdf", "detail.csv", "result.json"} <= set(measured["outputs"])


@pytest.mark.parametrize("name", ["sqlite_1", "sqlite_2", "postgresql_1", "postgresql_2"])
def test_nights(results: dict[str, Any], name: str) -> None:
    night = results["measurements"]["night"][name]
    if "skipped" in night:
        assert name.startswith("postgresql")
        assert isinstance(night["skipped"], str)
        return
    data = results["data"]
    assert night["workers"] == int(name.rsplit("_", 1)[1])
    assert night["files"] == data["night_files"]
    assert night["rows"] == data["night_rows"]
    assert night["statuses"] == {"accepted": data["night_files"] - data["night_rejected_files"], "rejected": data["night_rejected_files"]}
    assert 0 <= night["files_by_helpers"] <= night["files"] * (night["workers"] > 1)  # six files may all go to one process
    for key in ("seconds", "seconds_per_file", "peak_rss_mb_main_process", "cpu_seconds_main_process"):
        assert positive(night[key]), key


def test_whole_run_process(results: dict[str, Any]) -> None:
    process = results["measurements"]["process_backpay_100k"]
    assert process["statuses"] == ["accepted"]
    assert process["command"].startswith("gjj run --business-date")
    assert positive(process["seconds"]) and positive(process["peak_rss_mb"])
    assert len(process["runs"]) == results["data"]["sizes"]["big_file_repeats"]
    summary = results["summary"]
    assert summary["ratio_process_to_read_floor"] == pytest.approx(summary["process_backpay_100k_seconds"] / summary["read_floor_seconds"], rel=0.01)


@pytest.mark.parametrize("name", ["sqlite", "sqlite_again", "postgresql"])
def test_city_load(results: dict[str, Any], name: str) -> None:
    load = results["measurements"]["load_city"][name]
    if "skipped" in load:
        assert name == "postgresql"
        return
    sizes = results["data"]["sizes"]
    assert (load["members"], load["units"]) == (sizes["city_members"], sizes["city_units"])
    assert positive(load["seconds"]) and positive(load["peak_rss_mb"])
    assert load["database"] == name.split("_")[0]
    members = f"缴存人：新增 {sizes['city_members']}，更新 0，未变 0" if name != "sqlite_again" else f"缴存人：新增 0，更新 0，未变 {sizes['city_members']}"
    assert members in load["output"]


def test_slips(results: dict[str, Any]) -> None:
    slips = results["measurements"]["slip_pdf"]
    assert slips["slips"] == results["data"]["sizes"]["slips"]
    for key in ("seconds_mean", "seconds_median", "seconds_max", "peak_rss_mb"):
        assert positive(slips[key]), key
    assert len(slips["warmup_seconds"]) == results["data"]["sizes"]["warmup_slips"]
    assert isinstance(slips["font_rebuilds_after_warmup"], int)


def test_startup_of_the_light_commands(results: dict[str, Any]) -> None:
    startup = results["startup"]
    assert positive(startup["interpreter_seconds"])
    assert {"help", "review_list", "backpay_list", "remit_list"} <= set(startup["commands"])
    for measure in startup["commands"].values():
        assert measure["command"].startswith("gjj ")
        assert positive(measure["seconds"]) and positive(measure["import_seconds"])
        assert "pipeline.cli" in measure["heaviest_imports"]  # the -X importtime report was read


def test_committed_results_measure_the_startup() -> None:
    committed = json.loads(COMMITTED.read_text(encoding="utf-8"))["startup"]
    assert committed["repeats"] >= 3
    assert {"help", "review_list", "backpay_list", "remit_list"} <= set(committed["commands"])


def test_targets_are_reported_not_judged_on_tiny_inputs(results: dict[str, Any]) -> None:
    targets = results["targets"]
    assert len(targets) >= 6
    for target in targets:
        assert isinstance(target["name"], str) and target["unit"] in ("×", "MB", "s")
        assert target["value"] is None or positive(target["value"])
        assert target["target"] is None or positive(target["target"])
        assert target["met"] is None  # a --small run says nothing about the targets


def _sized_away(name: str) -> str:
    """A target's name without the input's size (``--small`` loads a city of 400 members)."""
    return re.sub(r"\([\d,]+ members, [\d,]+ units\)", "(…)", name)


def test_committed_results_come_from_a_full_run_of_this_harness(results: dict[str, Any]) -> None:
    committed = json.loads(COMMITTED.read_text(encoding="utf-8"))
    assert committed["small"] is False
    assert committed["command"] == "python -m benchmarks.run"
    assert committed["source"]["uncommitted_changes"] is False  # measured on a commit of this repository
    assert committed["data"]["backpay_rows"] == 100_000
    assert committed["data"]["night_files"] == 1_000
    assert set(committed["summary"]) == set(results["summary"])
    assert set(committed["measurements"]) == set(results["measurements"])
    assert set(committed["measurements"]["night"]) == set(results["measurements"]["night"])
    assert [_sized_away(target["name"]) for target in committed["targets"]] == [_sized_away(target["name"]) for target in results["targets"]]
    assert all(isinstance(target["met"], bool) or target["target"] is None for target in committed["targets"])
