"""Intake: which files in ``inbox/<单位账号>/`` are ready, and where they go afterwards.

A processed file moves to ``archive/<单位账号>/``, an unreadable or unsafe one to
``quarantine/<单位账号>/``. Nothing is ever deleted; a name already taken gets the batch id or a
time stamp in front, so nothing is overwritten either.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

TEMPORARY_SUFFIXES = (".part", ".tmp", ".filepart", ".crdownload", ".done")


@dataclass(frozen=True)
class Arrival:
    """A file waiting in a unit's inbox folder."""

    path: Path
    unit_account: str

    @property
    def name(self) -> str:
        return self.path.name


def is_temporary(name: str) -> bool:
    """Names a sender is still writing (or that are not business files at all)."""
    lowered = name.lower()
    return name.startswith((".", "~$")) or lowered.endswith(TEMPORARY_SUFFIXES)


def waiting_files(inbox: Path) -> list[Arrival]:
    """Files in every unit folder, oldest first (arrival order), temporary names skipped."""
    arrivals: list[tuple[float, str, Arrival]] = []
    if not inbox.is_dir():
        return []
    for unit_dir in sorted(inbox.iterdir()):
        if unit_dir.is_symlink() or not unit_dir.is_dir() or unit_dir.name.startswith((".", "_")):
            continue
        for path in unit_dir.iterdir():
            if is_temporary(path.name) or path.is_dir():
                continue
            arrivals.append((path.lstat().st_mtime, path.name, Arrival(path, unit_dir.name)))
    return [arrival for _, _, arrival in sorted(arrivals, key=lambda item: (item[0], item[1]))]


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _free_name(folder: Path, name: str, prefix: str) -> Path:
    target = folder / f"{prefix}_{name}"
    counter = 1
    while target.exists():
        target = folder / f"{prefix}_{counter}_{name}"
        counter += 1
    return target


def move_to(arrival: Arrival, root: Path, prefix: str | None = None) -> Path:
    """Move the file into ``root/<单位账号>/``; the move is atomic on one file system."""
    folder = root / arrival.unit_account
    folder.mkdir(parents=True, exist_ok=True)
    target = _free_name(folder, arrival.name, prefix or datetime.now().strftime("%Y%m%d%H%M%S"))
    try:
        os.rename(arrival.path, target)
    except OSError:
        shutil.move(str(arrival.path), target)
    return target
