"""What every ``gjj`` command shares: the consoles, the --config option, opening the home, the issue table.

The command modules import the library inside their commands: building the ``gjj`` app (and so
``gjj --help``) loads Typer and Rich only, and a command loads just what it uses (README "Start-up").
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from pipeline import logs
from pipeline.config import gjj_home
from pipeline.errors import ConfigError, Issue

if TYPE_CHECKING:
    from pipeline.app import App
    from pipeline.store.dbapi import Reader

#: Piped or redirected (cron, ``| tee``, a log file) there is no screen to fit: Rich's default of 80
#: columns would wrap a path mid-word and cut an error table's 说明 with "…", hiding the allowed values.
UNLIMITED_WIDTH = 100_000


def _console(stderr: bool = False) -> Console:
    """A terminal's width on a terminal; no width limit when the stream is not one."""
    stream = sys.stderr if stderr else sys.stdout
    return Console(stderr=stderr, width=None if stream.isatty() else UNLIMITED_WIDTH)


console = _console()
err = _console(stderr=True)

ConfigOption = Annotated[Optional[Path], typer.Option("--config", help="配置文件（默认 $GJJ_HOME/config/centre.yaml 或内置默认配置）")]


def open_home(config: Path | None) -> App:
    """The home of ``GJJ_HOME`` opened, or exit 2 naming what is wrong with its configuration."""
    from pipeline.app import open_app  # SQLAlchemy: not for ``--help``
    from pipeline.run.faults import database_problem, database_unavailable

    try:
        app_ = open_app(gjj_home(), config)
    except ConfigError as exc:
        err.print(f"[red]配置错误：[/red]{escape(str(exc))}")
        raise typer.Exit(2) from exc
    except Exception as exc:
        if not database_unavailable(exc):
            raise
        err.print(f"[red]无法打开数据库：[/red]{escape(database_problem(exc))}")
        raise typer.Exit(1) from exc
    logs.configure(app_.home.var / "log")
    return app_


def _reader_if_current(url: str) -> Reader | None:
    """A reader on the database when it is at the newest migration; None, nothing left open, when
    there is no database yet or it is behind."""
    from pipeline.store.dbapi import connect, head_revision

    try:
        reader = connect(url)
    except FileNotFoundError:
        return None
    current = False
    try:
        current = reader.revision() == head_revision()
        return reader if current else None
    finally:
        if not current:
            reader.close()


@contextmanager
def reading(config: Path | None) -> Iterator[Reader]:
    """The home's database for a listing, through its driver alone (README "Start-up").

    A database that does not exist yet or is behind the newest migration is first opened as every
    other command opens it (:func:`open_home`: made, migrated, the configuration read); an up-to-date
    one is only read, on the connection that asked its migration, so a listing neither loads
    SQLAlchemy nor reads the configuration.
    """
    from pipeline.store.dbapi import connect, database_url

    url = database_url(gjj_home())
    try:
        reader = _reader_if_current(url)
        if reader is None:
            open_home(config).close()
            reader = connect(url)
        with reader:
            yield reader
    except Exception as exc:
        from pipeline.run.faults import database_problem, database_unavailable

        if not database_unavailable(exc):
            raise
        err.print(f"[red]无法打开数据库：[/red]{escape(database_problem(exc))}")
        raise typer.Exit(1) from exc


def print_issues(title: str, issues: list[Issue]) -> None:
    table = Table(title=title)
    for column in ("行", "列", "代码", "说明"):
        table.add_column(column)
    for issue in issues:
        # Text, not markup: a message quotes the unit's cells, and "[...]" in a cell is not a style.
        table.add_row(str(issue.row or ""), Text(issue.column or ""), str(issue.code), Text(issue.message))
    err.print(table)
