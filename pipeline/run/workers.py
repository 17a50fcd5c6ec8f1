"""``gjj run --workers N``: the run's own process and N − 1 helper processes share the inbox.

A helper is ``gjj run --helper-of <run_id>`` on this machine: it takes files the way any worker
does (one unit at a time, see :mod:`pipeline.intake.locks`) and ends when its pass over the inbox is
done. The run's own process then rebuilds the helpers' results from the database, the source of
truth, and rewrites the business day's staff summary, which has the helpers' failures too (they
are run events in the database, :mod:`pipeline.run.day`).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from datetime import date
from pathlib import Path
from typing import IO


class HelperProcesses:
    """Helper processes started for one run (implements :class:`pipeline.run.processor.Helpers`)."""

    def __init__(self, processes: list[tuple[subprocess.Popen[bytes], IO[bytes]]]):
        self.processes = processes

    @classmethod
    def start(cls, count: int, *, home: Path, run_id: str, business_date: date, config_path: Path | None = None) -> HelperProcesses:
        command = [sys.executable, "-m", "pipeline", "run", "--helper-of", run_id, "--business-date", business_date.isoformat()]
        if config_path is not None:
            command += ["--config", str(config_path)]
        environment = {**os.environ, "GJJ_HOME": str(home)}
        processes = []
        for _ in range(count):
            errors = tempfile.TemporaryFile()  # a file, not a pipe: a chatty helper never blocks on it
            processes.append((subprocess.Popen(command, env=environment, stdout=subprocess.DEVNULL, stderr=errors), errors))
        return cls(processes)

    def wait(self) -> list[str]:
        failures = []
        for number, (process, errors) in enumerate(self.processes, start=1):
            code = process.wait()
            errors.seek(0)
            tail = errors.read().decode("utf-8", "replace").strip()[-800:]
            errors.close()
            if code != 0:
                failures.append(f"辅助进程 {number} 异常退出（返回码 {code}）：{tail}")
        return failures
