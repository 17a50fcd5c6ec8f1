"""``gjj load``: refresh the master data snapshot (units and members) from CSV or xlsx.

The files go through the same reader, normalisation and schema as a unit's file; a member's
证件号码 then gets the check that fits its 证件类型 (:func:`schemas.id_types.id_type_problem`). Loading
is an upsert. By default it is all-or-nothing: if any row of either file is bad, the issues are
returned and nothing is written. With ``skip_invalid`` the good rows are loaded and the refused
ones are returned (and written by :func:`write_refused`), so one person never blocks a night's
refresh; a file-level problem (unreadable, wrong header) still loads nothing.

One open account per person (SPEC.md, Decisions) is checked on 证件号码 in their 18-digit form
(:func:`schemas.cells.id18`): a legacy 15-digit number and its 18-digit form are one person, in the
file (DUPLICATE_ROW) and against the open accounts already loaded (ID_IN_USE). The stored 证件号码
is what the core system sent. A member whose unit is neither loaded nor being loaded is refused
(UNIT_UNKNOWN), so a refused unit refuses its new members too; the 集中封存户 is created when a
member file names it and it is missing, as the first 离职封存 would.

Every unit the load names, or moves a member out of, gets its 汇缴 baseline rewritten from its 正常
members as they stand after the load (:func:`pipeline.store.effects.remit.refresh_baselines`): the
上期 of the unit's first 汇缴核定 here.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
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
from pipeline.outputs.xlsx_text import neutralise_formula
from pipeline.read.header import detect, holds_header
from pipeline.read.workbook import read_raw
from pipeline.store.effects.members import ensure_sealed_unit
from pipeline.store.effects.remit import refresh_baselines, units_of
from pipeline.store.tables import OPEN_MEMBER, Member, Unit
from schemas.cells import id18, id_forms
from schemas.fields import field_map
from schemas.id_types import describe_id_of_type, id_type_problems
from schemas.masterdata import MEMBER_FIELDS, MEMBER_HEADER, UNIT_FIELDS, UNIT_HEADER, member_schema, unit_schema

ID_TYPE, ID_NUMBER, ACCOUNT, UNIT = "证件类型", "证件号码", "个人账号", "单位账号"


@dataclass
class LoadReport:
    """What a load found and did; ``issues`` keyed by file name.

    ``loaded`` says whether rows were written: all of them, or with ``skip_invalid`` the rows
    without issues (``units`` and ``members`` count what was written).
    """

    issues: dict[str, list[Issue]] = field(default_factory=dict)
    units: int = 0
    members: int = 0
    loaded: bool = False

    @property
    def ok(self) -> bool:
        return not any(self.issues.values())

    @property
    def file_problems(self) -> bool:
        """Whether a file could not be read as master data at all (an issue of no row): nothing of it can load."""
        return any(issue.row is None for issues in self.issues.values() for issue in issues)

    def refused_rows(self) -> dict[str, int]:
        """How many rows of each file were refused."""
        return {name: len({issue.row for issue in issues}) for name, issues in self.issues.items() if issues}


def read_rows(path: Path, kind: str, header: tuple[str, ...], fields: Any, schema: Any, config: CentreConfig) -> tuple[list[RowResult], list[Issue]]:
    """The checked rows of a table the centre loads (master data, the payments feed) and its file-level issues."""
    try:
        raw = read_raw(path, config.limits, holds_header({kind: header}))
    except ReadFailure as failure:
        return [], [failure.issue]
    detected = detect(raw, {kind: header})
    if detected.sheet is None or detected.issues:
        return [], detected.issues
    rows, _ = check_cells(detected.sheet, fields, schema)
    return rows, []


def _has_issue_in(row: RowResult, *columns: str) -> bool:
    return bool(row.issues) and any(issue.column in columns for issue in row.issues)


def mark_duplicates(rows: list[RowResult], column: str, key: Callable[[str], str] | None = None) -> None:
    """DUPLICATE_ROW on every row whose ``column`` (compared as ``key`` of it) another row has too.

    Which of them is right is not the loader's to guess: all of them are refused, each naming the
    others. ``key`` set means the column names a person (证件号码 by :func:`id18`).
    """
    groups: dict[str, list[RowResult]] = defaultdict(list)
    for row in rows:
        if not _has_issue_in(row, column):
            value = row.values[column]
            groups[key(value) if key else value].append(row)
    for group in groups.values():
        if len(group) < 2:
            continue
        for row in group:
            value = row.values[column]
            others = [(other.excel_row, other.values[column]) for other in group if other is not row]
            named = "、".join(f"第{excel_row}行" + (f"的「{held}」" if held != value else "") for excel_row, held in others)
            if key is None:
                message = f"「{column}」{value} 与{named}重复"
            else:
                legacy = "（15位旧号码与其18位号码是同一人）" if any(held != value for _, held in others) else ""
                message = f"「{column}」{value} 与{named}是同一人{legacy}；一人只能有一个未销户账户"
            row.issues.append(Issue(Code.DUPLICATE_ROW, message, row.excel_row, column))


def _check_id_types(rows: list[RowResult]) -> None:
    """Each 证件号码 by the check that fits its row's 证件类型 (the schema checked only its length)."""
    checked = [row for row in rows if not _has_issue_in(row, ID_TYPE, ID_NUMBER)]
    problems = id_type_problems([row.values[ID_TYPE] for row in checked], [row.values[ID_NUMBER] for row in checked])
    number = field_map(MEMBER_FIELDS)[ID_NUMBER]
    for row, code in zip(checked, problems):
        if code is not None:
            message = describe_id_of_type(code, number, row.values[ID_TYPE], row.values[ID_NUMBER])
            row.issues.append(Issue(code, message, row.excel_row, ID_NUMBER))


