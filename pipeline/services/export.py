"""``gjj export members``: the current member state, in exactly the format ``gjj load`` reads.

This is what the core system imports after a night's run; exporting and loading it again changes
nothing (tested as a round trip).
"""

from __future__ import annotations

import csv
from pathlib import Path

import xlsxwriter
from sqlalchemy import select
from sqlalchemy.orm import Session

from pipeline.outputs.xlsx_text import neutralise_formula
from pipeline.services.members import member_record
from pipeline.store.tables import Member
from schemas.masterdata import MEMBER_HEADER

TEXT_COLUMNS = {"个人账号", "单位账号", "证件号码", "开户日期"}


def member_rows(session: Session) -> list[list[str]]:
    return [member_record(member) for member in session.scalars(select(Member).order_by(Member.unit_account, Member.member_account))]


def export_members(session: Session, path: Path) -> int:
    """Write every member to ``path`` (.csv with a UTF-8 BOM, or .xlsx); returns the count."""
    rows = member_rows(session)
    if path.suffix.lower() == ".csv":
        with path.open("w", encoding="utf-8-sig", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(MEMBER_HEADER)
            writer.writerows([[neutralise_formula(cell) for cell in row] for row in rows])
        return len(rows)
    if path.suffix.lower() != ".xlsx":
        raise ValueError(f"不支持的导出格式「{path.suffix}」，请用 .csv 或 .xlsx")
    workbook = xlsxwriter.Workbook(str(path), {"constant_memory": True})
    sheet = workbook.add_worksheet("缴存人")
    text = workbook.add_format({"num_format": "@"})
    bold = workbook.add_format({"bold": True})
    for column, name in enumerate(MEMBER_HEADER):
        sheet.set_column(column, column, 14, text if name in TEXT_COLUMNS else None)
        sheet.write_string(0, column, name, bold)
    for index, row in enumerate(rows, start=1):
        for column, value in enumerate(row):
            sheet.write_string(index, column, value)
    workbook.close()
    return len(rows)
