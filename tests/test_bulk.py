"""Bulk writes (pipeline/bulk.py): what goes in through the fast paths comes back exactly, on both databases."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import TypeDecorator, select
from sqlalchemy.exc import StatementError
from sqlalchemy.orm import Session

from pipeline.store.bulk import JSON_ROWS, insert_rows, update_rows
from pipeline.store.engine import make_engine, migrate, session_factory
from pipeline.store.tables import BackPayRecord, Batch, DecimalText, ExactNumeric, Unit

#: Cells a unit may write that a text encoding could mangle: quotes, backslashes, JSON and SQL
#: look-alikes, characters outside the BMP, spaces that NFKC would change.
AWKWARD_NAMES = ['张"三', "李\\四", "O'Brien", '[1, "x"]', "𠀀王", "赵\u3000钱", "null", "", "1e5", "孙\n李"]


def _batch(session: Session) -> Batch:
    batch = Batch(
        run_id="r1", unit_account="0000123", source_name="f.xlsx", sha256="0" * 64, status="accepted",
        business_date=date(2024, 8, 1), received_at=datetime(2024, 8, 1, 9, 30), header=[],
    )
    session.add(batch)
    session.flush()
    return batch


def _records(count: int) -> list[tuple[object, ...]]:
    return [
        (
            f"{index:09d}",
            AWKWARD_NAMES[index % len(AWKWARD_NAMES)],
            f"11010519491231{index % 10000:04d}",
            "漏缴",
            "2024-03",
            "2024-05",
            Decimal("1000.5") + index,
            None if index % 3 else datetime(2024, 8, 2, 10, 0, 1),
        )
        for index in range(count)
    ]


@pytest.mark.parametrize("count", [1, JSON_ROWS - 1, JSON_ROWS, 5001])
def test_inserted_rows_come_back_exactly(tmp_path: Path, db_url: str, count: int) -> None:
    engine = make_engine(db_url)
    migrate(engine)
    columns = ["member_account", "name", "id_number", "reason", "start_month", "end_month", "amount", "deleted_at"]
    records = _records(count)
    with session_factory(engine)() as session, session.begin():
        batch = _batch(session)
        shared = {"batch_pk": batch.id, "unit_account": "0000123", "state": "entered", "serial_number": "1240801CC_0000000001", "entered_on": date(2024, 8, 1)}
        insert_rows(session, BackPayRecord.__table__, columns, records, shared)

    with session_factory(engine)() as session:
        stored = session.scalars(select(BackPayRecord).order_by(BackPayRecord.member_account)).all()
        found = [tuple(getattr(record, column) for column in columns) for record in stored]
        assert found == records
        assert {(r.batch_pk, r.unit_account, r.state, r.serial_number, r.entered_on) for r in stored} == {tuple(shared.values())}
    engine.dispose()


def test_updated_rows_take_their_new_values(tmp_path: Path, db_url: str) -> None:
    engine = make_engine(db_url)
    migrate(engine)
    columns = ["member_account", "name", "id_number", "reason", "start_month", "end_month", "amount", "deleted_at"]
    with session_factory(engine)() as session, session.begin():
        batch = _batch(session)
        shared = {"batch_pk": batch.id, "unit_account": "0000123", "state": "entered", "serial_number": "s1", "entered_on": date(2024, 8, 1)}
        insert_rows(session, BackPayRecord.__table__, columns, _records(3), shared)
        ids = session.scalars(select(BackPayRecord.id).order_by(BackPayRecord.id)).all()
        update_rows(session, BackPayRecord.__table__, "id", ["state", "amount"], [("deleted", Decimal("0.01"), ids[1])])

    with session_factory(engine)() as session:
        stored = session.scalars(select(BackPayRecord).order_by(BackPayRecord.id)).all()
        assert [(r.state, r.amount) for r in stored] == [("entered", Decimal("1000.5")), ("deleted", Decimal("0.01")), ("entered", Decimal("1002.5"))]
    engine.dispose()


@pytest.mark.parametrize("count", [1, JSON_ROWS])
def test_a_float_amount_is_refused_and_nothing_stored(db_url: str, count: int) -> None:
    engine = make_engine(db_url)
    migrate(engine)
    columns = ["member_account", "name", "id_number", "reason", "start_month", "end_month", "amount", "deleted_at"]
    records = _records(count)
    records[-1] = (*records[-1][:6], 0.1, None)  # 0.1 as a float is 0.1000000000000000055511151231257827…
    shared = {"unit_account": "0000123", "state": "entered", "serial_number": "s1", "entered_on": date(2024, 8, 1)}
    with session_factory(engine)() as session, pytest.raises(TypeError, match="never a float"), session.begin():
        insert_rows(session, BackPayRecord.__table__, columns, records, {"batch_pk": _batch(session).id, **shared})
    with session_factory(engine)() as session:
        assert session.scalars(select(BackPayRecord)).all() == []
    engine.dispose()


def test_a_float_in_a_money_column_is_refused_through_the_orm_too(db_url: str) -> None:
    engine = make_engine(db_url)
    migrate(engine)
    with session_factory(engine)() as session:
        with pytest.raises(StatementError, match="never a float") as raised, session.begin():
            session.add(Unit(unit_account="0000123", name="测试单位", unit_ratio=0.12, personal_ratio=Decimal("0.12")))
        assert isinstance(raised.value.orig, TypeError)
    with session_factory(engine)() as session:
        session.add(Unit(unit_account="0000123", name="测试单位", unit_ratio=Decimal("0.12"), personal_ratio="0.12"))
        session.commit()
        assert session.scalars(select(Unit.unit_ratio)).all() == [Decimal("0.12")]
    engine.dispose()


@pytest.mark.parametrize("money_type", [DecimalText(), ExactNumeric(14, 2)])
def test_money_types_refuse_a_float_themselves(money_type: TypeDecorator[Decimal]) -> None:
    with pytest.raises(TypeError, match=r"never a float \(0\.1\)"):
        money_type.process_bind_param(0.1, None)
    assert money_type.process_bind_param(None, None) is None
    assert Decimal(money_type.process_bind_param(Decimal("0.10"), None)) == Decimal("0.10")


def test_shared_and_equal_amounts_keep_each_their_own_text(tmp_path: Path) -> None:
    """A column converts each distinct object once (a big batch shares a few Decimals): equal values
    written differently (6800, 6800.00) stay as they were written."""
    engine = make_engine(f"sqlite:///{tmp_path / 'gjj.db'}")
    migrate(engine)
    shared_amount, plain, padded = Decimal("280.00"), Decimal("6800"), Decimal("6800.00")
    amounts = [shared_amount, plain, padded, shared_amount, padded, plain] * (JSON_ROWS // 3)
    records = [(f"{index:09d}", "张三", "110105194912310000", "漏缴", "2024-03", "2024-05", amount) for index, amount in enumerate(amounts)]
    columns = ["member_account", "name", "id_number", "reason", "start_month", "end_month", "amount"]
    with session_factory(engine)() as session, session.begin():
        batch = _batch(session)
        shared = {"batch_pk": batch.id, "unit_account": "0000123", "state": "entered", "serial_number": "1240801CC_0000000001", "entered_on": date(2024, 8, 1)}
        insert_rows(session, BackPayRecord.__table__, columns, records, shared)
    with engine.connect() as connection:
        stored = [text for (text,) in connection.exec_driver_sql("SELECT amount FROM backpay_records ORDER BY member_account")]
    assert stored == [str(amount) for amount in amounts]
