"""The demo (``gjj demo``): sample files for every template, each accepted once and rejected once,
with the fake units and members of :mod:`pipeline.services.fakes`."""

from __future__ import annotations

import os
import time
from dataclasses import replace
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from pipeline.config import CentreConfig
from pipeline.money import monthly_deposit
from pipeline.rules.common import month_before, next_month
from pipeline.services.fakes import (
    SEALED_UNIT,
    FakeMember,
    FakeUnit,
    backpay_row,
    fake_id,
    fake_master_data,
    fake_scan,
    recent_months,
    registration_row,
    write_bundle,
    write_master_files,
    write_table,
)
from pipeline.services.remit import prefill_remit
from schemas import backpay, base_adjust, member_change, registration, remit, seal, transfer, unseal

#: The unit whose 汇缴 the demo's second step sends (the first demo unit).
REMIT_UNIT = "0100001"


def demo_master_data(folder: Path, business_date: date | None = None) -> tuple[list[FakeUnit], list[FakeMember], Path, Path]:
    """The demo's two units with ten members each (and 集中封存户), and the files ``gjj load`` reads them from.

    The first unit's 汇缴 is assessed to two months before the business month, so the demo's second
    step (:func:`drop_remit_demo_files`) sends the month before and then the business month.
    """
    units, members = fake_master_data(members_per_unit=10)
    month = f"{business_date or date.today():%Y-%m}"
    units[0] = replace(units[0], paid_to_month=month_before(month_before(month)))
    units_file, members_file = write_master_files(folder, units, members)
    return units, members, units_file, members_file


