"""Find the template of a file from its header row, and the data rows below it.

The header is the first row, within the first five, that matches a known template header; title
and note rows above it are ignored. A row that shares most of a template's header but not all of
it, or not in order, is still that template's header: the unit gets HEADER_MISSING, HEADER_EXTRA
or HEADER_ORDER naming the expected and the found column instead of an unhelpful
UNKNOWN_TEMPLATE. Of a workbook, the first visible worksheet with such a header is read
(:func:`holds_header`); without one, UNKNOWN_TEMPLATE names the sheets looked at and the hidden ones.

Below the header, what a clerk adds around the table is left out (:func:`_cut`): blank rows, rows
holding only their 序号, an example row, the totals row and the lines under the table.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import compress, repeat

import numpy as np

from pipeline.errors import Code, Issue
from pipeline.memory import paused_gc
from pipeline.model import Sheet
from pipeline.read.workbook import HeaderTest, RawTable, cell_text, number_text
from schemas.cells import clean_text

HEADER_SEARCH_ROWS = 5
TOTAL_MARKERS = ("合计", "总计")
TOTAL_CHAR = "计"  # in both markers: the cells to look at closer
EXAMPLE_MARKER = "例"
SEQ_COLUMN = "序号"
#: The first columns of a template's table (序号 and the next two): where a totals row says 合计 and
#: a line under the table (制表人、审核人、单位盖章) is written.
LEAD_COLUMNS = 3
#: Spaces of any kind (``\s`` is Unicode's; NFKC has made full-width ones plain) and zero-width ones.
_SPACES = re.compile(r"[\s\u200b\u200c\u200d\u2060\ufeff]+")
#: A number or a code (序号, 个人账号, 证件号码, an ID read as a number, a date): what a data row holds.
_CODE = re.compile(r"[0-9][0-9.,:/+\-Ee]*[Xx]?")
#: Joins a column's cells to search them at once; a cell holding it is searched on its own.
_CELL_SEPARATOR = "\x00"
#: What a blank cell can hold (a superset of what :func:`clean_text` strips, before NFKC too):
#: Unicode's whitespace and the zero-width characters.
_BLANK_CHARS = "".join(
    ["\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680", *map(chr, range(0x2000, 0x200E)), "\u2028\u2029\u202f\u205f\u2060\u3000\ufeff"]
)
_MAY_BE_BLANK = frozenset({str, type(None)})


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


def _find_header(rows: list[list[object]], headers: dict[str, Sequence[str]]) -> tuple[str, int, list[str], list[Issue]] | None:
    """The template, header row index, header cells and header issues of ``rows``; None without a header."""
    best: tuple[tuple[int, int], int, str, list[str]] | None = None
    for index, row in enumerate(rows[:HEADER_SEARCH_ROWS]):
        found = _trimmed([clean_text(cell_text(cell)) for cell in row])
        if not found:
            continue
        for kind, expected in headers.items():
            if found == list(expected):
                return kind, index, found, []
            score = _match_score(expected, found)
            if score[0] >= max(3, (len(expected) + 1) // 2) and (best is None or score > best[0]):
                best = (score, index, kind, found)
    if best is None:
        return None
    _, index, kind, found = best
    return kind, index, found, header_issues(headers[kind], found)


def holds_header(headers: dict[str, Sequence[str]]) -> HeaderTest:
    """For :func:`read_raw`: whether a sheet's first rows hold one of ``headers``, or one close to it
    (the unit is then told what differs rather than that no template was found)."""
    return lambda rows: _find_header(rows, headers) is not None


@paused_gc()
def detect(raw: RawTable, headers: dict[str, Sequence[str]]) -> Detected:
    """Locate the header row, name the template and cut the data rows out of ``raw``."""
    found = _find_header(raw.rows, headers)
    if found is None:
        return Detected(None, None, [Issue(Code.UNKNOWN_TEMPLATE, _no_header_message(raw, headers))])
    kind, index, cells, issues = found
    return _cut(raw, kind, index, cells, issues)


def _quoted(names: Sequence[str]) -> str:
    return "".join(f"「{name}」" for name in names)


def _no_header_message(raw: RawTable, headers: dict[str, Sequence[str]]) -> str:
    """UNKNOWN_TEMPLATE: where the header was looked for, and the templates' headers."""
    known = "；".join(f"{kind}：{'、'.join(header)}" for kind, header in headers.items())
    if raw.looked_at:
        where = f"工作表{_quoted(raw.looked_at)}的前{HEADER_SEARCH_ROWS}行中{'都' if len(raw.looked_at) > 1 else ''}找不到模板表头"
    elif raw.hidden:
        where = "文件中没有可见的工作表"
    else:
        where = f"前{HEADER_SEARCH_ROWS}行中找不到模板表头"  # a csv file
    if raw.hidden:
        where += f"（隐藏的工作表{_quoted(raw.hidden)}不读取：请把数据放在可见的工作表中，或取消隐藏）"
    return f"{where}。可用的模板表头为 {known}"


