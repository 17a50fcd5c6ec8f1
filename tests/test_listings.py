"""The listings (补缴查询, 汇缴核定查询, the review queue) read through the driver alone (README "Start-up").

The command line reads with sqlite3 or psycopg (:func:`pipeline.store.dbapi.connect`), the console
through its SQLAlchemy session (:func:`pipeline.store.dbapi.session_reader`): on both databases the
two give the same listing, with exact money, dates and times, and the driver's reader writes nothing.
"""

from __future__ import annotations

import os
import sqlite3
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.services.listings import Assessment, list_assessments, list_requests, list_unallocated
from pipeline.store.dbapi import connect, head_revision, libpq_url, session_reader, sqlite_path
from pipeline.store.states import BACKPAY_DELETED, BACKPAY_ENTERED, REMIT_DELETED, REMIT_PAID, REMIT_UNPAID, REVIEW_APPROVED, REVIEW_PENDING
from pipeline.store.tables import BackPayRecord, Batch, RemitAssessment, ReviewRequest
from tests.conftest import Centre

RECEIVED = datetime(2024, 8, 5, 9, 30, 15)


def _batch(session, unit: str, kind: str, number: int) -> Batch:
    batch = Batch(
        batch_id=f"B{number}", run_id="R1", unit_account=unit, kind=kind, source_name=f"{kind}.xlsx", sha256=f"{number:064d}", status="accepted",
        stage="done", business_date=date(2024, 8, 5), received_at=RECEIVED,
    )
    session.add(batch)
    session.flush()
    return batch


def _assessment(batch: Batch, month: str, amount: str, state: str, **extra: object) -> RemitAssessment:
    return RemitAssessment(
        batch_pk=batch.id, unit_account=batch.unit_account, month=month, serial_number=f"S{batch.id}", previous_count=10, previous_amount=Decimal("5012.35"),
        increase_count=1, increase_amount=Decimal("480.05"), decrease_count=0, decrease_amount=Decimal("0.00"), count=11, amount=Decimal(amount),
        state=state, assessed_on=date(2024, 8, 5), departed=[], **extra,
    )


@pytest.fixture
def stored(centre: Centre) -> Centre:
    """A unit with two 补缴记录 entered and one deleted, three 核定 (paid, unpaid, deleted), two review requests."""
    unit = centre.unit().unit_account
    first, second = centre.members_of()[:2]
    with centre.app.sessions() as session, session.begin():
        backpay = _batch(session, unit, "补缴", 1)
        for member, amount, state in ((first, "1000.00", BACKPAY_ENTERED), (second, "213.07", BACKPAY_ENTERED), (second, "50.00", BACKPAY_DELETED)):
            session.add(BackPayRecord(
                batch_pk=backpay.id, unit_account=unit, member_account=member.member_account, name=member.name, id_number=member.id_number, reason="漏缴",
                start_month="2024-03", end_month="2024-05", amount=Decimal(amount), state=state, serial_number="240805000001", entered_on=date(2024, 8, 5),
            ))
        remit = _batch(session, unit, "汇缴", 2)
        session.add(_assessment(remit, "2024-06", "5492.40", REMIT_PAID, paid_on=date(2024, 8, 6), paid_amount=Decimal("5492.40")))
        session.add(_assessment(remit, "2024-07", "5492.40", REMIT_UNPAID))
        session.add(_assessment(remit, "2024-08", "5492.41", REMIT_DELETED, deleted_at=datetime(2024, 8, 7, 16, 1, 2)))
        change = _batch(session, unit, "缴存人信息变更", 3)
        for row, (member, state) in enumerate(((first, REVIEW_PENDING), (second, REVIEW_APPROVED)), start=4):
            session.add(ReviewRequest(
                batch_pk=change.id, excel_row=row, unit_account=unit, member_account=member.member_account, item="姓名", old_value=member.name,
                new_value=member.name + "丰", reason="户籍更名 100%", state=state, submitted_at=RECEIVED,
            ))
    return centre


