"""Benchmark data, generated from a seed: master data, the 100k-row files and a night of small files.

Unit files are written with xlsxwriter in its default mode (shared strings, like Excel and WPS
save them): identifiers and months as text cells, 序号 and amounts as numbers, a title row above
the header. Every person is generated (:mod:`pipeline.services.fakes`); no real name or ID is used.
"""

from __future__ import annotations

import csv
import os
import random
import time
from dataclasses import asdict, dataclass, field, replace
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import xlsxwriter

from pipeline.money import monthly_deposit
from pipeline.services.fakes import FakeMember, FakeUnit, fake_id, fake_member, fake_name, write_master_files, write_table
from schemas import backpay, base_adjust, remit
from schemas.masterdata import MEMBER_HEADER, UNIT_HEADER

BUSINESS_DATE = date(2024, 8, 5)
BIG_UNIT = "0200001"
#: The big unit's 缴至年月: its 汇缴清册 assesses the business month.
BIG_UNIT_PAID_TO = "2024-07"
REASONS = ("漏缴", "少缴", "补差")


@dataclass(frozen=True)
class Sizes:
    """How much data to generate; ``FULL`` is the issue's, ``SMALL`` keeps the harness test quick."""

    big_rows: int = 100_000
    bad_cell_share: float = 0.01
    night_files: int = 1_000
    night_min_rows: int = 5
    night_max_rows: int = 50
    night_rejected_every: int = 20
    slips: int = 50
    warmup_slips: int = 5
    floor_repeats: int = 3
    big_file_repeats: int = 3
    night_workers: tuple[int, ...] = (1, 2)
    #: The city's master data ``gjj load`` takes (issue #21): members and units, as csv.
    city_members: int = 1_000_000
    city_units: int = 20_000


FULL = Sizes()
SMALL = Sizes(
    big_rows=300,
    night_files=6,
    night_min_rows=5,
    night_max_rows=12,
    night_rejected_every=3,
    slips=3,
    warmup_slips=3,
    floor_repeats=1,
    big_file_repeats=1,
    city_members=400,
    city_units=20,
)


@dataclass
class Dataset:
    """Where the generated files are, and what they hold."""

    root: Path
    sizes: Sizes
    big_master: tuple[Path, Path]
    night_master: tuple[Path, Path]
    backpay: Path
    backpay_rejected: Path
    base_adjust: Path
    remit: Path
    night_inbox: Path
    big_rows: int
    bad_cells: int
    bad_rows: int
    night_files: int
    night_rows: int
    night_rejected_files: int
    generated_seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> dict[str, Any]:
        return {
            "backpay_rows": self.big_rows,
            "backpay_file_bytes": self.backpay.stat().st_size,
            "rejected_variant_bad_cells": self.bad_cells,
            "rejected_variant_bad_rows": self.bad_rows,
            "rejected_variant_cells": self.big_rows * len(backpay.HEADER),
            "base_adjust_rows": self.big_rows,
            "remit_rows": self.big_rows,
            "remit_file_bytes": self.remit.stat().st_size,
            "night_files": self.night_files,
            "night_rows": self.night_rows,
            "night_rejected_files": self.night_rejected_files,
            "business_date": BUSINESS_DATE.isoformat(),
            "sizes": asdict(self.sizes),
        }


def _members(rng: random.Random, unit: FakeUnit, count: int, first_number: int) -> list[FakeMember]:
    numbers = range(first_number, first_number + count)
    return [fake_member(rng, f"{number:09d}", unit.unit_account, number, born_from=1965, born_years=35) for number in numbers]


def one_id_each(members: list[FakeMember]) -> list[FakeMember]:
    """The members with every 证件号码 once (one open account per person): a generated ID that came up
    before gets the next free sequence number of its birth date; every other member stays as made."""
    taken = {member.id_number for member in members}
    seen: set[str] = set()
    unique = []
    for member in members:
        if member.id_number in seen:
            birth = date.fromisoformat(f"{member.id_number[6:10]}-{member.id_number[10:12]}-{member.id_number[12:14]}")
            fresh = next(candidate for sequence in range(1000) if (candidate := fake_id(birth, sequence)) not in taken)
            taken.add(fresh)
            member = replace(member, id_number=fresh)
        seen.add(member.id_number)
        unique.append(member)
    return unique