def _unknown_units(session: Session, config: CentreConfig, rows: list[RowResult], unit_rows: list[RowResult]) -> None:
    """UNIT_UNKNOWN for a member whose unit is not loaded and not loaded now (a refused unit row refuses its new members)."""
    known = {row.values[UNIT] for row in unit_rows if not row.issues} | set(session.scalars(select(Unit.unit_account))) | {config.sealed_unit}
    refused = {row.values[UNIT]: row.excel_row for row in unit_rows if row.issues and not _has_issue_in(row, UNIT)}
    for row in rows:
        if _has_issue_in(row, UNIT) or row.values[UNIT] in known:
            continue
        unit = row.values[UNIT]
        if unit in refused:
            message = f"单位账号「{unit}」的单位数据有错误（单位文件第{refused[unit]}行），未导入；该单位的缴存人也不能导入"
        else:
            message = f"单位账号「{unit}」不存在"
        row.issues.append(Issue(Code.UNIT_UNKNOWN, message, row.excel_row, UNIT))


def _ids_in_use(session: Session, rows: list[RowResult]) -> None:
    """A person (证件号码 in either form) that an open account not loaded from this file already has.

    SPEC.md, Decisions: one open account per person. An account of the file takes its new values, so
    what it held before is free; an account whose row is refused keeps what it holds, which may refuse
    another row in turn, until nothing changes (then the load cannot break the unique index).
    """
    rows = [row for row in rows if not row.issues]
    forms = sorted({form for row in rows for form in id_forms(row.values[ID_NUMBER])})
    holders: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for start in range(0, len(forms), 5000):
        query = select(Member.id_number, Member.member_account).where(Member.id_number.in_(forms[start : start + 5000]), text(OPEN_MEMBER))
        for id_number, account in session.execute(query):
            holders[id18(id_number)].append((account, id_number))
    if not holders:
        return
    exposed = [row for row in rows if id18(row.values[ID_NUMBER]) in holders]
    while True:
        loading = {row.values[ACCOUNT] for row in rows if not row.issues}
        refused = False
        for row in exposed:
            if row.issues:
                continue
            value = row.values[ID_NUMBER]
            other = next(((account, held) for account, held in sorted(holders[id18(value)]) if account not in loading), None)
            if other is None:
                continue
            account, held = other
            legacy = f"（登记为「{held}」，15位旧号码与其18位号码是同一人）" if held != value else ""
            row.issues.append(
                Issue(
                    Code.ID_IN_USE,
                    f"证件号码已属于另一个未销户的个人账号「{account}」{legacy}；一人只能有一个未销户账户，请先核实",
                    row.excel_row,
                    ID_NUMBER,
                )
            )
            refused = True
        if not refused:
            return


