"""Read stage: a received file becomes rows of cell text with their Excel row numbers.

xlsx and xls are read with python-calamine (about ten times faster than openpyxl read-only on a
100k-row file, see SPEC.md); csv is decoded as strict UTF-8 (with or without BOM) first and only
then as GB18030, which accepts almost any bytes and so must never be tried first.

Every cell becomes text that keeps what the cell really held: a date cell becomes ``2023-11-01``,
a number ``1000.5``, and a number too large to be exact (an ID that Excel turned into a number)
keeps its scientific form ``2.10102199001011e+17`` so the schema can say the digits are lost.
A number is read as Excel and WPS show it, to 15 significant digits: a formula's result is saved
with 17 (``=1.005*100`` as ``100.49999999999999``), and its binary noise must not decide a rounding.

Of a workbook the first visible worksheet whose first rows hold a template's header is read (the
header test comes from :mod:`pipeline.read.header`); sheets after it are not parsed, hidden and
very hidden sheets never are: what the unit cannot see on screen is not what it sends.

A zip drop (the template with the scans of its rows, :mod:`pipeline.read.bundle`) is checked
entry by entry; its template is read from a private temporary folder, removed at once, and the
table carries the zip's :class:`~pipeline.read.bundle.Bundle`.
"""

from __future__ import annotations

import csv
import hashlib
import io
import threading
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

from python_calamine import CalamineError, CalamineSheet, CalamineWorkbook, SheetTypeEnum, SheetVisibleEnum

from pipeline.config import Limits
from pipeline.errors import Code, Issue, ReadFailure
from pipeline.memory import paused_gc, trim_heap
from pipeline.read.bundle import TEMPLATE_SUFFIXES, ZIP_SUFFIX, Bundle, private_folder, read_bundle

SUFFIXES = (*TEMPLATE_SUFFIXES, ZIP_SUFFIX)
OLE_SIGNATURE = bytes.fromhex("d0cf11e0a1b11ae1")


@dataclass
class RawTable:
    """All rows of the sheet that was read, index = Excel row − 1, and which sheets were looked at.

    ``looked_at`` names the visible worksheets whose first rows were searched for a header, in
    workbook order (the last is this one, unless none held a header: then this is the first);
    ``hidden`` the hidden and very hidden sheets, never read. Both are empty for a csv file.
    """

    sheet_name: str
    rows: list[list[Any]]
    looked_at: tuple[str, ...] = ()
    hidden: tuple[str, ...] = ()
    #: The zip drop's scans and their problems, when the template came in a zip.
    bundle: Bundle | None = None


#: Whether a sheet's rows hold a template's header (:func:`pipeline.read.header.holds_header`).
HeaderTest = Callable[[list[list[Any]]], bool]


def _fail(code: Code, message: str) -> ReadFailure:
    return ReadFailure(Issue(code, message))


def number_text(value: float) -> str:
    """A number cell as Excel shows it: 15 significant digits, written out.

    ``172.39499999999998`` → ``172.395``, ``0.30000000000000004`` → ``0.3``, ``1e-07`` →
    ``0.0000001``; from 1e15 on the scientific form stays (the digits of an ID are lost).
    """
    if value.is_integer() and -1e15 < value < 1e15:
        return str(int(value))
    text = f"{value:.15g}"
    if "e" not in text or abs(value) >= 1e15:
        return text
    return f"{Decimal(text):f}"  # below 0.0001, or rounded up to 1e15: no exponent where a number is expected


def cell_text(value: Any) -> str:
    """The text of one cell as the schema sees it."""
    if type(value) is float and value.is_integer() and -1e15 < value < 1e15:
        return str(int(value))  # the usual number cell (序号, a whole amount), tested first
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return number_text(value)
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == time(0) else value.isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, timedelta | time):
        return str(value)
    return str(value)