def _unit(rng: random.Random, account: str, name: str, paid_to_month: str = "") -> FakeUnit:
    return FakeUnit(account, name, "0.12", "0.12", fake_name(rng), f"158{rng.randrange(10**8):08d}", paid_to_month=paid_to_month)


def _months(rng: random.Random) -> tuple[str, str]:
    """A range within the business year before the business month: never future, never cross-year."""
    last = BUSINESS_DATE.month - 1
    start = 1 + rng.randrange(last)
    end = start + rng.randrange(last - start + 1)
    return f"{BUSINESS_DATE.year}-{start:02d}", f"{BUSINESS_DATE.year}-{end:02d}"


def _amount(rng: random.Random) -> int | float:
    whole = rng.randrange(100, 20000)
    return whole + 0.5 if rng.random() < 0.1 else whole


def backpay_rows(rng: random.Random, members: list[FakeMember]) -> list[list[Any]]:
    rows = []
    for seq, member in enumerate(members, start=1):
        start, end = _months(rng)
        rows.append([seq, member.member_account, member.name, member.id_number, rng.choice(REASONS), start, end, _amount(rng)])
    return rows


_BAD_VALUES: tuple[Any, ...] = (
    "",  # 序号 empty → CELL_EMPTY
    "ABC123",  # 个人账号 → ACCOUNT_FORMAT
    "王1",  # 姓名 → NAME_FORMAT
    None,  # 证件号码: wrong check digit → ID_CHECKSUM (computed below)
    "欠缴",  # 补缴原因 → ENUM_VALUE
    "2024-13",  # 补缴开始年月 → MONTH_FORMAT
    "2024/xx",  # 补缴结束年月 → MONTH_FORMAT
    "abc",  # 补缴金额 → NUMBER_FORMAT
)


