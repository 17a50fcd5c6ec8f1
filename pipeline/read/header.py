"""Find the template of a file from its header row, and the data rows below it.

The header is the first row, within the first five, that matches a known template header; title
and note rows above it are ignored. A row that shares most of a template's header but not all of
it, or not in order, is still that template's header: the unit gets HEADER_MISSING, HEADER_EXTRA
or HEADER_ORDER naming the expected and the found column instead of an unhelpful
UNKNOWN_TEMPLATE.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from pipeline.errors import Code, Issue
from pipeline.memory import paused_gc
from pipeline.model import Sheet
from pipeline.read.workbook import RawTable, cell_text, number_text
from schemas.cells import clean_text

HEADER_SEARCH_ROWS = 5
TOTAL_MARKERS = ("合计", "总计")
EXAMPLE_MARKER = "例"


@dataclass
class Detected:
    kind: str | None
    sheet: Sheet | None
    issues: list[Issue]


def _trimmed(cells: list[str]) -> list[str]:
    end = len(cells)
    while end and not cells[end - 1]:
        end -= 1
    return cells[:end]


def header_issues(expected: Sequence[str], found: Sequence[str]) -> list[Issue]:
    """Compare a found header with the template's; empty when they are identical."""
    issues: list[Issue] = []
    for position, column in enumerate(expected, start=1):
        if column not in found:
            issues.append(Issue(Code.HEADER_MISSING, f"缺少表头列「{column}」（应为第{position}列）", column=column))
    for position, column in enumerate(found, start=1):
        if column not in expected:
            shown = column or "（空白）"
            issues.append(Issue(Code.HEADER_EXTRA, f"第{position}列「{shown}」不是本模板的表头列，请删除该列", column=column or None))
    if not issues and list(found) != list(expected):
        for position, (want, got) in enumerate(zip(expected, found), start=1):
            if want != got:
                issues.append(
                    Issue(Code.HEADER_ORDER, f"表头顺序错误：第{position}列应为「{want}」，实际为「{got}」", column=got)
                )
                break
    return issues


def _match_score(expected: Sequence[str], found: Sequence[str]) -> tuple[int, int]:
    """More shared columns first, then fewer differences: ties between templates go to the closer one."""
    shared = set(expected) & set(found)
    return len(shared), -len(set(expected) ^ set(found))


@paused_gc()
def detect(raw: RawTable, headers: dict[str, Sequence[str]]) -> Detected:
    """Locate the header row, name the template and cut the data rows out of ``raw``."""
    best: tuple[tuple[int, int], int, str, list[str]] | None = None
    for index, row in enumerate(raw.rows[:HEADER_SEARCH_ROWS]):
        found = _trimmed([clean_text(cell_text(cell)) for cell in row])
        if not found:
            continue
        for kind, expected in headers.items():
            if found == list(expected):
                return _cut(raw, kind, index, found, [])
            score = _match_score(expected, found)
            if score[0] >= max(3, (len(expected) + 1) // 2) and (best is None or score > best[0]):
                best = (score, index, kind, found)
    if best is not None:
        _, index, kind, found = best
        return _cut(raw, kind, index, found, header_issues(headers[kind], found))
    known = "；".join(f"{kind}：{'、'.join(header)}" for kind, header in headers.items())
    return Detected(None, None, [Issue(Code.UNKNOWN_TEMPLATE, f"前{HEADER_SEARCH_ROWS}行中找不到模板表头。可用的模板表头为 {known}")])


def _blank(cell: object) -> bool:
    """Whether a cell shows nothing: empty, or only spaces of any width."""
    return cell is None or (type(cell) is str and not clean_text(cell))


def _text_column(cells: tuple[object, ...]) -> list[str]:
    """One column's cells as text (most are text already; numbers and dates are converted).

    A column of numbers only (序号, amounts) is converted at once, as :func:`number_text` would:
    whole numbers by numpy, the usual others by one C-level format to 15 significant digits, and
    only the rare rest (tiny, huge, not a number) one by one.
    """
    kinds = set(map(type, cells))
    if kinds == {str}:
        return list(cells)  # type: ignore[arg-type]
    if kinds == {float}:
        values = np.fromiter(cells, dtype=np.float64, count=len(cells))  # type: ignore[arg-type]
        size = np.abs(values)
        whole = (values == np.trunc(values)) & (size < 1e15)
        if whole.all():
            return list(map(str, values.astype(np.int64).tolist()))  # 序号, whole amounts: the usual column
        # From 0.0001 to just below 1e15, 15 significant digits never take an exponent.
        plain = ~whole & (size >= 1e-4) & (size < 999999999999999.5)
        texts = np.empty(len(cells), dtype=object)
        texts[whole] = list(map(str, values[whole].astype(np.int64).tolist()))
        texts[plain] = list(map("{:.15g}".format, values[plain].tolist()))
        rest = np.flatnonzero(~(whole | plain)).tolist()
        texts[rest] = [number_text(cells[index]) for index in rest]  # type: ignore[arg-type]
        return texts.tolist()
    return [cell if type(cell) is str else cell_text(cell) for cell in cells]


def _cut(raw: RawTable, kind: str, header_index: int, found: list[str], issues: list[Issue]) -> Detected:
    """The data rows below the header, by column; blank rows, an example row and a total row left out.

    A row is blank when every cell of it is, those beyond the header's last column included (a
    row with content only there is kept, so the unit is told its cells are empty).
    """
    width = len(found)
    body = raw.rows[header_index + 1 :]
    full = max([width, *map(len, body)]) if body else width
    if any(len(row) != full for row in body):
        body = [[*row, *[None] * (full - len(row))] for row in body]
    all_columns = list(zip(*body)) if body else [() for _ in range(full)]
    blank = range(len(body))
    for column in all_columns:
        blank = [index for index in blank if _blank(column[index])]
        if not blank:
            break
    columns = [_text_column(column) for column in all_columns[:width]]
    excel_rows = list(range(header_index + 2, header_index + 2 + len(body)))
    if blank:
        skipped = set(blank)
        kept = [index for index in range(len(body)) if index not in skipped]
        columns = [[column[index] for index in kept] for column in columns]
        excel_rows = [excel_rows[index] for index in kept]
    if excel_rows and clean_text(columns[0][0]) == EXAMPLE_MARKER:
        columns, excel_rows = [column[1:] for column in columns], excel_rows[1:]
    sheet = Sheet(raw.sheet_name, header_index + 1, found, columns, excel_rows, raw.rows)
    if excel_rows and clean_text(columns[0][-1]) in TOTAL_MARKERS:
        sheet.total_row, sheet.total_excel_row = [column[-1] for column in columns], excel_rows[-1]
        sheet.columns, sheet.excel_rows = [column[:-1] for column in columns], excel_rows[:-1]
    return Detected(kind, sheet, issues)