def check_zip_limits(path: Path, limits: Limits) -> None:
    """Refuse xlsx decompression bombs before a parser inflates them (a part may not inflate more
    than ``limits.max_zip_ratio`` : 1, Apache POI's ZipSecureFile default being 100)."""
    with path.open("rb") as handle:
        _check_zip(handle, limits)


def _check_zip(handle: IO[bytes], limits: Limits) -> None:
    if handle.read(len(OLE_SIGNATURE)) == OLE_SIGNATURE:
        # An encrypted xlsx is an OLE compound file holding the encrypted package.
        raise _fail(Code.FILE_UNREADABLE, "文件设置了打开密码（已加密），或是改了后缀的旧版xls文件，无法读取；请取消密码并用Excel另存为xlsx后重新上传")
    handle.seek(0)
    try:
        with zipfile.ZipFile(handle) as archive:
            infos = archive.infolist()
    except zipfile.BadZipFile as exc:
        raise _fail(Code.FILE_UNREADABLE, "文件不是有效的xlsx文件（可能已损坏），请用Excel重新保存后上传") from exc
    total = sum(info.file_size for info in infos)
    if total > limits.max_file_bytes * limits.max_zip_ratio:
        raise _fail(Code.FILE_TOO_LARGE, "xlsx文件解压后过大，拒绝处理")
    for info in infos:
        if info.compress_size and info.file_size / info.compress_size > limits.max_zip_ratio and info.file_size > 1_000_000:
            raise _fail(Code.FILE_UNREADABLE, f"xlsx文件中的 {info.filename} 压缩比异常（疑似压缩炸弹），拒绝处理")


@paused_gc()
def read_raw(path: Path, limits: Limits, holds_header: HeaderTest | None = None, *, sha256: str | None = None) -> RawTable:
    """Read the first visible worksheet of ``path`` that ``holds_header`` accepts (without a test, or
    when none does, the first visible one); raise :class:`ReadFailure` when it cannot be read.

    ``sha256``: the file's, when the caller has it (the batch records it): an early parse is used
    only if it parsed those very bytes, without hashing the file again.
    """
    suffix = path.suffix.lower()
    early = _take_early_read(path, sha256)  # whatever this file is, an early parse of another is dropped now
    if suffix not in SUFFIXES:
        raise _fail(Code.FILE_UNREADABLE, f"不支持的文件类型「{path.suffix}」，请上传 xlsx、xls 或 csv 文件（随附材料时与材料一起压缩为 zip）")
    size = path.stat().st_size
    most = limits.max_bundle_bytes if suffix == ZIP_SUFFIX else limits.max_file_bytes
    if size > most:
        raise _fail(Code.FILE_TOO_LARGE, f"文件大小 {size} 字节，超过上限 {most} 字节")
    if size == 0:
        raise _fail(Code.EMPTY_FILE, "文件是空的")
    if suffix == ZIP_SUFFIX:
        return _read_bundle(path, limits, holds_header)
    if suffix == ".csv":
        return RawTable(path.stem, _read_csv(path.read_bytes()))
    if suffix == ".xlsx":
        check_zip_limits(path, limits)
    return _read_workbook(path, holds_header, early)


def _read_bundle(path: Path, limits: Limits, holds_header: HeaderTest | None) -> RawTable:
    """The template of a zip drop, read from a private folder removed right after; with the zip's scans."""
    with private_folder() as folder:
        template, bundle = read_bundle(path, limits, folder)
        table = read_raw(template, limits, holds_header)
    if template.suffix == ".csv":
        table.sheet_name = Path(bundle.template).stem
    table.bundle = bundle
    return table


#: Files above this size hand the memory their parse freed back to the OS after reading.
TRIM_AFTER_BYTES = 1_000_000


def _read_workbook(path: Path, holds_header: HeaderTest | None, early: EarlyRead | None = None) -> RawTable:
    table = _parse_workbook(path, holds_header, early)
    if path.stat().st_size > TRIM_AFTER_BYTES:
        trim_heap()  # calamine's native copy of the sheet (≈50 MB for 100k rows) is freed by now
    return table


