"""Schema stage: normalise every cell, run the template's pandera schema lazily, map failures to cells.

pandera reports failures by DataFrame position; :func:`validate` maps each one back to the Excel
row the unit sees and the Chinese header of its column.
"""

from __future__ import annotations

import multiprocessing
import traceback
from decimal import Decimal
from multiprocessing.connection import Connection
from typing import Any, NamedTuple

import pandas as pd
import pandera.errors
import pandera.pandas as pa

# pandera imports its data-synthesis strategies (and hypothesis, where it is installed) on the first
# validation in a process. Imported with the rest instead, they are in place before a big sheet's
# schema process is forked, and its check does not wait for them (≈0.07 s with hypothesis).
import pandera.strategies.pandas_strategies  # noqa: F401

from pipeline.config import CentreConfig
from pipeline.errors import Code, Issue, SchemaCheckFailed
from pipeline.memory import paused_gc, trim_heap
from pipeline.model import RowResult, Sheet
from pipeline.money import money_text
from schemas.cells import clean_id, clean_name, clean_text, column_is_clean, name_column_is_clean, parse_amount
from schemas.fields import Field, FieldKind, describe, field_map, shared_column_facts
from schemas.template import Template

#: Sheets from this many rows on hand freed memory back to the OS after the schema check.
TRIM_AFTER_ROWS = 10_000

#: Columns whose cells are nearly all different: a cache of cleaned values would not pay.
_MOSTLY_DISTINCT = frozenset({FieldKind.SEQ, FieldKind.NAME, FieldKind.ID_NUMBER, FieldKind.ID_OF_TYPE, FieldKind.ACCOUNT, FieldKind.PHONE, FieldKind.BANK_ACCOUNT})


def clean_column(field: Field, cells: list[str]) -> list[str]:
    """The cells of one column cleaned by the field's kind.

    A column that cleaning would not change (the usual case for accounts, names and ID numbers)
    is found so with one check of the whole column; others are cleaned cell by cell, and the
    columns whose values repeat (months, reasons, amounts) once per distinct value.
    """
    clean = field.cleaner
    if clean in (clean_text, clean_id) and column_is_clean(cells, upper=clean is clean_id):
        return list(cells)
    if clean is clean_name and name_column_is_clean(cells):
        return list(cells)
    if field.kind in _MOSTLY_DISTINCT:
        return [clean(cell) for cell in cells]
    cleaned = {cell: clean(cell) for cell in set(cells)}
    return list(map(cleaned.__getitem__, cells))


#: A sheet's cells by column, one list per template field (see :func:`normalise`).
Columns = dict[str, list[str]]


def normalise(sheet: Sheet, fields: tuple[Field, ...]) -> Columns:
    """The cells of every template field, one column each, cleaned by their field kind."""
    positions = {column: index for index, column in enumerate(sheet.header)}
    return {field.name: clean_column(field, sheet.columns[positions[field.name]]) for field in fields}


#: pandera's failures as (column, check name, DataFrame position) triples.
Failures = list[tuple[str, str, int]]


def schema_failures(frame: pd.DataFrame, schema: pa.DataFrameSchema) -> Failures:
    """Run ``schema`` lazily over ``frame``: every failing cell, as (column, check, position)."""
    try:
        with shared_column_facts():
            schema.validate(frame, lazy=True)
    except pandera.errors.SchemaErrors as error:
        cases = error.failure_cases
        failures = []
        for column, check, index in zip(cases["column"], cases["check"], cases["index"]):
            if index is None or pd.isna(index):
                raise SchemaCheckFailed(f"schema failure outside a cell: {column} {check}") from error
            failures.append((str(column), str(check), int(index)))
        return failures
    return []


#: From this many rows on, the schema is run by a forked process while this one builds the rows.
APART_ROWS = 20_000


class SchemaCheck:
    """The schema run over a big sheet by a forked process, which sends back its failures.

    Meanwhile this process builds the rows (and whatever else the caller has to do); both take
    a few tenths of a second on 100k rows, and the core the check runs on is idle at that point
    of a run. The child only computes: it inherits the database connections and never uses them.
    """

    def __init__(self, frame: pd.DataFrame, schema: pa.DataFrameSchema):
        context = multiprocessing.get_context("fork")
        self._received, sender = context.Pipe(duplex=False)
        self._process = context.Process(target=_check_apart, args=(frame, schema, sender), name="gjj-schema")
        self._process.start()
        sender.close()

    def failures(self) -> Failures:
        """The failures the process found; ``SchemaCheckFailed`` if it could not check."""
        outcome, value = self._answer()
        if outcome != "failures":
            raise SchemaCheckFailed(f"checking the cells failed in process {self._process.pid}: {value}")
        return value

    def close(self) -> None:
        """Let the process leave without using its answer (this process failed meanwhile)."""
        self._answer()

    def _answer(self) -> tuple[str, Any]:
        # Read before joining: a long answer fills the pipe and the process waits for a reader.
        try:
            return self._received.recv()
        except EOFError:
            return "error", "the schema process ended without an answer"
        finally:
            self._received.close()
            self._process.join()


def _check_apart(frame: pd.DataFrame, schema: pa.DataFrameSchema, sender: Connection) -> None:
    try:
        sender.send(("failures", schema_failures(frame, schema)))
    except BaseException:
        sender.send(("error", traceback.format_exc()))