def _unit_rules(rows: list[RowResult], config: CentreConfig) -> None:
    """Deposit ratios within the configured bounds; the 集中封存户 deposits nothing and is exempt."""
    for row in rows:
        if row.values[UNIT] == config.sealed_unit:
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


def load_master_data(
    session: Session, config: CentreConfig, units: Path | None = None, members: Path | None = None, *, skip_invalid: bool = False
) -> LoadReport:
    """Validate both files and upsert them in the caller's transaction, or write nothing.

    With ``skip_invalid`` the rows without issues are written and the others only reported, unless
    a file has a file-level problem (then nothing is written).
    """
    report = LoadReport()
    unit_rows: list[RowResult] = []
    member_rows: list[RowResult] = []
    if units is not None:
        unit_rows, file_issues = read_rows(units, "单位", UNIT_HEADER, UNIT_FIELDS, unit_schema(), config)
        _unit_rules(unit_rows, config)
        mark_duplicates(unit_rows, UNIT)
        report.issues[units.name] = file_issues + _issues(unit_rows)
    if members is not None:
        member_rows, file_issues = read_rows(members, "缴存人", MEMBER_HEADER, MEMBER_FIELDS, member_schema(), config)
        _check_id_types(member_rows)
        _unknown_units(session, config, member_rows, unit_rows)
        mark_duplicates(member_rows, ACCOUNT)
        mark_duplicates(member_rows, ID_NUMBER, id18)  # one open account per person, in either form of the number
        _ids_in_use(session, member_rows)
        report.issues[members.name] = file_issues + _issues(member_rows)
    if not report.ok and (not skip_invalid or report.file_problems):
        return report
    good_units = [row for row in unit_rows if not row.issues]
    good_members = [row for row in member_rows if not row.issues]
    # 汇缴 baselines to rewrite: the units named, and those a loaded member may be leaving (read before the upsert moves them).
    baselines = {row.values[UNIT] for row in good_units} | {row.values[UNIT] for row in good_members}
    baselines |= units_of(session, [row.values[ACCOUNT] for row in good_members])
    _upsert(session, Unit, [_unit_record(row.values) for row in good_units], "unit_account")
    if any(row.values[UNIT] == config.sealed_unit for row in good_members):
        ensure_sealed_unit(session, config.sealed_unit)
    _upsert(session, Member, [_member_record(row.values) for row in good_members], "member_account")
    refresh_baselines(session, config, baselines)
    report.units, report.members, report.loaded = len(good_units), len(good_members), True
    return report


REFUSED_HEADER = ("文件", "行", "列", "代码", "说明")


def write_refused(report: LoadReport, folder: Path, now: datetime | None = None) -> Path:
    """The issues of the refused rows as ``<folder>/<yyyymmdd-HHMMSS>_refused.csv``: one line per issue
    (文件, 行, 列, 代码, 说明), UTF-8 with BOM for Excel, cells neutralised against formula injection.

    A second load within the same second gets ``…-2_refused.csv``; nothing is overwritten.
    """
    folder.mkdir(parents=True, exist_ok=True)
    stamp = (now or datetime.now()).strftime("%Y%m%d-%H%M%S")
    lines = [
        [name, "" if issue.row is None else str(issue.row), issue.column or "", str(issue.code), issue.message]
        for name, issues in report.issues.items()
        for issue in issues
    ]
    for attempt in range(1, 1000):
        path = folder / (f"{stamp}_refused.csv" if attempt == 1 else f"{stamp}-{attempt}_refused.csv")
        try:
            handle = path.open("x", encoding="utf-8-sig", newline="")
        except FileExistsError:
            continue
        with handle:
            writer = csv.writer(handle)
            writer.writerow(REFUSED_HEADER)
            writer.writerows([[neutralise_formula(cell) for cell in line] for line in lines])
        return path
    raise FileExistsError(f"{folder}: too many refused-row reports named {stamp}")