def _blank(cell: object) -> bool:
    """Whether a cell shows nothing: empty, or only spaces of any width."""
    return cell is None or (type(cell) is str and not clean_text(cell))


def _text_column(cells: tuple[object, ...]) -> list[str]:
    """One column's cells as text (most are text already; numbers and dates are converted)."""
    return _typed_text_column(cells)[0]


def _typed_text_column(cells: tuple[object, ...]) -> tuple[list[str], set[type]]:
    """One column's cells as text, and the types of its cells as read.

    A column of numbers only (序号, amounts) is converted at once, as :func:`number_text` would:
    whole numbers by numpy, the usual others by one C-level format to 15 significant digits, and
    only the rare rest (tiny, huge, not a number) one by one.
    """
    kinds = set(map(type, cells))
    if kinds == {str}:
        return list(cells), kinds  # type: ignore[arg-type]
    if kinds == {float}:
        values = np.fromiter(cells, dtype=np.float64, count=len(cells))  # type: ignore[arg-type]
        size = np.abs(values)
        whole = (values == np.trunc(values)) & (size < 1e15)
        if whole.all():
            return list(map(str, values.astype(np.int64).tolist())), kinds  # 序号, whole amounts: the usual column
        # From 0.0001 to just below 1e15, 15 significant digits never take an exponent.
        plain = ~whole & (size >= 1e-4) & (size < 999999999999999.5)
        texts = np.empty(len(cells), dtype=object)
        texts[whole] = list(map(str, values[whole].astype(np.int64).tolist()))
        texts[plain] = list(map("{:.15g}".format, values[plain].tolist()))
        rest = np.flatnonzero(~(whole | plain)).tolist()
        texts[rest] = [number_text(cells[index]) for index in rest]  # type: ignore[arg-type]
        return texts.tolist(), kinds
    return [cell if type(cell) is str else cell_text(cell) for cell in cells], kinds


def _lead_text_column(cells: tuple[object, ...]) -> tuple[list[str], set[type], str]:
    """One of the first columns as text, its types, and its texts joined to look for 合计 in at C speed
    ("" when no cell is text: a column of numbers says no 合计). A column of text only (names,
    accounts) is joined at once, and the join is its type check."""
    if cells and type(cells[0]) is str:
        try:
            return list(cells), {str}, _CELL_SEPARATOR.join(cells)  # type: ignore[arg-type]
        except TypeError:
            pass  # a number or a date further down
    texts, kinds = _typed_text_column(cells)
    return texts, kinds, (_CELL_SEPARATOR.join(texts) if str in kinds else "")


