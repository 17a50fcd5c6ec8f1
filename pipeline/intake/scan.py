"""Intake: which files in ``inbox/<单位账号>/`` are complete, in which order, and where they go afterwards.

**Arrival order.** A unit's files are processed in the order they arrived in the inbox: a 封存 before
the 启封 that follows it. A file's modification time says nothing about that — WinSCP's "preserve
timestamp" and an Explorer copy keep the time the unit *saved* the file — so it is never used. A file
arrived when the scanner first saw it; what it saw is the inode's change time ``st_ctime`` (set by
every write, rename and ``utime``, and never set back by one), kept for as long as the file waits
(:mod:`pipeline.intake.arrivals`: by the :class:`Settler`, and from one run to the next), so a file
that keeps being written keeps its place. A file met for the first time arrived at its change time:
when its upload or copy ended.

**Complete.** A file is taken only once it is complete: its size, mtime and ctime have not changed
for the settle time, or its change time is already that old, or its sender wrote a done-file
(``x.xlsx.done``) beside it — and in every case no process of this host has it open for writing
(:mod:`pipeline.intake.writers`), so an upload that merely pauses is never read half-written. A
unit's files that arrived after one that is not complete yet wait for it. Names a sender is still
writing (``.part``, ``.tmp``, ``.filepart``, ``~$…``, dot-files) are ignored until renamed.

**Reported, never taken.** A unit folder the processor cannot read and a file it may not read are
reported (:class:`NoAccess`); the other units go on. Files in a subfolder of a unit folder are
reported (:class:`Ignored`) and left where they are.

Anything unsafe in the inbox — a symbolic link, a file directly in ``inbox/`` instead of a unit
folder — is never opened; it is moved to ``quarantine/`` as it is (a link is moved, not
followed). A processed file moves to ``archive/<单位账号>/``, an unreadable one to
``quarantine/<单位账号>/``. Nothing is ever deleted; a name already taken gets the batch id or a
time stamp in front, so nothing is overwritten either.
"""

from __future__ import annotations

import hashlib
import logging
import os
import stat
import time
from collections.abc import Callable, Collection, Container
from dataclasses import dataclass, field, replace
from pathlib import Path

from pipeline.intake.arrivals import ArrivalTimes
from pipeline.intake.writers import open_for_writing

log = logging.getLogger(__name__)

TEMPORARY_SUFFIXES = (".part", ".tmp", ".filepart", ".crdownload")
DONE_SUFFIX = ".done"
STRAY_FOLDER = "_inbox"
IN_SUBFOLDER = "子目录中的文件不会被处理，请直接放在单位目录下"
FOLDER_NO_ACCESS = "无法读取单位目录（{why}），该单位的文件本次都未处理；请系统管理员检查该目录的属主和权限"
INBOX_NO_ACCESS = "无法读取收件箱目录（{why}），所有单位的文件本次都未处理；请系统管理员检查该目录的属主和权限"
FILE_NO_ACCESS = "无法读取文件（{why}），文件留在收件箱，该单位此后上传的文件也等待；请单位重新上传，或由系统管理员检查文件权限"

#: What a :class:`Settler` asks for the files open for writing on this host, among some inode numbers.
Writers = Callable[[Collection[int]], Container[tuple[int, int]]]


@dataclass(frozen=True)
class Arrival:
    """A file waiting in a unit's inbox folder; ``arrived_ns`` orders a unit's files."""

    path: Path
    unit_account: str
    arrived_ns: int = field(default=0, compare=False)

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


@dataclass(frozen=True)
class NoAccess:
    """A unit folder (``name`` empty) or a file the processor may not read, and why (in Chinese)."""

    path: Path
    unit_account: str
    reason: str
    folder: bool = False

    @property
    def name(self) -> str:
        return "" if self.folder else self.path.name


@dataclass(frozen=True)
class Ignored:
    """A file in a subfolder of a unit folder: reported, never processed or moved."""

    path: Path
    unit_account: str
    name: str  # relative to the unit folder, e.g. ``sub/x.xlsx``
    reason: str = IN_SUBFOLDER


@dataclass
class InboxScan:
    """What one look at the inbox found: candidates in arrival order, and what is only reported."""

    arrivals: list[Arrival] = field(default_factory=list)
    unsafe: list[Unsafe] = field(default_factory=list)
    no_access: list[NoAccess] = field(default_factory=list)
    ignored: list[Ignored] = field(default_factory=list)


def is_temporary(name: str) -> bool:
    """Names a sender is still writing (or that are not business files at all)."""
    lowered = name.lower()
    return name.startswith((".", "~$")) or lowered.endswith(TEMPORARY_SUFFIXES) or lowered.endswith(DONE_SUFFIX)


