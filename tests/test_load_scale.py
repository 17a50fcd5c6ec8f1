"""``gjj load`` at scale (issue #21): incremental, all-or-nothing over many blocks, progress reported.

The files are generated here (:func:`pipeline.services.fakes.fake_master_data`); no time is asserted.
A trigger records every update of ``members`` so a test can tell which rows the load touched.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from pipeline.app import App, open_app
from pipeline.errors import Code
from pipeline.services import load as load_service
from pipeline.services.fakes import fake_master_data, write_master_files, write_table
from pipeline.services.load import Changes, load_master_data
from pipeline.store import master_stage
from schemas.masterdata import MEMBER_HEADER, UNIT_HEADER

BASE = MEMBER_HEADER.index("个人缴存基数")
NAME = MEMBER_HEADER.index("姓名")

SQLITE_TRIGGER = """
CREATE TRIGGER members_updated AFTER UPDATE ON members
BEGIN INSERT INTO updated_members (member_account) VALUES (NEW.member_account); END
"""
POSTGRESQL_TRIGGER = (
    """CREATE FUNCTION note_update() RETURNS trigger AS $$
    BEGIN INSERT INTO updated_members (member_account) VALUES (NEW.member_account); RETURN NEW; END $$ LANGUAGE plpgsql""",
    "CREATE TRIGGER members_updated AFTER UPDATE ON members FOR EACH ROW EXECUTE FUNCTION note_update()",
)


def _watch_updates(app: App) -> None:
    with app.engine.begin() as connection:
        connection.execute(text("CREATE TABLE updated_members (member_account VARCHAR(20))"))
        statements = POSTGRESQL_TRIGGER if connection.dialect.name == "postgresql" else (SQLITE_TRIGGER,)
        for statement in statements:
            connection.execute(text(statement))


def _updated(app: App) -> list[str]:
    with app.engine.connect() as connection:
        return sorted(connection.execute(text("SELECT member_account FROM updated_members")).scalars())


def _members(app: App) -> dict[str, tuple]:
    with app.engine.connect() as connection:
        rows = connection.execute(text("SELECT member_account, name, base, balance, status, id_number, profile FROM members"))
        return {row[0]: tuple(row[1:]) for row in rows}


def _load(app: App, units: Path | None, members: Path | None, **options: object):
    with app.sessions() as session, session.begin():
        report = load_master_data(session, app.config, units, members, **options)
        if not report.loaded:
            session.rollback()
    return report


def test_a_second_load_writes_only_what_changed(tmp_path: Path, db_url: str) -> None:
    app = open_app(tmp_path / "home", db_url=db_url)
    units, members = fake_master_data(unit_count=3, members_per_unit=20)
    units_file, members_file = write_master_files(tmp_path / "first", units, members)
    first = _load(app, units_file, members_file)
    assert first.loaded and first.member_changes == Changes(new=60, updated=0, unchanged=0)
    assert first.unit_changes == Changes(new=4, updated=0, unchanged=0)  # three units and the 集中封存户
    with app.engine.begin() as connection:  # something only this centre holds: a load must not touch it
        connection.execute(text("UPDATE members SET profile = :profile WHERE member_account = :account"), {"profile": '{"手机号码": "13912345678"}', "account": members[5].member_account})
    before = _members(app)
    _watch_updates(app)

    rows = [member.row() for member in members]
    rows[0][BASE] = "9999"
    rows[1][NAME] = "改名字"
    newcomer = fake_master_data(unit_count=1, members_per_unit=1, seed=99)[1][0].row()
    newcomer[0], newcomer[1] = "399999999", units[0].unit_account
    unit_rows = [unit.row() for unit in units]
    unit_rows[1][3] = "0.08"  # 单位缴存比例
    second = _load(app, write_table(tmp_path / "units.csv", UNIT_HEADER, unit_rows), write_table(tmp_path / "members.csv", MEMBER_HEADER, [*rows, newcomer]))

    assert second.loaded and second.ok
    assert second.member_changes == Changes(new=1, updated=2, unchanged=58)
    assert second.unit_changes == Changes(new=0, updated=1, unchanged=3)
    assert (second.units, second.members) == (4, 61)
    assert _updated(app) == sorted([members[0].member_account, members[1].member_account])
    after = _members(app)
    unchanged = [account for account in before if account not in (members[0].member_account, members[1].member_account)]
    assert {account: after[account] for account in unchanged} == {account: before[account] for account in unchanged}
    assert after[members[5].member_account][-1] in ({"手机号码": "13912345678"}, '{"手机号码": "13912345678"}')
    assert str(after[members[0].member_account][1]) in ("9999", "9999.00") and after[members[1].member_account][0] == "改名字"
    assert "399999999" in after

    third = _load(app, None, write_table(tmp_path / "members.csv", MEMBER_HEADER, [*rows, newcomer]))
    assert third.member_changes == Changes(new=0, updated=0, unchanged=61)
    assert _updated(app) == sorted([members[0].member_account, members[1].member_account])  # nothing more
    app.close()


def test_a_bad_row_deep_in_a_big_file_loads_nothing(tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Many blocks (small ones here, so the file stays small): the refused row is in the last of them."""
    monkeypatch.setattr(load_service, "MEMBER_BLOCK_ROWS", 500)
    app = open_app(tmp_path / "home", db_url=db_url)
    units, members = fake_master_data(unit_count=4, members_per_unit=40)
    units_file, members_file = write_master_files(tmp_path / "first", units, members)
    assert _load(app, units_file, members_file).loaded
    before = _members(app)

    _, generated = fake_master_data(unit_count=4, members_per_unit=800, seed=3)
    big_members = list({member.id_number: member for member in reversed(generated)}.values())[::-1]  # one account per person
    rows = [member.row() for member in big_members]
    rows[-3][BASE] = "三千"
    rows[1700][0] = rows[10][0]  # one account twice, in different blocks
    path = write_table(tmp_path / "big.csv", MEMBER_HEADER, rows)
    report = _load(app, None, path)

    assert not report.loaded
    found = [(issue.code, issue.row) for issue in report.issues["big.csv"]]
    assert found == [(Code.DUPLICATE_ROW, 12), (Code.DUPLICATE_ROW, 1702), (Code.NUMBER_FORMAT, len(rows) - 1)]
    assert _members(app) == before

    skipped = _load(app, None, path, skip_invalid=True)  # --skip-invalid: the good rows of every block
    assert skipped.loaded and skipped.members == len(rows) - 3
    good = [row for index, row in enumerate(rows) if index not in (10, 1700, len(rows) - 3)]
    assert set(_members(app)) == set(before) | {row[0] for row in good}
    app.close()