def _cut(raw: RawTable, kind: str, header_index: int, found: list[str], issues: list[Issue]) -> Detected:
    """The data rows below the header, by column; what is not data left out.

    Left out: blank rows, and rows that hold nothing but their 序号 (a 序号 column numbered in
    advance, by hand or by formula), wherever they are; a leading example row (序号 = 例); the
    totals row (:func:`_total_row`), kept apart for TOTAL_MISMATCH; and the footer
    (:func:`_footer_rows`). A row with anything in a data column, or right of the header's last
    column, is data wherever it is (so the unit is told its cells are empty): nothing the unit
    filled in is dropped unread. Tables without 序号 (the master data files) lose only their blank
    rows, an example row and a totals row in their first column.
    """
    width = len(found)
    body = raw.rows[header_index + 1 :]
    count = len(body)
    full = max([width, *map(len, body)]) if body else width
    if any(len(row) != full for row in body):
        body = [[*row, *[None] * (full - len(row))] for row in body]
    all_columns = list(zip(*body)) if body else [() for _ in range(full)]
    numbered = found[0] == SEQ_COLUMN
    lead = LEAD_COLUMNS if numbered else 1
    typed = [_lead_text_column(column) for column in all_columns[:lead]]
    typed += [(*_typed_text_column(column), "") for column in all_columns[lead:width]]
    columns = [texts for texts, _, _ in typed]
    kinds: list[set[type] | None] = [column_kinds for _, column_kinds, _ in typed] + [None] * (full - width)
    skip = 1 if numbered else 0  # a row holding nothing but its 序号 is empty
    left_out = set(_empty_rows(all_columns[skip:], kinds[skip:], count))
    first = next((index for index in range(count) if index not in left_out), None)
    if first is not None and clean_text(columns[0][first]) == EXAMPLE_MARKER:
        left_out.add(first)
    total = _total_row(typed[:lead], left_out)
    if total is not None:
        left_out.add(total)
    left_out.update(_footer_rows(all_columns, columns, lead, left_out, total))
    first_excel_row = header_index + 2
    if left_out:
        spans = _spans(count, left_out)
        excel_rows = [row for span in spans for row in range(first_excel_row + span.start, first_excel_row + span.stop)]
        columns_kept = [_take(column, spans) for column in columns]
    else:
        excel_rows, columns_kept = list(range(first_excel_row, first_excel_row + count)), columns
    sheet = Sheet(raw.sheet_name, header_index + 1, found, columns_kept, excel_rows, raw.rows)
    if total is not None:
        sheet.total_row, sheet.total_excel_row = [column[total] for column in columns], first_excel_row + total
    return Detected(kind, sheet, issues)


def _empty_rows(columns: Sequence[tuple[object, ...]], kinds: Sequence[set[type] | None], count: int) -> Sequence[int]:
    """The rows blank in every one of ``columns`` (``kinds``: their cells' types, None when not known).

    A column with no text and no empty cell (numbers, dates) has no blank cell, so no row is empty.
    Otherwise they are found column by column, most rows leaving at the first: a column of text
    only is looked through at C speed for cells that may be blank, each then checked.
    """
    if any(column_kinds is not None and not column_kinds & _MAY_BE_BLANK for column_kinds in kinds):
        return []
    empty: Sequence[int] = range(count)
    for column, column_kinds in zip(columns, kinds):
        if len(empty) == count and column_kinds == {str}:
            may_be = compress(range(count), map(operator.not_, map(str.strip, column, repeat(_BLANK_CHARS))))  # type: ignore[arg-type]
            empty = [index for index in may_be if _blank(column[index])]
        else:
            empty = [index for index in empty if _blank(column[index])]
        if not empty:
            break
    return empty


def _plain(text: str) -> str:
    """A cell's text without spaces of any kind, inside it too: 「合　计」 and 「合 计」 are 合计."""
    return _SPACES.sub("", clean_text(text))


def _total_row(lead: list[tuple[list[str], set[type], str]], left_out: set[int]) -> int | None:
    """The totals row: the last row whose first columns (序号 or the next one or two) say 合计 or
    总计, spaces of any kind ignored. Rows after it may still be data (:func:`_footer_rows`)."""
    rows = {index for texts, _, joined in lead for index in _rows_holding(texts, joined, TOTAL_CHAR) if _plain(texts[index]) in TOTAL_MARKERS}
    return max(rows - left_out, default=None)


def _rows_holding(texts: list[str], joined: str, char: str) -> list[int]:
    """The indexes of the cells that contain ``char``, found in the column's ``joined`` text: a column
    is long and the hits are few."""
    if char not in joined:
        return []
    if joined.count(_CELL_SEPARATOR) != len(texts) - 1:  # a cell holds the separator itself
        return [index for index, cell in enumerate(texts) if char in cell]
    hits, row, position = [], 0, 0
    found = joined.find(char)
    while found != -1:
        row += joined.count(_CELL_SEPARATOR, position, found)
        position = found
        hits.append(row)
        found = joined.find(char, found + 1)
    return hits