def _why(error: OSError) -> str:
    return "没有读取权限" if isinstance(error, PermissionError) else (error.strerror or type(error).__name__)


def _in_subfolder(folder: Path, unit_account: str) -> list[Ignored]:
    """Every file below a subfolder of a unit folder (links are not followed)."""
    found: list[Ignored] = []
    unit_folder = folder.parent

    def unreadable(error: OSError) -> None:
        if error.filename:
            found.append(Ignored(Path(error.filename), unit_account, f"{Path(error.filename).relative_to(unit_folder).as_posix()}/"))

    for root, _, names in os.walk(folder, onerror=unreadable):
        for name in sorted(names):
            if not is_temporary(name):
                path = Path(root) / name
                found.append(Ignored(path, unit_account, path.relative_to(unit_folder).as_posix()))
    return found


def _scan_unit(folder: Path, found: InboxScan, saved: dict[Path, int]) -> None:
    """One unit folder: its files, links and subfolders; a folder it may not read is reported whole."""
    unit = folder.name
    part = InboxScan()
    try:
        with os.scandir(folder) as entries:
            for entry in entries:
                if is_temporary(entry.name):
                    continue
                path = Path(entry.path)
                try:
                    info = entry.stat(follow_symlinks=False)
                except FileNotFoundError:
                    continue  # taken by another worker while looking
                if stat.S_ISLNK(info.st_mode):
                    part.unsafe.append(Unsafe(path, unit, "文件是符号链接，已隔离，未读取"))
                elif stat.S_ISDIR(info.st_mode):
                    part.ignored.extend(_in_subfolder(path, unit))
                elif stat.S_ISREG(info.st_mode):
                    part.arrivals.append(Arrival(path, unit, info.st_ctime_ns))
                    saved[path] = info.st_mtime_ns
                    if not os.access(path, os.R_OK, effective_ids=True):
                        part.no_access.append(NoAccess(path, unit, FILE_NO_ACCESS.format(why="没有读取权限")))
    except FileNotFoundError:
        return  # the folder was removed while looking
    except OSError as error:
        found.no_access.append(NoAccess(folder, unit, FOLDER_NO_ACCESS.format(why=_why(error)), folder=True))
        return
    found.arrivals.extend(part.arrivals)
    found.unsafe.extend(part.unsafe)
    found.no_access.extend(part.no_access)
    found.ignored.extend(part.ignored)


def scan(inbox: Path) -> InboxScan:
    """Every candidate file in arrival order (oldest change time first), and what is only reported.

    Change times are kept at the kernel's clock tick (a few ms), so files written in one tick
    tie; they are ordered by modification time, then name."""
    found = InboxScan()
    saved: dict[Path, int] = {}  # mtimes: only to order files whose change times tie (one clock tick)
    try:
        if not inbox.is_dir():  # a stat the inbox's folder refuses (EACCES) is no access too, not a crash
            return found
        entries = sorted(inbox.iterdir())
    except OSError as error:
        found.no_access.append(NoAccess(inbox, STRAY_FOLDER, INBOX_NO_ACCESS.format(why=_why(error)), folder=True))
        return found
    for entry in entries:
        if entry.name.startswith(".") or entry.name == ".gitkeep":
            continue
        if entry.is_symlink():
            found.unsafe.append(Unsafe(entry, STRAY_FOLDER, "收件箱中的单位目录是符号链接，已隔离，未读取"))
            continue
        if not entry.is_dir():
            if not is_temporary(entry.name):
                found.unsafe.append(Unsafe(entry, STRAY_FOLDER, "文件不在单位目录（inbox/<单位账号>/）中，已隔离，未读取"))
            continue
        _scan_unit(entry, found, saved)
    found.arrivals.sort(key=lambda arrival: (arrival.arrived_ns, saved[arrival.path], arrival.name))
    return found


def waiting_files(inbox: Path) -> list[Arrival]:
    return scan(inbox).arrivals


Snapshot = tuple[int, int, int]


def _stat(path: Path) -> os.stat_result | None:
    try:
        return path.lstat()
    except FileNotFoundError:
        return None


def _snapshot(info: os.stat_result) -> Snapshot:
    return info.st_size, info.st_mtime_ns, info.st_ctime_ns


