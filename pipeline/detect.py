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

from pipeline.issues import Code, Issue
from pipeline.model import Sheet
from pipeline.read import RawTable, cell_text, paused_gc
from schemas.fields import clean_text

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


def _cut(raw: RawTable, kind: str, header_index: int, found: list[str], issues: list[Issue]) -> Detected:
    width = len(found)
    padding = [""] * width
    rows: list[list[str]] = []
    excel_rows: list[int] = []
    raw_rows = raw.rows
    for index in range(header_index + 1, len(raw_rows)):
        cells = [cell if type(cell) is str else cell_text(cell) for cell in raw_rows[index]]
        if not any(clean_text(cell) for cell in cells):
            continue
        if len(cells) != width:
            cells = (cells + padding)[:width]
        rows.append(cells)
        excel_rows.append(index + 1)
    if rows and clean_text(rows[0][0]) == EXAMPLE_MARKER:
        rows, excel_rows = rows[1:], excel_rows[1:]
    sheet = Sheet(raw.sheet_name, header_index + 1, found, rows, excel_rows, raw.rows)
    if rows and clean_text(rows[-1][0]) in TOTAL_MARKERS:
        sheet.total_row, sheet.total_excel_row = rows[-1], excel_rows[-1]
        sheet.rows, sheet.excel_rows = rows[:-1], excel_rows[:-1]
    return Detected(kind, sheet, issues)