def _footer_rows(all_columns: list[tuple[object, ...]], columns: list[list[str]], lead: int, left_out: set[int], total: int | None) -> list[int]:
    """The lines under the table: rows after the totals row, or else the last rows of the sheet, that
    hold nothing but text in the first columns (制表人：张三  审核人：李四, 单位（盖章）).

    After the totals row every such row is footer and any other row is data; without one, only the
    rows after the last other row are (a row in the middle of the table is never footer). Text means
    not a number or a code: a row with an account, an ID number or a date in its first columns is data.
    """
    if lead < 2:
        return []
    count, beyond_lead = len(columns[0]), all_columns[lead:]

    def words_only(index: int) -> bool:
        return not any(_CODE.fullmatch(_plain(columns[position][index])) for position in range(1, lead))

    if total is not None:
        after = [index for index in range(total + 1, count) if index not in left_out]
        for column in beyond_lead:
            after = [index for index in after if _blank(column[index])]
        return [index for index in after if words_only(index)]
    footer = []
    for index in reversed(range(count)):
        if index in left_out:
            continue
        if not (words_only(index) and all(_blank(column[index]) for column in beyond_lead)):
            break
        footer.append(index)
    return footer


def _spans(count: int, left_out: set[int]) -> list[range]:
    """The runs of rows between the rows left out."""
    spans, start = [], 0
    for index in sorted(left_out):
        if index > start:
            spans.append(range(start, index))
        start = index + 1
    if start < count:
        spans.append(range(start, count))
    return spans


def _take(column: list[str], spans: list[range]) -> list[str]:
    """The cells of ``column`` in ``spans``, a slice (C speed) per span."""
    if len(spans) == 1:
        return column[spans[0].start : spans[0].stop]
    return [cell for span in spans for cell in column[span.start : span.stop]]


# --- a table read block by block (master data at city scale) --------------------------------------


def find_header(rows: list[list[object]], headers: dict[str, Sequence[str]]) -> tuple[str, int, list[str], list[Issue]] | None:
    """The template, header row index (within ``rows``), header cells and header issues; None without a header."""
    return _find_header(rows, headers)


def no_header_message(raw: RawTable, headers: dict[str, Sequence[str]]) -> str:
    """UNKNOWN_TEMPLATE's message for ``raw`` (where the header was looked for, the known headers)."""
    return _no_header_message(raw, headers)


@dataclass
class BlockCut:
    """What cutting one block of a streamed table carries to the next (see :func:`cut_block`)."""

    #: Whether a data row was seen: only the table's first data row may be its example row.
    data_seen: bool = False
    #: The last 合计/总计 row so far (Excel row, its cells): the totals row if no later one comes.
    held_total: tuple[int, list[str]] | None = None


@paused_gc()
def cut_block(rows: list[list[object]], width: int, first_excel_row: int, state: BlockCut) -> tuple[list[list[str]], list[int]]:
    """The data cells (by column, ``width`` columns) and Excel rows of one block of a table without 序号.

    What :func:`_cut` leaves out of a master data table, block by block: blank rows, the example
    row (the table's first data row, 例), and the totals row: the last row whose first column says
    合计/总计. Such a row is held until a later one shows it was data after all; then it comes
    out with the block that showed it (after that block's rows).
    """
    count = len(rows)
    full = max([width, *map(len, rows)]) if rows else width
    if any(len(row) != full for row in rows):
        rows = [[*row, *[None] * (full - len(row))] for row in rows]
    all_columns = list(zip(*rows)) if rows else [() for _ in range(full)]
    typed = [_typed_text_column(column) for column in all_columns[:width]]
    columns = [texts for texts, _ in typed]
    kinds: list[set[type] | None] = [column_kinds for _, column_kinds in typed] + [None] * (full - width)
    left_out = set(_empty_rows(all_columns, kinds, count))
    if not state.data_seen:
        first = next((index for index in range(count) if index not in left_out), None)
        if first is not None:
            state.data_seen = True
            if clean_text(columns[0][first]) == EXAMPLE_MARKER:
                left_out.add(first)
    totals = [index for index, cell in enumerate(columns[0]) if TOTAL_CHAR in cell and index not in left_out and _plain(cell) in TOTAL_MARKERS]
    released = None
    if totals:
        released, last = state.held_total, totals[-1]
        state.held_total = (first_excel_row + last, [column[last] for column in columns])
        left_out.add(last)
    spans = _spans(count, left_out) if left_out else [range(count)]
    excel_rows = [row for span in spans for row in range(first_excel_row + span.start, first_excel_row + span.stop)]
    kept = [_take(column, spans) if left_out else column for column in columns]
    if released is not None:
        excel_rows.append(released[0])
        for column, cell in zip(kept, released[1]):
            column.append(cell)
    return kept, excel_rows
