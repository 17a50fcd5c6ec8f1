"""The benchmark of issue #7: ``python -m benchmarks.run [--small] [--output benchmarks/results.json]``.

One command generates the data (:mod:`benchmarks.data`), builds the master data once, then runs
every measurement in its own fresh Python process, so the peak RSS of one (``ru_maxrss`` of that
process) and its caches never leak into another:

- ``read_floor``: python-calamine reading the 100k-row back-pay xlsx to Python values, nothing else;
- ``xlsxwriter_floor``: xlsxwriter (constant-memory mode) writing the same rows plainly;
- ``backpay_100k_accepted`` / ``backpay_100k_rejected`` / ``base_adjust_100k`` / ``remit_100k``: the
  processor run ``gjj run`` makes (read → schema → rules → database → outputs) over one 100k-row
  file, on SQLite (``remit_100k``: the 100k-member unit's 汇缴清册, with its own read floor
  ``read_floor_remit``);
- ``night``: 1,000 small back-pay files of 1,000 units, on SQLite and on PostgreSQL, with one
  worker and with two (``gjj run`` twice at once: the machine has two cores, and workers share
  an inbox without taking a file twice);
- ``slip_pdf``: seconds per 补缴凭条 after the renderer's warm-up;
- ``startup``: the whole ``gjj --help``, ``gjj review list`` … processes (:mod:`benchmarks.startup`,
  which also measures them alone).

Times are wall-clock seconds measured in the same run on the same machine; the targets are
ratios between them (SPEC.md, Performance targets). Floors and 100k files are the median of
three runs (each 100k run in a fresh process on a fresh copy of the database); the machine may
be busy with other work, so its load average is recorded too. Nothing here asserts a time: the
results say which targets are met and which are missed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from decimal import Decimal
from importlib import metadata
from pathlib import Path
from typing import Any

from benchmarks.data import BIG_UNIT, BUSINESS_DATE, FULL, SMALL, Dataset, Sizes, city_master, generate
from benchmarks.startup import measure_startup

REPO = Path(__file__).resolve().parent.parent
DEFAULT_OUTPUT = Path(__file__).resolve().parent / "results.json"
RESULTS_SCHEMA = 1

TARGETS = {
    "accepted_vs_read_floor": 2.0,
    "remit_vs_read_floor": 3.0,
    "rejected_vs_xlsxwriter_floor": 1.5,
    "peak_rss_mb": 400.0,
    "process_vs_read_floor": 3.0,
    "process_peak_rss_mb": 300.0,
    "night_sqlite_seconds": 120.0,
    "slip_seconds": 0.2,
    "load_city_seconds": 60.0,
    "load_city_peak_rss_mb": 1024.0,
}


# --- measurements, each run in a child process ---------------------------------------------------


def _peak_rss_mb() -> float:
    """This process's peak resident set size in MiB.

    ``VmHWM`` of /proc/self/status, the high-water mark of this program's own memory: on Linux
    ``ru_maxrss`` also counts the parent's pages this process had between fork and exec.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def _median(values: list[float]) -> float:
    return round(statistics.median(values), 4)


def measure_read_floor(spec: dict[str, Any]) -> dict[str, Any]:
    from python_calamine import CalamineWorkbook

    runs = []
    rows = 0
    for _ in range(spec["repeats"]):
        started = time.perf_counter()
        values = CalamineWorkbook.from_path(spec["file"]).get_sheet_by_index(0).to_python(skip_empty_area=False)
        runs.append(time.perf_counter() - started)
        rows = len(values)
        del values
    return {"seconds": _median(runs), "runs": [round(run, 4) for run in runs], "sheet_rows": rows, "peak_rss_mb": _peak_rss_mb()}


def measure_xlsxwriter_floor(spec: dict[str, Any]) -> dict[str, Any]:
    """xlsxwriter writing the rows of the rejected file plainly: the floor of report.xlsx."""
    import xlsxwriter
    from python_calamine import CalamineWorkbook

    values = CalamineWorkbook.from_path(spec["file"]).get_sheet_by_index(0).to_python(skip_empty_area=False)
    target = Path(spec["workdir"]) / "plain.xlsx"
    runs = []
    for _ in range(spec["repeats"]):
        started = time.perf_counter()
        with xlsxwriter.Workbook(str(target), {"constant_memory": True}) as workbook:
            sheet = workbook.add_worksheet("Sheet1")
            write_string, write_number = sheet.write_string, sheet.write_number
            for row_index, row in enumerate(values):
                for col, value in enumerate(row):
                    if isinstance(value, str):
                        write_string(row_index, col, value)
                    elif isinstance(value, int | float):
                        write_number(row_index, col, value)
        runs.append(time.perf_counter() - started)
    return {"seconds": _median(runs), "runs": [round(run, 4) for run in runs], "rows": len(values), "peak_rss_mb": _peak_rss_mb()}


