"""A zip drop: one template file and the scans of its rows (SPEC.md "Member details change and review").

The unit zips the template (``.xlsx``, ``.xls`` or ``.csv``) with the scans, every entry at the
top level, each scan named ``<文档类型>.<pdf|jpg|jpeg|png>`` when it belongs to the whole file
(经办人身份证.jpg, 补缴说明.pdf) or ``<个人账号>_<文档类型>.<pdf|jpg|jpeg|png>`` when it belongs to a
row (0100001_身份证.jpg; a 缴存人登记 row uses its 证件号码). Which types a kind takes is the centre's
policy (:mod:`pipeline.policy`), known only once the template is read: the check refuses the scans
a kind does not take. The zip is hostile until proven otherwise:

* the whole file is FILE_UNREADABLE when an entry name holds a path (``/``, ``\\``, a drive
  ``:``), is ``.`` or ``..``, or has control characters; when an entry is a symbolic link, is
  encrypted, inflates more than ``max_zip_ratio`` : 1 (above 1 MB), or the entries together
  exceed ``max_bundle_bytes``; when a name comes twice; when there is no template or more than one;
  when the zip's end record counts more than ``MAX_ENTRIES`` entries (checked before the directory is parsed);
* a scan is DOCUMENT_INVALID (a file issue naming the entry) when its name does not follow the
  pattern, it is empty or above ``max_scan_bytes``, or its bytes are not what its suffix says
  (``%PDF-``, ``FF D8 FF``, the PNG signature); more than ``max_scans`` scans is one DOCUMENT_INVALID.

Sizes written in the zip's headers are never trusted: every entry is read with a bound (at most
the limit + 1 bytes), and its inflation ratio is watched while it is read. Nothing is extracted
but the template, into a private temporary folder (``mkdtemp``, mode 0700) that the caller
removes (:func:`private_folder`); scans are hashed as they are read and their bytes dropped. The
store reads a scan again (:func:`scan_bytes`) when it keeps it, and checks it is the same.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import stat
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from pipeline.config import Limits
from pipeline.errors import Code, Issue, ReadFailure
from pipeline.model import Document

ZIP_SUFFIX = ".zip"
TEMPLATE_SUFFIXES = (".xlsx", ".xls", ".csv")
#: ``[<个人账号>_]<文档类型>.<suffix>``; the suffix in any case. A type has no digit, ``_`` or ``.``
#: (:data:`pipeline.policy.DOCUMENT_TYPE`), so the account before the ``_`` is never ambiguous.
SCAN_NAME = re.compile(r"^(?:([0-9A-Za-z]{1,30})_)?([\u3400-\u9fffA-Za-z（）()]{1,30})\.(pdf|jpg|jpeg|png)$", re.IGNORECASE)
CONTENT_TYPES = {"pdf": "application/pdf", "jpg": "image/jpeg", "jpeg": "image/jpeg", "png": "image/png"}
MAGIC = {"application/pdf": b"%PDF-", "image/jpeg": b"\xff\xd8\xff", "image/png": b"\x89PNG\r\n\x1a\n"}
CONTENT_NAMES = {"application/pdf": "PDF文件", "image/jpeg": "JPEG图片", "image/png": "PNG图片"}
#: An entry smaller than this is never a bomb, whatever its ratio (as for xlsx parts).
RATIO_FLOOR = 1_000_000
CHUNK = 1 << 16
UTF8_FLAG = 0x800
ENCRYPTED_FLAG = 0x1
#: More entries than this is FILE_UNREADABLE before the zip's directory is parsed: a 100 MB zip of
#: empty entries would otherwise become millions of ZipInfo objects (about 500 bytes each).
MAX_ENTRIES = 1000
END_RECORD = b"PK\x05\x06"
END_RECORD_SIZE = 22


@dataclass
class Bundle:
    """What a zip drop holds besides its template: the good scans and the problems of the bad ones."""

    template: str
    documents: list[Document] = field(default_factory=list)
    issues: list[Issue] = field(default_factory=list)


def _unreadable(message: str) -> ReadFailure:
    return ReadFailure(Issue(Code.FILE_UNREADABLE, message))


def _invalid(message: str) -> Issue:
    return Issue(Code.DOCUMENT_INVALID, message)


def entry_name(info: zipfile.ZipInfo) -> str:
    """The entry's name as the unit typed it: UTF-8 when the zip says so, else UTF-8 if it decodes,
    else GB18030 (Windows' 压缩文件夹 writes Chinese names in the local code page, unflagged)."""
    if info.flag_bits & UTF8_FLAG:
        return info.orig_filename
    try:
        raw = info.orig_filename.encode("cp437")
    except UnicodeEncodeError:
        return info.orig_filename
    for encoding in ("utf-8", "gb18030"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    return info.orig_filename


def shown(name: str) -> str:
    """An entry's name as a message quotes it: a hostile name may be 64 KB long."""
    return name if len(name) <= 80 else name[:80] + "…"


def _unsafe(name: str, info: zipfile.ZipInfo) -> str | None:
    """Why the entry makes the whole zip unsafe, or None."""
    if not name or name in (".", "..") or any(mark in name for mark in ("/", "\\", ":")):
        return f"压缩包中的「{shown(name)}」带有路径（或是 .. 、绝对路径）；材料和模板须直接放在压缩包的最外层"
    if any(ord(char) < 32 for char in name):
        return f"压缩包中的「{shown(name)!r}」文件名含有控制字符"
    if stat.S_ISLNK(info.external_attr >> 16):
        return f"压缩包中的「{shown(name)}」是符号链接，不是文件"
    if info.flag_bits & ENCRYPTED_FLAG:
        return f"压缩包中的「{shown(name)}」设置了密码（已加密），请不加密重新压缩"
    return None


def _entries(archive: zipfile.ZipFile, limits: Limits) -> dict[str, zipfile.ZipInfo]:
    """Every entry by its name, once each are all found safe; raise FILE_UNREADABLE otherwise."""
    entries: dict[str, zipfile.ZipInfo] = {}
    seen: set[str] = set()
    total = 0
    for info in archive.infolist():
        name = entry_name(info)
        problem = _unsafe(name, info)
        if problem is not None:
            raise _unreadable(problem)
        if info.file_size > RATIO_FLOOR and info.file_size > limits.max_zip_ratio * max(info.compress_size, 1):
            raise _unreadable(f"压缩包中的「{shown(name)}」压缩比异常（疑似压缩炸弹），拒绝处理")
        if name.casefold() in seen:
            raise _unreadable(f"压缩包中有两个名为「{shown(name)}」的文件")
        seen.add(name.casefold())
        total += info.file_size
        entries[name] = info
    if total > limits.max_bundle_bytes:
        raise _unreadable(f"压缩包解压后共 {total} 字节，超过上限 {limits.max_bundle_bytes} 字节，拒绝处理")
    return entries


def entry_count(path: Path) -> int | None:
    """How many entries the zip's end record says it has (None when there is no end record: not a zip)."""
    with path.open("rb") as handle:
        handle.seek(0, 2)
        size = handle.tell()
        handle.seek(max(0, size - END_RECORD_SIZE - 0xFFFF))  # the record, after at most a 64 KB comment
        tail = handle.read()
    at = tail.rfind(END_RECORD)
    if at < 0 or len(tail) < at + END_RECORD_SIZE:
        return None
    return int.from_bytes(tail[at + 10 : at + 12], "little")


@contextmanager
def open_zip(path: Path, limits: Limits) -> Iterator[tuple[zipfile.ZipFile, dict[str, zipfile.ZipInfo]]]:
    """The zip and its entries by name, all found safe (else FILE_UNREADABLE)."""
    count = entry_count(path)
    if count is not None and count > MAX_ENTRIES:
        raise _unreadable(f"压缩包中有 {count} 个条目，超过上限 {MAX_ENTRIES} 个，拒绝处理")
    try:
        with zipfile.ZipFile(path) as archive:
            yield archive, _entries(archive, limits)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, EOFError) as exc:
        # Raised while listing or reading: a broken zip, a header that lies about its entry, an
        # unknown compression method.
        raise _unreadable(f"压缩包无法打开（可能已损坏或使用了不支持的压缩方式）：{exc}") from exc


class _TooBig(Exception):
    pass


def _chunks(archive: zipfile.ZipFile, info: zipfile.ZipInfo, name: str, limit: int, ratio: int) -> Iterator[bytes]:
    """The entry's bytes in chunks, never more than ``limit`` (then :class:`_TooBig`), whatever its
    header says; an inflation beyond ``ratio`` : 1 (past 1 MB) is refused as a bomb."""
    read = 0
    with archive.open(info) as handle:
        while chunk := handle.read(min(CHUNK, limit + 1 - read)):
            read += len(chunk)
            if read > limit:
                raise _TooBig
            if read > RATIO_FLOOR and read > ratio * max(info.compress_size, 1):
                raise _unreadable(f"压缩包中的「{name}」压缩比异常（疑似压缩炸弹），拒绝处理")
            yield chunk


def _copy(archive: zipfile.ZipFile, info: zipfile.ZipInfo, name: str, target: IO[bytes], limits: Limits) -> None:
    try:
        for chunk in _chunks(archive, info, name, limits.max_file_bytes, limits.max_zip_ratio):
            target.write(chunk)
    except _TooBig:
        raise ReadFailure(Issue(Code.FILE_TOO_LARGE, f"压缩包中的模板「{name}」超过 {limits.max_file_bytes} 字节的上限")) from None


def _scan(archive: zipfile.ZipFile, info: zipfile.ZipInfo, name: str, limits: Limits) -> Document | Issue:
    """A checked scan, or why it is DOCUMENT_INVALID."""
    match = SCAN_NAME.match(name)
    if match is None:
        return _invalid(
            f"压缩包中的「{shown(name)}」不是模板，名称也不符合材料的命名：整个文件的材料为「文档类型.jpg」（如 经办人身份证.jpg），"
            "每行的材料为「个人账号_文档类型.jpg」（如 0100001_身份证.jpg）；格式 pdf、jpg、png"
        )
    account, kind, suffix = (match.group(1) or "").upper(), match.group(2), match.group(3).lower()
    content_type = CONTENT_TYPES[suffix]
    limit = limits.max_scan_bytes
    digest, size, head = hashlib.sha256(), 0, b""
    try:
        for chunk in _chunks(archive, info, name, limit, limits.max_zip_ratio):
            if len(head) < 8:
                head += chunk[: 8 - len(head)]
            digest.update(chunk)
            size += len(chunk)
    except _TooBig:
        return _invalid(f"材料「{name}」超过 {limit // 1048576} MB 的上限，请压缩图片后重新上传")
    if size == 0:
        return _invalid(f"材料「{name}」是空文件")
    if not head.startswith(MAGIC[content_type]):
        return _invalid(f"材料「{name}」的内容不是{CONTENT_NAMES[content_type]}（与扩展名 .{suffix} 不符）；只收 PDF、JPEG、PNG 格式的扫描件")
    return Document(name, account, kind, content_type, size, digest.hexdigest())


def read_bundle(path: Path, limits: Limits, folder: Path) -> tuple[Path, Bundle]:
    """Check the zip drop ``path``; extract its template into ``folder`` (private, the caller's);
    raise :class:`ReadFailure` when the zip is unsafe or has no single template."""
    with open_zip(path, limits) as (archive, entries):
        templates = [name for name in entries if name.lower().endswith(TEMPLATE_SUFFIXES)]
        if not templates:
            raise _unreadable("压缩包中没有模板文件（xlsx、xls 或 csv）")
        if len(templates) > 1:
            raise _unreadable(f"压缩包中只能有一个模板文件，实际有 {len(templates)} 个：{'、'.join(map(shown, templates))}")
        (name,) = templates
        bundle = Bundle(name)
        target = folder / f"template{Path(name).suffix.lower()}"
        with target.open("xb") as handle:
            _copy(archive, entries[name], name, handle, limits)
        scans = [scan for scan in entries if scan != name]
        if len(scans) > limits.max_scans:
            bundle.issues.append(_invalid(f"压缩包中有 {len(scans)} 份材料，超过每个压缩包 {limits.max_scans} 份的上限，请分批上传"))
            return target, bundle
        kept: dict[tuple[str, str], str] = {}
        for scan in scans:
            checked = _scan(archive, entries[scan], scan, limits)
            if isinstance(checked, Issue):
                bundle.issues.append(checked)
            elif (checked.member_account, checked.kind) in kept:
                earlier = kept[checked.member_account, checked.kind]
                whose = "同一缴存人的" if checked.member_account else "整个文件的"
                bundle.issues.append(_invalid(f"材料「{scan}」与「{earlier}」是{whose}同一种材料，只能上传一份"))
            else:
                kept[checked.member_account, checked.kind] = scan
                bundle.documents.append(checked)
    return target, bundle


@contextmanager
def private_folder() -> Iterator[Path]:
    """A temporary folder only this user may enter (``mkdtemp``: 0700), removed with what it holds."""
    folder = Path(tempfile.mkdtemp(prefix="gjj-zip-"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def scan_bytes(path: Path, entry: str, limits: Limits) -> bytes:
    """The bytes of the scan ``entry`` of the zip drop ``path`` (checked already), read with the same bounds."""
    with open_zip(path, limits) as (archive, entries):
        info = entries[entry]
        try:
            return b"".join(_chunks(archive, info, entry, limits.max_scan_bytes, limits.max_zip_ratio))
        except _TooBig:
            raise _unreadable(f"材料「{entry}」超过 {limits.max_scan_bytes} 字节的上限") from None
