"""Where a file goes once it leaves the inbox: ``archive/`` (processed) or ``quarantine/`` (unreadable,
unsafe, or from a folder that is not a unit), always under its unit's folder and never overwriting."""

from __future__ import annotations

import json
import logging
import os
import shutil
from datetime import datetime
from pathlib import Path

from pipeline.errors import Code
from pipeline.intake.scan import Arrival, scan

log = logging.getLogger(__name__)


def _free_name(folder: Path, name: str, prefix: str) -> Path:
    target = folder / f"{prefix}_{name}"
    counter = 1
    while target.exists() or target.is_symlink():
        target = folder / f"{prefix}_{counter}_{name}"
        counter += 1
    return target


def move_into(path: Path, folder: Path, prefix: str | None = None) -> Path:
    """Move ``path`` (a link itself, never its target) into ``folder``; atomic on one file system."""
    folder.mkdir(parents=True, exist_ok=True)
    target = _free_name(folder, path.name, prefix or datetime.now().strftime("%Y%m%d%H%M%S"))
    try:
        os.rename(path, target)
    except OSError:
        if path.is_dir() and not path.is_symlink():
            shutil.move(str(path), target)
        else:
            _copy_across(path, target)
    return target


def _copy_across(path: Path, target: Path) -> None:
    """Onto another file system: copied under a hidden name, renamed into place, then the original
    removed. A copy that fails (a full or read-only archive) leaves nothing behind but the original."""
    staging = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    try:
        if path.is_symlink():
            os.symlink(os.readlink(path), staging)
        else:
            shutil.copy2(path, staging)
        os.rename(staging, target)
    except BaseException:
        staging.unlink(missing_ok=True)
        raise
    path.unlink()


def move_to(arrival: Arrival, root: Path, prefix: str | None = None) -> Path:
    """Move the file, and its done-file if any, into ``root/<单位账号>/``."""
    folder = root / arrival.unit_account
    done = arrival.done_file
    target = move_into(arrival.path, folder, prefix)
    if done.exists():
        move_into(done, folder, prefix)
    return target


def quarantine_unsafe(inbox: Path, quarantine: Path) -> list[tuple[Path, str]]:
    """Links and stray files are moved away unread, with a ``.reason.json`` note saying why; where each went, and why."""
    moved = []
    for entry in scan(inbox).unsafe:
        target = move_into(entry.path, quarantine / entry.unit_account)
        note = {"source_file": entry.path.name, "unit": entry.unit_account, "code": str(Code.FILE_UNREADABLE), "message": entry.reason}
        target.with_name(target.name + ".reason.json").write_text(json.dumps(note, ensure_ascii=False, indent=2), encoding="utf-8")
        log.warning("quarantined %s/%s: %s", entry.unit_account, entry.path.name, entry.reason)
        moved.append((target, entry.reason))
    return moved