class _StageClock:
    """Wall seconds spent in each pipeline stage, found by wrapping the functions the runner calls.

    Stages nest (``effects.record`` runs inside ``store.record``, everything rendered inside
    ``outputs``), so they do not add up to the total. Batches of ``PARALLEL_ROWS`` rows or more
    write result.json, detail.csv and report.xlsx in a child process, whose stages are not seen
    here (``outputs`` covers them). A function that a future runner no longer calls by that name
    is simply not reported.
    """

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    def wrap(self, owner: Any, name: str, label: str) -> None:
        function = getattr(owner, name, None)
        if function is None:
            return
        seconds = self.seconds

        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                seconds[label] = seconds.get(label, 0.0) + time.perf_counter() - started

        setattr(owner, name, timed)

    def install(self) -> None:
        from pipeline.check import file as checked_file
        from pipeline.outputs import writer
        from pipeline.rules import RULES
        from pipeline.store import batches, queries
        from pipeline.store.effects import EFFECTS

        self.wrap(checked_file, "read_raw", "read")
        self.wrap(checked_file, "detect", "detect")
        self.wrap(checked_file, "start_validation", "schema")
        self.wrap(checked_file, "finish_validation", "schema")
        self.wrap(queries.SqlMasterData, "unit_members", "master_data")
        self.wrap(queries.SqlMasterData, "unit_identities", "master_data")
        self.wrap(queries.SqlMasterData, "unit_identities_and_bases", "master_data")
        for module in RULES.values():
            self.wrap(module, "apply", "rules")
        for module in EFFECTS.values():
            self.wrap(module, "record", "effects.record")
            self.wrap(module, "assign", "effects.assign")
        for module in RULES.values():
            self.wrap(module, "screen", "rules.screen")  # in this process while the schema runs in another
        self.wrap(queries.SqlMasterData, "remit_previous", "remit_previous")
        self.wrap(batches, "record", "store.record")
        self.wrap(writer, "write_result_json", "result.json")
        self.wrap(writer, "write_detail_csv", "detail.csv")
        self.wrap(writer, "write_report_xlsx", "report.xlsx")
        self.wrap(writer.OutputWriter, "write", "outputs")  # all of them; big batches write files in a child process
        self._wrap_pdf_when_imported(writer.OutputWriter)

    def _wrap_pdf_when_imported(self, writer_class: Any) -> None:
        """Time the PDF renderer without importing WeasyPrint before the run would (its memory counts)."""
        made = writer_class.pdf
        clock = self

        def pdf(writer: Any) -> Any:
            renderer = made.fget(writer)
            if not getattr(type(renderer), "_timed", False):
                clock.wrap(type(renderer), "render", "pdf")
                type(renderer)._timed = True
            return renderer

        writer_class.pdf = property(pdf)

    def rounded(self) -> dict[str, float]:
        return {label: round(value, 3) for label, value in sorted(self.seconds.items(), key=lambda item: -item[1])}


def _open_home(spec: dict[str, Any]) -> Any:
    """A fresh home with the master data: a copy of the template SQLite file, or a PostgreSQL URL."""
    from pipeline.app import open_app

    home = Path(spec["home"])
    if spec.get("template_db"):
        (home / "var").mkdir(parents=True, exist_ok=True)
        shutil.copyfile(spec["template_db"], home / "var" / "gjj.db")
        db_url = f"sqlite:///{home / 'var' / 'gjj.db'}"
    else:
        db_url = spec["db_url"]
    return open_app(home, db_url=db_url, settle_seconds=0)


def _run_processor(app: Any) -> tuple[Any, float, float]:
    """``Processor.run()`` as ``gjj run`` calls it (process start-up and imports not counted)."""
    processor = app.processor(BUSINESS_DATE)
    started, cpu = time.perf_counter(), time.process_time()
    try:
        summary = processor.run()
    finally:
        elapsed, cpu_used = time.perf_counter() - started, time.process_time() - cpu
        close = getattr(processor, "close", None)
        if close is not None:
            close()
    return summary, elapsed, cpu_used


def measure_big_file(spec: dict[str, Any]) -> dict[str, Any]:
    """One 100k-row file through the processor, as ``gjj run`` does it."""
    clock = _StageClock()
    clock.install()
    app = _open_home(spec)
    source = Path(spec["file"])
    inbox = app.home.inbox / spec["unit"]
    inbox.mkdir(parents=True, exist_ok=True)
    shutil.copy2(source, inbox / source.name)
    summary, elapsed, cpu = _run_processor(app)
    app.close()
    outcome = summary.outcomes[0]
    result = outcome.result
    return {
        "seconds": round(elapsed, 3),
        "cpu_seconds": round(cpu, 3),
        "rows": len(result.rows),
        "rows_per_second": round(len(result.rows) / elapsed),
        "status": str(result.status),
        "row_errors": sum(len(row.errors) for row in result.rows),
        "outputs": sorted(path.name for path in Path(outcome.outputs).iterdir()),
        "stages": clock.rounded(),
        "peak_rss_mb": _peak_rss_mb(),
        "peak_rss_mb_output_process": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1),
    }


