"""Generated people and files: fake units and members (valid GB 11643 IDs), tables written as a
clerk's spreadsheet would save them. Used by the demo, the benchmark's data and the tests.

Every person here is generated; no real name or ID number is used. Files are written with
openpyxl, a real spreadsheet writer.
"""

from __future__ import annotations

import csv
import io
import random
import struct
import tempfile
import zipfile
import zlib
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import openpyxl

from schemas.cells import id_check_char
from schemas.masterdata import MEMBER_HEADER, UNIT_HEADER

SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈曾彭吕苏卢蒋蔡贾丁魏薛叶阎余潘杜戴夏钟汪田任姜范方石姚谭廖邹熊金陆郝孔白崔康毛邱秦江史顾侯邵孟龙万段钱汤尹黎易常武乔贺赖龚文"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华玉兰萍红娥玲芬燕彬鹏辉宇浩凯健俊帆帅旭宁龙林欣悦晨阳"
REGION = "211402"  # 葫芦岛市连山区
SEALED_UNIT = "0000010"  # 集中封存户, as in the default configuration


def fake_id(birth: date, sequence: int) -> str:
    """A checksum-valid 18-digit ID for a generated person."""
    first17 = f"{REGION}{birth:%Y%m%d}{sequence % 1000:03d}"
    return first17 + id_check_char(first17)


def fake_name(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2))))


@dataclass(frozen=True)
class FakeUnit:
    unit_account: str
    name: str
    unit_ratio: str
    personal_ratio: str
    contact_name: str
    contact_phone: str
    status: str = "正常"
    paid_to_month: str = ""  # 缴至年月, yyyy-mm

    def row(self) -> list[str]:
        credit_code = "91211400MA0" + self.unit_account[-7:] if self.contact_name else "0"
        return [self.unit_account, self.name, credit_code, self.unit_ratio, self.personal_ratio, self.status, self.paid_to_month, self.contact_name, self.contact_phone]


@dataclass(frozen=True)
class FakeMember:
    member_account: str
    unit_account: str
    name: str
    id_number: str
    base: Decimal
    balance: Decimal
    status: str = "正常"
    seal_reason: str = ""

    def row(self) -> list[str]:
        return [self.member_account, self.unit_account, self.name, "身份证", self.id_number, self.status, str(self.base), str(self.balance), "2018-07-23", self.seal_reason, ""]


def fake_member(rng: random.Random, account: str, unit_account: str, number: int, *, born_from: int, born_years: int) -> FakeMember:
    """A generated member: name, checksum-valid ID (born in ``born_years`` years from ``born_from``), base, balance."""
    birth = date(born_from + rng.randrange(born_years), 1 + rng.randrange(12), 1 + rng.randrange(28))
    return FakeMember(
        account,
        unit_account,
        fake_name(rng),
        fake_id(birth, number),
        Decimal(rng.choice((2125, 3000, 4070, 4150, 5200, 6800))),
        Decimal(rng.randrange(100000, 5000000)) / 100,
    )


def fake_master_data(unit_count: int = 2, members_per_unit: int = 8, seed: int = 7) -> tuple[list[FakeUnit], list[FakeMember]]:
    rng = random.Random(seed)
    names = ("葫芦岛市示例科技有限公司", "葫芦岛市演示商贸有限公司", "葫芦岛市样例建材厂", "葫芦岛市测试物流有限公司")
    units = [
        FakeUnit(
            f"01{index + 1:05d}",
            names[index] if index < len(names) else f"葫芦岛市示例单位{index + 1:04d}",
            "0.12" if index % 2 == 0 else "0.10",
            "0.12" if index % 2 == 0 else "0.10",
            fake_name(rng),
            f"158{rng.randrange(10**8):08d}",
        )
        for index in range(unit_count)
    ]
    members = []
    for unit_index, unit in enumerate(list(units)):
        for index in range(members_per_unit):
            number = unit_index * members_per_unit + index
            members.append(fake_member(rng, f"3{number + 1:08d}", unit.unit_account, number, born_from=1970, born_years=30))
    units.append(FakeUnit(SEALED_UNIT, "集中封存户", "0", "0", "", ""))
    return units, members


def write_table(path: Path, header: tuple[str, ...] | list[str], rows: list[list[Any]], title: str | None = None) -> Path:
    """Write rows under a header as xlsx (openpyxl) or csv, by the file's suffix."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".csv":
        with path.open("w", encoding="utf-8-sig", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(header)
            writer.writerows(rows)
        return path
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = "Sheet1"
    if title:
        sheet.append([title])
    sheet.append(list(header))
    for row in rows:
        sheet.append(row)
    workbook.save(path)
    return path


def fake_scan(suffix: str) -> bytes:
    """A small scan of the right format, made here (no binary fixture): a one-page PDF, a 1×1 PNG,
    a tiny JPEG (Pillow's, when installed, else a JFIF header and end marker)."""
    suffix = suffix.lower().lstrip(".")
    if suffix == "pdf":
        return _fake_pdf()
    if suffix == "png":
        return _fake_png()
    if suffix in ("jpg", "jpeg"):
        return _fake_jpeg()
    raise ValueError(f"no fake scan for {suffix!r}")


def _fake_pdf() -> bytes:
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _fake_png() -> bytes:
    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)  # 1×1, 8-bit RGB
    pixels = zlib.compress(b"\x00\xff\xff\xff")  # filter byte, one white pixel
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", pixels) + _png_chunk(b"IEND", b"")


def _fake_jpeg() -> bytes:
    try:
        from PIL import Image
    except ImportError:
        return b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00\xff\xd9"
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), "white").save(buffer, "JPEG")
    return buffer.getvalue()


def write_bundle(
    path: Path, header: tuple[str, ...] | list[str], rows: list[list[Any]], scans: dict[str, bytes], title: str | None = None, template: str | None = None
) -> Path:
    """A zip drop: the template (``template``, else the zip's name as .xlsx) written by
    :func:`write_table`, and ``scans`` by entry name, all at the zip's top level."""
    path.parent.mkdir(parents=True, exist_ok=True)
    name = template or f"{path.stem}.xlsx"
    with tempfile.TemporaryDirectory() as folder:
        written = write_table(Path(folder) / name, header, rows, title=title)
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.write(written, name)
            for entry, data in scans.items():
                archive.writestr(entry, data)
    return path


def write_master_files(folder: Path, units: list[FakeUnit], members: list[FakeMember]) -> tuple[Path, Path]:
    return (
        write_table(folder / "units.csv", UNIT_HEADER, [unit.row() for unit in units]),
        write_table(folder / "members.csv", MEMBER_HEADER, [member.row() for member in members]),
    )


def recent_months(business_date: date) -> tuple[str, str]:
    """Two past months of the business year (or of last year early in January and February)."""
    if business_date.month >= 3:
        return f"{business_date.year}-{business_date.month - 2:02d}", f"{business_date.year}-{business_date.month - 1:02d}"
    return f"{business_date.year - 1}-10", f"{business_date.year - 1}-11"


def backpay_row(seq: Any, member: FakeMember, reason: str, start: str, end: str, amount: Any) -> list[Any]:
    return [seq, member.member_account, member.name, member.id_number, reason, start, end, amount]


def registration_row(seq: Any, name: str, id_number: str, base: str, personal: str, unit: str, mobile: str = "13912345678") -> list[Any]:
    return [seq, name, id_number, "未婚", "0", mobile, "8000", "职员", "其他", "无", "本科", "葫芦岛市连山区中央路1号", "125000",
            base, personal, unit, "中国银行葫芦岛分行", "6217000000000001234"]