def test_progress_is_reported_while_loading(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(load_service, "MEMBER_BLOCK_ROWS", 25)
    app = open_app(tmp_path / "home", db_url=f"sqlite:///{tmp_path / 'gjj.db'}")
    units, members = fake_master_data(unit_count=2, members_per_unit=50)
    units_file, members_file = write_master_files(tmp_path, units, members)
    calls: list[tuple[str, int, int | None]] = []
    assert _load(app, units_file, members_file, progress=lambda stage, done, total: calls.append((stage, done, total))).loaded

    stages = list(dict.fromkeys(stage for stage, _, _ in calls))
    assert stages == [load_service.READING_UNITS, load_service.READING_MEMBERS, load_service.CHECKING, load_service.WRITING]
    read = [done for stage, done, _ in calls if stage == load_service.READING_MEMBERS]
    assert read == [25, 50, 75, 100]  # a call per block
    assert all(total is not None and done <= total for stage, done, total in calls)
    assert calls[-1] == (load_service.WRITING, 3, 3)
    app.close()


def _unit_keys(app: App) -> list[tuple[str, str]]:
    with app.engine.connect() as connection:
        query = "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = 'members'::regclass AND contype = 'f' ORDER BY conname"
        return [tuple(row) for row in connection.execute(text(query))]


@pytest.fixture
def postgresql_app(tmp_path: Path, postgres_server) -> App:
    app = open_app(tmp_path / "home", db_url=postgres_server.new_database())
    yield app
    app.close()


def test_a_bulk_load_on_postgresql_checks_the_units_in_one_query_and_keeps_the_key(postgresql_app: App, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """From ``BULK_ROWS`` new members on, members' foreign key is dropped for the insert and added back
    in the load's transaction: the key is there after the load, and a member whose unit is missing still
    fails the whole load (here the check that refuses such rows is bypassed, so only the key can)."""
    monkeypatch.setattr(master_stage, "BULK_ROWS", 10)
    keys = _unit_keys(postgresql_app)
    assert keys == [(keys[0][0], "FOREIGN KEY (unit_account) REFERENCES units(unit_account)")]
    units, members = fake_master_data(unit_count=2, members_per_unit=15)
    report = _load(postgresql_app, *write_master_files(tmp_path / "first", units, members))
    assert report.loaded and report.member_changes == Changes(new=30, updated=0, unchanged=0)
    assert _unit_keys(postgresql_app) == keys
    assert len(_members(postgresql_app)) == 30

    orphans = fake_master_data(unit_count=1, members_per_unit=12, seed=5)[1]
    rows = [[f"39{index:07d}", "0999999", *member.row()[2:]] for index, member in enumerate(orphans)]
    monkeypatch.setattr(load_service._MemberCheck, "_unknown_units", lambda self, unit_rows: iter(()))
    with pytest.raises(IntegrityError, match="unit_account"):
        _load(postgresql_app, None, write_table(tmp_path / "orphans.csv", MEMBER_HEADER, rows))
    assert len(_members(postgresql_app)) == 30  # nothing of the failed load
    assert _unit_keys(postgresql_app) == keys
