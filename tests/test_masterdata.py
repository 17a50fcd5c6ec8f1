"""``gjj load``: master data is validated, upserted, and never half-loaded."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select

from pipeline.app import open_app
from pipeline.errors import Code
from pipeline.services.fakes import fake_master_data, write_master_files, write_table
from pipeline.services.load import load_master_data
from pipeline.store.tables import Member, Unit
from schemas.masterdata import MEMBER_HEADER, UNIT_HEADER


def _counts(app) -> tuple[int, int]:
    with app.sessions() as session:
        return session.scalar(select(func.count()).select_from(Unit)), session.scalar(select(func.count()).select_from(Member))


def test_load_then_reload_upserts(tmp_path: Path, db_url: str) -> None:
    app = open_app(tmp_path / "home", db_url=db_url)
    units, members = fake_master_data(unit_count=2, members_per_unit=3)
    units_file, members_file = write_master_files(tmp_path, units, members)
    with app.sessions() as session, session.begin():
        assert load_master_data(session, app.config, units_file, members_file).ok
    changed = [m.row() for m in members]
    changed[0][6] = "9999"
    write_table(members_file, MEMBER_HEADER, changed)

    with app.sessions() as session, session.begin():
        report = load_master_data(session, app.config, None, members_file)

    assert report.ok and report.members == 6
    assert _counts(app) == (3, 6)
    with app.sessions() as session:
        assert session.get(Member, members[0].member_account).base == Decimal("9999")
    app.close()


@pytest.mark.parametrize(
    ("column", "value", "code"),
    [
        ("证件号码", "110105194912310021", Code.ID_CHECKSUM),
        ("个人账户状态", "冻结", Code.ENUM_VALUE),
        ("个人缴存基数", "三千", Code.NUMBER_FORMAT),
        ("开户日期", "2018-02-30", Code.DATE_FORMAT),
        ("单位账号", "0999999", Code.UNIT_UNKNOWN),
        ("个人账号", "DUP", Code.DUPLICATE_ROW),
        ("证件号码", "DUP", Code.DUPLICATE_ROW),  # one open account per person
    ],
)
def test_bad_member_row_loads_nothing(tmp_path: Path, column: str, value: str, code: Code) -> None:
    app = open_app(tmp_path / "home", db_url=f"sqlite:///{tmp_path / 'db.sqlite'}")
    units, members = fake_master_data(unit_count=2, members_per_unit=3)
    units_file, members_file = write_master_files(tmp_path, units, members)
    rows = [m.row() for m in members]
    index = MEMBER_HEADER.index(column)
    if value == "DUP":
        rows[2][index] = rows[1][index]
    else:
        rows[2][index] = value
    write_table(members_file, MEMBER_HEADER, rows)

    with app.sessions() as session, session.begin():
        report = load_master_data(session, app.config, units_file, members_file)

    issues = report.issues[members_file.name]
    assert [(i.code, i.row, i.column) for i in issues] == [(code, 4, column)]
    assert _counts(app) == (0, 0)
    app.close()


def test_unit_ratio_out_of_bounds(tmp_path: Path) -> None:
    app = open_app(tmp_path / "home", db_url=f"sqlite:///{tmp_path / 'db.sqlite'}")
    units, _ = fake_master_data(unit_count=2, members_per_unit=1)
    rows = [u.row() for u in units]
    rows[1][3] = "15%"
    path = write_table(tmp_path / "units.xlsx", UNIT_HEADER, rows)

    with app.sessions() as session, session.begin():
        report = load_master_data(session, app.config, path, None)

    assert [(i.code, i.row) for i in report.issues["units.xlsx"]] == [(Code.AMOUNT_OUT_OF_RANGE, 3)]
    assert _counts(app) == (0, 0)
    app.close()


def test_an_id_number_another_open_account_holds_loads_nothing(tmp_path: Path, db_url: str) -> None:
    """SPEC.md, Decisions: a 证件号码 belongs to at most one open account — also against what is loaded already."""
    app = open_app(tmp_path / "home", db_url=db_url)
    units, members = fake_master_data(unit_count=2, members_per_unit=3)
    units_file, members_file = write_master_files(tmp_path, units, members)
    with app.sessions() as session, session.begin():
        assert load_master_data(session, app.config, units_file, members_file).ok
    newcomer = members[0].row()
    newcomer[0] = "399999999"  # a new account for a person who has one
    path = write_table(tmp_path / "new.csv", MEMBER_HEADER, [newcomer])

    with app.sessions() as session, session.begin():
        report = load_master_data(session, app.config, None, path)

    assert [(i.code, i.row, i.column) for i in report.issues["new.csv"]] == [(Code.ID_IN_USE, 2, "证件号码")]
    assert members[0].member_account in report.issues["new.csv"][0].message
    assert _counts(app) == (3, 6)
    with app.sessions() as session, session.begin():  # the same person's own account may change
        moved = members[0].row()
        moved[6] = "5555"
        assert load_master_data(session, app.config, None, write_table(tmp_path / "same.csv", MEMBER_HEADER, [moved])).ok
    app.close()
