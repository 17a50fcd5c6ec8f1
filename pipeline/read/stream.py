"""A big table (the centre's master data: a million members) read block by block, never held whole.

:func:`open_table` finds the header as :mod:`pipeline.read.header` does for a unit's file (the
first visible worksheet whose first rows hold it; UNKNOWN_TEMPLATE and the header issues as
there) and gives the data rows below it in blocks of ``block_rows`` rows, each a
:class:`~pipeline.model.Sheet` of its own with the Excel rows of the whole file
(:func:`pipeline.read.header.cut_block` leaves out blank rows, the example row and the totals row).

csv is decoded as :mod:`pipeline.read.workbook` decodes it — strict UTF-8 (BOM or not), else
GB18030 — by a first pass over the bytes that reads nothing into memory but a buffer, and also
counts the lines (the progress bar's total); the second pass parses the rows. xlsx and xls are read
with python-calamine, row by row from its sheet (``iter_rows``): the sheet's cells are held by
calamine in native memory, no Python list of the sheet is made.

The master data is the centre's own file, not a unit's: the unit file's size and row limits do not
apply (``limits`` keeps the xlsx zip-bomb checks, with the size allowed here).
"""

from __future__ import annotations

import codecs
import csv
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from itertools import islice
from pathlib import Path
from typing import Any

from pipeline.config import Limits
from pipeline.errors import Code, Issue, ReadFailure
from pipeline.model import Sheet
from pipeline.read.header import HEADER_SEARCH_ROWS, BlockCut, cut_block, find_header, no_header_message
from pipeline.read.workbook import UNREADABLE_WORKBOOK, WORKBOOK_ERRORS, RawTable, check_zip_limits, open_worksheets

#: Rows per block: the schema checks a block in this process (below ``APART_ROWS``), and a block's
#: cells and checks are a few MB.
BLOCK_ROWS = 10_000

#: What a master data file may be (2 GiB): a city's members as csv are ≈100 MB.
MAX_MASTER_BYTES = 2 * 1024**3

_READ_BYTES = 1 << 20
_SUFFIXES = (".csv", ".xlsx", ".xls")


def _fail(code: Code, message: str) -> ReadFailure:
    return ReadFailure(Issue(code, message))


@dataclass
class StreamedTable:
    """A table found in a file: its header, the header's issues, and its data rows to come in blocks."""

    kind: str | None
    sheet_name: str
    header_row: int
    header: list[str]
    issues: list[Issue]
    #: About how many data rows the file holds (lines of a csv, the sheet's height): for progress.
    rows_estimate: int
    _rows: Iterator[list[Any]] = field(repr=False, default_factory=lambda: iter(()))
    _first_excel_row: int = 0

    def blocks(self, block_rows: int = BLOCK_ROWS) -> Iterator[Sheet]:
        """The data rows, ``block_rows`` raw rows at a time (fewer once blank and totals rows are left out)."""
        state = BlockCut()
        excel_row = self._first_excel_row
        width = len(self.header)
        while raw := list(islice(self._rows, block_rows)):
            columns, excel_rows = cut_block(raw, width, excel_row, state)
            excel_row += len(raw)
            if excel_rows:
                yield Sheet(self.sheet_name, self.header_row, list(self.header), columns, excel_rows, [])


def open_table(path: Path, limits: Limits, headers: dict[str, Sequence[str]]) -> StreamedTable:
    """The table of ``path`` whose header is one of ``headers``; raise :class:`ReadFailure` when the
    file cannot be read. A file without such a header gives a table with UNKNOWN_TEMPLATE and no rows."""
    suffix = path.suffix.lower()
    if suffix not in _SUFFIXES:
        raise _fail(Code.FILE_UNREADABLE, f"不支持的文件类型「{path.suffix}」，请使用 xlsx、xls 或 csv 文件")
    size = path.stat().st_size
    if size > MAX_MASTER_BYTES:
        raise _fail(Code.FILE_TOO_LARGE, f"文件大小 {size} 字节，超过上限 {MAX_MASTER_BYTES} 字节")
    if size == 0:
        raise _fail(Code.EMPTY_FILE, "文件是空的")
    if suffix == ".csv":
        encoding, lines = _csv_encoding(path)
        return _table(path.stem, _csv_rows(path, encoding), lines, headers, (), ())
    if suffix == ".xlsx":
        check_zip_limits(path, replace(limits, max_file_bytes=MAX_MASTER_BYTES))
    return _workbook_table(path, headers)