def drop_demo_files(inbox: Path, units: list[FakeUnit], members: list[FakeMember], business_date: date) -> list[Path]:
    """Sample files for every template: each accepted once and rejected once, plus a counter case
    (the accepted 缴存人信息变更 is a zip drop: its 姓名 change comes with a PNG 身份证 and a PDF 证明).

    They are given increasing modification times so they are processed in this order (a member is
    sealed on leaving, taken over by the second unit, then unsealed there; the second unit's 汇缴清册
    for the business month then lists them with its own members).
    """
    first, second = units[0], units[1]
    own = [m for m in members if m.unit_account == first.unit_account]
    other = [m for m in members if m.unit_account == second.unit_account]
    start, end = recent_months(business_date)
    month = f"{business_date:%Y-%m}"
    year = business_date.year
    a, b = first.unit_account, second.unit_account

    good_backpay = [
        backpay_row(1, own[0], "漏缴", start, end, "1,000.00"),
        backpay_row(2, own[1], "少缴", start, start, 212.5),
        backpay_row(3, own[2], "补差", end, end, "1500"),
    ]
    bad_id = own[4].id_number[:17] + ("0" if own[4].id_number[17] != "0" else "1")
    bad_backpay = [
        backpay_row(1, own[3], "漏缴", start, end, "800"),
        backpay_row(2, own[4], "漏缴", start, end, "600"),
        backpay_row(3, own[5], "少缴", start, end, "350"),
        backpay_row(4, own[6], "欠缴", f"{year}-13", end, "-5"),
        backpay_row(5, own[7], "少缴", start, end, "abc"),
        backpay_row(6, other[0], "漏缴", start, end, "300"),
    ]
    bad_backpay[1][3] = bad_id
    bad_backpay[2][2] = own[5].name + "某"
    counter_backpay = [
        backpay_row(1, other[1], "漏缴", f"{year - 2}-12", f"{year - 1}-01", "700"),
        backpay_row(2, other[2], "少缴", start, end, "450.5"),
    ]

    def who(member: FakeMember) -> list[str]:
        return [member.member_account, member.name, member.id_number]

    def raised(member: FakeMember, factor: str) -> str:
        return str((member.base * Decimal(factor)).quantize(Decimal(1)))

    def remitted(seq: int, member: FakeMember, base: Decimal, unit: FakeUnit) -> list[Any]:
        """A 汇缴清册 row for the business month, its amounts base × the unit's ratios rounded half-up."""
        amounts = [str(monthly_deposit(base, Decimal(ratio))) for ratio in (unit.unit_ratio, unit.personal_ratio)]
        return [seq, *who(member), str(base), *amounts, month, month]

    # The second unit's 正常 members once the files before have run: its own ten, and the member it
    # took over from the 集中封存户 and unsealed at 4070.
    second_remit = [remitted(index, member, member.base, second) for index, member in enumerate(other, start=1)]
    second_remit.append(remitted(len(other) + 1, own[8], Decimal(4070), second))
    wrong_amount = remitted(3, own[1], own[1].base, first)
    wrong_amount[5] = str(Decimal(wrong_amount[5]) - 1)  # 单位月缴存额 one 元 short
    # The first unit's, with mistakes: a base from before this night's adjustment, a member sealed on
    # retiring by the 封存 file, an amount one 元 short; its other 正常 members are not listed.
    first_bad_remit = [remitted(1, own[0], own[0].base, first), remitted(2, own[9], own[9].base, first), wrong_amount]
    for row in first_bad_remit:  # the month the first unit owes (its 缴至年月 is two months back)
        row[-2:] = [month_before(month)] * 2

    files: list[tuple[Path, tuple[str, ...], list[list[Any]]]] = [
        (inbox / a / "补缴清册.xlsx", backpay.HEADER, good_backpay + [["合计", "", "", "", "", "", "", "2712.50"]]),
        (inbox / a / "补缴清册_第二批.xlsx", backpay.HEADER, bad_backpay),
        (inbox / b / "补缴.csv", backpay.HEADER, counter_backpay),
        (inbox / a / "基数调整.xlsx", base_adjust.HEADER, [[1, *who(own[0]), raised(own[0], "1.1")], [2, *who(own[1]), str(own[1].base)], [3, *who(own[2]), raised(own[2], "1.3")]]),
        (inbox / b / "基数调整_有错误.xlsx", base_adjust.HEADER, [[1, *who(other[3]), "99999"], [2, "300009999", other[4].name, other[4].id_number, "5000"]]),
        (inbox / a / "缴存人登记.xlsx", registration.HEADER, [
            registration_row(1, "赵新", fake_id(date(1995, 5, 5), 901), "4070", "488", "488"),
            registration_row(2, "钱多", fake_id(date(1998, 8, 8), 902), "2125", "255", "255"),
        ]),
        (inbox / b / "缴存人登记_有错误.xlsx", registration.HEADER, [
            registration_row(1, "孙立", fake_id(date(1990, 1, 1), 903), "2125", "213", "210"),
            registration_row(2, "李明", fake_id(date(1991, 2, 2), 904), "3000", "300", "300", mobile="1234567"),
            registration_row(3, own[3].name, own[3].id_number, "3000", "300", "300"),
        ]),
        (inbox / a / "封存.xlsx", seal.HEADER, [[1, *who(own[8]), "离职封存", month], [2, *who(own[9]), "退休封存", month]]),
        (inbox / a / "封存_有错误.xlsx", seal.HEADER, [[1, *who(own[9]), "退休封存", month], [2, *who(own[7]), "辞职", month]]),
        (inbox / b / "单位调整.xlsx", transfer.HEADER, [[1, *who(own[8]), SEALED_UNIT, "集中封存户", "工作调动"]]),
        (inbox / b / "单位调整_有错误.xlsx", transfer.HEADER, [[1, *who(own[6]), a, first.name, "工作调动"]]),
        (inbox / b / "启封.xlsx", unseal.HEADER, [[1, *who(own[8]), "正常上班启封", month, "4070"]]),
        (inbox / a / "启封_有错误.xlsx", unseal.HEADER, [[1, *who(own[0]), "正常上班启封", month, "4070"]]),
        (inbox / b / "汇缴.xlsx", remit.HEADER, second_remit),
        (inbox / a / "汇缴_有错误.xlsx", remit.HEADER, first_bad_remit),
        (inbox / a / "缴存人信息变更.zip", member_change.HEADER, [
            [1, *who(own[4]), "手机号码", "13912345678", "更换手机号码"],
            [2, *who(own[5]), "姓名", "王小明", "身份证姓名变更"],
        ]),
        (inbox / b / "缴存人信息变更_有错误.xlsx", member_change.HEADER, [
            [1, *who(other[5]), "手机号码", "1391234567", "更换手机号码"],
            [2, *who(other[6]), "证件号码", other[7].id_number, "证件号码登记错误"],
        ]),
    ]
    written = []
    now = time.time() - 600
    for index, (path, header, rows) in enumerate(files):
        title = None if path.suffix == ".csv" else f"{units[0 if path.parent.name == a else 1].name}{path.stem.split('_')[0]}"
        if path.suffix == ".zip":  # the 姓名 change comes with its member's scans
            write_bundle(path, header, rows, {f"{own[5].member_account}_身份证.png": fake_scan("png"), f"{own[5].member_account}_证明.pdf": fake_scan("pdf")}, title=title)
        else:
            write_table(path, header, rows, title=title)
        os.utime(path, (now + index, now + index))
        written.append(path)
    return written


def drop_remit_demo_files(session: Session, config: CentreConfig, inbox: Path, unit_account: str, business_date: date) -> list[Path]:
    """The demo's second step: the first unit's 汇缴清册 as ``gjj template 汇缴 --unit`` pre-fills it
    once the first step's files are processed, for the month it owes, then the same list for the next.

    The first 核定 counts the members the first step registered (本期增加) and the ones it sealed
    (本期减少) and the raised base; the second, a month later, changes nothing.
    """
    prefill = prefill_remit(session, config, unit_account, business_date)
    if prefill is None:
        raise ValueError(f"demo unit {unit_account} is not loaded")
    written = []
    now = time.time() - 60
    for index, month in enumerate((prefill.month, next_month(prefill.month))):
        rows = [[*row[:-2], month, month] for row in prefill.rows]
        path = write_table(inbox / unit_account / f"汇缴清册_{month.replace('-', '')}.xlsx", remit.HEADER, rows, title=f"{prefill.unit.name}汇缴清册")
        os.utime(path, (now + index, now + index))
        written.append(path)
    return written