#: What a broken or hostile workbook raises (calamine's errors; a value or date out of range). Anything
#: else (a bug, MemoryError, a disk error) is a fault: the file waits in the inbox.
WORKBOOK_ERRORS = (CalamineError, ValueError, OverflowError, zipfile.BadZipFile)
UNREADABLE_WORKBOOK = "文件无法打开（可能已损坏、设置了打开密码或不是Excel文件）"


def visible_worksheets(workbook: CalamineWorkbook) -> Iterator[int]:
    """The indexes of a workbook's visible worksheets, in order (not hidden, not a chart sheet)."""
    for index, meta in enumerate(workbook.sheets_metadata):
        if meta.visible == SheetVisibleEnum.Visible and meta.typ == SheetTypeEnum.WorkSheet:
            yield index


@dataclass
class Worksheets:
    """A workbook's visible worksheets, in order (hidden sheets and chart sheets are never read).

    Iterating gives ``(name, sheet)`` and notes each name in ``looked_at``; ``hidden`` names the hidden
    and very hidden sheets. Both the whole-file reader (units' files) and the streamed one (master
    data, :mod:`pipeline.read.stream`) walk a workbook through this.
    """

    workbook: CalamineWorkbook
    hidden: tuple[str, ...]
    looked_at: list[str] = field(default_factory=list)
    #: Sheets parsed already, by index (the early read's, see :class:`EarlyRead`).
    parsed: dict[int, CalamineSheet] = field(default_factory=dict)

    def __iter__(self) -> Iterator[tuple[str, CalamineSheet]]:
        for index in visible_worksheets(self.workbook):
            name = self.workbook.sheets_metadata[index].name
            self.looked_at.append(name)
            sheet = self.parsed.pop(index, None)
            yield name, sheet if sheet is not None else self.workbook.get_sheet_by_index(index)

    @property
    def first_visible(self) -> str:
        return next((meta.name for meta in self.workbook.sheets_metadata if meta.visible == SheetVisibleEnum.Visible), "")


def open_worksheets(path: Path, early: EarlyRead | None = None) -> Worksheets:
    """The workbook's sheets, or EMPTY_FILE when it has none; raises one of :data:`WORKBOOK_ERRORS`.

    ``early``: what an early read of this very file parsed (:func:`_take_early_read`), used instead.
    """
    workbook = early.workbook if early is not None else CalamineWorkbook.from_path(str(path))
    sheets = workbook.sheets_metadata
    if not sheets:
        raise _fail(Code.EMPTY_FILE, "文件中没有工作表")
    hidden = tuple(sheet.name for sheet in sheets if sheet.visible != SheetVisibleEnum.Visible)
    return Worksheets(workbook, hidden, parsed=early.parsed if early is not None else {})  # handed over: used once


def _parse_workbook(path: Path, holds_header: HeaderTest | None, early: EarlyRead | None) -> RawTable:
    first: RawTable | None = None
    try:
        sheets = open_worksheets(path, early)
        for name, sheet in sheets:
            rows = sheet.to_python(skip_empty_area=False)
            table = RawTable(name, [row if type(row) is list else list(row) for row in rows])
            del rows
            if holds_header is None or holds_header(table.rows):
                table.looked_at, table.hidden = tuple(sheets.looked_at), sheets.hidden
                return table
            first = first or table
    except WORKBOOK_ERRORS as exc:
        raise _fail(Code.FILE_UNREADABLE, UNREADABLE_WORKBOOK) from exc
    first = first or RawTable("", [])  # no visible worksheet at all
    first.looked_at, first.hidden = tuple(sheets.looked_at), sheets.hidden
    return first


# --- the early read: a speed trick measured in benchmarks/ ("whole gjj run process", README) --------


#: What an early read parses at most: the default configuration's limits (pipeline/centre.yaml).
EARLY_LIMITS = Limits(max_file_bytes=20 * 1024 * 1024, max_rows=200_000, max_cell_chars=200)


