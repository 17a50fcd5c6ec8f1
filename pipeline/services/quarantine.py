"""隔离区: the files the processor moved to ``quarantine/<单位账号>/`` unread or unreadable, and
putting one back into its unit's inbox to be processed again (the staff console's 重新处理).

Two kinds land there (:mod:`pipeline.intake.archive`, :mod:`pipeline.run.processor`): a link or a
stray file moved unread, named ``<time>_<name>`` with a ``.reason.json`` note beside it; and a file
whose batch was stored (unreadable, too large, or from a folder that is not a unit), named
``<batch_id>_<name>``, its reasons the batch's file-level issues. The ``<batch_id>_result.json``
written for an unknown unit is an output, not a file to process again, and is not listed.

Back to the inbox under its original name, atomically and never over a file there: a hard link
made at the new name (which fails if the name is taken) and then the quarantined name removed. A
link is never put back (it would only be quarantined again), nor a stray file (no unit to put it in).
"""

from __future__ import annotations

import errno
import json
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from pipeline.config import Home
from pipeline.intake.scan import STRAY_FOLDER
from pipeline.store.tables import Batch, BatchIssue

NOTE_SUFFIX = ".reason.json"
RESULT_SUFFIX = "_result.json"


@dataclass(frozen=True)
class QuarantinedFile:
    folder: str
    name: str
    original_name: str
    reason: str
    moved_at: datetime
    is_link: bool
    batch_id: str = ""

    @property
    def requeue_refused(self) -> str | None:
        """Why this file cannot go back to an inbox, or None."""
        if self.is_link:
            return "符号链接不会被读取，不能重新处理；请单位上传文件本身"
        if self.folder == STRAY_FOLDER:
            return "文件不在单位目录中，无法确定所属单位，不能重新处理"
        return None


def _plain(name: str) -> bool:
    return bool(name) and name not in (".", "..") and "/" not in name and "\x00" not in name and not name.startswith(".")


def _entry(session: Session, path: Path) -> QuarantinedFile:
    folder, name = path.parent.name, path.name
    note = path.with_name(name + NOTE_SUFFIX)
    moved_at = datetime.fromtimestamp(path.lstat().st_mtime).replace(microsecond=0)
    if note.is_file():
        try:
            data = json.loads(note.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            data = {}
        data = data if isinstance(data, dict) else {}
        original = str(data.get("source_file") or name.split("_", 1)[-1])
        moved_at = datetime.fromtimestamp(note.lstat().st_mtime).replace(microsecond=0)
        return QuarantinedFile(folder, name, original, str(data.get("message", "")), moved_at, path.is_symlink())
    batch_id, _, rest = name.partition("_")
    batch = session.scalars(select(Batch).where(Batch.batch_id == batch_id, Batch.unit_account == folder)).first()
    if batch is None or batch.source_name != rest:
        return QuarantinedFile(folder, name, rest or name, "", moved_at, path.is_symlink())
    issues = session.scalars(select(BatchIssue.message).where(BatchIssue.batch_pk == batch.id, BatchIssue.excel_row.is_(None)).order_by(BatchIssue.id)).all()
    return QuarantinedFile(folder, name, batch.source_name, "；".join(issues), moved_at, path.is_symlink(), batch_id)


def quarantined_files(session: Session, home: Home) -> list[QuarantinedFile]:
    """Every file waiting in ``quarantine/``, newest first, with why it is there."""
    found = []
    root = home.quarantine
    if not root.is_dir():
        return []
    for folder in sorted(root.iterdir()):
        if folder.is_symlink() or not folder.is_dir() or not _plain(folder.name):
            continue
        for path in sorted(folder.iterdir()):
            if path.name.endswith((NOTE_SUFFIX, RESULT_SUFFIX)) or not _plain(path.name) or not (path.is_file() or path.is_symlink()):
                continue
            found.append(_entry(session, path))
    return sorted(found, key=lambda item: item.moved_at, reverse=True)


@dataclass(frozen=True)
class Requeued:
    moved_to: Path | None = None
    refused: str | None = None


def requeue(session: Session, home: Home, folder: str, name: str) -> Requeued:
    """Move ``quarantine/<folder>/<name>`` back to ``inbox/<folder>/`` under its original name."""
    if not (_plain(folder) and _plain(name)) or name.endswith((NOTE_SUFFIX, RESULT_SUFFIX)):
        return Requeued(refused="隔离区中没有该文件")
    path = home.quarantine / folder / name
    if not (path.is_file() or path.is_symlink()):
        return Requeued(refused="隔离区中没有该文件（可能已被重新处理）")
    entry = _entry(session, path)
    if entry.requeue_refused is not None:
        return Requeued(refused=entry.requeue_refused)
    if not _plain(entry.original_name):
        return Requeued(refused="原文件名无效，不能重新处理")
    inbox = home.inbox / folder
    if inbox.is_symlink():
        return Requeued(refused=f"收件箱中的单位目录 {folder} 是符号链接，不能放回")
    inbox.mkdir(parents=True, exist_ok=True)
    target = inbox / entry.original_name
    try:
        os.link(path, target, follow_symlinks=False)  # fails, changing nothing, when the name is taken
    except FileExistsError:
        return Requeued(refused=f"单位收件箱中已有同名文件「{entry.original_name}」，未放回；请先处理该文件")
    except OSError as error:
        if error.errno == errno.EXDEV:
            return Requeued(refused="隔离区与收件箱不在同一文件系统，不能原子地放回")
        raise
    os.unlink(path)
    path.with_name(name + NOTE_SUFFIX).unlink(missing_ok=True)
    return Requeued(moved_to=target)