class CellCheck:
    """A sheet's cells being checked by its schema: the rows and normalised columns are there at
    once, the cells' issues once :meth:`finish` is called.

    A sheet of ``APART_ROWS`` rows or more is checked by a forked process (:class:`SchemaCheck`),
    so the caller can do other work between the two — the rules' look at the columns, reading
    the master data they need. Every row's values are its columns' cells
    (``columns[name][i] is rows[i].values[name]``).
    """

    @paused_gc()
    def __init__(self, sheet: Sheet, fields: tuple[Field, ...], schema: pa.DataFrameSchema):
        self.sheet, self.fields = sheet, fields
        self.columns = normalise(sheet, fields)
        frame = pd.DataFrame(self.columns, dtype=object)
        self._apart = SchemaCheck(frame, schema) if sheet.row_count >= APART_ROWS else None
        try:
            self._failures = schema_failures(frame, schema) if self._apart is None else None
            del frame
            self.rows = _rows(sheet, self.columns)
        except BaseException:
            self.close()
            raise

    @property
    def runs_apart(self) -> bool:
        """Whether the schema runs in another process while this one goes on."""
        return self._apart is not None

    @paused_gc()
    def finish(self) -> list[RowResult]:
        """The rows with the issues of their cells, in column order."""
        failures = self._failures if self._apart is None else self._apart.failures()
        columns, sheet = self.columns, self.sheet
        by_name = field_map(self.fields)
        order = {field.name: index for index, field in enumerate(self.fields)}
        for column, check_name, position in sorted(failures or [], key=lambda failure: (failure[2], order[failure[0]])):
            if column not in by_name:
                raise SchemaCheckFailed(f"schema failure outside a cell: {column} {check_name}")
            code = Code(check_name)
            issue = Issue(code, describe(code, by_name[column], columns[column][position]), sheet.excel_rows[position], column)
            self.rows[position].issues.append(issue)
        if sheet.row_count >= TRIM_AFTER_ROWS:
            trim_heap()  # pandas and pandera freed their arrays: give the pages back
        return self.rows

    def close(self) -> None:
        """Let a schema process leave without using its answer (the caller failed meanwhile)."""
        if self._apart is not None:
            self._apart.close()


def check_cells(sheet: Sheet, fields: tuple[Field, ...], schema: pa.DataFrameSchema) -> tuple[list[RowResult], Columns]:
    """Every data row with its normalised values and the issues of its cells; the values by column."""
    check = CellCheck(sheet, fields, schema)
    return check.finish(), check.columns


def _rows(sheet: Sheet, columns: Columns) -> list[RowResult]:
    seq_nos = next(iter(columns.values()))  # the first column (序号)
    row = RowResult.in_columns
    return [row(excel_row, seq_no, columns, index) for index, (excel_row, seq_no) in enumerate(zip(sheet.excel_rows, seq_nos))]


class Validation(NamedTuple):
    """What :func:`start_validation` found: file-level issues that stop the check (too many rows,
    no rows), or the cell check under way."""

    file_issues: list[Issue]
    cells: CellCheck | None


def start_validation(sheet: Sheet, template: Template, config: CentreConfig) -> Validation:
    """Start checking a sheet's cells against its template's schema (see :class:`CellCheck`)."""
    if sheet.row_count > config.limits.max_rows:
        return Validation([Issue(Code.TOO_MANY_ROWS, f"文件有 {sheet.row_count} 行数据，超过上限 {config.limits.max_rows} 行，请分成多个文件")], None)
    if not sheet.row_count:
        return Validation([Issue(Code.EMPTY_FILE, "文件在表头下没有数据行")], None)
    return Validation([], CellCheck(sheet, template.fields(config), template.schema(config)))


def finish_validation(validation: Validation, template: Template) -> tuple[list[RowResult], list[Issue], Columns]:
    """Rows with their cell issues, file-level issues (row limit, 合计 row) and the rows' values by column."""
    cells = validation.cells
    if cells is None:
        return [], validation.file_issues, {}
    rows = cells.finish()
    return rows, total_issues(cells.sheet, cells.columns, template, cells.fields), cells.columns


def validate(sheet: Sheet, template: Template, config: CentreConfig) -> tuple[list[RowResult], list[Issue], Columns]:
    """:func:`start_validation` and :func:`finish_validation` with nothing to do in between."""
    return finish_validation(start_validation(sheet, template, config), template)


def total_issues(sheet: Sheet, columns: Columns, template: Template, fields: tuple[Field, ...]) -> list[Issue]:
    """A final 合计/总计 row must equal the sum of its column (TOTAL_MISMATCH); ``columns`` are the
    normalised data cells (summed by column, so no row has to make its values)."""
    if sheet.total_row is None:
        return []
    issues = []
    positions = {column: index for index, column in enumerate(sheet.header)}
    by_name = field_map(fields)
    for column in template.TOTAL_COLUMNS:
        stated = parse_amount(by_name[column].clean(sheet.total_row[positions[column]]))
        values = [parse_amount(cell) for cell in columns[column]]
        if stated is None or any(value is None for value in values):
            continue
        actual = sum(values, Decimal(0))
        if actual != stated:
            issues.append(
                Issue(
                    Code.TOTAL_MISMATCH,
                    f"第{sheet.total_excel_row}行合计的「{column}」为 {money_text(stated)}，明细合计为 {money_text(actual)}",
                    column=column,
                )
            )
    return issues
