"""``gjj load``: master data is validated, upserted, and never half-loaded."""

from __future__ import annotations

import csv
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select

from pipeline.app import open_app
from pipeline.errors import Code, Issue
from pipeline.services.fakes import fake_id, fake_master_data, write_master_files, write_table
from pipeline.services.load import LoadReport, load_master_data, write_refused
from pipeline.store.tables import Member, Unit
from schemas.cells import id_check_char
from schemas.masterdata import MEMBER_HEADER, UNIT_HEADER
from tests.factories import legacy_id


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
    # Both rows of a duplicate are refused: which one is right is not the loader's to guess.
    rows_refused = [3, 4] if value == "DUP" else [4]
    assert [(i.code, i.row, i.column) for i in issues] == [(code, row, column) for row in rows_refused]
    assert not report.loaded and _counts(app) == (0, 0)
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


# --- 证件类型, legacy 15-digit IDs, --skip-invalid -------------------------------------------------

NEW_FOREIGN_ID = "91100084019900101" + id_check_char("91100084019900101")
RESIDENT_ID = fake_id(date(1999, 12, 31), 13)

#: (证件类型, a valid 证件号码, an invalid one, its code): every type a core system holds.
ID_TYPES_TABLE = [
    ("居民身份证", "11010519491231002X", "11010519491231002", Code.ID_FORMAT),
    ("居民身份证", legacy_id(fake_id(date(1960, 2, 29), 12)), "110105600230012", Code.ID_FORMAT),  # legacy 15 digits: 30 February
    ("身份证", RESIDENT_ID, RESIDENT_ID[:17] + ("1" if RESIDENT_ID[17] != "1" else "2"), Code.ID_CHECKSUM),
    ("护照", "P" + "1" * 19, "E12", Code.ID_FORMAT),  # 20 characters: wider than an 18-digit ID
    ("港澳居民来往内地通行证", "H12345678", "H1234567", Code.ID_FORMAT),
    ("台湾居民来往大陆通行证", "12345678", "1234567", Code.ID_FORMAT),
    ("外国人永久居留身份证", NEW_FOREIGN_ID, NEW_FOREIGN_ID[:17] + ("1" if NEW_FOREIGN_ID[17] != "1" else "2"), Code.ID_CHECKSUM),
    ("外国人永久居留身份证", "USA123456789012", "US1234567890123", Code.ID_FORMAT),
    ("其他", "军官证" + "0" * 27, "A\tB", Code.ID_FORMAT),  # 30 characters
]


def _member_rows(units: list, id_cases: list[tuple[str, str]]) -> list[list[str]]:
    """A member of unit 0 for each (证件类型, 证件号码)."""
    rows = []
    for index, (id_type, id_number) in enumerate(id_cases):
        rows.append([f"4{index:08d}", units[0].unit_account, "张三", id_type, id_number, "正常", "4000", "100.00", "2018-07-23", "", ""])
    return rows


def test_every_id_type_loads_its_numbers_as_sent(tmp_path: Path, db_url: str) -> None:
    app = open_app(tmp_path / "home", db_url=db_url)
    units, _ = fake_master_data(unit_count=1, members_per_unit=1)
    units_file = write_table(tmp_path / "units.csv", UNIT_HEADER, [u.row() for u in units])
    cases = [(id_type, valid) for id_type, valid, _, _ in ID_TYPES_TABLE]
    members_file = write_table(tmp_path / "members.xlsx", MEMBER_HEADER, _member_rows(units, cases))

    with app.sessions() as session, session.begin():
        report = load_master_data(session, app.config, units_file, members_file)

    assert report.ok and report.loaded and report.members == len(cases), report.issues
    with app.sessions() as session:
        stored = session.execute(select(Member.id_type, Member.id_number).order_by(Member.member_account)).all()
    assert [tuple(row) for row in stored] == cases  # the legacy number stays as the core system sent it
    app.close()


def test_a_wrong_number_of_every_id_type_is_listed_and_nothing_loads(tmp_path: Path) -> None:
    app = open_app(tmp_path / "home", db_url=f"sqlite:///{tmp_path / 'db.sqlite'}")
    units, _ = fake_master_data(unit_count=1, members_per_unit=1)
    units_file = write_table(tmp_path / "units.csv", UNIT_HEADER, [u.row() for u in units])
    cases = [(id_type, invalid) for id_type, _, invalid, _ in ID_TYPES_TABLE]
    members_file = write_table(tmp_path / "members.xlsx", MEMBER_HEADER, _member_rows(units, cases))

    with app.sessions() as session, session.begin():
        report = load_master_data(session, app.config, units_file, members_file)

    issues = report.issues["members.xlsx"]
    assert [(i.code, i.row, i.column) for i in issues] == [(code, index + 2, "证件号码") for index, (*_, code) in enumerate(ID_TYPES_TABLE)]
    for issue, (id_type, *_) in zip(issues, ID_TYPES_TABLE):
        if id_type in ("护照", "港澳居民来往内地通行证", "台湾居民来往大陆通行证", "外国人永久居留身份证", "其他"):
            assert issue.message.startswith(f"{id_type}号码「"), issue.message
    assert not report.loaded and _counts(app) == (0, 0)
    app.close()


