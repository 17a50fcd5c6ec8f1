"""Bulk reads and writes in the caller's transaction: COPY on PostgreSQL, executemany on SQLite.

A 100k-row file inserts 100k business records. SQLAlchemy's executemany spends more time
preparing each row's parameters (type processors, JSON encoding) than the database spends
storing it, so the big writes go to the driver directly: rows are plain tuples in column order,
converted once per column type here. JSON columns take Python values and are encoded with
orjson; ``Money`` columns take ``Decimal`` (a float raises TypeError); dates take ``date``. Big
reads (a unit's 100k members) likewise skip SQLAlchemy's row objects: :func:`driver_rows`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import date
from decimal import Decimal
from itertools import islice, repeat
from typing import Any

import orjson
from sqlalchemy import JSON, Select, Table
from sqlalchemy.dialects import sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from pipeline.store.tables import DecimalText, ExactNumeric, refuse_float

#: Rows per executemany on SQLite: bounds the parameter list a 100k-row file holds at once.
CHUNK = 5000

#: From this many rows on, a chunk goes to SQLite as one JSON array (see :func:`insert_rows`).
JSON_ROWS = 100

Convert = Callable[[Any], Any] | None


def _decimal_text(value: Any) -> str:
    if isinstance(value, Decimal):
        return str(value)
    refuse_float(value)
    return str(Decimal(value))


def _exact(value: Any) -> Any:
    refuse_float(value)
    return value


def _json_text(value: Any) -> str | None:
    return None if value is None else orjson.dumps(value).decode()


def _converters(session: Session, table: Table, columns: Sequence[str]) -> list[Convert]:
    """What turns a Python value into what the driver stores, per column (None: as it is)."""
    dialect = session.get_bind().dialect
    converters: list[Convert] = []
    for name in columns:
        column_type = table.c[name].type
        if isinstance(column_type, JSON):
            converters.append(_json_text)
        elif dialect.name == "postgresql":
            # psycopg adapts str, int, Decimal, date and datetime itself; a Money column still refuses a float
            converters.append(_exact if isinstance(column_type.dialect_impl(dialect), ExactNumeric) else None)
        else:
            impl = column_type.dialect_impl(dialect)
            if isinstance(impl, DecimalText):
                converters.append(_decimal_text)  # what DecimalText stores, without its checks per value
            elif isinstance(impl, sqlite.DATE):
                converters.append(date.isoformat)  # SQLite's DATE storage format is ISO 8601
            else:
                converters.append(impl.bind_processor(dialect))
    return converters


def _converted(rows: Iterable[Sequence[Any]], converters: list[Convert], tail: tuple[Any, ...] = ()) -> Iterator[list[tuple[Any, ...]]]:
    """The rows converted for the driver, ``CHUNK`` at a time, each followed by ``tail`` (already converted).

    A chunk is converted by column: it is turned into columns, only the columns that need it are
    converted, and the columns (with ``tail`` repeated) are zipped back into rows, all at C speed
    but for the conversions themselves.
    """
    pairs = [(index, convert) for index, convert in enumerate(converters) if convert is not None]
    iterator = iter(rows)
    while chunk := list(islice(iterator, CHUNK)):
        if not pairs:
            yield [tuple(row) + tail for row in chunk]
            continue
        columns: list[Any] = list(zip(*chunk))
        for index, convert in pairs:
            columns[index] = _converted_column(columns[index], convert)
        yield list(zip(*columns, *map(repeat, tail)))


def _converted_column(column: Sequence[Any], convert: Callable[[Any], Any]) -> list[Any]:
    """Each value of ``column`` converted, once per distinct object: the rows of a big batch share
    a few objects (a 汇缴's 100k members a handful of base and amount Decimals), so their 100k
    conversions are a few dozen. Objects are told apart by ``id`` (the column holds them all
    alive meanwhile), never by equality: Decimal 6800 equals 6800.00 but is stored as "6800"."""
    distinct = dict(zip(map(id, column), column))
    converted = {key: None if value is None else convert(value) for key, value in distinct.items()}
    return list(map(converted.__getitem__, map(id, column)))


def insert_rows(
    session: Session, table: Table, columns: Sequence[str], rows: Iterable[Sequence[Any]], shared: dict[str, Any] | None = None
) -> None:
    """Insert ``rows`` (tuples in ``columns`` order) into ``table``.

    ``shared`` holds the values every row has (its batch, its date), converted once and added
    to each row after its own. A unique index the rows break raises SQLAlchemy's
    ``IntegrityError``, as any other write does, whatever the driver raised.
    """
    dbapi = session.get_bind().dialect.loaded_dbapi
    try:
        _insert_rows(session, table, columns, rows, shared)
    except dbapi.IntegrityError as error:
        raise IntegrityError(f'INSERT INTO "{table.name}"', None, error) from error


def _insert_rows(session: Session, table: Table, columns: Sequence[str], rows: Iterable[Sequence[Any]], shared: dict[str, Any] | None) -> None:
    tail: tuple[Any, ...] = ()
    if shared:
        tail = next(_converted([tuple(shared.values())], _converters(session, table, list(shared))))[0]
    converters = _converters(session, table, columns)
    names = ", ".join(f'"{name}"' for name in [*columns, *(shared or ())])
    connection = session.connection()
    driver = connection.connection.driver_connection
    if connection.dialect.name == "postgresql":
        with driver.cursor() as cursor:
            with cursor.copy(f'COPY "{table.name}" ({names}) FROM STDIN') as copy:
                for chunk in _converted(rows, converters, tail):
                    for row in chunk:
                        copy.write_row(row)
        return
    # SQLite: a chunk of many rows goes in as one JSON array that SQLite takes apart itself
    # (json_each): no Python work per row and value, the shared values bound once. A chunk of a few
    # rows (a batch's row parts: a few big JSON texts each) is bound row by row as usual.
    cells = ", ".join(f"json_extract(value, '$[{index}]')" for index in range(len(columns)))
    from_json = f'INSERT INTO "{table.name}" ({names}) SELECT {cells}{"".join(", ?" for _ in tail)} FROM json_each(?)'
    row_by_row = f'INSERT INTO "{table.name}" ({names}) VALUES ({", ".join("?" for _ in [*columns, *tail])})'
    cursor = driver.cursor()
    try:
        for chunk in _converted(rows, converters):
            if len(chunk) >= JSON_ROWS:
                cursor.execute(from_json, (*tail, orjson.dumps(chunk).decode()))
            else:
                cursor.executemany(row_by_row, [row + tail for row in chunk])
    finally:
        cursor.close()


def update_rows(session: Session, table: Table, key: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """``UPDATE table SET columns… WHERE key = …`` for each row: the new values in ``columns`` order, then the key."""
    connection = session.connection()
    mark = "%s" if connection.dialect.name == "postgresql" else "?"
    assignments = ", ".join(f'"{name}" = {mark}' for name in columns)
    statement = f'UPDATE "{table.name}" SET {assignments} WHERE "{key}" = {mark}'
    for chunk in _converted(rows, _converters(session, table, [*columns, key])):
        connection.exec_driver_sql(statement, chunk)


def driver_rows(session: Session, statement: Select[Any]) -> Iterable[tuple[Any, ...]]:
    """The rows of ``statement`` as plain tuples, exactly as the driver returns them.

    No result processing: a ``Money`` column comes back as text on SQLite and as ``Decimal``
    on PostgreSQL, so callers convert what they use.
    """
    connection = session.connection()
    compiled = statement.compile(dialect=connection.dialect, compile_kwargs={"render_postcompile": True})
    params: Any = compiled.construct_params()
    if compiled.positiontup is not None:
        params = [params[name] for name in compiled.positiontup]
    cursor = connection.connection.driver_connection.cursor()
    try:
        cursor.execute(compiled.string, params)
        while rows := cursor.fetchmany(CHUNK):
            yield from rows
    finally:
        cursor.close()
