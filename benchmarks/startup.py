"""Start-up of the light commands (issue #21): ``python -m benchmarks.startup [--repeats N] [--output F]``.

Each command runs as a whole process, ``python -m pipeline ARGS`` (what the ``gjj`` script runs,
from this checkout), against a home whose SQLite database is already migrated; the time is the
median wall-clock of ``--repeats`` runs after one warm-up run (which writes the bytecode caches).
``python -c pass`` is measured the same way: the interpreter's own start-up, the floor. One more
run under ``python -X importtime`` gives the seconds spent importing and the heaviest top-level
imports, which is where a command's start-up goes.

``--output`` puts the measures under ``"startup"`` in that results file (``benchmarks/results.json``),
leaving the rest of it as the full benchmark wrote it; :mod:`benchmarks.run` measures the same in
its run. Nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
TARGET_SECONDS = 0.3
#: The light commands of issue #21, by the name the results give them.
COMMANDS: dict[str, tuple[str, ...]] = {
    "help": ("--help",),
    "remit_help": ("remit", "--help"),
    "review_list": ("review", "list"),
    "backpay_list": ("backpay", "list", "--unit", "0100001"),
    "remit_list": ("remit", "list", "--unit", "0100001"),
}
HEAVIEST = 6


def _environment(home: Path) -> dict[str, str]:
    environment = {**os.environ, "GJJ_HOME": str(home), "PYTHONPATH": str(REPO)}
    environment.pop("GJJ_DB", None)  # the home's SQLite database
    return environment


def _timed(command: list[str], environment: dict[str, str], cwd: Path) -> float:
    started = time.perf_counter()
    subprocess.run(command, env=environment, cwd=cwd, capture_output=True, check=False)
    return time.perf_counter() - started


def import_profile(args: tuple[str, ...], environment: dict[str, str], cwd: Path) -> dict[str, Any]:
    """Seconds spent importing, and the heaviest top-level imports, of ``python -m pipeline ARGS``."""
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "pipeline", *args], env=environment, cwd=cwd, capture_output=True, text=True)
    top: dict[str, int] = {}
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or line.startswith("import time: self"):
            continue
        _, cumulative, name = line.split("|")
        if not name.startswith("  "):  # a top-level import: one space after the bar
            top[name.strip()] = int(cumulative)
    heaviest = sorted(top.items(), key=lambda item: -item[1])[:HEAVIEST]
    return {"import_seconds": round(sum(top.values()) / 1e6, 3), "heaviest_imports": {name: round(us / 1e6, 3) for name, us in heaviest}}


def measure_startup(workdir: Path, repeats: int = 5) -> dict[str, Any]:
    """Each light command's start-up (median of ``repeats`` whole processes), and the interpreter's."""
    home = workdir / "home-startup"
    environment = _environment(home)
    home.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "pipeline", "init"], env=environment, cwd=home, capture_output=True, check=True)
    interpreter = [_timed([sys.executable, "-c", "pass"], environment, home) for _ in range(repeats)]
    commands: dict[str, Any] = {}
    for name, args in COMMANDS.items():
        command = [sys.executable, "-m", "pipeline", *args]
        _timed(command, environment, home)
        runs = [_timed(command, environment, home) for _ in range(repeats)]
        commands[name] = {
            "command": "gjj " + " ".join(args),
            "seconds": round(statistics.median(runs), 3),
            "runs": [round(run, 3) for run in runs],
            **import_profile(args, environment, home),
        }
    return {
        "generated_at": datetime.now().isoformat(timespec="seconds"),
        "load_average": [round(value, 2) for value in os.getloadavg()],
        "repeats": repeats,
        "interpreter_seconds": round(statistics.median(interpreter), 3),
        "target_seconds": TARGET_SECONDS,
        "commands": commands,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.startup", description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5, help="timed runs of each command (the median is kept)")
    parser.add_argument("--output", type=Path, default=None, help="a results file to put the measures in, under \"startup\" (default: print only)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="gjj-startup-") as folder:
        measured = measure_startup(Path(folder), args.repeats)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout.strip()
    measured = {"command": "python -m benchmarks.startup", "commit": commit, **measured}
    if args.output is None:
        print(json.dumps(measured, ensure_ascii=False, indent=2))
    else:
        results = json.loads(args.output.read_text(encoding="utf-8")) if args.output.exists() else {}
        results["startup"] = measured
        args.output.write_text(json.dumps(results, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        print(f"wrote startup to {args.output}", file=sys.stderr)
    for name, measure in measured["commands"].items():
        verdict = "met" if measure["seconds"] <= TARGET_SECONDS else "MISSED"
        print(f"{measure['command']}: {measure['seconds']} s (imports {measure['import_seconds']} s; target ≤ {TARGET_SECONDS} s) — {verdict}", file=sys.stderr)
    print(f"python -c pass: {measured['interpreter_seconds']} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
