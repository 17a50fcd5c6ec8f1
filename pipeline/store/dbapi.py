"""The database through its driver alone (sqlite3, psycopg): how the listing commands read it.

``gjj backpay list``, ``gjj remit list`` and ``gjj review list`` start in a fraction of a second
(issue #21, README "Start-up"). Importing SQLAlchemy and building the ORM's table classes alone
takes half a second, so those commands run their plain SQL (:mod:`pipeline.services.listings`)
through a :class:`Reader` on a driver connection. The console runs the same SQL through its
SQLAlchemy session (:func:`session_reader`): one query per listing, whoever shows it.

The SQL names its parameters ``:name`` (sqlite3 and SQLAlchemy's ``text``); for psycopg they become
``%(name)s``. What the drivers return differs (SQLite gives exact money and dates back as text,
PostgreSQL as ``Decimal`` and ``date``): :func:`as_decimal`, :func:`as_date` and
:func:`as_datetime` make them the same.
"""

from __future__ import annotations

import os
import re
import sqlite3
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
#: ``:name`` but not PostgreSQL's ``::type`` cast.
_NAMED = re.compile(r"(?<![:\w]):(\w+)")

Row = dict[str, Any]
#: How long a SQLite writer waits for another one's lock before the file in hand fails (and is retried next run).
SQLITE_BUSY_SECONDS = 30.0


def database_url(home: Path) -> str:
    """``GJJ_DB`` (a SQLAlchemy URL such as ``postgresql+psycopg://user@host/db``), else the home's SQLite file."""
    return os.environ.get("GJJ_DB") or f"sqlite:///{home / 'var' / 'gjj.db'}"


class Reader:
    """Runs one read-only query and gives its rows as dicts (column name → driver value).

    A reader from :func:`connect` owns its connection: close it (or use it in a ``with``).
    """

    def __init__(self, run: Callable[[str, Mapping[str, Any]], list[Row]], close: Callable[[], None] = lambda: None) -> None:
        self._run = run
        self.close = close

    def __enter__(self) -> Reader:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def rows(self, sql: str, **params: Any) -> list[Row]:
        return self._run(sql, params)

    def revision(self) -> str | None:
        """The database's migration (Alembic's ``alembic_version``), or None before the first one."""
        try:
            found = self.rows("SELECT version_num FROM alembic_version")
        except Exception as exc:  # no such table: the driver's own error class, sqlite3's or psycopg's
            if _missing_table(exc):
                return None
            raise
        return found[0]["version_num"] if found else None


def _missing_table(exc: Exception) -> bool:
    return "alembic_version" in str(exc) and ("no such table" in str(exc) or "does not exist" in str(exc))


def _as_dicts(cursor: Any) -> list[Row]:
    names = [column[0] for column in cursor.description]
    return [dict(zip(names, values)) for values in cursor.fetchall()]


def head_revision() -> str:
    """The newest migration's revision, read from the file names (``0010_documents.py`` is ``0010``)."""
    return max(path.name.split("_", 1)[0] for path in (MIGRATIONS / "versions").glob("[0-9]*_*.py"))


def libpq_url(url: str) -> str:
    """A SQLAlchemy PostgreSQL URL (``postgresql+psycopg://…``) as libpq takes it (``postgresql://…``)."""
    scheme, rest = url.split("://", 1)
    return f"{scheme.split('+', 1)[0]}://{rest}"


def sqlite_path(url: str) -> str:
    """The file of a ``sqlite:///path`` URL (``sqlite://`` alone is an in-memory database)."""
    return url.split(":///", 1)[1] if ":///" in url else ":memory:"


def connect(url: str, busy_seconds: float = SQLITE_BUSY_SECONDS) -> Reader:
    """A reader on ``url`` (the URL :func:`database_url` gives), with its own connection.

    Nothing is written: SQLite is opened read-only (no database file is made where there is none:
    FileNotFoundError), PostgreSQL in a read-only transaction.
    """
    if url.startswith("sqlite"):
        path = sqlite_path(url)
        if path != ":memory:" and not os.path.exists(path):
            raise FileNotFoundError(path)
        connection = sqlite3.connect(f"file:{path}?mode=ro" if path != ":memory:" else path, uri=path != ":memory:", timeout=busy_seconds)
        return Reader(lambda sql, params: _as_dicts(connection.execute(sql, dict(params))), connection.close)
    import psycopg

    server = psycopg.connect(libpq_url(url))
    server.read_only = True
    cursor = server.cursor()

    def run(sql: str, params: Mapping[str, Any]) -> list[Row]:
        cursor.execute(_NAMED.sub(r"%(\1)s", sql.replace("%", "%%")), dict(params))
        return _as_dicts(cursor)

    return Reader(run, server.close)


def session_reader(session: Session) -> Reader:
    """The same queries through a SQLAlchemy session (the console's), in its transaction."""
    from sqlalchemy import text

    return Reader(lambda sql, params: [dict(row) for row in session.execute(text(sql), dict(params)).mappings()])


def as_decimal(value: Any) -> Decimal | None:
    """Money as stored: text on SQLite (exact), ``Decimal`` on PostgreSQL."""
    return None if value is None else value if isinstance(value, Decimal) else Decimal(str(value))


def as_date(value: Any) -> date | None:
    if value is None or isinstance(value, date) and not isinstance(value, datetime):
        return value
    return date.fromisoformat(str(value)[:10])


def as_datetime(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))
