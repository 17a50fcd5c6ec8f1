"""``gjj load``: refresh the master data snapshot (units and members) from CSV or xlsx.

The files go through the same normalisation and schema as a unit's file, read block by block
(:mod:`pipeline.read.stream`): a city's million members are never held in memory. A member's
证件号码 then gets the check that fits its 证件类型 (:func:`schemas.id_types.id_type_problems`).
Each block of checked members goes into a temporary table (:mod:`pipeline.store.master_stage`),
where the checks that need the whole file or the database are queries.

Loading is incremental: a unit or member whose loaded fields equal the file's is not written;
new ones are inserted, changed ones updated (their loaded fields only), and the report counts
them (新增, 更新, 未变). By default it is all-or-nothing: if any row of either file is bad, the
issues are returned and nothing is written. With ``skip_invalid`` the good rows are loaded and the
refused ones are returned (and written by :func:`write_refused`), so one person never blocks a
night's refresh; a file-level problem (unreadable, wrong header) still loads nothing.

One open account per person (SPEC.md, Decisions) is checked on 证件号码 in their 18-digit form
(:func:`schemas.cells.id18`): a legacy 15-digit number and its 18-digit form are one person, in the
file (DUPLICATE_ROW) and against the open accounts already loaded (ID_IN_USE). The stored 证件号码
is what the core system sent. A member whose unit is neither loaded nor being loaded is refused
(UNIT_UNKNOWN), so a refused unit refuses its new members too; the 集中封存户 is created when a
member file names it and it is missing, as the first 离职封存 would.

Every unit whose row the load writes, and every unit a written member joins or leaves, gets its
汇缴 baseline rewritten from its 正常 members as they stand after the load
(:func:`pipeline.store.effects.remit.refresh_baselines`): the 上期 of the unit's first 汇缴核定
here. A unit the load leaves as it was keeps its baseline.

``progress`` (optional) is called as rows are read and checked and as the load is applied:
``progress(stage, done, total)``, ``total`` an estimate (None when not known).
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from pipeline.check.schema import APART_ROWS, CellCheck, check_cells
from pipeline.config import CentreConfig
from pipeline.errors import Code, Issue, ReadFailure
from pipeline.model import RowResult
from pipeline.outputs.xlsx_text import neutralise_formula
from pipeline.read.stream import StreamedTable, open_table
from pipeline.services.master_rows import ACCOUNT, ID_NUMBER, UNIT, check_id_types, duplicate_issues, has_issue_in, mark_duplicates, staged_rows
from pipeline.store.bulk import insert_rows, update_rows
from pipeline.store.effects.members import ensure_sealed_unit
from pipeline.store.effects.remit import refresh_baselines
from pipeline.store.master_stage import BAD_ACCOUNT, BAD_ID, CHANGED, NEW, MemberStage
from pipeline.store.tables import Unit
from schemas.cells import id18
from schemas.masterdata import MEMBER_FIELDS, MEMBER_HEADER, UNIT_FIELDS, UNIT_HEADER, member_schema, unit_schema

#: ``progress(stage, done, total)``: rows read and checked, or steps applied; ``total`` may be None.
Progress = Callable[[str, int, "int | None"], None]

#: Members per block: enough for the schema to run in a forked process (``APART_ROWS``) beside the staging.
MEMBER_BLOCK_ROWS = max(APART_ROWS, 25_000)

#: The progress stages, as the command line shows them.
READING_UNITS, READING_MEMBERS, CHECKING, WRITING = "检查单位", "检查缴存人", "比对", "写入"


@dataclass
class Changes:
    """What a load did to one table: rows inserted, updated, and left as they were."""

    new: int = 0
    updated: int = 0
    unchanged: int = 0


@dataclass
class LoadReport:
    """What a load found and did; ``issues`` keyed by file name.

    ``loaded`` says whether rows were written: all of them, or with ``skip_invalid`` the rows
    without issues (``units`` and ``members`` count the rows loaded, ``unit_changes`` and
    ``member_changes`` what that did: 新增, 更新, 未变).
    """

    issues: dict[str, list[Issue]] = field(default_factory=dict)
    units: int = 0
    members: int = 0
    loaded: bool = False
    unit_changes: Changes = field(default_factory=Changes)
    member_changes: Changes = field(default_factory=Changes)

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


def _issues(rows: Iterable[RowResult]) -> list[Issue]:
    return [issue for row in rows for issue in row.issues]


def _open(path: Path, kind: str, header: tuple[str, ...], config: CentreConfig) -> tuple[StreamedTable | None, list[Issue]]:
    """The table of a master data file, or its file-level issues."""
    try:
        table = open_table(path, config.limits, {kind: header})
    except ReadFailure as failure:
        return None, [failure.issue]
    if table.kind is None or table.issues:
        return None, table.issues
    return table, []


def _read_units(path: Path, config: CentreConfig, progress: Progress) -> tuple[list[RowResult], list[Issue]]:
    """Every unit row, checked (a city has some 20,000 units: they are held)."""
    table, file_issues = _open(path, "单位", UNIT_HEADER, config)
    if table is None:
        return [], file_issues
    rows: list[RowResult] = []
    schema = unit_schema()
    for sheet in table.blocks():
        rows += check_cells(sheet, UNIT_FIELDS, schema)[0]
        progress(READING_UNITS, len(rows), table.rows_estimate)
    _unit_rules(rows, config)
    mark_duplicates(rows, UNIT)
    return rows, []


class _MemberCheck:
    """The members of a load: read and checked block by block into the stage, then checked as a whole."""

    def __init__(self, session: Session, config: CentreConfig, stage: MemberStage, progress: Progress):
        self.session, self.config, self.stage, self.progress = session, config, stage, progress
        #: The issues of the refused rows, by Excel row, each row's in the order they were found.
        self.issues: dict[int, list[Issue]] = {}
        self.rows = 0

    def read(self, path: Path) -> list[Issue]:
        """Stage every row of ``path`` with its cell and 证件类型 issues; the file-level issues."""
        table, file_issues = _open(path, "缴存人", MEMBER_HEADER, self.config)
        if table is None:
            return file_issues
        schema = member_schema()
        checking: CellCheck | None = None
        try:
            for sheet in table.blocks(MEMBER_BLOCK_ROWS):
                # The schema checks this block in a forked process while this one stages the last block.
                started, checking = checking, CellCheck(sheet, MEMBER_FIELDS, schema)
                if started is not None:
                    self._stage(started, table.rows_estimate)
            if checking is not None:
                started, checking = checking, None
                self._stage(started, table.rows_estimate)
        finally:
            if checking is not None:
                checking.close()
        return []

    def _stage(self, cells: CellCheck, estimate: int) -> None:
        rows = cells.finish()
        check_id_types(rows, cells.columns)
        self.stage.add(staged_rows(rows, cells.columns, self.stage.stores_text))
        self.issues.update((row.excel_row, row.issues) for row in rows if row.issues)
        self.rows += len(rows)
        self.progress(READING_MEMBERS, self.rows, max(estimate, self.rows))

    def _add(self, issues: Iterable[Issue]) -> None:
        refused = []
        for issue in issues:
            assert issue.row is not None
            self.issues.setdefault(issue.row, []).append(issue)
            refused.append(issue.row)
        self.stage.refuse(refused)

    def check(self, unit_rows: list[RowResult]) -> None:
        """The checks over the whole file and the database, in the order a row's issues are listed."""
        self._add(self._unknown_units(unit_rows))
        self.progress(CHECKING, 1, 4)
        self._add(issue for group in self.stage.duplicates("member_account", BAD_ACCOUNT) for issue in duplicate_issues(group, ACCOUNT))
        self.progress(CHECKING, 2, 4)
        self._add(issue for group in self.stage.duplicates("id18", BAD_ID) for issue in duplicate_issues(group, ID_NUMBER, person=True))
        self.progress(CHECKING, 3, 4)
        self._add(self._ids_in_use())
        self.progress(CHECKING, 4, 4)

    def _unknown_units(self, unit_rows: list[RowResult]) -> Iterator[Issue]:
        """UNIT_UNKNOWN for a member whose unit is not loaded and not loaded now (a refused unit row refuses its new members)."""
        known = {row.values[UNIT] for row in unit_rows if not row.issues} | set(self.session.scalars(select(Unit.unit_account)))
        known.add(self.config.sealed_unit)
        refused = {row.values[UNIT]: row.excel_row for row in unit_rows if row.issues and not has_issue_in(row, UNIT)}
        unknown = [unit for unit in self.stage.units_named() if unit not in known]
        for excel_row, unit in self.stage.rows_of_units(unknown):
            if unit in refused:
                message = f"单位账号「{unit}」的单位数据有错误（单位文件第{refused[unit]}行），未导入；该单位的缴存人也不能导入"
            else:
                message = f"单位账号「{unit}」不存在"
            yield Issue(Code.UNIT_UNKNOWN, message, excel_row, UNIT)

    def _ids_in_use(self) -> list[Issue]:
        """A person (证件号码 in either form) that an open account not loaded from this file already has.

        SPEC.md, Decisions: one open account per person. An account of the file takes its new values,
        so what it held before is free; an account whose row is refused keeps what it holds, which may
        refuse another row in turn, until nothing changes (then the load cannot break the unique index).
        """
        exposed: dict[int, tuple[str, str, list[tuple[str, str]]]] = {}
        for excel_row, account, value, other, held in self.stage.held_elsewhere():
            if id18(held) == id18(value):
                exposed.setdefault(excel_row, (account, value, []))[2].append((other, held))
        if not exposed:
            return []
        loading = self.stage.good_accounts(sorted({other for _, _, holders in exposed.values() for other, _ in holders}))
        issues: list[Issue] = []
        refused: set[int] = set()
        while True:
            refused_now = False
            for excel_row in sorted(exposed):
                if excel_row in refused:
                    continue
                account, value, holders = exposed[excel_row]
                found = next(((other, held) for other, held in sorted(holders) if other not in loading), None)
                if found is None:
                    continue
                other, held = found
                legacy = f"（登记为「{held}」，15位旧号码与其18位号码是同一人）" if held != value else ""
                message = f"证件号码已属于另一个未销户的个人账号「{other}」{legacy}；一人只能有一个未销户账户，请先核实"
                issues.append(Issue(Code.ID_IN_USE, message, excel_row, ID_NUMBER))
                refused.add(excel_row)
                loading.discard(account)
                refused_now = True
            if not refused_now:
                return issues

    def refused(self) -> list[Issue]:
        return [issue for excel_row in sorted(self.issues) for issue in self.issues[excel_row]]