def night_run(spec: dict[str, Any]) -> dict[str, Any]:
    """``gjj run --workers N`` over the night's inbox: this process and N − 1 helper processes."""
    from pipeline.app import open_app
    from pipeline.run.workers import HelperProcesses

    os.environ["GJJ_DB"] = spec["db_url"]  # the helpers open the same database
    app = open_app(Path(spec["home"]), db_url=spec["db_url"])
    processor = app.processor(BUSINESS_DATE)
    workers = spec["workers"]

    def helpers() -> HelperProcesses:
        return HelperProcesses.start(workers - 1, home=app.home.root, run_id=processor.run_id, business_date=BUSINESS_DATE)

    started, cpu = time.perf_counter(), time.process_time()
    try:
        summary = processor.run(helpers=helpers if workers > 1 else None)
    finally:
        elapsed, cpu_used = time.perf_counter() - started, time.process_time() - cpu
        processor.close()
    app.close()
    statuses: dict[str, int] = {}
    for outcome in summary.outcomes:
        statuses[str(outcome.result.status)] = statuses.get(str(outcome.result.status), 0) + 1
    return {
        "seconds": round(elapsed, 3),
        "cpu_seconds_main_process": round(cpu_used, 3),
        "files": len(summary.outcomes),
        "files_by_helpers": len(summary.helped),
        "rows": sum(len(outcome.result.rows) for outcome in summary.outcomes),
        "statuses": dict(sorted(statuses.items())),
        "peak_rss_mb_main_process": _peak_rss_mb(),
    }


def _slip_batches(count: int, sizes: Sizes, seed: int) -> list[Any]:
    """Accepted back-pay batches like the night's: 5–50 generated members each, other units each time."""
    from datetime import datetime as clock_time

    from pipeline.model import BatchResult, BatchStatus, RowResult
    from pipeline.services.fakes import fake_id, fake_name

    rng = random.Random(seed)
    batches = []
    for index in range(count):
        rows = []
        for number in range(rng.randint(sizes.night_min_rows, sizes.night_max_rows)):
            amount = Decimal(rng.randrange(100, 20000))
            start = 1 + rng.randrange(6)
            rows.append(
                RowResult(
                    excel_row=number + 3,
                    seq_no=str(number + 1),
                    values={
                        "个人账号": f"{300000001 + index * 50 + number:09d}",
                        "姓名": fake_name(rng),
                        "证件号码": fake_id(BUSINESS_DATE.replace(year=1970 + rng.randrange(30)), index * 50 + number),
                        "补缴原因": rng.choice(("漏缴", "少缴", "补差")),
                        "补缴开始年月": f"{BUSINESS_DATE.year}-{start:02d}",
                        "补缴结束年月": f"{BUSINESS_DATE.year}-{start + rng.randrange(2):02d}",
                        "补缴金额": str(amount),
                    },
                    amounts={"补缴金额": amount},
                )
            )
        batches.append(
            BatchResult(
                batch_id=f"{BUSINESS_DATE:%Y%m%d}-{index + 1:06d}",
                unit_account=f"01{index + 1:05d}",
                unit_name=f"葫芦岛市基准测试单位{index + 1:04d}",
                kind="补缴",
                source_name="补缴清册.xlsx",
                sha256="0" * 64,
                business_date=BUSINESS_DATE,
                status=BatchStatus.ACCEPTED,
                serial_number=f"1{BUSINESS_DATE:%y%m%d}01_{index + 1:010d}",
                header=["序号", "个人账号", "姓名", "证件号码", "补缴原因", "补缴开始年月", "补缴结束年月", "补缴金额"],
                rows=rows,
                contact_name=fake_name(rng),
                contact_phone=f"158{rng.randrange(10**8):08d}",
                processed_at=clock_time(2024, 8, 5, 22, 0, 0),
            )
        )
    return batches


def _sizes(spec: dict[str, Any]) -> Sizes:
    return Sizes(**{**spec["sizes"], "night_workers": tuple(spec["sizes"]["night_workers"])})


def warm_font_cache(spec: dict[str, Any]) -> dict[str, Any]:
    """An installation's first run: slips until the GB 2312 subset is made and put in the font cache."""
    from pipeline.config import load_config
    from pipeline.outputs.pdf.fonts import FontFileCache
    from pipeline.outputs.pdf.render import PdfRenderer

    folder = Path(spec["workdir"]) / "warm"
    folder.mkdir(parents=True, exist_ok=True)
    seconds = []
    with PdfRenderer(load_config(), font_cache=FontFileCache.default()) as renderer:
        for index, result in enumerate(_slip_batches(20, _sizes(spec), seed=5)):
            started = time.perf_counter()
            renderer.slip(result, folder / f"{index}.pdf")
            seconds.append(round(time.perf_counter() - started, 3))
            if renderer.fonts.extra is not None:  # the prefilled subset exists (made or loaded)
                break
    return {"slip_seconds": seconds, "total_seconds": round(sum(seconds), 3), "peak_rss_mb": _peak_rss_mb()}