def test_an_id_type_outside_the_list_is_refused(tmp_path: Path) -> None:
    app = open_app(tmp_path / "home", db_url=f"sqlite:///{tmp_path / 'db.sqlite'}")
    units, members = fake_master_data(unit_count=1, members_per_unit=2)
    units_file, members_file = write_master_files(tmp_path, units, members)
    rows = [m.row() for m in members]
    rows[1][3] = "驾驶证"
    write_table(members_file, MEMBER_HEADER, rows)

    with app.sessions() as session, session.begin():
        report = load_master_data(session, app.config, units_file, members_file)

    [issue] = report.issues[members_file.name]
    assert (issue.code, issue.row, issue.column) == (Code.ENUM_VALUE, 3, "证件类型") and "外国人永久居留身份证" in issue.message
    app.close()


def test_one_person_in_the_15_and_the_18_digit_form_is_a_duplicate_in_the_file(tmp_path: Path, db_url: str) -> None:
    app = open_app(tmp_path / "home", db_url=db_url)
    units, members = fake_master_data(unit_count=1, members_per_unit=3)
    units_file, members_file = write_master_files(tmp_path, units, members)
    rows = [m.row() for m in members]
    rows[2][4] = legacy_id(members[0].id_number)  # the third account is the first member's, by the old number
    write_table(members_file, MEMBER_HEADER, rows)

    with app.sessions() as session, session.begin():
        report = load_master_data(session, app.config, units_file, members_file)

    issues = report.issues[members_file.name]
    assert [(i.code, i.row, i.column) for i in issues] == [(Code.DUPLICATE_ROW, 2, "证件号码"), (Code.DUPLICATE_ROW, 4, "证件号码")]
    assert "第4行的「" + legacy_id(members[0].id_number) + "」" in issues[0].message and "同一人" in issues[0].message
    assert not report.loaded and _counts(app) == (0, 0)
    app.close()


@pytest.mark.parametrize("loaded_first", ["legacy", "18"])
def test_one_person_in_the_other_form_is_in_use_by_the_loaded_account(tmp_path: Path, db_url: str, loaded_first: str) -> None:
    """ID_IN_USE compares the 18-digit forms: an account loaded with either form holds the person."""
    app = open_app(tmp_path / "home", db_url=db_url)
    units, members = fake_master_data(unit_count=1, members_per_unit=2)
    rows = [m.row() for m in members]
    old, new = legacy_id(members[0].id_number), members[0].id_number
    rows[0][4] = old if loaded_first == "legacy" else new
    units_file = write_table(tmp_path / "units.csv", UNIT_HEADER, [u.row() for u in units])
    with app.sessions() as session, session.begin():
        assert load_master_data(session, app.config, units_file, write_table(tmp_path / "members.csv", MEMBER_HEADER, rows)).ok
    newcomer = list(rows[0])
    newcomer[0] = "399999999"  # a second account for the same person, in the other form
    newcomer[4] = new if loaded_first == "legacy" else old

    with app.sessions() as session, session.begin():
        report = load_master_data(session, app.config, None, write_table(tmp_path / "new.csv", MEMBER_HEADER, [newcomer]))

    [issue] = report.issues["new.csv"]
    assert (issue.code, issue.row, issue.column) == (Code.ID_IN_USE, 2, "证件号码")
    assert members[0].member_account in issue.message and "同一人" in issue.message
    assert _counts(app) == (2, 2)
    with app.sessions() as session, session.begin():  # the person's own account may change the form
        own = list(rows[0])
        own[4] = newcomer[4]
        assert load_master_data(session, app.config, None, write_table(tmp_path / "own.csv", MEMBER_HEADER, [own])).ok
    with app.sessions() as session:
        assert session.get(Member, members[0].member_account).id_number == newcomer[4]
    app.close()


def test_skip_invalid_loads_the_good_rows_and_returns_the_refused(tmp_path: Path, db_url: str) -> None:
    app = open_app(tmp_path / "home", db_url=db_url)
    units, members = fake_master_data(unit_count=3, members_per_unit=2)
    with app.sessions() as session, session.begin():  # unit 1 is loaded already; units 0 and 2 come now
        assert load_master_data(session, app.config, write_table(tmp_path / "u1.csv", UNIT_HEADER, [units[1].row()]), None).ok
    unit_rows = [u.row() for u in units]
    unit_rows[1][3] = "50%"  # unit 1's update is refused: it stays as loaded, its members still load
    unit_rows[2][3] = "50%"  # unit 2 is refused: it is not loaded, so neither are its members
    member_rows = [m.row() for m in members]
    member_rows[1][4] = "E12345678"  # a passport number under 身份证
    units_file = write_table(tmp_path / "units.csv", UNIT_HEADER, unit_rows)
    members_file = write_table(tmp_path / "members.csv", MEMBER_HEADER, member_rows)

    with app.sessions() as session, session.begin():
        report = load_master_data(session, app.config, units_file, members_file, skip_invalid=True)

    assert report.loaded and not report.ok and not report.file_problems
    assert [(i.code, i.row) for i in report.issues["units.csv"]] == [(Code.AMOUNT_OUT_OF_RANGE, 3), (Code.AMOUNT_OUT_OF_RANGE, 4)]
    assert [(i.code, i.row, i.column) for i in report.issues["members.csv"]] == [
        (Code.ID_FORMAT, 3, "证件号码"),
        (Code.UNIT_UNKNOWN, 6, "单位账号"),
        (Code.UNIT_UNKNOWN, 7, "单位账号"),
    ]
    assert "单位文件第4行" in report.issues["members.csv"][1].message
    assert report.refused_rows() == {"units.csv": 2, "members.csv": 3}
    assert (report.units, report.members) == (2, 3)  # unit 0 and the 集中封存户; members 0, 2, 3
    with app.sessions() as session:
        loaded = set(session.scalars(select(Member.member_account)))
        assert session.get(Unit, units[1].unit_account).unit_ratio == Decimal(units[1].unit_ratio)  # not the refused 50%
        assert session.get(Unit, units[2].unit_account) is None
    assert loaded == {members[index].member_account for index in (0, 2, 3)}
    app.close()


