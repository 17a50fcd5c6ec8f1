"""Who may work on what right now: locks that are released when their holder dies.

A worker takes the lock of a unit (its inbox folder) before it reads one of the unit's files and
keeps it until that file has left the inbox. One unit's files are therefore processed one at a
time and in arrival order — a 封存 before the 启封 that follows it, a back-pay before its
corrected resubmission — while other workers take other units. The lock is one the operating
system or the database drops by itself when its holder dies, so a killed worker never leaves a
unit stuck:

- on PostgreSQL, a session-level advisory lock (``pg_try_advisory_lock``) on a connection of its
  own: it works across processes and hosts;
- on SQLite, an exclusive ``flock`` on a lock file under ``var/locks/``: SQLite is the one-host
  database, and a file lock is released by the kernel when the process exits.

Files that change member records may also touch other units' members (a 单位调整 takes a member
from another unit; a 缴存人登记 must not register a person another unit is registering at the same
moment), so their transactions also take the member lock (:func:`pipeline.store.queries.hold_member_lock`).

The locks only keep workers from doing conflicting work at the same time. Exactly-once is the
database's job: the unique index on (unit, sha256) and one transaction per file.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
from pathlib import Path
from typing import Protocol

from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError


def lock_key(unit_account: str) -> str:
    """The lock of one unit's inbox folder."""
    return f"unit/{unit_account}"


MEMBER_LOCK = "members"


def lock_number(key: str) -> int:
    return int.from_bytes(hashlib.sha256(key.encode("utf-8")).digest()[:8], "big", signed=True)


class FileLocks(Protocol):
    def acquire(self, key: str) -> bool:
        """Take the lock without waiting; False when another worker holds it."""

    def release(self, key: str) -> None: ...

    def close(self) -> None: ...


class AdvisoryLocks:
    """PostgreSQL advisory locks on one dedicated connection (so they outlive each transaction)."""

    def __init__(self, engine: Engine):
        self.engine = engine
        self._connection: Connection | None = None

    @property
    def connection(self) -> Connection:
        if self._connection is not None and self._connection.invalidated:
            self._drop()  # the server restarted or the network failed: its locks died with it
        if self._connection is None or self._connection.closed:
            self._connection = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        return self._connection

    def _drop(self) -> None:
        if self._connection is not None:
            self._connection.invalidate()
            self._connection.close()
            self._connection = None

    def acquire(self, key: str) -> bool:
        """Between two files nothing is held: a connection the server dropped (a restart) is made again once."""
        try:
            return bool(self.connection.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": lock_number(key)}).scalar())
        except DBAPIError as exc:
            if not exc.connection_invalidated:
                raise
            self._drop()
        return bool(self.connection.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": lock_number(key)}).scalar())

    def release(self, key: str) -> None:
        try:
            self.connection.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": lock_number(key)})
        except DBAPIError:
            self._drop()  # a lost connection released every lock it held

    def close(self) -> None:
        """Release every lock still held: the connection goes back to the pool, not away."""
        if self._connection is not None:
            try:
                if not self._connection.closed and not self._connection.invalidated:
                    self._connection.execute(text("SELECT pg_advisory_unlock_all()"))
                self._connection.close()
            except DBAPIError:
                self._drop()
            self._connection = None


class LocalLocks:
    """``flock`` on ``var/locks/<hash>.lock``; the kernel releases it when the process dies."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)
        self._held: dict[str, int] = {}

    def acquire(self, key: str) -> bool:
        path = self.folder / f"{hashlib.sha256(key.encode('utf-8')).hexdigest()[:32]}.lock"
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(descriptor)
            return False
        self._held[key] = descriptor
        return True

    def release(self, key: str) -> None:
        descriptor = self._held.pop(key, None)
        if descriptor is not None:
            fcntl.flock(descriptor, fcntl.LOCK_UN)
            os.close(descriptor)

    def close(self) -> None:
        for key in list(self._held):
            self.release(key)


def file_locks(engine: Engine, var: Path) -> FileLocks:
    if engine.dialect.name == "postgresql":
        return AdvisoryLocks(engine)
    return LocalLocks(var / "locks")