def measure_slips(spec: dict[str, Any]) -> dict[str, Any]:
    """Seconds per slip PDF once the renderer is warm (font subsets built or loaded)."""
    from pipeline.config import load_config
    from pipeline.outputs.pdf.fonts import FontFileCache
    from pipeline.outputs.pdf.render import PdfRenderer

    sizes = _sizes(spec)
    batches = _slip_batches(sizes.warmup_slips + sizes.slips, sizes, seed=11)
    folder = Path(spec["workdir"]) / "slips"
    folder.mkdir(parents=True, exist_ok=True)
    with PdfRenderer(load_config(), font_cache=FontFileCache.default()) as renderer:
        warmup = []
        for index, result in enumerate(batches[: sizes.warmup_slips]):
            started = time.perf_counter()
            renderer.slip(result, folder / f"warmup-{index}.pdf")
            warmup.append(round(time.perf_counter() - started, 3))
        builds_after_warmup = renderer.fonts.builds
        timed = []
        rows = []
        for index, result in enumerate(batches[sizes.warmup_slips :]):
            started = time.perf_counter()
            renderer.slip(result, folder / f"slip-{index}.pdf")
            timed.append(time.perf_counter() - started)
            rows.append(len(result.rows))
        builds_during = renderer.fonts.builds - builds_after_warmup
    return {
        "seconds_mean": round(statistics.fmean(timed), 4),
        "seconds_median": _median(timed),
        "seconds_max": round(max(timed), 4),
        "slips": len(timed),
        "rows_per_slip": {"min": min(rows), "mean": round(statistics.fmean(rows), 1), "max": max(rows)},
        "warmup_seconds": warmup,
        "font_rebuilds_after_warmup": builds_during,
        "peak_rss_mb": _peak_rss_mb(),
    }


def measure_process(spec: dict[str, Any]) -> dict[str, Any]:
    """One whole ``gjj`` process (``python -m pipeline ARGS``: start-up, imports, the work, exit).

    The peak RSS is ``ru_maxrss`` of this process's children: the command, or a process it
    started and waited for (the forked output writer), whichever was largest. This process runs
    nothing else, and the command is forked from it while it is small.
    """
    environment = {**os.environ, **spec["env"], "PYTHONPATH": str(REPO)}
    for name in spec.get("unset", ()):
        environment.pop(name, None)
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "pipeline", *spec["args"]], cwd=spec["cwd"], env=environment, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"gjj {' '.join(spec['args'])} exited {done.returncode}:\n{done.stderr[-4000:]}")
    return {
        "seconds": round(elapsed, 3),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1),
        "command": "gjj " + " ".join(spec["shown"]),
        "output": done.stdout,
    }


def load_master(spec: dict[str, Any]) -> dict[str, Any]:
    """Load a master data snapshot into a database (setup, not measured)."""
    from sqlalchemy import text

    from pipeline.app import open_app
    from pipeline.services.load import load_master_data

    started = time.perf_counter()
    app = open_app(Path(spec["home"]), db_url=spec["db_url"])
    with app.sessions() as session, session.begin():
        report = load_master_data(session, app.config, Path(spec["units"]), Path(spec["members"]))
        if not report.ok:
            raise SystemExit(f"master data did not load: {report.issues}")
    if spec["db_url"].startswith("sqlite"):
        with app.engine.connect() as connection:
            connection.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
    app.close()
    return {"seconds": round(time.perf_counter() - started, 3), "units": report.units, "members": report.members}


CHILDREN = {
    "read_floor": measure_read_floor,
    "xlsxwriter_floor": measure_xlsxwriter_floor,
    "big_file": measure_big_file,
    "night_run": night_run,
    "slips": measure_slips,
    "warm_font_cache": warm_font_cache,
    "load_master": load_master,
    "process": measure_process,
}


def child_main(task: str, spec_file: str, out_file: str) -> None:
    spec = json.loads(Path(spec_file).read_text(encoding="utf-8"))
    result = CHILDREN[task](spec)
    Path(out_file).write_text(json.dumps(result, ensure_ascii=False), encoding="utf-8")


# --- the orchestrator ------------------------------------------------------------------------------