def spoil(rng: random.Random, rows: list[list[Any]], share: float) -> tuple[list[list[Any]], int, int]:
    """A copy of ``rows`` with ``share`` of all data cells made bad; returns (rows, cells, rows hit)."""
    spoiled = [list(row) for row in rows]
    width = len(backpay.HEADER)
    count = max(1, round(len(rows) * width * share))
    cells = rng.sample(range(len(rows) * width), count)
    for cell in cells:
        row, col = divmod(cell, width)
        bad = _BAD_VALUES[col]
        if col == 3:
            valid = spoiled[row][3]
            bad = valid[:17] + ("0" if valid[17] != "0" else "1")
        spoiled[row][col] = bad
    return spoiled, count, len({cell // width for cell in cells})


def write_unit_xlsx(path: Path, header: tuple[str, ...], rows: list[list[Any]], title: str) -> Path:
    """A unit's file as Excel saves it: a title row, the header, then the rows (text stays text)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with xlsxwriter.Workbook(str(path), {"strings_to_numbers": False, "strings_to_formulas": False}) as workbook:
        sheet = workbook.add_worksheet("Sheet1")
        sheet.write_string(0, 0, title)
        for col, name in enumerate(header):
            sheet.write_string(1, col, name)
        for index, row in enumerate(rows, start=2):
            for col, value in enumerate(row):
                if value is None or value == "":
                    continue
                if isinstance(value, str):
                    sheet.write_string(index, col, value)
                else:
                    sheet.write_number(index, col, value)
    return path


def base_adjust_rows(rng: random.Random, members: list[FakeMember]) -> list[list[Any]]:
    """New bases within +18% (never the counter), one in twenty unchanged."""
    rows = []
    for seq, member in enumerate(members, start=1):
        if rng.random() < 0.05:
            base = int(member.base)
        else:
            base = int(member.base * (1 + Decimal(rng.randrange(1, 18)) / 100))
        rows.append([seq, member.member_account, member.name, member.id_number, base])
    return rows


def remit_rows(unit: FakeUnit, members: list[FakeMember], month: str) -> list[list[Any]]:
    """The unit's 汇缴清册 for ``month``: every member (all 正常) with the base and amounts the centre computes."""
    unit_ratio, personal_ratio = Decimal(unit.unit_ratio), Decimal(unit.personal_ratio)
    return [
        [seq, member.member_account, member.name, member.id_number, int(member.base), int(monthly_deposit(member.base, unit_ratio)), int(monthly_deposit(member.base, personal_ratio)), month, month]
        for seq, member in enumerate(members, start=1)
    ]


def city_master(root: Path, members: int, units: int, seed: int = 21) -> tuple[Path, Path]:
    """A city's master data as the core system exports it (csv): ``units`` units sharing ``members``
    generated members (every 证件号码 once); every fiftieth member sealed. Written line by line."""
    rng = random.Random(seed)
    root.mkdir(parents=True, exist_ok=True)
    city_units = [_unit(rng, f"05{index + 1:05d}", f"葫芦岛市城市规模测试单位{index + 1:05d}") for index in range(units)]
    per_unit = -(-members // units)
    people = one_id_each(
        [
            fake_member(rng, f"{500_000_001 + number:09d}", city_units[number // per_unit].unit_account, number, born_from=1960, born_years=45)
            for number in range(members)
        ]
    )
    units_file = write_table(root / "units.csv", UNIT_HEADER, [unit.row() for unit in city_units])
    members_file = root / "members.csv"
    with members_file.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(MEMBER_HEADER)
        for number, member in enumerate(people):
            row = member.row()
            if number % 50 == 49:
                row[5], row[9] = "封存", "离职封存"
            writer.writerow(row)
    return units_file, members_file


def generate(root: Path, sizes: Sizes = FULL, seed: int = 20240805) -> Dataset:
    """Write every benchmark input under ``root`` (wiped first)."""
    started = time.perf_counter()
    rng = random.Random(seed)
    root.mkdir(parents=True, exist_ok=True)

    big_unit = _unit(rng, BIG_UNIT, "葫芦岛市基准测试大型集团有限公司", paid_to_month=BIG_UNIT_PAID_TO)
    big_members = one_id_each(_members(rng, big_unit, sizes.big_rows, 400_000_001))
    big_master = write_master_files(root / "master-big", [big_unit], big_members)

    night_units = [_unit(rng, f"01{index + 1:05d}", f"葫芦岛市基准测试单位{index + 1:04d}") for index in range(sizes.night_files)]
    per_unit = sizes.night_max_rows
    night_members = one_id_each(
        [member for index, unit in enumerate(night_units) for member in _members(rng, unit, per_unit, 300_000_001 + index * per_unit)]
    )
    night_master = write_master_files(root / "master-night", night_units, night_members)

    rows = backpay_rows(rng, big_members)
    title = f"{big_unit.name}补缴清册"
    good = write_unit_xlsx(root / "files" / "补缴_100k.xlsx", backpay.HEADER, rows, title)
    spoiled, bad_cells, bad_rows = spoil(rng, rows, sizes.bad_cell_share)
    rejected = write_unit_xlsx(root / "files" / "补缴_100k_有错误.xlsx", backpay.HEADER, spoiled, title)
    adjust = write_unit_xlsx(
        root / "files" / "基数调整_100k.xlsx", base_adjust.HEADER, base_adjust_rows(rng, big_members), f"{big_unit.name}基数调整"
    )

    remit_file = write_unit_xlsx(
        root / "files" / "汇缴_100k.xlsx", remit.HEADER, remit_rows(big_unit, big_members, f"{BUSINESS_DATE:%Y-%m}"), f"{big_unit.name}汇缴清册"
    )

    inbox = root / "night-inbox"
    night_rows = 0
    rejected_files = 0
    now = time.time() - sizes.night_files - 60
    for index, unit in enumerate(night_units):
        own = night_members[index * per_unit : (index + 1) * per_unit]
        chosen = rng.sample(own, rng.randint(sizes.night_min_rows, min(sizes.night_max_rows, len(own))))
        file_rows = backpay_rows(rng, chosen)
        if sizes.night_rejected_every and index % sizes.night_rejected_every == sizes.night_rejected_every - 1:
            file_rows, _, _ = spoil(rng, file_rows, 1 / (len(file_rows) * len(backpay.HEADER)))
            rejected_files += 1
        night_rows += len(file_rows)
        path = write_unit_xlsx(inbox / unit.unit_account / "补缴清册.xlsx", backpay.HEADER, file_rows, f"{unit.name}补缴清册")
        os.utime(path, (now + index, now + index))

    return Dataset(
        root=root,
        sizes=sizes,
        big_master=big_master,
        night_master=night_master,
        backpay=good,
        backpay_rejected=rejected,
        base_adjust=adjust,
        remit=remit_file,
        night_inbox=inbox,
        big_rows=len(rows),
        bad_cells=bad_cells,
        bad_rows=bad_rows,
        night_files=len(night_units),
        night_rows=night_rows,
        night_rejected_files=rejected_files,
        generated_seconds=time.perf_counter() - started,
    )
