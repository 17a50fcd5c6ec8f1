"""The rows of a file the centre loads (master data, the payments feed): read and checked, duplicates
named, and a member block's values as the load's stage takes them.

Shared by :mod:`pipeline.services.load` and :mod:`pipeline.services.payments`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from pipeline.check.schema import check_cells
from pipeline.config import CentreConfig
from pipeline.errors import Code, Issue, ReadFailure
from pipeline.model import RowResult
from pipeline.read.header import detect, holds_header
from pipeline.read.workbook import read_raw
from pipeline.store.master_stage import BAD, BAD_ACCOUNT, BAD_ID, BAD_UNIT
from schemas.cells import id18
from schemas.fields import field_map
from schemas.id_types import describe_id_of_type, id_type_problems
from schemas.masterdata import MEMBER_FIELDS

ID_TYPE, ID_NUMBER, ACCOUNT, UNIT = "证件类型", "证件号码", "个人账号", "单位账号"


def read_rows(path: Path, kind: str, header: tuple[str, ...], fields: Any, schema: Any, config: CentreConfig) -> tuple[list[RowResult], list[Issue]]:
    """The checked rows of a table the centre loads (master data, the payments feed) and its file-level issues."""
    try:
        raw = read_raw(path, config.limits, holds_header({kind: header}))
    except ReadFailure as failure:
        return [], [failure.issue]
    detected = detect(raw, {kind: header})
    if detected.sheet is None or detected.issues:
        return [], detected.issues
    rows, _ = check_cells(detected.sheet, fields, schema)
    return rows, []


def has_issue_in(row: RowResult, *columns: str) -> bool:
    return bool(row.issues) and any(issue.column in columns for issue in row.issues)


def duplicate_issues(group: list[tuple[int, str]], column: str, person: bool = False) -> Iterator[Issue]:
    """DUPLICATE_ROW for each (Excel row, value) of ``group``, rows that share ``column``, each naming the
    others. ``person`` means the column names a person (证件号码, compared by :func:`id18`)."""
    for excel_row, value in group:
        others = [(other_row, held) for other_row, held in group if other_row != excel_row]
        named = "、".join(f"第{other_row}行" + (f"的「{held}」" if held != value else "") for other_row, held in others)
        if not person:
            message = f"「{column}」{value} 与{named}重复"
        else:
            legacy = "（15位旧号码与其18位号码是同一人）" if any(held != value for _, held in others) else ""
            message = f"「{column}」{value} 与{named}是同一人{legacy}；一人只能有一个未销户账户"
        yield Issue(Code.DUPLICATE_ROW, message, excel_row, column)


def mark_duplicates(rows: list[RowResult], column: str, key: Callable[[str], str] | None = None) -> None:
    """DUPLICATE_ROW on every row whose ``column`` (compared as ``key`` of it) another row has too.

    Which of them is right is not the loader's to guess: all of them are refused, each naming the
    others. ``key`` set means the column names a person (证件号码 by :func:`id18`).
    """
    groups: dict[str, list[RowResult]] = defaultdict(list)
    for row in rows:
        if not has_issue_in(row, column):
            value = row.values[column]
            groups[key(value) if key else value].append(row)
    for group in groups.values():
        if len(group) < 2:
            continue
        for row, issue in zip(group, duplicate_issues([(row.excel_row, row.values[column]) for row in group], column, key is not None)):
            row.issues.append(issue)


def check_id_types(rows: list[RowResult], columns: dict[str, list[str]]) -> None:
    """Each 证件号码 by the check that fits its row's 证件类型 (the schema checked only its length)."""
    skipped = {index for index, row in enumerate(rows) if row.issues and has_issue_in(row, ID_TYPE, ID_NUMBER)}
    checked = [index for index in range(len(rows)) if index not in skipped] if skipped else range(len(rows))
    types, numbers = columns[ID_TYPE], columns[ID_NUMBER]
    problems = id_type_problems([types[index] for index in checked], [numbers[index] for index in checked])
    number = field_map(MEMBER_FIELDS)[ID_NUMBER]
    for index, code in zip(checked, problems):
        if code is not None:
            row = rows[index]
            row.issues.append(Issue(code, describe_id_of_type(code, number, types[index], numbers[index]), row.excel_row, ID_NUMBER))


def _converted(cells: list[str], convert: Callable[[str], Any]) -> list[Any]:
    """Each cell converted once per distinct text; a cell that does not convert (it has an issue) is None."""
    done: dict[str, Any] = {}
    for cell in set(cells):
        try:
            done[cell] = convert(cell) if cell else None
        except (ArithmeticError, ValueError):
            done[cell] = None
    return list(map(done.__getitem__, cells))


def _decimal_text(cell: str) -> str:
    return str(Decimal(cell))


def _date_text(cell: str) -> str:
    return date.fromisoformat(cell).isoformat()


#: The member file's columns in the order the stage takes them (:data:`pipeline.store.master_stage.LOADED`),
#: and their conversions: to Python values (PostgreSQL), or to the text SQLite stores (money as ``DecimalText``, dates ISO).
STAGED_COLUMNS: tuple[tuple[str, Callable[[str], Any] | None, Callable[[str], Any] | None], ...] = (
    (ACCOUNT, None, None),
    (UNIT, None, None),
    ("姓名", None, None),
    (ID_TYPE, None, None),
    (ID_NUMBER, None, None),
    ("个人账户状态", None, None),
    ("个人缴存基数", Decimal, _decimal_text),
    ("个人账户余额", Decimal, _decimal_text),
    ("开户日期", date.fromisoformat, _date_text),
    ("封存原因", None, None),
    ("最近基数调整年度", int, int),
)
FLAGS = {ACCOUNT: BAD_ACCOUNT, UNIT: BAD_UNIT, ID_NUMBER: BAD_ID}


def staged_rows(rows: list[RowResult], columns: dict[str, list[str]], as_text: bool) -> Iterator[tuple[Any, ...]]:
    """The rows of a block as the stage takes them: values converted, a cell with an issue as NULL, the flags."""
    conversions = [(name, text if as_text else value) for name, value, text in STAGED_COLUMNS]
    values = [columns[name] if convert is None else _converted(columns[name], convert) for name, convert in conversions]
    numbers = columns[ID_NUMBER]
    staged = [
        [row.excel_row for row in rows],
        *values,
        list(map(id18, numbers)),
        [0] * len(rows),
    ]
    positions = {name: index + 1 for index, (name, _, _) in enumerate(STAGED_COLUMNS)}
    flags = len(staged) - 1
    for index, row in enumerate(rows):
        if not row.issues:
            continue
        flag = BAD
        for issue in row.issues:
            if issue.column in positions:
                staged[positions[issue.column]][index] = None
                flag |= FLAGS.get(issue.column, 0)
        if flag & BAD_ID:
            staged[flags - 1][index] = None
        staged[flags][index] = flag
    return zip(*staged)