def _write_units(session: Session, rows: list[RowResult]) -> tuple[Changes, set[str]]:
    """Insert the new units and update the changed ones; what that did, and the units written."""
    held = {values[0]: values for values in session.execute(select(*(Unit.__table__.c[name] for name in _UNIT_COLUMNS)))}
    new, changed = [], []
    for row in rows:
        record = tuple(_unit_record(row.values).values())
        before = held.get(record[0])
        if before is None:
            new.append(record)
        elif tuple(before) != record:
            changed.append(record)
    insert_rows(session, Unit.__table__, _UNIT_COLUMNS, new)
    update_rows(session, Unit.__table__, "unit_account", _UNIT_COLUMNS[1:], (record[1:] + record[:1] for record in changed))
    return Changes(len(new), len(changed), len(rows) - len(new) - len(changed)), {record[0] for record in new + changed}


_UNIT_COLUMNS = ("unit_account", "name", "credit_code", "unit_ratio", "personal_ratio", "status", "paid_to_month", "contact_name", "contact_phone")


def _no_progress(stage: str, done: int, total: int | None) -> None:
    return None


def load_master_data(
    session: Session,
    config: CentreConfig,
    units: Path | None = None,
    members: Path | None = None,
    *,
    skip_invalid: bool = False,
    progress: Progress | None = None,
) -> LoadReport:
    """Validate both files and write what changed in the caller's transaction, or write nothing.

    With ``skip_invalid`` the rows without issues are written and the others only reported, unless
    a file has a file-level problem (then nothing is written).
    """
    progress = progress or _no_progress
    report = LoadReport()
    unit_rows: list[RowResult] = []
    if units is not None:
        unit_rows, file_issues = _read_units(units, config, progress)
        report.issues[units.name] = file_issues + _issues(unit_rows)
    stage = MemberStage(session) if members is not None else None
    try:
        if stage is not None and members is not None:
            checked = _MemberCheck(session, config, stage, progress)
            file_issues = checked.read(members)
            if not file_issues:
                checked.check(unit_rows)
            report.issues[members.name] = file_issues + checked.refused()
        if not report.ok and (not skip_invalid or report.file_problems):
            return report
        good_units = [row for row in unit_rows if not row.issues]
        progress(WRITING, 0, 3)
        report.unit_changes, baselines = _write_units(session, good_units)
        report.units = len(good_units)
        progress(WRITING, 1, 3)
        if stage is not None:
            if stage.names_unit(config.sealed_unit):
                ensure_sealed_unit(session, config.sealed_unit)
            counts = stage.compare()
            report.member_changes = Changes(counts[NEW], counts[CHANGED], counts[""])
            report.members = sum(counts.values())
            baselines |= stage.touched_units()
            stage.apply()
        progress(WRITING, 2, 3)
        refresh_baselines(session, config, sorted(baselines))
        progress(WRITING, 3, 3)
        report.loaded = True
        return report
    finally:
        if stage is not None:
            stage.drop()


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
