"""Builders for unit files used across the tests; every file is written by a real spreadsheet writer."""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import xlsxwriter

from pipeline.services.fakes import FakeMember, backpay_row, fake_scan, write_bundle, write_table
from schemas import backpay

__all__ = [
    "Formula",
    "aged",
    "backpay_file",
    "backpay_row",
    "bundle_file",
    "formula_file",
    "identity",
    "kind_file",
    "legacy_id",
    "record_legacy_id",
    "row_for",
    "scans_for",
    "sheet_xml",
]


def backpay_file(folder: Path, rows: list[list[Any]], name: str = "补缴.xlsx", *, title: str | None = "补缴清册", total: str | None = None) -> Path:
    """A back-pay file in ``folder`` (a unit's inbox folder); ``total`` adds a 合计 row."""
    body = list(rows)
    if total is not None:
        body.append(["合计", "", "", "", "", "", "", total])
    return write_table(folder / name, backpay.HEADER, body, title=title)


@dataclass(frozen=True)
class Formula:
    """A formula cell as Excel saves it: the formula and its cached result, a double written with
    17 significant digits (``=1.005*100`` is saved as ``<v>100.49999999999999</v>``)."""

    formula: str
    cached: float


def formula_file(path: Path, header: tuple[str, ...] | list[str], rows: list[list[Any]], title: str | None = None) -> Path:
    """Rows under a header written by xlsxwriter: a :class:`Formula` cell keeps its formula and cached
    value exactly (LibreOffice would round the cached value on save and hide the binary noise)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with xlsxwriter.Workbook(str(path)) as workbook:
        sheet = workbook.add_worksheet("Sheet1")
        lines = ([[title]] if title else []) + [list(header), *rows]
        for row_index, line in enumerate(lines):
            for column, value in enumerate(line):
                if isinstance(value, Formula):
                    sheet.write_formula(row_index, column, value.formula, None, value.cached)
                elif isinstance(value, str):
                    sheet.write_string(row_index, column, value)
                else:
                    sheet.write(row_index, column, value)
    return path


def sheet_xml(path: Path) -> str:
    """The first worksheet's XML, to see what the file really holds."""
    with zipfile.ZipFile(path) as archive:
        return archive.read("xl/worksheets/sheet1.xml").decode()


def row_for(member: FakeMember, seq: int = 1, reason: str = "漏缴", start: str = "2024-03", end: str = "2024-05", amount: Any = "1000") -> list[Any]:
    return backpay_row(seq, member, reason, start, end, amount)


def kind_file(folder: Path, kind: str, rows: list[list[Any]], name: str | None = None) -> Path:
    """A file of any template ``kind`` in ``folder``, with a title row above the header."""
    from schemas import TEMPLATES

    return write_table(folder / (name or f"{kind}.xlsx"), TEMPLATES[kind].HEADER, rows, title=f"{kind}清册")


def scans_for(*accounts: str, kinds: tuple[str, ...] = ("身份证", "证明")) -> dict[str, bytes]:
    """Good scans named as a unit must name them: a JPEG 身份证 and a PDF 证明 for each account."""
    suffix = {"身份证": "jpg", "证明": "pdf"}
    return {f"{account}_{kind}.{suffix[kind]}": fake_scan(suffix[kind]) for account in accounts for kind in kinds}


def bundle_file(folder: Path, kind: str, rows: list[list[Any]], scans: dict[str, bytes], name: str | None = None) -> Path:
    """A zip drop of ``kind`` in ``folder``: the template (titled as :func:`kind_file`'s) and ``scans``."""
    from schemas import TEMPLATES

    return write_bundle(folder / (name or f"{kind}.zip"), TEMPLATES[kind].HEADER, rows, scans, title=f"{kind}清册")


def identity(member: FakeMember) -> list[str]:
    return [member.member_account, member.name, member.id_number]


def aged(path: Path, seconds: float = 3600) -> Path:
    """Give a file an old modification time, as a copy that keeps the time it was saved does.

    Arrival order and settling go by the change time, which ``utime`` cannot set back: this does
    not make a file look settled (the fixtures use settle time 0) nor earlier in arrival order."""
    import os
    import time

    then = time.time() - seconds
    os.utime(path, (then, then))
    return path


def legacy_id(id_number: str) -> str:
    """The legacy 15-digit form of an 18-digit ID of someone born in 19xx (every fake member is)."""
    assert id_number[6:8] == "19" and len(id_number) == 18
    return id_number[:6] + id_number[8:17]


def faulty_identity(member: FakeMember, fault: int, other: FakeMember) -> tuple[str, str]:
    """The 姓名 and 证件号码 a row for ``member`` carries under identity fault ``fault`` of the
    screen-versus-cell-check property tests: 0 none, 1 a wrong name, 2 ``other``'s ID number,
    3 (not a fault) the legacy 15-digit form of the member's own number."""
    if fault == 1:
        return "王某某", member.id_number
    if fault == 2:
        return member.name, other.id_number
    if fault == 3:
        return member.name, legacy_id(member.id_number)
    return member.name, member.id_number


def record_legacy_id(app: Any, member: FakeMember, folder: Path) -> str:
    """Load ``member`` again as a core system still holding the legacy record sends it: its 证件号码 in
    the 15-digit form (the member's own account may change the form). Returns that form."""
    from pipeline.services.load import load_master_data
    from schemas.masterdata import MEMBER_HEADER

    legacy = legacy_id(member.id_number)
    row = member.row()
    row[MEMBER_HEADER.index("证件号码")] = legacy
    path = write_table(folder / f"legacy_{member.member_account}.csv", MEMBER_HEADER, [row])
    with app.sessions() as session, session.begin():
        report = load_master_data(session, app.config, None, path)
    assert report.ok, report.issues
    return legacy