def _table(
    name: str, rows: Iterator[list[Any]], height: int, headers: dict[str, Sequence[str]], looked_at: tuple[str, ...], hidden: tuple[str, ...]
) -> StreamedTable:
    top = list(islice(rows, HEADER_SEARCH_ROWS))
    found = find_header(top, headers)
    if found is None:
        message = no_header_message(RawTable(name, top, looked_at, hidden), headers)
        return StreamedTable(None, name, 0, [], [Issue(Code.UNKNOWN_TEMPLATE, message)], 0)
    kind, index, cells, issues = found
    rest = iter(top[index + 1 :])
    return StreamedTable(kind, name, index + 1, cells, issues, max(height - index - 1, 0), _chain(rest, rows), index + 2)


def _chain(first: Iterator[list[Any]], then: Iterator[list[Any]]) -> Iterator[list[Any]]:
    yield from first
    yield from then


def _csv_encoding(path: Path) -> tuple[str, int]:
    """The file's encoding (UTF-8 first, then GB18030) and its number of lines, read in 1 MB pieces."""
    for encoding in ("utf-8-sig", "gb18030"):
        decoder = codecs.getincrementaldecoder(encoding)()
        lines = 0
        try:
            with path.open("rb") as handle:
                while piece := handle.read(_READ_BYTES):
                    if "\x00" in decoder.decode(piece):
                        raise _fail(Code.FILE_UNREADABLE, "csv文件含有二进制内容，无法读取")
                    lines += piece.count(b"\n")
                decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            continue
        return encoding, lines
    raise _fail(Code.FILE_UNREADABLE, "csv文件的编码无法识别，请另存为 UTF-8 或 GBK 编码")


def _csv_rows(path: Path, encoding: str) -> Iterator[list[Any]]:
    with path.open(encoding=encoding, newline="") as handle:
        try:
            yield from csv.reader(handle)
        except csv.Error as exc:
            raise _fail(Code.FILE_UNREADABLE, f"csv文件格式错误：{exc}") from exc


def _workbook_table(path: Path, headers: dict[str, Sequence[str]]) -> StreamedTable:
    """The first visible worksheet whose first rows hold one of ``headers`` (else the first one's answer)."""
    try:
        sheets = open_worksheets(path)
        for name, sheet in sheets:
            rows = _sheet_rows(sheet.iter_rows(), (sheet.start or (0, 0))[1])
            table = _table(name, rows, sheet.total_height or 0, headers, tuple(sheets.looked_at), sheets.hidden)
            if table.kind is not None:
                return table
        return _table(sheets.first_visible, iter(()), 0, headers, tuple(sheets.looked_at), sheets.hidden)
    except WORKBOOK_ERRORS as exc:
        raise _fail(Code.FILE_UNREADABLE, UNREADABLE_WORKBOOK) from exc


def _sheet_rows(rows: Any, first_column: int) -> Iterator[list[Any]]:
    """The sheet's rows from column A: ``iter_rows`` starts them at the first column that holds a cell."""
    pad = [""] * first_column
    try:
        for row in rows:
            yield [*pad, *row] if first_column else (row if type(row) is list else list(row))
    except WORKBOOK_ERRORS as exc:
        raise _fail(Code.FILE_UNREADABLE, UNREADABLE_WORKBOOK) from exc
