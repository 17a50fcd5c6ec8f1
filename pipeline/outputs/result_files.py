"""The machine-readable outputs: ``result.json`` (every row with its status, issues and amounts) and
``detail.csv`` (the 清册, UTF-8 with BOM, formula-like text neutralised)."""

from __future__ import annotations

import csv
import re
from pathlib import Path
from typing import TextIO

import orjson

from pipeline.model import BatchResult, RowStatus
from pipeline.money import money_text, money_texts
from pipeline.outputs.xlsx_text import neutralise_column, neutralise_formula
from pipeline.rules.common import PERSONAL_MONTHLY, UNIT_MONTHLY
from pipeline.rules.remit import ACCOUNT, BASE, CHANGE, END, LEFT, NAME, PREVIOUS_TOTAL, START

ID_NUMBER = "证件号码"

#: Rows encoded per write: a 100k-row result is never one text in memory.
_ROWS_PER_WRITE = 2000


def write_result_json(result: BatchResult, path: Path) -> None:
    """The text ``json.dumps(result.to_dict(), ensure_ascii=False, indent=2)`` would give, streamed.

    orjson encodes the head, then the rows a chunk at a time: a chunk is encoded as a list and
    moved one level in, to its place in the ``rows`` list.
    """
    head = orjson.dumps(result.to_dict(rows=False), option=orjson.OPT_INDENT_2)
    with path.open("wb") as handle:
        handle.write(head[:-2])  # without the closing "\n}"
        if not result.rows:
            handle.write(b',\n  "rows": []\n}')
            return
        handle.write(b',\n  "rows": [\n')
        rows = result.rows
        for start in range(0, len(rows), _ROWS_PER_WRITE):
            shown: dict[int, dict[str, str]] = {}  # amount texts per amounts dict, for this chunk's rows (see RowResult.to_dict)
            chunk = orjson.dumps(
                [row.to_dict(shown) for row in rows[start : start + _ROWS_PER_WRITE]], option=orjson.OPT_INDENT_2
            )
            if start:
                handle.write(b",\n")
            # "[\n  {…},\n  {…}\n]" without its brackets, each line two spaces further in
            handle.write(b"  " + chunk[2:-2].replace(b"\n", b"\n  "))
        handle.write(b"\n  ]\n}")


def write_detail_csv(result: BatchResult, path: Path) -> None:
    """清册: every row with its status and computed amounts; UTF-8 with BOM so Excel shows Chinese.

    Cells the unit wrote are neutralised against formula injection (see :func:`neutralise_formula`).
    The file is built a column at a time (a 100k-row batch has 1.3 million cells).
    """
    rows = result.rows
    amount_names = list(dict.fromkeys(name for row in rows for name in row.amounts))
    computed_names = list(dict.fromkeys(name for row in rows for name in row.computed))
    labels = {status: status.label for status in RowStatus}
    columns: list[list[str]] = [[str(row.excel_row) for row in rows]]
    for column in result.header:
        columns.append(neutralise_column(result.column(column)))
    columns.append([labels[row.status] for row in rows])
    for name in computed_names:
        columns.append([row.computed.get(name, "") for row in rows])
    for name in amount_names:
        columns.append(money_texts([row.amounts.get(name) for row in rows]))
    columns.append([neutralise_formula("；".join([issue.message for issue in row.issues])) if row.issues else "" for row in rows])
    header = ["行号", *result.header, "处理结果", *computed_names, *(f"核定{name}" for name in amount_names), "说明"]
    if result.departed:
        _add_departed(result, columns, header)
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        write_csv(handle, header, columns)


def _add_departed(result: BatchResult, columns: list[list[str]], header: list[str]) -> None:
    """汇缴: the previous 核定's members who are not in this one, after the rows, as 减少 (SPEC.md "汇缴"):
    their base and monthly amounts of that 核定 in the template's columns, no 核定 amounts of their own."""
    months = {column: result.column(column)[0] for column in (START, END)} if result.rows else {}
    added: list[list[str]] = [[] for _ in header]
    for member in result.departed:
        shown = {
            ACCOUNT: member.member_account,
            NAME: member.name,
            ID_NUMBER: member.id_number,
            BASE: money_text(member.base),
            UNIT_MONTHLY: money_text(member.unit_amount),
            PERSONAL_MONTHLY: money_text(member.personal_amount),
            **months,
            CHANGE: LEFT,
            PREVIOUS_TOTAL: money_text(member.total),
            "说明": "上期汇缴核定的缴存人，本期未列入（已封存或已转出本单位）",
        }
        for column, name in zip(added, header):
            column.append(neutralise_formula(shown.get(name, "")))
    # New lists: a column of the rows may be the batch's own (result.column), never to be changed.
    columns[:] = [column + more for column, more in zip(columns, added)]


#: Characters that make the csv module quote a cell (the excel dialect: delimiter, quote, line ends).
_CSV_QUOTED = re.compile('[,"\r\n]')


def write_csv(handle: TextIO, header: list[str], columns: list[list[str]]) -> None:
    """Exactly what ``csv.writer(handle)`` writes for ``header`` and the rows of ``columns``.

    When no cell needs quoting (the usual case, found with one look at each column) the lines are
    joined at C speed; otherwise the csv module writes them.
    """
    if len(header) < 2 or any(_CSV_QUOTED.search("\x00".join(column)) for column in (header, *columns)):
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(zip(*columns))
        return
    handle.write(",".join(header) + "\r\n")
    for start in range(0, len(columns[0]), _ROWS_PER_WRITE):
        handle.write("\r\n".join(map(",".join, zip(*[column[start : start + _ROWS_PER_WRITE] for column in columns]))) + "\r\n")