class EarlyRead:
    """The first waiting workbook parsed in a thread while ``gjj run`` imports what it needs.

    ``gjj run`` spends about a second importing pandas, pandera, SQLAlchemy and WeasyPrint before it
    reads its first file. calamine parses without holding the GIL, so meanwhile a thread parses the
    first visible worksheet of the file the run will most likely take first. The next read of that
    path uses it, but only if the file still holds the very bytes that were parsed (sha256); the
    read of any other file drops it, so it is used once or never. A file above :data:`EARLY_LIMITS` (it starts
    before the configuration is read), or one calamine refuses, is not parsed early: the read proper
    judges it as usual, and checks the configured limits before it uses what was parsed.
    The run lets the thread finish (:func:`finish_early_read`) before it forks: a fork while another
    thread runs native code copies that thread's locks half held.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sha256 = ""
        self.workbook: CalamineWorkbook | None = None
        self.parsed: dict[int, CalamineSheet] = {}
        self._thread = threading.Thread(target=self._parse, name="gjj-early-read", daemon=True)
        self._thread.start()

    def _parse(self) -> None:
        limits = EARLY_LIMITS
        try:
            if self.path.stat().st_size > limits.max_file_bytes:
                return
            data = self.path.read_bytes()
            _check_zip(io.BytesIO(data), limits)  # never inflate a bomb, not even early
            workbook = CalamineWorkbook.from_filelike(io.BytesIO(data))
            first = next(visible_worksheets(workbook), None)
            if first is not None:
                self.parsed[first] = workbook.get_sheet_by_index(first)
            self.sha256, self.workbook = hashlib.sha256(data).hexdigest(), workbook
        except (ReadFailure, OSError, *WORKBOOK_ERRORS):
            self.parsed.clear()

    def wait(self) -> None:
        self._thread.join()

    def holds(self, path: Path, sha256: str | None = None) -> bool:
        """Whether this read is of ``path`` holding the bytes whose hash is ``sha256`` (by default: as it is now)."""
        self.wait()
        if self.workbook is None:
            return False
        try:
            if not path.samefile(self.path):
                return False
            if sha256 is not None:
                return sha256 == self.sha256
            with path.open("rb") as handle:
                return hashlib.file_digest(handle, "sha256").hexdigest() == self.sha256
        except OSError:
            return False


_early_read: EarlyRead | None = None


def start_early_read(path: Path) -> None:
    """Parse ``path`` in a thread, for the next read of it (see :class:`EarlyRead`)."""
    global _early_read
    _early_read = EarlyRead(path)


def finish_early_read() -> None:
    """Let an early read's thread finish (before the process forks); what it parsed stays for the read."""
    if _early_read is not None:
        _early_read.wait()


def drop_early_read() -> None:
    """Let go of an early parse no read took (its file was not read: an unknown unit's, say)."""
    global _early_read
    finish_early_read()
    _early_read = None


def _take_early_read(path: Path, sha256: str | None = None) -> EarlyRead | None:
    """The early read if it is of ``path`` (with those bytes, see :meth:`EarlyRead.holds`); either way it is gone after this."""
    global _early_read
    early, _early_read = _early_read, None
    return early if early is not None and early.holds(path, sha256) else None


def decode_csv(data: bytes) -> str:
    """Strict UTF-8 (BOM or not) first, GB18030 only after; never a guess that loses characters."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030")
    except UnicodeDecodeError as exc:
        raise _fail(Code.FILE_UNREADABLE, "csv文件的编码无法识别，请另存为 UTF-8 或 GBK 编码") from exc


def _read_csv(data: bytes) -> list[list[Any]]:
    text = decode_csv(data)
    if "\x00" in text:
        raise _fail(Code.FILE_UNREADABLE, "csv文件含有二进制内容，无法读取")
    try:
        return [list(row) for row in csv.reader(io.StringIO(text, newline=""))]
    except csv.Error as exc:
        raise _fail(Code.FILE_UNREADABLE, f"csv文件格式错误：{exc}") from exc
