"""When the scanner first saw each file still waiting in the inbox: a unit's files are taken in that order.

A file's modification time is when the unit saved it (WinSCP and an Explorer copy keep it), never
when it arrived. What the scanner sees is the inode's change time ``st_ctime``: every write, rename
and ``utime`` sets it to the time it happened, and nothing sets it back. A file's arrival is its
change time at the first scan that saw it, kept for as long as the file waits, so a file whose
upload pauses and goes on later keeps its place ahead of the files that came after it.

The :class:`~pipeline.intake.scan.Settler` of ``gjj watch`` keeps these times while it runs;
``register`` (``var/arrivals.json``) keeps them from one ``gjj run`` to the next and across a
restart of the watcher. A file met for the first time arrived at its change time: when its upload
or copy ended. An entry counts only for the same inode, so a file replaced under the same name
arrives anew.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)

REGISTER_NAME = "arrivals.json"


class ArrivalTimes:
    """``path → (st_ino, arrival in ns)`` for the files seen and still waiting; saved when it changes."""

    def __init__(self, register: Path | None = None):
        self.register = register
        self._known: dict[Path, tuple[int, int]] = self._load()
        self._saved = dict(self._known)

    def _load(self) -> dict[Path, tuple[int, int]]:
        if self.register is None:
            return {}
        try:
            files = json.loads(self.register.read_text(encoding="utf-8"))["files"]
            return {Path(path): (int(ino), int(arrived)) for path, (ino, arrived) in files.items()}
        except FileNotFoundError:
            return {}
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("%s cannot be read (%s): files met again are ordered by their change time", self.register, exc)
            return {}

    def arrived(self, path: Path, info: os.stat_result, seen_ns: int = 0) -> int:
        """When the file was first seen: ``seen_ns`` (its change time at this scan) if this is the first time."""
        known = self._known.get(path)
        if known is None or known[0] != info.st_ino:
            known = self._known[path] = (info.st_ino, seen_ns or info.st_ctime_ns)
        return known[1]

    def forget(self, path: Path) -> None:
        self._known.pop(path, None)

    def keep_only(self, present: set[Path]) -> None:
        """Forget the files that have left the inbox, and save the register if anything changed."""
        for path in [path for path in self._known if path not in present]:
            del self._known[path]
        if self.register is None or self._known == self._saved:
            return
        data = {"files": {str(path): list(value) for path, value in sorted(self._known.items())}}
        staging = self.register.with_name(f".{self.register.name}.tmp-{os.getpid()}")
        try:
            staging.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
            os.replace(staging, self.register)
        except OSError as exc:
            log.warning("%s cannot be written (%s): the next run orders what waits by change time", self.register, exc)
            return
        self._saved = dict(self._known)