def test_each_listing_is_the_same_through_the_driver_and_through_the_session(stored: Centre) -> None:
    unit = stored.unit().unit_account
    url = stored.app.engine.url.render_as_string(hide_password=False)
    listings = {
        "补缴": lambda reader: list_unallocated(reader, unit),
        "核定": lambda reader: list_assessments(reader, unit),
        "全部核定": lambda reader: list_assessments(reader, unit, include_deleted=True),
        "待审核": lambda reader: list_requests(reader),
        "全部申请": lambda reader: list_requests(reader, unit, include_decided=True),
        "另一单位": lambda reader: list_requests(reader, stored.unit(1).unit_account),
    }
    with stored.app.sessions() as session:
        through_session = {name: listing(session_reader(session)) for name, listing in listings.items()}
    with connect(url) as reader:
        assert reader.revision() == head_revision()
        through_driver = {name: listing(reader) for name, listing in listings.items()}
    assert through_driver == through_session

    backpay = through_driver["补缴"]
    assert backpay.unallocated_total == Decimal("1213.07")
    assert [(r.amount, r.entered_on) for r in backpay.records] == [(Decimal("1000.00"), date(2024, 8, 5)), (Decimal("213.07"), date(2024, 8, 5))]
    assert backpay.to_dict()["未分配金额"] == "1213.07"
    assert [record.month for record in through_driver["核定"].records] == ["2024-07", "2024-06"]  # newest first, the deleted one left out
    everything: list[Assessment] = through_driver["全部核定"].records
    assert [(r.month, r.state, r.amount) for r in everything] == [("2024-08", REMIT_DELETED, Decimal("5492.41")), ("2024-07", REMIT_UNPAID, Decimal("5492.40")), ("2024-06", REMIT_PAID, Decimal("5492.40"))]
    assert everything[0].to_dict()["删除时间"] == "2024-08-07T16:01:02"
    assert (everything[2].to_dict()["到账日期"], everything[2].to_dict()["到账金额"], everything[1].to_dict()["到账金额"]) == ("2024-08-06", "5492.40", "")
    (waiting,) = through_driver["待审核"]
    assert (waiting.state, waiting.batch_id, waiting.kind, waiting.submitted_at, waiting.reason) == (REVIEW_PENDING, "B3", "缴存人信息变更", RECEIVED, "户籍更名 100%")
    assert waiting.member_name == stored.members_of()[0].name
    assert [view.state for view in through_driver["全部申请"]] == [REVIEW_PENDING, REVIEW_APPROVED]
    assert through_driver["另一单位"] == []


def test_a_unit_not_in_the_master_data_is_none_not_an_empty_listing(centre: Centre) -> None:
    with connect(centre.app.engine.url.render_as_string(hide_password=False)) as reader:
        assert list_assessments(reader, "9999999") is None
        assert list_assessments(reader, centre.unit().unit_account).records == []


def test_the_driver_reader_writes_nothing_and_makes_no_database(tmp_path: Path) -> None:
    missing = tmp_path / "gjj.db"
    with pytest.raises(FileNotFoundError):
        with connect(f"sqlite:///{missing}"):
            pass
    assert not missing.exists()
    sqlite3.connect(missing).close()
    with connect(f"sqlite:///{missing}") as reader:
        assert reader.revision() is None  # no migration yet: the command migrates first
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            reader.rows("CREATE TABLE t (x INTEGER)")


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql+psycopg://postgres@127.0.0.1:5432/gjj", "postgresql://postgres@127.0.0.1:5432/gjj"),
        ("postgresql://u:p@h/db?host=/run/pg", "postgresql://u:p@h/db?host=/run/pg"),
    ],
)
def test_a_sqlalchemy_postgresql_url_is_given_to_libpq_without_the_driver_name(url: str, expected: str) -> None:
    assert libpq_url(url) == expected


def test_the_sqlite_file_of_a_url() -> None:
    assert sqlite_path("sqlite:////var/lib/gjj/gjj.db") == "/var/lib/gjj/gjj.db"
    assert sqlite_path("sqlite://") == ":memory:"


def test_a_listing_on_a_database_behind_the_migrations_migrates_it_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    monkeypatch.setenv("GJJ_HOME", str(home))
    monkeypatch.delenv("GJJ_DB", raising=False)
    done = CliRunner().invoke(app, ["review", "list", "--json"], env={"GJJ_HOME": str(home)})
    assert done.exit_code == 0, done.output
    assert done.stdout.strip() == "[]"
    with connect(f"sqlite:///{home / 'var' / 'gjj.db'}") as reader:
        assert reader.revision() == head_revision()


def test_a_listing_says_in_chinese_when_the_database_cannot_be_reached(tmp_path: Path) -> None:
    environment = {"GJJ_HOME": str(tmp_path), "GJJ_DB": "postgresql+psycopg://postgres@127.0.0.1:1/none?connect_timeout=2"}
    done = CliRunner().invoke(app, ["backpay", "list", "--unit", "0100001"], env={**os.environ, **environment})
    assert done.exit_code == 1
    assert "无法打开数据库" in done.stderr and "数据库无法连接或连接中断" in done.stderr