def in_arrival_order(
    candidates: list[tuple[Arrival, tuple[int, int]]], settled: set[Path], writers: Writers, held: set[Path] | None = None
) -> list[Arrival]:
    """The settled files no process has open for writing, oldest arrival first; a unit's files
    after one that is not ready wait for it. One pass over ``/proc``, and only if needed."""
    candidates = sorted(candidates, key=lambda item: item[0].arrived_ns)  # stable: ties keep the scan's order
    inodes = {key[1] for arrival, key in candidates if arrival.path in settled}
    writing = writers(inodes) if inodes else ()
    ready: list[Arrival] = []
    waiting: set[str] = set()
    for arrival, key in candidates:
        if arrival.unit_account in waiting:
            continue
        if arrival.path in settled and key in writing:
            if held is None or arrival.path not in held:
                log.info("%s/%s is still open for writing: left until it is closed", arrival.unit_account, arrival.name)
                if held is not None:
                    held.add(arrival.path)
        elif arrival.path in settled:
            ready.append(arrival)
            continue
        waiting.add(arrival.unit_account)
    return ready


class Settler:
    """Remembers how each waiting file looked and when it arrived; a file is ready once unchanged
    for ``settle_seconds`` and not open for writing.

    A file whose change time is already ``settle_seconds`` old is ready at once (e.g. after a
    restart), and so is one whose sender wrote a done-file.
    """

    def __init__(
        self,
        settle_seconds: float,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        writers: Writers = open_for_writing,
        register: Path | None = None,
    ):
        self.settle_seconds = settle_seconds
        self.clock = clock
        self.wall = wall
        self.writers = writers
        self.arrivals = ArrivalTimes(register)
        self._seen: dict[Path, tuple[Snapshot, float]] = {}
        self._held: set[Path] = set()  # open for writing, already logged

    def ready(self, arrivals: list[Arrival]) -> list[Arrival]:
        now = self.clock()
        candidates: list[tuple[Arrival, tuple[int, int]]] = []
        settled: set[Path] = set()
        for arrival in arrivals:
            info = _stat(arrival.path)
            if info is None:
                continue
            arrival = replace(arrival, arrived_ns=self.arrivals.arrived(arrival.path, info, arrival.arrived_ns))
            candidates.append((arrival, (info.st_dev, info.st_ino)))
            snapshot = _snapshot(info)
            earlier = self._seen.get(arrival.path)
            if earlier is None or earlier[0] != snapshot:
                self._seen[arrival.path] = (snapshot, now)
                first_stable = now
            else:
                first_stable = earlier[1]
            age = self.wall() - info.st_ctime_ns / 1e9
            if arrival.done_file.exists() or age >= self.settle_seconds or now - first_stable >= self.settle_seconds:
                settled.add(arrival.path)
        present = {arrival.path for arrival, _ in candidates}
        for path in [path for path in self._seen if path not in present]:
            del self._seen[path]
        self.arrivals.keep_only(present)
        self._held &= present
        return in_arrival_order(candidates, settled, self.writers, self._held)

    def forget(self, arrival: Arrival) -> None:
        self._seen.pop(arrival.path, None)
        self.arrivals.forget(arrival.path)

    @property
    def pending(self) -> bool:
        """Files seen and not yet taken: worth looking again before the next full rescan."""
        return bool(self._seen)


def settled_files(
    inbox: Path,
    settle_seconds: float,
    sleep: Callable[[float], None] = time.sleep,
    writers: Writers = open_for_writing,
    register: Path | None = None,
) -> list[Arrival]:
    """For a one-shot run: the files that are complete now, in arrival order, waiting at most one
    settle period. A file still changing (or open for writing) after that is left for the next
    run (or for ``gjj watch``), and so are its unit's files that arrived after it; ``register``
    keeps when each was first seen for that run.
    """
    times = ArrivalTimes(register)
    arrivals: list[Arrival] = []
    wall = time.time()
    before: dict[Path, os.stat_result] = {}
    settled: set[Path] = set()
    for arrival in waiting_files(inbox):
        info = _stat(arrival.path)
        if info is None:
            continue
        arrival = replace(arrival, arrived_ns=times.arrived(arrival.path, info, arrival.arrived_ns))
        arrivals.append(arrival)
        before[arrival.path] = info
        if arrival.done_file.exists() or wall - info.st_ctime_ns / 1e9 >= settle_seconds:
            settled.add(arrival.path)
    if len(settled) < len(before) and settle_seconds > 0:
        sleep(settle_seconds)
        for path, info in before.items():
            after = _stat(path)
            if path not in settled and after is not None and _snapshot(after) == _snapshot(info):
                settled.add(path)
    times.keep_only(set(before))
    candidates = [(arrival, (before[arrival.path].st_dev, before[arrival.path].st_ino)) for arrival in arrivals]
    return in_arrival_order(candidates, settled, writers)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
