"""Intake: which files in ``inbox/<单位账号>/`` are complete, and where they go afterwards.

A file is taken only once it is complete: its size and mtime have not changed for the settle
time, or its sender wrote a done-file (``x.xlsx.done``) beside it. Names a sender is still writing
(``.part``, ``.tmp``, ``.filepart``, ``~$…``, dot-files) are ignored until renamed.

Anything unsafe in the inbox — a symbolic link, a file directly in ``inbox/`` instead of a unit
folder — is never opened; it is moved to ``quarantine/`` as it is (a link is moved, not
followed). A processed file moves to ``archive/<单位账号>/``, an unreadable one to
``quarantine/<单位账号>/``. Nothing is ever deleted; a name already taken gets the batch id or a
time stamp in front, so nothing is overwritten either.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

TEMPORARY_SUFFIXES = (".part", ".tmp", ".filepart", ".crdownload")
DONE_SUFFIX = ".done"
STRAY_FOLDER = "_inbox"


@dataclass(frozen=True)
class Arrival:
    """A file waiting in a unit's inbox folder."""

    path: Path
    unit_account: str

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def done_file(self) -> Path:
        return self.path.with_name(self.path.name + DONE_SUFFIX)


@dataclass(frozen=True)
class Unsafe:
    """Something in the inbox that must not be opened, and why."""

    path: Path
    unit_account: str
    reason: str


def is_temporary(name: str) -> bool:
    """Names a sender is still writing (or that are not business files at all)."""
    lowered = name.lower()
    return name.startswith((".", "~$")) or lowered.endswith(TEMPORARY_SUFFIXES) or lowered.endswith(DONE_SUFFIX)


def scan(inbox: Path) -> tuple[list[Arrival], list[Unsafe]]:
    """Every candidate file, oldest first (arrival order), and every unsafe entry."""
    arrivals: list[tuple[int, str, Arrival]] = []
    unsafe: list[Unsafe] = []
    if not inbox.is_dir():
        return [], []
    for entry in sorted(inbox.iterdir()):
        if entry.name.startswith(".") or entry.name == ".gitkeep":
            continue
        if entry.is_symlink():
            unsafe.append(Unsafe(entry, STRAY_FOLDER, "收件箱中的单位目录是符号链接，已隔离，未读取"))
            continue
        if not entry.is_dir():
            if not is_temporary(entry.name):
                unsafe.append(Unsafe(entry, STRAY_FOLDER, "文件不在单位目录（inbox/<单位账号>/）中，已隔离，未读取"))
            continue
        for path in entry.iterdir():
            if is_temporary(path.name):
                continue
            if path.is_symlink():
                unsafe.append(Unsafe(path, entry.name, "文件是符号链接，已隔离，未读取"))
                continue
            if path.is_dir():
                continue
            stat = path.lstat()
            arrivals.append((stat.st_mtime_ns, path.name, Arrival(path, entry.name)))
    return [arrival for _, _, arrival in sorted(arrivals, key=lambda item: (item[0], item[1]))], unsafe


def waiting_files(inbox: Path) -> list[Arrival]:
    return scan(inbox)[0]


def _snapshot(path: Path) -> tuple[int, int] | None:
    try:
        stat = path.lstat()
    except FileNotFoundError:
        return None
    return stat.st_size, stat.st_mtime_ns


class Settler:
    """Remembers how each waiting file looked; a file is ready once unchanged for ``settle_seconds``.

    A file whose mtime is already ``settle_seconds`` old is ready at once (e.g. after a restart),
    and so is one whose sender wrote a done-file.
    """

    def __init__(self, settle_seconds: float, clock: Callable[[], float] = time.monotonic, wall: Callable[[], float] = time.time):
        self.settle_seconds = settle_seconds
        self.clock = clock
        self.wall = wall
        self._seen: dict[Path, tuple[tuple[int, int], float]] = {}

    def ready(self, arrivals: list[Arrival]) -> list[Arrival]:
        now = self.clock()
        ready: list[Arrival] = []
        present = set()
        for arrival in arrivals:
            snapshot = _snapshot(arrival.path)
            if snapshot is None:
                continue
            present.add(arrival.path)
            earlier = self._seen.get(arrival.path)
            if earlier is None or earlier[0] != snapshot:
                self._seen[arrival.path] = (snapshot, now)
                first_stable = now
            else:
                first_stable = earlier[1]
            age = self.wall() - snapshot[1] / 1e9
            if arrival.done_file.exists() or age >= self.settle_seconds or now - first_stable >= self.settle_seconds:
                ready.append(arrival)
        for path in list(self._seen):
            if path not in present:
                del self._seen[path]
        return ready

    def forget(self, arrival: Arrival) -> None:
        self._seen.pop(arrival.path, None)

    @property
    def pending(self) -> bool:
        """Files seen and not yet taken: worth looking again before the next full rescan."""
        return bool(self._seen)


def settled_files(inbox: Path, settle_seconds: float, sleep: Callable[[float], None] = time.sleep) -> list[Arrival]:
    """For a one-shot run: the files that are complete now, waiting at most one settle period.

    A file still changing after that is left for the next run (or for ``gjj watch``).
    """
    arrivals = waiting_files(inbox)
    ready = set(Settler(settle_seconds).ready(arrivals))
    pending = {arrival: _snapshot(arrival.path) for arrival in arrivals if arrival not in ready}
    if pending and settle_seconds > 0:
        sleep(settle_seconds)
        ready.update(arrival for arrival, before in pending.items() if before is not None and _snapshot(arrival.path) == before)
    return [arrival for arrival in arrivals if arrival in ready]


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
