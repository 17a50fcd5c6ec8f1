"""Schema stage: normalise every cell, run the template's pandera schema lazily, map failures to cells.

pandera reports failures by DataFrame position; :func:`validate` maps each one back to the Excel
row the unit sees and the Chinese header of its column.
"""

from __future__ import annotations

from decimal import Decimal
from types import ModuleType

import pandas as pd
import pandera.errors
import pandera.pandas as pa

from pipeline.config import CentreConfig
from pipeline.issues import Code, Issue
from pipeline.model import RowResult, Sheet
from pipeline.money import money_text
from pipeline.read import paused_gc, trim_heap
from schemas.fields import Field, FieldKind, clean_id, clean_text, column_is_clean, describe, field_map, parse_amount, shared_column_facts


#: Sheets from this many rows on hand freed memory back to the OS after the schema check.
TRIM_AFTER_ROWS = 10_000

#: Columns whose cells are nearly all different: a cache of cleaned values would not pay.
_MOSTLY_DISTINCT = frozenset({FieldKind.SEQ, FieldKind.NAME, FieldKind.ID_NUMBER, FieldKind.ACCOUNT, FieldKind.PHONE, FieldKind.BANK_ACCOUNT})


def clean_column(field: Field, cells: list[str]) -> list[str]:
    """The cells of one column cleaned by the field's kind.

    A column that cleaning would not change (the usual case for accounts, names and ID numbers)
    is found so with one check of the whole column; others are cleaned cell by cell, and the
    columns whose values repeat (months, reasons, amounts) once per distinct value.
    """
    clean = field.cleaner
    if clean in (clean_text, clean_id) and column_is_clean(cells, upper=clean is clean_id):
        return list(cells)
    if field.kind in _MOSTLY_DISTINCT:
        return [clean(cell) for cell in cells]
    cleaned = {cell: clean(cell) for cell in set(cells)}
    return list(map(cleaned.__getitem__, cells))


def normalise(sheet: Sheet, fields: tuple[Field, ...]) -> pd.DataFrame:
    """An all-text DataFrame, one column per template field, cells cleaned by their field kind."""
    positions = {column: index for index, column in enumerate(sheet.header)}
    data = {field.name: clean_column(field, sheet.columns[positions[field.name]]) for field in fields}
    return pd.DataFrame(data, dtype=object)


def _failure_issues(error: pandera.errors.SchemaErrors, frame: pd.DataFrame, sheet: Sheet, fields: dict[str, Field]) -> list[tuple[int, Issue]]:
    issues: list[tuple[int, Issue]] = []
    cases = error.failure_cases
    for column, check, index in zip(cases["column"], cases["check"], cases["index"]):
        if column not in fields or index is None or pd.isna(index):
            raise RuntimeError(f"schema failure outside a cell: {column} {check}") from error
        position = int(index)
        code = Code(str(check))
        value = frame.at[position, column]
        issues.append((position, Issue(code, describe(code, fields[column], value), sheet.excel_rows[position], column)))
    return issues


@paused_gc()
def check_cells(sheet: Sheet, fields: tuple[Field, ...], schema: pa.DataFrameSchema) -> list[RowResult]:
    """Every data row with its normalised values and the issues of its cells, in column order."""
    frame = normalise(sheet, fields)
    found: list[tuple[int, Issue]] = []
    try:
        with shared_column_facts():
            schema.validate(frame, lazy=True)
    except pandera.errors.SchemaErrors as error:
        found = _failure_issues(error, frame, sheet, field_map(fields))
    # The rows are built after pandera has finished (and freed what it allocated), from plain
    # lists: iterating pandas cells is slow, and both at once would raise the peak memory.
    names = list(frame.columns)
    columns = [frame[name].tolist() for name in names]
    del frame
    if sheet.row_count >= TRIM_AFTER_ROWS:
        trim_heap()  # pandas and pandera freed their arrays: give the pages back before the rows grow
    rows = [
        RowResult(excel_row, values[0], dict(zip(names, values)))
        for excel_row, values in zip(sheet.excel_rows, zip(*columns))
    ]
    order = {field.name: index for index, field in enumerate(fields)}
    for position, issue in sorted(found, key=lambda item: (item[0], order[item[1].column or ""])):
        rows[position].issues.append(issue)
    return rows


@paused_gc()
def validate(sheet: Sheet, template: ModuleType, config: CentreConfig) -> tuple[list[RowResult], list[Issue]]:
    """Rows with their cell issues, and file-level issues (row limit, 合计 row)."""
    if sheet.row_count > config.limits.max_rows:
        return [], [Issue(Code.TOO_MANY_ROWS, f"文件有 {sheet.row_count} 行数据，超过上限 {config.limits.max_rows} 行，请分成多个文件")]
    if not sheet.row_count:
        return [], [Issue(Code.EMPTY_FILE, "文件在表头下没有数据行")]
    fields = template.fields(config)
    rows = check_cells(sheet, fields, template.schema(config))
    return rows, total_issues(sheet, rows, template, fields)


def total_issues(sheet: Sheet, rows: list[RowResult], template: ModuleType, fields: tuple[Field, ...]) -> list[Issue]:
    """A final 合计/总计 row must equal the sum of its column (TOTAL_MISMATCH)."""
    if sheet.total_row is None:
        return []
    issues = []
    positions = {column: index for index, column in enumerate(sheet.header)}
    by_name = field_map(fields)
    for column in template.TOTAL_COLUMNS:
        stated = parse_amount(by_name[column].clean(sheet.total_row[positions[column]]))
        values = [parse_amount(row.values[column]) for row in rows]
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