def run_child(task: str, spec: dict[str, Any], workdir: Path, env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run one measurement in a fresh interpreter and return what it reported.

    What earlier steps wrote (the generated data, the master data, the last run's database) is
    flushed to disk first: the kernel writing it back meanwhile made the next measurement up to a
    second slower on this machine.
    """
    os.sync()
    tag = f"{task}-{time.monotonic_ns()}"
    spec_file, out_file = workdir / f"{tag}.spec.json", workdir / f"{tag}.out.json"
    spec_file.write_text(json.dumps(spec, ensure_ascii=False, default=str), encoding="utf-8")
    command = [sys.executable, "-m", "benchmarks.run", "--child", task, str(spec_file), str(out_file)]
    completed = subprocess.run(command, cwd=REPO, env={**os.environ, **(env or {})}, capture_output=True, text=True)
    if completed.returncode != 0:
        raise RuntimeError(f"benchmark step {task} failed ({completed.returncode}):\n{completed.stderr[-4000:]}")
    return json.loads(out_file.read_text(encoding="utf-8"))


def _median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run with the median time (its stages, rows per second…), all times, the highest peak RSS."""
    ordered = sorted(runs, key=lambda run: run["seconds"])
    middle = dict(ordered[(len(ordered) - 1) // 2])
    middle["runs"] = [run["seconds"] for run in runs]
    middle["peak_rss_mb"] = max(run["peak_rss_mb"] for run in runs)
    return middle


def _settle_at_once(home: Path) -> None:
    """The default configuration with settle time 0, in the home (the helpers read it from there)."""
    import yaml

    from pipeline.config import DEFAULT_CONFIG

    raw = yaml.safe_load(DEFAULT_CONFIG.read_text(encoding="utf-8"))
    raw["settle_seconds"] = 0
    (home / "config").mkdir(parents=True, exist_ok=True)
    (home / "config" / "centre.yaml").write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")


def run_night(workers: int, home: Path, db_url: str, night_inbox: Path, workdir: Path) -> dict[str, Any]:
    """The night: ``gjj run --workers N`` over one inbox of small files.

    The home already holds its database; the files are copied in with their arrival order
    (mtimes) and the home's configuration takes files at once (settle time 0). The night is
    ``Processor.run()`` of the run's own process: its start-up is not counted, the helpers'
    start-up is.
    """
    shutil.copytree(night_inbox, home / "inbox", dirs_exist_ok=True)
    _settle_at_once(home)
    report = run_child("night_run", {"home": str(home), "db_url": db_url, "workers": workers}, workdir)
    return {"workers": workers, **report, "seconds_per_file": round(report["seconds"] / report["files"], 4) if report["files"] else None}


def run_whole_process(home: Path, template_db: str, file: Path) -> dict[str, Any]:
    """``gjj run`` as its own process over one 100k-row file: the home's copy of the master data,
    the file in the unit's inbox, settle time 0; start-up, imports and exit included."""
    (home / "var").mkdir(parents=True, exist_ok=True)
    shutil.copyfile(template_db, home / "var" / "gjj.db")
    _settle_at_once(home)
    inbox = home / "inbox" / BIG_UNIT
    inbox.mkdir(parents=True, exist_ok=True)
    shutil.copy2(file, inbox / file.name)
    args = ["run", "--business-date", BUSINESS_DATE.isoformat(), "--json"]
    spec = {"args": args, "shown": args, "cwd": str(home), "env": {"GJJ_HOME": str(home)}, "unset": ["GJJ_DB"]}
    report = run_child("process", spec, home.parent)
    files = json.loads(report.pop("output"))["files"]
    shutil.rmtree(home, ignore_errors=True)
    return {**report, "statuses": sorted(str(file["status"]) for file in files)}


def run_load(home: Path, db_url: str | None, files: tuple[Path, Path]) -> dict[str, Any]:
    """``gjj load --units U --members M`` as its own process (a new home's database: migrated first)."""
    home.mkdir(parents=True, exist_ok=True)
    units, members = files
    args = ["load", "--units", str(units), "--members", str(members)]
    environment = {"GJJ_HOME": str(home), **({"GJJ_DB": db_url} if db_url else {})}
    spec = {"args": args, "shown": ["load", "--units", units.name, "--members", members.name], "cwd": str(home), "env": environment}
    if db_url is None:
        spec["unset"] = ["GJJ_DB"]
    report = run_child("process", spec, home.parent)
    report["database"] = "postgresql" if db_url else "sqlite"
    report["members"], report["units"] = _count_lines(members), _count_lines(units)
    return report


def _count_lines(path: Path) -> int:
    """Data rows of a generated csv (no quoted line breaks in it): its lines but the header."""
    with path.open("rb") as handle:
        return sum(piece.count(b"\n") for piece in iter(lambda: handle.read(1 << 20), b"")) - 1


def _postgres() -> Any:
    """A throwaway PostgreSQL server (the one the tests use), or None without its binaries."""
    sys.path.insert(0, str(REPO))
    from tests.conftest import PostgresServer, _pg_bin

    bin_dir = _pg_bin()
    if bin_dir is None:
        return None
    server = PostgresServer(bin_dir)
    server.start()
    return server


def _versions() -> dict[str, str]:
    names = ("python-calamine", "pandas", "pandera", "SQLAlchemy", "psycopg", "xlsxwriter", "weasyprint", "fonttools")
    found = {}
    for name in names:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return found


def _source() -> dict[str, Any]:
    """The commit the benchmark ran on, and whether the checkout had changes not committed."""
    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    commit = git("rev-parse", "--short", "HEAD")
    changes = git("status", "--porcelain", "--untracked-files=no")
    return {"commit": commit, "uncommitted_changes": None if changes is None else bool(changes)}


def _target(name: str, value: float | None, target: float | None, unit: str, note: str = "") -> dict[str, Any]:
    """One target; ``met`` is None when there is no target, no value, or only a --small run."""
    return {
        "name": name,
        "value": value,
        "target": target,
        "unit": unit,
        "met": None if value is None or target is None or note else value <= target,
        **({"note": note} if note else {}),
    }


def run_benchmark(sizes: Sizes, workdir: Path, *, postgres: bool = True, log: Any = print) -> dict[str, Any]:
    started = time.perf_counter()
    load_at_start = os.getloadavg()
    log(f"generating data in {workdir} …")
    data: Dataset = generate(workdir / "data", sizes)
    log(f"  {data.generated_seconds:.1f} s")

    setup: dict[str, Any] = {"generate_seconds": round(data.generated_seconds, 2)}
    templates = {}
    for name, (units, members) in (("big", data.big_master), ("night", data.night_master)):
        db = workdir / f"template-{name}" / "var" / "gjj.db"
        db.parent.mkdir(parents=True, exist_ok=True)
        log(f"loading {name} master data (SQLite template) …")
        setup[f"load_master_{name}_sqlite"] = run_child(
            "load_master", {"home": str(db.parent.parent), "db_url": f"sqlite:///{db}", "units": str(units), "members": str(members)}, workdir
        )
        templates[name] = str(db)

    # Every measurement shares one font cache, as the runs and workers of one installation share
    # its var/cache/fonts; it is warmed first (an installation's first run pays that once).
    os.environ.setdefault("GJJ_FONT_CACHE", str(workdir / "font-cache"))
    log("warming the font cache …")
    setup["font_cache"] = os.environ["GJJ_FONT_CACHE"]
    setup["warm_font_cache"] = run_child("warm_font_cache", {"sizes": vars(sizes), "workdir": str(workdir)}, workdir)

    measured: dict[str, Any] = {}
    repeats = sizes.floor_repeats
    log("read floor …")
    measured["read_floor"] = run_child("read_floor", {"file": str(data.backpay), "repeats": repeats}, workdir)
    measured["read_floor_remit"] = run_child("read_floor", {"file": str(data.remit), "repeats": repeats}, workdir)
    log("xlsxwriter floor …")
    measured["xlsxwriter_floor"] = run_child(
        "xlsxwriter_floor", {"file": str(data.backpay_rejected), "repeats": repeats, "workdir": str(workdir)}, workdir
    )
    for key, file in (
        ("backpay_100k_accepted", data.backpay),
        ("backpay_100k_rejected", data.backpay_rejected),
        ("base_adjust_100k", data.base_adjust),
        ("remit_100k", data.remit),
    ):
        runs = []
        for attempt in range(sizes.big_file_repeats):
            log(f"{key} ({attempt + 1}/{sizes.big_file_repeats}) …")
            home = workdir / f"home-{key}-{attempt}"
            spec = {"home": str(home), "template_db": templates["big"], "file": str(file), "unit": BIG_UNIT}
            runs.append(run_child("big_file", spec, workdir))
            shutil.rmtree(home, ignore_errors=True)
        measured[key] = _median_run(runs)

    runs = []
    for attempt in range(sizes.big_file_repeats):
        log(f"whole gjj run process, 100k back-pay ({attempt + 1}/{sizes.big_file_repeats}) …")
        runs.append(run_whole_process(workdir / f"home-process-{attempt}", templates["big"], data.backpay))
    measured["process_backpay_100k"] = _median_run(runs)

    log(f"city master data ({sizes.city_members} members, {sizes.city_units} units) …")
    city_started = time.perf_counter()
    city = city_master(workdir / "data" / "city", sizes.city_members, sizes.city_units)
    setup["generate_city_seconds"] = round(time.perf_counter() - city_started, 2)
    loads: dict[str, Any] = {}
    log("gjj load of the city on SQLite …")
    home = workdir / "home-load-sqlite"
    loads["sqlite"] = run_load(home, None, city)
    log("gjj load of the same files again (nothing changed) on SQLite …")
    loads["sqlite_again"] = run_load(home, None, city)
    shutil.rmtree(home, ignore_errors=True)

    nights: dict[str, dict[str, Any]] = {}
    for workers in sizes.night_workers:
        log(f"night on SQLite, {workers} worker(s) …")
        home = workdir / f"home-night-sqlite-{workers}"
        (home / "var").mkdir(parents=True, exist_ok=True)
        shutil.copyfile(templates["night"], home / "var" / "gjj.db")
        nights[f"sqlite_{workers}"] = run_night(workers, home, f"sqlite:///{home / 'var' / 'gjj.db'}", data.night_inbox, workdir)
        shutil.rmtree(home, ignore_errors=True)

    server = _postgres() if postgres else None
    if server is None:
        skipped = {"skipped": "PostgreSQL binaries (initdb) not found" if postgres else "--no-postgres"}
        for workers in sizes.night_workers:
            nights[f"postgresql_{workers}"] = dict(skipped)
        loads["postgresql"] = dict(skipped)
    else:
        try:
            log("gjj load of the city on PostgreSQL …")
            home = workdir / "home-load-postgresql"
            loads["postgresql"] = run_load(home, server.new_database(), city)
            shutil.rmtree(home, ignore_errors=True)
            units, members = data.night_master
            for workers in sizes.night_workers:
                log(f"night on PostgreSQL, {workers} worker(s) …")
                url = server.new_database()
                home = workdir / f"home-night-postgresql-{workers}"
                setup[f"load_master_night_postgresql_{workers}"] = run_child(
                    "load_master", {"home": str(home), "db_url": url, "units": str(units), "members": str(members)}, workdir
                )
                nights[f"postgresql_{workers}"] = run_night(workers, home, url, data.night_inbox, workdir)
                shutil.rmtree(home, ignore_errors=True)
        finally:
            server.stop()
    measured["night"] = nights
    measured["load_city"] = loads

    log("slip PDFs …")
    measured["slip_pdf"] = run_child("slips", {"sizes": vars(sizes), "workdir": str(workdir)}, workdir)

    log("start-up of the light commands …")
    startup = measure_startup(workdir, repeats=5 if sizes == FULL else 1)

    floor = measured["read_floor"]["seconds"]
    accepted = measured["backpay_100k_accepted"]
    rejected = measured["backpay_100k_rejected"]
    plain = measured["xlsxwriter_floor"]["seconds"]
    ratios = {
        "accepted_vs_read_floor": round(accepted["seconds"] / floor, 2),
        "rejected_vs_xlsxwriter_floor": round(rejected["seconds"] / plain, 2),
        "rejected_vs_read_floor": round(rejected["seconds"] / floor, 2),
        "base_adjust_vs_read_floor": round(measured["base_adjust_100k"]["seconds"] / floor, 2),
        "remit_vs_its_read_floor": round(measured["remit_100k"]["seconds"] / measured["read_floor_remit"]["seconds"], 2),
        "process_vs_read_floor": round(measured["process_backpay_100k"]["seconds"] / floor, 2),
    }
    process = measured["process_backpay_100k"]
    nights = measured["night"]
    most = max(sizes.night_workers)

    def night_seconds(database: str, workers: int) -> float | None:
        return nights[f"{database}_{workers}"].get("seconds")

    full = sizes == FULL
    note = "" if full else "--small run: tiny inputs, the numbers say nothing about the targets"
    targets = [
        _target("100k back-pay file end to end ÷ calamine read floor", ratios["accepted_vs_read_floor"], TARGETS["accepted_vs_read_floor"], "×", note),
        _target(
            "rejected 100k file (1% bad cells) end to end ÷ xlsxwriter plain write",
            ratios["rejected_vs_xlsxwriter_floor"],
            TARGETS["rejected_vs_xlsxwriter_floor"],
            "×",
            note,
        ),
        _target("peak RSS of the 100k back-pay run", accepted["peak_rss_mb"], TARGETS["peak_rss_mb"], "MB", note),
        _target(
            "whole gjj run process (start-up included), 100k back-pay file ÷ calamine read floor",
            ratios["process_vs_read_floor"],
            TARGETS["process_vs_read_floor"],
            "×",
            note,
        ),
        _target("peak RSS of the whole gjj run process, 100k back-pay file", process["peak_rss_mb"], TARGETS["process_peak_rss_mb"], "MB", note),
        _target("100k-member 汇缴清册 end to end ÷ calamine read of that file", ratios["remit_vs_its_read_floor"], TARGETS["remit_vs_read_floor"], "×", note),
        _target("peak RSS of the 100k 汇缴清册 run", measured["remit_100k"]["peak_rss_mb"], TARGETS["peak_rss_mb"], "MB", note),
        _target(
            f"1,000-file night on SQLite, {most} workers on {os.cpu_count()} cores",
            night_seconds("sqlite", most),
            TARGETS["night_sqlite_seconds"],
            "s",
            note,
        ),
        *(
            _target(f"1,000-file night on SQLite, {workers} worker", night_seconds("sqlite", workers), TARGETS["night_sqlite_seconds"], "s", note)
            for workers in sizes.night_workers
            if workers != most
        ),
        *(
            _target(f"1,000-file night on PostgreSQL, {workers} worker(s) (reported, no target)", night_seconds("postgresql", workers), None, "s", note)
            for workers in sizes.night_workers
        ),
        _target("slip PDF after warm-up (mean)", measured["slip_pdf"]["seconds_mean"], TARGETS["slip_seconds"], "s", note),
        *(
            target
            for database in ("sqlite", "postgresql")
            for target in (
                _target(f"gjj load of the city ({sizes.city_members:,} members, {sizes.city_units:,} units) on {database}",
                        loads[database].get("seconds"), TARGETS["load_city_seconds"], "s", note),
                _target(f"peak RSS of the city's gjj load on {database}", loads[database].get("peak_rss_mb"), TARGETS["load_city_peak_rss_mb"], "MB", note),
            )
        ),
        _target("the city's gjj load again, nothing changed, on SQLite (reported, no target)", loads["sqlite_again"]["seconds"], None, "s", note),
    ]
    return {
        "schema": RESULTS_SCHEMA,
        "command": "python -m benchmarks.run" + ("" if full else " --small"),
        "small": not full,
        "generated_at": datetime.now().isoformat(timespec="seconds"),
        "source": _source(),
        "machine": {
            "cpus": os.cpu_count(),
            "load_average_at_start": [round(value, 2) for value in load_at_start],
            "load_average_at_end": [round(value, 2) for value in os.getloadavg()],
            "platform": platform.platform(),
            "python": platform.python_version(),
            "packages": _versions(),
        },
        "data": data.describe(),
        "summary": {
            "read_floor_seconds": floor,
            "backpay_100k_seconds": accepted["seconds"],
            "ratio_to_read_floor": ratios["accepted_vs_read_floor"],
            "rows_per_second": accepted["rows_per_second"],
            "peak_rss_mb": accepted["peak_rss_mb"],
            "rejected_100k_seconds": rejected["seconds"],
            "xlsxwriter_floor_seconds": plain,
            "ratio_rejected_to_xlsxwriter_floor": ratios["rejected_vs_xlsxwriter_floor"],
            **{
                f"night_{database}_seconds_{workers}_worker{'s' if workers > 1 else ''}": night_seconds(database, workers)
                for database in ("sqlite", "postgresql")
                for workers in sizes.night_workers
            },
            "remit_100k_seconds": measured["remit_100k"]["seconds"],
            "remit_read_floor_seconds": measured["read_floor_remit"]["seconds"],
            "ratio_remit_to_its_read_floor": ratios["remit_vs_its_read_floor"],
            "remit_peak_rss_mb": measured["remit_100k"]["peak_rss_mb"],
            "slip_seconds_after_warmup": measured["slip_pdf"]["seconds_mean"],
            "process_backpay_100k_seconds": process["seconds"],
            "ratio_process_to_read_floor": ratios["process_vs_read_floor"],
            "process_peak_rss_mb": process["peak_rss_mb"],
            "load_city_members": sizes.city_members,
            "load_city_units": sizes.city_units,
            **{f"load_city_{name}_seconds": loads[name].get("seconds") for name in ("sqlite", "sqlite_again", "postgresql")},
            **{f"load_city_{name}_peak_rss_mb": loads[name].get("peak_rss_mb") for name in ("sqlite", "sqlite_again", "postgresql")},
        },
        "ratios": ratios,
        "targets": targets,
        "measurements": measured,
        "setup": setup,
        "startup": {"command": "python -m benchmarks.run" + ("" if sizes == FULL else " --small"), **startup},
        "total_seconds": round(time.perf_counter() - started, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", action="store_true", help="tiny inputs (the test of the harness); the numbers mean nothing")
    parser.add_argument("--output", type=Path, default=None, help=f"where to write the results (default {DEFAULT_OUTPUT}; with --small: print only)")
    parser.add_argument("--workdir", type=Path, default=None, help="where to generate data (default: a temporary folder, removed afterwards)")
    parser.add_argument("--no-postgres", action="store_true", help="skip the PostgreSQL night")
    parser.add_argument("--child", nargs=3, metavar=("TASK", "SPEC", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child_main(*args.child)
        return 0

    sizes = SMALL if args.small else FULL
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="gjj-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        results = run_benchmark(sizes, workdir.resolve(), postgres=not args.no_postgres, log=lambda text: print(text, file=sys.stderr, flush=True))
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    text = json.dumps(results, ensure_ascii=False, indent=2) + "\n"
    output = args.output or (None if args.small else DEFAULT_OUTPUT)
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text, encoding="utf-8")
        print(f"wrote {output}", file=sys.stderr)
    else:
        print(text)
    for target in results["targets"]:
        verdict = {True: "met", False: "MISSED", None: "reported"}[target["met"]]
        limit = "" if target["target"] is None else f" (target ≤ {target['target']}{target['unit']})"
        print(f"{target['name']}: {target['value']}{target['unit']}{limit} — {verdict}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
