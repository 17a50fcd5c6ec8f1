"""Alembic migrations carry existing data forward and back, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import date, datetime

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config as AlembicConfig
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from pipeline.errors import ConfigError
from pipeline.store.console_tables import Base  # the metadata with every table, the console's too
from pipeline.store.dbapi import MIGRATIONS
from pipeline.store.engine import make_engine

ROWS = [
    (3, "1", "accepted", {"个人账号": "010000100001", "补缴金额": "1409.5"}, {"补缴金额": "1410.00"}, None),
    (4, "2", "rejected", {"个人账号": "010000100002", "补缴金额": "abc"}, {}, None),
    (5, "3", "accepted", {"个人账号": "010000100003", "姓名": "张三"}, {}, {"个人账号": "010000100003"}),
]


def _alembic(connection: sa.Connection) -> AlembicConfig:
    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def _head() -> str:
    """The newest migration's revision (tests say "head" so a new migration changes none of them)."""
    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS))
    return ScriptDirectory.from_config(config).get_current_head() or ""


def _migrate(engine: sa.Engine, step: str, revision: str) -> None:
    with engine.begin() as connection:
        getattr(command, step)(_alembic(connection), revision)


def _rows_table() -> sa.TableClause:
    return sa.table(
        "batch_rows",
        *(sa.column(name) for name in ("batch_pk", "excel_row", "seq_no", "status")),
        *(sa.column(name, sa.JSON) for name in ("values", "amounts", "computed")),
    )


def test_batch_rows_move_into_parts_and_back(db_url: str) -> None:
    engine = make_engine(db_url)
    _migrate(engine, "upgrade", "0002")
    with engine.begin() as connection:
        connection.execute(sa.text("INSERT INTO units (unit_account, name, credit_code, unit_ratio, personal_ratio, status, paid_to_month, contact_name, contact_phone) VALUES ('0100001', '测试单位', '', 0.12, 0.12, '正常', '', '', '')"))
        batches = sa.table("batches", *(sa.column(name) for name in ("id", "run_id", "unit_account", "source_name", "sha256", "status", "stage", "business_date", "received_at", "header", "row_count", "error_count")))
        for batch_pk in (1, 2):
            connection.execute(
                sa.insert(batches).values(
                    id=batch_pk, run_id="r", unit_account="0100001", source_name=f"{batch_pk}.xlsx", sha256=str(batch_pk) * 64,
                    status="accepted", stage="done", business_date=date(2024, 8, 5), received_at=datetime(2024, 8, 5, 22), header="[]", row_count=3, error_count=0,
                )
            )
        connection.execute(
            sa.insert(_rows_table()),
            [
                {"batch_pk": batch_pk, "excel_row": r[0], "seq_no": r[1], "status": r[2], "values": r[3], "amounts": r[4], "computed": r[5]}
                for batch_pk in (1, 2)
                for r in ROWS
            ],
        )

    _migrate(engine, "upgrade", "head")
    with engine.connect() as connection:
        assert "batch_rows" not in sa.inspect(connection).get_table_names()
        parts = connection.execute(sa.text("SELECT batch_pk, part, row_count, rows FROM batch_row_parts ORDER BY batch_pk")).all()
    assert [(p.batch_pk, p.part, p.row_count) for p in parts] == [(1, 0, 3), (2, 0, 3)]
    stored = parts[0].rows if isinstance(parts[0].rows, list) else json.loads(parts[0].rows)  # text() leaves SQLite's JSON as text
    assert stored == [list(row) for row in ROWS]

    _migrate(engine, "downgrade", "0002")
    with engine.connect() as connection:
        back = connection.execute(sa.select(_rows_table()).order_by(sa.text("batch_pk"), sa.text("excel_row"))).all()
    assert [tuple(row)[1:] for row in back if row.batch_pk == 1] == ROWS
    assert len(back) == 6
    engine.dispose()


def test_the_migrations_build_exactly_the_tables_of_the_models(db_url: str) -> None:
    engine = make_engine(db_url)
    _migrate(engine, "upgrade", "head")
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
        indexes = {index["name"] for index in sa.inspect(connection).get_indexes("backpay_records")}
    assert differences == []
    assert "ix_backpay_records_member_account" not in indexes and "ix_backpay_records_unit_account" in indexes

    _migrate(engine, "downgrade", "0003")
    with engine.connect() as connection:
        assert "ix_backpay_records_member_account" in {index["name"] for index in sa.inspect(connection).get_indexes("backpay_records")}
    engine.dispose()


def _unit_and_members(connection: sa.Connection, members: list[tuple[str, str, str]]) -> None:
    """Unit 0100001 and its members as (个人账号, 证件号码, 个人账户状态)."""
    connection.execute(sa.text("INSERT INTO units (unit_account, name, credit_code, unit_ratio, personal_ratio, status, paid_to_month, contact_name, contact_phone) VALUES ('0100001', '测试单位', '', 0.12, 0.12, '正常', '', '', '')"))
    for account, id_number, status in members:
        connection.execute(
            sa.text(
                "INSERT INTO members (member_account, unit_account, name, id_type, id_number, status, base, balance, seal_reason)"
                " VALUES (:account, '0100001', '张三', '身份证', :id_number, :status, 4000, 0, '')"
            ),
            {"account": account, "id_number": id_number, "status": status},
        )


def test_an_id_number_belongs_to_one_open_account(db_url: str) -> None:
    engine = make_engine(db_url)
    _migrate(engine, "upgrade", "head")
    with engine.begin() as connection:
        _unit_and_members(connection, [("010000100001", "11010519491231002X", "正常"), ("010000100002", "11010519491231002X", "销户")])
    try:
        with engine.begin() as connection:  # the unit exists: the member alone
            connection.execute(
                sa.text("INSERT INTO members (member_account, unit_account, name, id_type, id_number, status, base, balance, seal_reason) VALUES ('010000100003', '0100001', '张三', '身份证', '11010519491231002X', '封存', 4000, 0, '')")
            )
    except sa.exc.IntegrityError as error:
        assert "uq_members_open_id_number" in str(error) or "UNIQUE" in str(error)
    else:
        raise AssertionError("a second open account with the same 证件号码 was stored")
    with engine.connect() as connection:
        assert connection.execute(sa.text("SELECT count(*) FROM members")).scalar_one() == 2
    engine.dispose()


def test_the_upgrade_lists_id_numbers_held_twice_and_changes_nothing(db_url: str) -> None:
    engine = make_engine(db_url)
    _migrate(engine, "upgrade", "0004")
    with engine.begin() as connection:
        _unit_and_members(
            connection,
            [("010000100001", "11010519491231002X", "正常"), ("010000100002", "11010519491231002X", "封存"), ("010000100003", "110105194912310021", "正常")],
        )

    with pytest.raises(ConfigError) as refused:
        _migrate(engine, "upgrade", "head")

    message = str(refused.value)
    assert "1 个证件号码" in message and "110105********002X：010000100001、010000100002" in message
    assert "数据库未作任何改动" in message and "110105194912310021" not in message
    with engine.connect() as connection:
        assert connection.execute(sa.text("SELECT version_num FROM alembic_version")).scalar_one() == "0004"
        assert "resubmission_of" not in {column["name"] for column in sa.inspect(connection).get_columns("batches")}
    with engine.begin() as connection:
        connection.execute(sa.text("UPDATE members SET status = '销户' WHERE member_account = '010000100002'"))
    _migrate(engine, "upgrade", "head")
    with engine.connect() as connection:
        assert connection.execute(sa.text("SELECT version_num FROM alembic_version")).scalar_one() == _head()
    engine.dispose()
