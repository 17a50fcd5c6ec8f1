"""Failures of the machine, not of a unit's file, in words the staff can act on (README "Faults").

A full disk, a read-only outbox, a database that is locked by another writer or cannot be
reached: the file in hand is rolled back (or, when only its outputs failed, its batch stays
stored), it stays in the inbox and the next run finishes it. :func:`describe` says what happened
in Chinese, keeping the system's own words after it; :func:`database_unavailable` tells a run
that the files after this one would fail the same way.
"""

from __future__ import annotations

import errno
import sqlite3
import sys

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from pipeline.errors import Fault
from pipeline.run.outcomes import RunSummary

#: What an operating-system error means for the staff, by errno.
DISK_ERRORS = {
    errno.ENOSPC: "磁盘空间已满",
    errno.EDQUOT: "超出磁盘配额",
    errno.EROFS: "文件系统为只读",
    errno.EACCES: "没有写入权限",
    errno.EPERM: "没有写入权限",
    errno.EIO: "磁盘读写错误",
    errno.ENOTDIR: "目录已被替换为文件",
}
DATABASE_LOCKED = "数据库被其他程序锁定，等待超时仍未释放"
DATABASE_LOST = "数据库无法连接或连接中断"
RETRIED = "文件留在收件箱，下次运行重试"


class SummaryNotWritten(Fault):
    """The end of a run: its files are done or failed, but the staff summary could not be written (the
    database stayed locked or unreachable, the outbox is full or read-only); ``summary`` holds what
    the run did (committed) and what failed. ``gjj summary`` writes the page once the fault is gone."""

    def __init__(self, message: str, summary: RunSummary):
        super().__init__(message)
        self.summary = summary


def database_unavailable(error: BaseException) -> bool:
    """The database is locked, down or its connection was lost (not a constraint or a bug)."""
    if isinstance(error, OperationalError | InterfaceError | sqlite3.OperationalError | sqlite3.InterfaceError):
        return True
    psycopg = sys.modules.get("psycopg")  # the driver's own errors (a listing reads through it alone)
    if psycopg is not None and isinstance(error, psycopg.OperationalError | psycopg.InterfaceError):
        return True
    return isinstance(error, DBAPIError) and error.connection_invalidated


def _first_line(error: BaseException) -> str:
    text = str(getattr(error, "orig", None) or error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def machine_fault(error: BaseException) -> bool:
    """A database or a disk that failed, not a bug: what :func:`describe` puts in words."""
    return database_unavailable(error) or (isinstance(error, OSError) and error.errno in DISK_ERRORS)


def database_problem(error: BaseException) -> str:
    """An unavailable database's error in Chinese, then the driver's first line."""
    return describe(error, then="")


def describe(error: BaseException, then: str = RETRIED) -> str:
    """What a failure means, in Chinese, ``then`` what happens next, then the system's message:
    e.g. "磁盘空间已满：…，文件留在收件箱，下次运行重试（OSError: No space left on device）"."""
    next_step = f"，{then}" if then else ""
    if database_unavailable(error):
        detail = _first_line(error)
        what = DATABASE_LOCKED if "locked" in detail else DATABASE_LOST
        return f"{what}{next_step}（{type(error).__name__}: {detail}）"
    if isinstance(error, OSError) and error.errno in DISK_ERRORS:
        where = f"：{error.filename}" if error.filename else ""
        return f"{DISK_ERRORS[error.errno]}{where}{next_step}（{type(error).__name__}: {error.strerror}）"
    return f"{type(error).__name__}: {error}"
