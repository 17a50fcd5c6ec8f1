"""``gjj load``: refresh the master data snapshot (units and members) from CSV or xlsx.

The files go through the same reader, normalisation and schema as a unit's file. Loading is an
upsert and all-or-nothing: if any row of either file is bad, the issues are returned and nothing
is written.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from pipeline.check.schema import check_cells
from pipeline.config import CentreConfig
from pipeline.errors import Code, Issue, ReadFailure
from pipeline.model import RowResult
from pipeline.read.header import detect, holds_header
from pipeline.read.workbook import read_raw
from pipeline.store.tables import OPEN_MEMBER, Member, Unit
from schemas.masterdata import MEMBER_FIELDS, MEMBER_HEADER, UNIT_FIELDS, UNIT_HEADER, member_schema, unit_schema


@dataclass
class LoadReport:
    """What a load found and did; ``issues`` keyed by file name."""

    issues: dict[str, list[Issue]] = field(default_factory=dict)
    units: int = 0
    members: int = 0

    @property
    def ok(self) -> bool:
        return not any(self.issues.values())


def _rows(path: Path, kind: str, header: tuple[str, ...], fields: Any, schema: Any, config: CentreConfig) -> tuple[list[RowResult], list[Issue]]:
    try:
        raw = read_raw(path, config.limits, holds_header({kind: header}))
    except ReadFailure as failure:
        return [], [failure.issue]
    detected = detect(raw, {kind: header})
    if detected.sheet is None or detected.issues:
        return [], detected.issues
    rows, _ = check_cells(detected.sheet, fields, schema)
    return rows, []


def _duplicates(rows: list[RowResult], key: str) -> None:
    seen: dict[str, int] = {}
    for row in rows:
        value = row.values[key]
        if value in seen:
            row.issues.append(Issue(Code.DUPLICATE_ROW, f"「{key}」{value} 与第{seen[value]}行重复", row.excel_row, key))
        else:
            seen[value] = row.excel_row


def _ids_in_use(session: Session, rows: list[RowResult]) -> None:
    """A 证件号码 that an open account not in the file already has (SPEC.md, Decisions: one open account per person)."""
    accounts = {row.values["个人账号"] for row in rows}
    ids = sorted({row.values["证件号码"] for row in rows})
    held: dict[str, str] = {}
    for start in range(0, len(ids), 5000):
        query = select(Member.id_number, Member.member_account).where(Member.id_number.in_(ids[start : start + 5000]), text(OPEN_MEMBER))
        held.update((id_number, account) for id_number, account in session.execute(query) if account not in accounts)
    for row in rows:
        other = held.get(row.values["证件号码"])
        if other is not None:
            row.issues.append(
                Issue(Code.ID_IN_USE, f"证件号码已属于另一个未销户的个人账号「{other}」；一人只能有一个未销户账户，请先核实", row.excel_row, "证件号码")
            )


def _unit_rules(rows: list[RowResult], config: CentreConfig) -> None:
    """Deposit ratios within the configured bounds; the 集中封存户 deposits nothing and is exempt."""
    for row in rows:
        if row.values["单位账号"] == config.sealed_unit:
            continue
        for column in ("单位缴存比例", "个人缴存比例"):
            if row.issues:
                break
            ratio = Decimal(row.values[column])
            if not config.ratio_min <= ratio <= config.ratio_max:
                row.issues.append(
                    Issue(
                        Code.AMOUNT_OUT_OF_RANGE,
                        f"「{column}」{ratio} 不在 {config.ratio_min}–{config.ratio_max} 之间",
                        row.excel_row,
                        column,
                    )
                )


def _upsert(session: Session, model: Any, records: list[dict[str, Any]], key: str) -> None:
    if not records:
        return
    module = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    for start in range(0, len(records), 2000):
        chunk = records[start : start + 2000]
        statement = module.insert(model).values(chunk)
        columns = {name: statement.excluded[name] for name in chunk[0] if name != key}
        session.execute(statement.on_conflict_do_update(index_elements=[key], set_=columns))


def _unit_record(values: dict[str, str]) -> dict[str, Any]:
    return {
        "unit_account": values["单位账号"],
        "name": values["单位名称"],
        "credit_code": values["统一社会信用代码"],
        "unit_ratio": Decimal(values["单位缴存比例"]),
        "personal_ratio": Decimal(values["个人缴存比例"]),
        "status": values["单位账户状态"],
        "paid_to_month": values["缴至年月"],
        "contact_name": values["经办人姓名"],
        "contact_phone": values["经办人手机号码"],
    }


def _member_record(values: dict[str, str]) -> dict[str, Any]:
    year = values["最近基数调整年度"]
    opened = values["开户日期"]
    return {
        "member_account": values["个人账号"],
        "unit_account": values["单位账号"],
        "name": values["姓名"],
        "id_type": values["证件类型"],
        "id_number": values["证件号码"],
        "status": values["个人账户状态"],
        "base": Decimal(values["个人缴存基数"]),
        "balance": Decimal(values["个人账户余额"]),
        "opened_on": date.fromisoformat(opened) if opened else None,
        "seal_reason": values["封存原因"],
        "last_base_adjust_year": int(year) if year else None,
    }


def _issues(rows: Iterable[RowResult]) -> list[Issue]:
    return [issue for row in rows for issue in row.issues]


def load_master_data(session: Session, config: CentreConfig, units: Path | None = None, members: Path | None = None) -> LoadReport:
    """Validate both files and upsert them in the caller's transaction, or write nothing."""
    report = LoadReport()
    unit_rows: list[RowResult] = []
    member_rows: list[RowResult] = []
    if units is not None:
        unit_rows, file_issues = _rows(units, "单位", UNIT_HEADER, UNIT_FIELDS, unit_schema(), config)
        _duplicates([r for r in unit_rows if not r.issues], "单位账号")
        _unit_rules(unit_rows, config)
        report.issues[units.name] = file_issues + _issues(unit_rows)
    if members is not None:
        member_rows, file_issues = _rows(members, "缴存人", MEMBER_HEADER, MEMBER_FIELDS, member_schema(), config)
        _duplicates([r for r in member_rows if not r.issues], "个人账号")
        _duplicates([r for r in member_rows if not r.issues], "证件号码")  # one open account per person
        _ids_in_use(session, [r for r in member_rows if not r.issues])
        known_units = {row.values["单位账号"] for row in unit_rows} | set(session.scalars(select(Unit.unit_account)))
        for row in member_rows:
            if not row.issues and row.values["单位账号"] not in known_units:
                row.issues.append(
                    Issue(Code.UNIT_UNKNOWN, f"单位账号「{row.values['单位账号']}」不存在", row.excel_row, "单位账号")
                )
        report.issues[members.name] = file_issues + _issues(member_rows)
    if not report.ok:
        return report
    _upsert(session, Unit, [_unit_record(row.values) for row in unit_rows], "unit_account")
    _upsert(session, Member, [_member_record(row.values) for row in member_rows], "member_account")
    report.units, report.members = len(unit_rows), len(member_rows)
    return report