def test_skip_invalid_never_breaks_one_open_account_per_person(tmp_path: Path, db_url: str) -> None:
    """An account whose row is refused keeps its number, which refuses the row that would take it in turn."""
    app = open_app(tmp_path / "home", db_url=db_url)
    units, members = fake_master_data(unit_count=1, members_per_unit=3)
    units_file, members_file = write_master_files(tmp_path, units, members)
    with app.sessions() as session, session.begin():
        assert load_master_data(session, app.config, units_file, members_file).ok
    first, second, third = (m.row() for m in members)
    first[4] = third[4]  # the first member's account would take the third member's number: ID_IN_USE
    newcomer = list(second)
    newcomer[0], newcomer[4] = "399999999", members[0].id_number  # …and a new account the first member's number
    path = write_table(tmp_path / "chain.csv", MEMBER_HEADER, [first, newcomer])

    with app.sessions() as session, session.begin():
        report = load_master_data(session, app.config, None, path, skip_invalid=True)

    issues = report.issues["chain.csv"]
    assert [(i.code, i.row) for i in issues] == [(Code.ID_IN_USE, 2), (Code.ID_IN_USE, 3)]
    assert members[2].member_account in issues[0].message and members[0].member_account in issues[1].message
    assert report.loaded and report.members == 0 and _counts(app) == (2, 3)
    app.close()


def test_skip_invalid_loads_nothing_from_a_file_it_cannot_read(tmp_path: Path) -> None:
    app = open_app(tmp_path / "home", db_url=f"sqlite:///{tmp_path / 'db.sqlite'}")
    units, members = fake_master_data(unit_count=1, members_per_unit=2)
    units_file, _ = write_master_files(tmp_path, units, members)
    wrong = write_table(tmp_path / "members.csv", ["个人账号", "姓名"], [[m.member_account, m.name] for m in members])

    with app.sessions() as session, session.begin():
        report = load_master_data(session, app.config, units_file, wrong, skip_invalid=True)

    assert report.file_problems and not report.loaded and _counts(app) == (0, 0)
    app.close()


def test_the_sealed_unit_is_made_when_a_member_file_names_it(tmp_path: Path, db_url: str) -> None:
    """The 集中封存户 need not be loaded: like the first 离职封存, a member held there makes it."""
    app = open_app(tmp_path / "home", db_url=db_url)
    units, members = fake_master_data(unit_count=1, members_per_unit=2)
    rows = [m.row() for m in members]
    rows[1][1], rows[1][5], rows[1][9] = app.config.sealed_unit, "封存", "离职封存"
    units_file = write_table(tmp_path / "units.csv", UNIT_HEADER, [u.row() for u in units if u.unit_account != app.config.sealed_unit])

    with app.sessions() as session, session.begin():
        report = load_master_data(session, app.config, units_file, write_table(tmp_path / "members.csv", MEMBER_HEADER, rows))

    assert report.ok and (report.units, report.members) == (1, 2)
    with app.sessions() as session:
        sealed = session.get(Unit, app.config.sealed_unit)
        assert sealed is not None and sealed.name == "集中封存户" and sealed.unit_ratio == 0
    app.close()


def test_the_refused_rows_report_is_never_overwritten_and_runs_no_formula(tmp_path: Path) -> None:
    report = LoadReport(issues={"=HYPERLINK(1).csv": [Issue(Code.NUMBER_FORMAT, "-1 不是金额", 5, "个人缴存基数")], "units.csv": []})
    now = datetime(2026, 12, 3, 23, 15, 0)

    first, second = write_refused(report, tmp_path / "load", now), write_refused(report, tmp_path / "load", now)

    assert (first.name, second.name) == ("20261203-231500_refused.csv", "20261203-231500-2_refused.csv")
    with first.open(encoding="utf-8-sig", newline="") as handle:
        assert list(csv.reader(handle)) == [["文件", "行", "列", "代码", "说明"], ["'=HYPERLINK(1).csv", "5", "个人缴存基数", "NUMBER_FORMAT", "'-1 不是金额"]]
