"""补缴 end to end: a file dropped in the inbox, processed on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import multiprocessing
from dataclasses import replace
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable

import pytest
import xlsxwriter
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from pipeline.check import schema as validate
from pipeline.errors import Code, Issue
from pipeline.model import BatchResult, BatchStatus, RowResult, RowStatus
from pipeline.read.header import detect
from pipeline.read.workbook import read_raw
from pipeline.rules import backpay as rules
from pipeline.rules.backpay import Screen
from pipeline.rules.context import identity_key
from pipeline.services.backpay_query import delete_unallocated
from pipeline.services.fakes import FakeMember, fake_id, write_table
from pipeline.services.listings import list_unallocated
from pipeline.services.load import load_master_data
from pipeline.store import batches, queries
from pipeline.store.dbapi import session_reader
from pipeline.store.tables import BackPayRecord, Batch, BatchRowPart, Member
from schemas import backpay
from schemas.masterdata import MEMBER_HEADER
from tests.conftest import BUSINESS_DATE, Centre, make_centre
from tests.factories import Formula, backpay_file, faulty_identity, formula_file, identity, kind_file, legacy_id, record_legacy_id, row_for, sheet_xml

Mutation = Callable[[list[Any], Centre], None]


def _set(index: int, value: Any) -> Mutation:
    def mutate(row: list[Any], centre: Centre) -> None:
        row[index] = value

    return mutate


def _other_units_member(row: list[Any], centre: Centre) -> None:
    stranger = centre.members_of(1)[0]
    row[1:4] = [stranger.member_account, stranger.name, stranger.id_number]


def _id_of_other_member(row: list[Any], centre: Centre) -> None:
    row[3] = centre.members_of(0)[5].id_number


# (case, mutation, expected code, column) — every row-level back-pay code of SPEC.md.
ROW_CASES = [
    ("empty cell", _set(4, ""), Code.CELL_EMPTY, "补缴原因"),
    ("ID too short", _set(3, "21140219900101"), Code.ID_FORMAT, "证件号码"),
    ("ID impossible birth date", _set(3, "211402199002300012"), Code.ID_FORMAT, "证件号码"),
    ("ID wrong check digit", lambda r, c: r.__setitem__(3, r[3][:17] + ("1" if r[3][17] != "1" else "2")), Code.ID_CHECKSUM, "证件号码"),
    ("ID turned into a number", _set(3, 211402199001011234), Code.ID_NUMERIC_PRECISION, "证件号码"),
    ("month not a month", _set(5, "2024-13"), Code.MONTH_FORMAT, "补缴开始年月"),
    ("amount not a number", _set(7, "一千"), Code.NUMBER_FORMAT, "补缴金额"),
    ("amount negative", _set(7, "-100"), Code.AMOUNT_OUT_OF_RANGE, "补缴金额"),
    ("amount rounds to zero", _set(7, "0.4"), Code.AMOUNT_OUT_OF_RANGE, "补缴金额"),
    ("reason not allowed", _set(4, "欠缴"), Code.ENUM_VALUE, "补缴原因"),
    ("account not digits", _set(1, "ABC123"), Code.ACCOUNT_FORMAT, "个人账号"),
    ("name with digits", _set(2, "张3"), Code.NAME_FORMAT, "姓名"),
    ("text too long", _set(2, "张" * 60), Code.TEXT_TOO_LONG, "姓名"),
    ("unknown account", _set(1, "999999999"), Code.MEMBER_NOT_FOUND, "个人账号"),
    ("another unit's member looks unknown", _other_units_member, Code.MEMBER_NOT_FOUND, "个人账号"),
    ("name differs", _set(2, "王某某"), Code.NAME_MISMATCH, "姓名"),
    ("ID of another member", _id_of_other_member, Code.ID_MISMATCH, "证件号码"),
    ("start after end", lambda r, c: r.__setitem__(slice(5, 7), ["2024-05", "2024-03"]), Code.MONTH_RANGE, "补缴开始年月"),
    ("end in the future", _set(6, "2024-09"), Code.MONTH_RANGE, "补缴结束年月"),
]


@pytest.mark.parametrize(("case", "mutate", "code", "column"), ROW_CASES, ids=[c[0] for c in ROW_CASES])
def test_row_error_rejects_file_and_names_the_cell(centre: Centre, case: str, mutate: Mutation, code: Code, column: str) -> None:
    members = centre.members_of(0)
    bad = row_for(members[0], seq=1)
    mutate(bad, centre)
    backpay_file(centre.inbox / centre.unit().unit_account, [bad, row_for(members[1], seq=2)])
    before = centre.table_counts()

    summary = centre.run()

    result = summary.outcomes[0].result
    assert result.status is BatchStatus.REJECTED
    bad_row, good_row = result.rows
    assert [(i.code, i.column, i.row) for i in bad_row.issues] == [(code, column, 3)]
    assert bad_row.issues[0].message and not bad_row.issues[0].message.isascii()
    assert bad_row.status is RowStatus.REJECTED
    assert good_row.status is RowStatus.NOT_APPLIED
    after = centre.table_counts()
    assert after["backpay_records"] == before["backpay_records"] == 0
    assert after["serial_counters"] == 0
    assert result.serial_number is None


def test_accepted_file_records_backpay_and_writes_outputs(centre: Centre) -> None:
    members = centre.members_of(0)
    unit = centre.unit()
    backpay_file(
        centre.inbox / unit.unit_account,
        [row_for(members[0], 1, amount="1,000.00"), row_for(members[1], 2, "少缴", "2024-01", "2024-01", 212.5)],
        total="1212.50",
    )

    summary = centre.run()

    outcome = summary.outcomes[0]
    result = outcome.result
    assert result.status is BatchStatus.ACCEPTED
    assert result.serial_number == "124080501_0000000001"
    assert [row.amounts["补缴金额"] for row in result.rows] == [Decimal("1000"), Decimal("213")]
    data = json.loads((outcome.outputs / "result.json").read_text(encoding="utf-8"))
    assert data["status"] == "accepted"
    assert data["totals"]["amounts"]["补缴金额"] == "1213.00"
    assert data["rows"][1] == {"row": 4, "序号": "2", "status": "accepted", "errors": [], "amounts": {"补缴金额": "213.00"}}
    assert {p.name for p in outcome.outputs.iterdir()} == {"result.json", "slip.pdf", "detail.csv"}
    assert outcome.moved_to.parent == centre.app.home.archive / unit.unit_account
    assert not any((centre.inbox / unit.unit_account).iterdir())
    with centre.app.sessions() as session:
        listing = list_unallocated(session_reader(session), unit.unit_account)
    assert listing.unallocated_total == Decimal("1213")
    assert {r.state for r in listing.records} == {"未分配"}
    stored = [
        (r.member_account, r.name, r.id_number, r.reason, r.start_month, r.end_month, r.amount, r.serial_number, r.entered_on, r.unit_account)
        for r in listing.records
    ]
    assert stored == [
        (m.member_account, m.name, m.id_number, reason, start, end, amount, result.serial_number, BUSINESS_DATE, unit.unit_account)
        for m, reason, start, end, amount in ((members[0], "漏缴", "2024-03", "2024-05", Decimal("1000")), (members[1], "少缴", "2024-01", "2024-01", Decimal("213")))
    ]
    with centre.app.sessions() as session:
        assert set(session.scalars(select(BackPayRecord.batch_pk))) == {session.scalars(select(Batch.id)).one()}


def test_same_file_twice_records_once(centre: Centre) -> None:
    unit = centre.unit()
    path = backpay_file(centre.inbox / unit.unit_account, [row_for(centre.members_of(0)[0])])
    data = path.read_bytes()
    first = centre.run().outcomes[0].result
    (centre.inbox / unit.unit_account / "again.xlsx").write_bytes(data)

    second = centre.run().outcomes[0].result

    assert first.status is BatchStatus.ACCEPTED
    assert second.status is BatchStatus.DUPLICATE
    assert second.duplicate_of == first.batch_id
    assert [i.code for i in second.file_issues] == [Code.DUPLICATE_FILE]
    assert centre.table_counts()["backpay_records"] == 1


def test_a_rejected_file_sent_again_unchanged_is_processed_again(centre: Centre) -> None:
    """SPEC.md, Decisions: the master data may have been put right since; the result names the rejected batch."""
    unit = centre.unit()
    member = centre.members_of(0)[0]
    data = backpay_file(centre.inbox / unit.unit_account, [row_for(member)], name="补缴.xlsx").read_bytes()
    with centre.app.sessions() as session, session.begin():
        session.get(Member, member.member_account).name = member.name + "某"  # the centre's record is wrong
    first = centre.run().outcomes[0].result
    (centre.inbox / unit.unit_account / "补缴.xlsx").write_bytes(data)
    still_wrong = centre.run().outcomes[0].result
    with centre.app.sessions() as session, session.begin():
        session.get(Member, member.member_account).name = member.name  # put right
    (centre.inbox / unit.unit_account / "补缴(1).xlsx").write_bytes(data)
    accepted = centre.run().outcomes[0].result
    (centre.inbox / unit.unit_account / "补缴(2).xlsx").write_bytes(data)
    fourth = centre.run().outcomes[0].result

    assert [first.status, still_wrong.status, accepted.status, fourth.status] == [
        BatchStatus.REJECTED, BatchStatus.REJECTED, BatchStatus.ACCEPTED, BatchStatus.DUPLICATE
    ]
    assert [i.code for i in first.rows[0].issues] == [Code.NAME_MISMATCH] and first.resubmission_of is None
    assert still_wrong.resubmission_of == first.batch_id and accepted.resubmission_of == still_wrong.batch_id
    assert fourth.duplicate_of == accepted.batch_id and [i.code for i in fourth.file_issues] == [Code.DUPLICATE_FILE]
    assert json.loads((centre.app.home.outbox / unit.unit_account / accepted.batch_id / "result.json").read_text(encoding="utf-8"))["resubmission_of"] == still_wrong.batch_id
    assert centre.table_counts()["backpay_records"] == 1
    with centre.app.sessions() as session:
        stored = session.scalars(select(Batch).where(Batch.batch_id == accepted.batch_id)).one()
        assert batches.load_result(session, stored, queries.unit_info(session, unit.unit_account)).resubmission_of == still_wrong.batch_id


def test_edited_resubmission_never_charges_twice(centre: Centre) -> None:
    members = centre.members_of(0)
    folder = centre.inbox / centre.unit().unit_account
    backpay_file(folder, [row_for(members[0], start="2024-03", end="2024-05")])
    centre.run()
    backpay_file(folder, [row_for(members[0], start="2024-05", end="2024-06"), row_for(members[1], 2)], name="补缴_改.xlsx")

    result = centre.run().outcomes[0].result

    assert result.status is BatchStatus.REJECTED
    assert [i.code for i in result.rows[0].issues] == [Code.BACKPAY_DUPLICATE]
    assert "124080501_0000000001" in result.rows[0].issues[0].message
    assert centre.table_counts()["backpay_records"] == 1


def test_deleted_backpay_can_be_entered_again(centre: Centre) -> None:
    member = centre.members_of(0)[0]
    folder = centre.inbox / centre.unit().unit_account
    backpay_file(folder, [row_for(member)])
    serial = centre.run().outcomes[0].result.serial_number
    with centre.app.sessions() as session, session.begin():
        assert delete_unallocated(session, centre.unit(1).unit_account, serial) == 0
        assert delete_unallocated(session, centre.unit().unit_account, serial) == 1
    backpay_file(folder, [row_for(member, amount="900")], name="重报.xlsx")

    result = centre.run().outcomes[0].result

    assert result.status is BatchStatus.ACCEPTED
    with centre.app.sessions() as session:
        states = sorted(session.scalars(select(BackPayRecord.state)))
    assert states == ["已删除", "未分配"]


def test_month_overlap_within_file(centre: Centre) -> None:
    member = centre.members_of(0)[0]
    backpay_file(
        centre.inbox / centre.unit().unit_account,
        [row_for(member, 1, start="2024-01", end="2024-03"), row_for(member, 2, start="2024-03", end="2024-04")],
    )

    result = centre.run().outcomes[0].result

    assert result.rows[0].issues == []
    assert [(i.code, i.row) for i in result.rows[1].issues] == [(Code.MONTH_OVERLAP, 4)]
    assert "第3行" in result.rows[1].issues[0].message


def test_cross_year_goes_to_counter_and_rest_is_accepted(centre: Centre) -> None:
    members = centre.members_of(0)
    backpay_file(
        centre.inbox / centre.unit().unit_account,
        [row_for(members[0], 1, start="2023-12", end="2024-01"), row_for(members[1], 2)],
    )

    result = centre.run().outcomes[0].result

    assert result.status is BatchStatus.ACCEPTED
    assert [row.status for row in result.rows] == [RowStatus.COUNTER, RowStatus.ACCEPTED]
    assert [i.code for i in result.rows[0].issues] == [Code.COUNTER_CROSS_YEAR]
    assert centre.table_counts()["backpay_records"] == 1


def test_total_row_mismatch_rejects(centre: Centre) -> None:
    backpay_file(centre.inbox / centre.unit().unit_account, [row_for(centre.members_of(0)[0], amount="1000")], total="999")

    result = centre.run().outcomes[0].result

    assert result.status is BatchStatus.REJECTED
    assert [i.code for i in result.file_issues] == [Code.TOTAL_MISMATCH]
    assert "1000.00" in result.file_issues[0].message and "999.00" in result.file_issues[0].message
    assert centre.table_counts()["backpay_records"] == 0


def test_accept_valid_rows_records_the_good_ones(tmp_path: Path, db_url: str) -> None:
    centre = make_centre(tmp_path / "home", db_url, row_errors="accept_valid")
    members = centre.members_of(0)
    backpay_file(centre.inbox / centre.unit().unit_account, [row_for(members[0], 1), row_for(members[1], 2, reason="欠缴")])

    result = centre.run().outcomes[0].result
    counts = centre.table_counts()
    centre.app.close()

    assert result.status is BatchStatus.PARTIALLY_ACCEPTED
    assert [row.status for row in result.rows] == [RowStatus.ACCEPTED, RowStatus.REJECTED]
    assert result.serial_number is not None
    assert counts["backpay_records"] == 1


@pytest.mark.parametrize(
    ("amount", "expected"),
    [("212.5", "213"), ("2.5", "3"), ("0.5", "1"), ("1000.49", "1000"), ("1,234.50", "1235"), ("6100", "6100")],
)
def test_amount_rounds_half_up_to_yuan(sqlite_centre: Centre, amount: str, expected: str) -> None:
    backpay_file(sqlite_centre.inbox / sqlite_centre.unit().unit_account, [row_for(sqlite_centre.members_of(0)[0], amount=amount)])

    result = sqlite_centre.run().outcomes[0].result

    assert result.rows[0].amounts["补缴金额"] == Decimal(expected)


# (case, rounding, amount cell as Excel saves it, its XML value, the text read, 补缴金额, its text in result.json)
FORMULA_AMOUNTS = [
    ("=1.005*100 to 元", "yuan", Formula("=1.005*100", 1.005 * 100), "100.49999999999999", "100.5", "101", "101.00"),
    ("=1915.5*0.09 to 分", "fen", Formula("=1915.5*0.09", 1915.5 * 0.09), "172.39499999999998", "172.395", "172.40", "172.40"),
    ("=1915.5*0.09 to 元", "yuan", Formula("=1915.5*0.09", 1915.5 * 0.09), "172.39499999999998", "172.395", "172", "172.00"),
    ("=0.1+0.2 to 分", "fen", Formula("=0.1+0.2", 0.1 + 0.2), "0.30000000000000004", "0.3", "0.30", "0.30"),
]


@pytest.mark.parametrize(("case", "rounding", "cell", "saved", "read", "amount", "shown"), FORMULA_AMOUNTS, ids=[c[0] for c in FORMULA_AMOUNTS])
def test_a_formula_amount_is_read_as_excel_shows_it(
    centre: Centre, case: str, rounding: str, cell: Formula, saved: str, read: str, amount: str, shown: str
) -> None:
    centre.app.config = replace(centre.app.config, rounding=rounding)
    members = centre.members_of(0)
    path = formula_file(
        centre.inbox / centre.unit().unit_account / "补缴.xlsx",
        backpay.HEADER,
        [row_for(members[0], 1, amount=cell), row_for(members[1], 2, amount="100")],
        title="补缴清册",
    )
    assert f"<f>{cell.formula[1:]}</f><v>{saved}</v>" in sheet_xml(path)  # the binary noise Excel saves
    sheet = detect(read_raw(path, centre.app.config.limits), {"补缴": backpay.HEADER}).sheet
    assert sheet is not None and sheet.columns[backpay.HEADER.index("补缴金额")] == [read, "100"]

    outcome = centre.run().outcomes[0]

    result = outcome.result
    assert result.status is BatchStatus.ACCEPTED, [row.issues for row in result.rows]
    assert result.rows[0].amounts["补缴金额"] == Decimal(amount)
    data = json.loads((outcome.outputs / "result.json").read_text(encoding="utf-8"))
    assert data["rows"][0]["amounts"] == {"补缴金额": shown}
    with centre.app.sessions() as session:
        stored = session.scalars(select(BackPayRecord.amount).where(BackPayRecord.member_account == members[0].member_account)).one()
    assert stored == Decimal(amount)


def test_serial_numbers_count_up_per_day(centre: Centre) -> None:
    members = centre.members_of(0)
    folder = centre.inbox / centre.unit().unit_account
    for index in range(3):
        backpay_file(folder, [row_for(members[index])], name=f"f{index}.xlsx")
    serials = [o.result.serial_number for o in centre.run().outcomes]
    backpay_file(folder, [row_for(members[5])], name="next-day.xlsx")
    next_day = centre.run(BUSINESS_DATE.replace(day=6)).outcomes[0].result.serial_number

    assert serials == [f"124080501_{n:010d}" for n in (1, 2, 3)]
    assert next_day == "124080601_0000000001"


def test_batch_rows_and_issues_are_stored(centre: Centre) -> None:
    members = centre.members_of(0)
    backpay_file(centre.inbox / centre.unit().unit_account, [row_for(members[0], 1), row_for(members[1], 2, reason="欠缴")])

    centre.run()

    counts = centre.table_counts()
    assert counts["batches"] == 1 and counts["batch_rows"] == 2 and counts["batch_issues"] == 1
    with centre.app.sessions() as session:
        batch = session.scalars(select(Batch)).one()
    assert (batch.status, batch.stage, batch.kind) == ("rejected", "done", "补缴")


def _judged(result: Any) -> list[tuple[Any, ...]]:
    return [(row.excel_row, row.seq_no, row.status, row.values, row.amounts, row.computed, [i.code for i in row.issues]) for row in result.rows]


def test_stored_rows_come_back_as_they_were_judged_in_either_shape(tmp_path: Path, db_url: str) -> None:
    """Rows are kept by column; parts kept as lists of rows (before 2026-11) are read as well."""
    centre = make_centre(tmp_path / "home", db_url, row_errors="accept_valid")
    members = centre.members_of(0)
    rows = [row_for(members[0], 1, amount="1000.5"), row_for(members[1], 2, reason="欠缴"), row_for(members[2], 3, start="2023-12", end="2024-01")]
    backpay_file(centre.inbox / centre.unit().unit_account, rows)
    run = _judged(centre.run().outcomes[0].result)

    def loaded() -> list[tuple[Any, ...]]:
        with centre.app.sessions() as session:
            batch = session.scalars(select(Batch)).one()
            return _judged(batches.load_result(session, batch, queries.unit_info(session, batch.unit_account)))

    judged = loaded()
    assert [row[2] for row in judged] == [RowStatus.ACCEPTED, RowStatus.REJECTED, RowStatus.COUNTER]
    assert [row[4] for row in judged] == [{"补缴金额": Decimal("1001")}, {}, {"补缴金额": Decimal("1000")}]
    assert [row[3]["姓名"] for row in judged] == [member.name for member in members[:3]]
    assert [row[6] for row in judged] == [row[6] for row in run] == [[], [Code.ENUM_VALUE], [Code.COUNTER_CROSS_YEAR]]
    with centre.app.sessions() as session, session.begin():
        part = session.scalars(select(BatchRowPart)).one()
        assert part.rows["amounts"] == {"补缴金额": ["1001", None, "1000"]} and part.rows["computed"] is None
        part.rows = [  # the earlier shape: one list per row
            [row[0], row[1], str(row[2]), row[3], {name: str(value) for name, value in row[4].items()}, row[5] or None] for row in judged
        ]
    assert loaded() == judged
    centre.app.close()


def test_a_part_is_the_same_made_from_the_rows_or_from_their_columns() -> None:
    rows = [
        RowResult(3, "1", {"姓名": "张三", "证件号码": "x"}, amounts={"补缴金额": Decimal("1409.5")}),
        RowResult(4, "2", {"姓名": "李四", "证件号码": "y"}, RowStatus.COUNTER, computed={"个人账号": "1"}),
    ]
    part = batches._part(rows, {"姓名": ["张三", "李四"], "证件号码": ["x", "y"]})
    assert part == batches._part(rows, None)
    assert part["amounts"] == {"补缴金额": ["1409.5", None]} and part["computed"] == [None, {"个人账号": "1"}]


def test_the_run_keeps_cell_values_only_of_rows_the_staff_summary_shows(sqlite_centre: Centre) -> None:
    members = sqlite_centre.members_of(0)
    rows = [row_for(members[0], 1), row_for(members[1], 2, start="2023-12", end="2024-01")]  # the second is cross-year
    backpay_file(sqlite_centre.inbox / sqlite_centre.unit().unit_account, rows)

    outcome = sqlite_centre.run().outcomes[0]

    accepted, referred = outcome.result.rows
    assert (accepted.status, referred.status) == (RowStatus.ACCEPTED, RowStatus.COUNTER)
    assert accepted.values == {} and accepted.amounts  # amounts and statuses stay for the totals
    assert referred.values["姓名"] == members[1].name
    assert outcome.result.columns is None and not any(row._columns for row in outcome.result.rows)  # the sheet's cells are let go


def test_rows_made_from_columns_keep_only_the_values_of_rows_with_issues() -> None:
    columns = {"序号": ["1", "2", "3"], "姓名": ["张三", "李四", "王五"]}
    rows = [RowResult.in_columns(excel_row, seq_no, columns, index) for index, (excel_row, seq_no) in enumerate(zip([3, 4, 5], columns["序号"]))]
    rows[1].issues.append(Issue(Code.NAME_FORMAT, "姓名不对", 4, "姓名"))
    assert rows[2].values == {"序号": "3", "姓名": "王五"}  # made when read
    result = BatchResult("b", "u", "n", "补缴", "f.xlsx", "0", BUSINESS_DATE, BatchStatus.REJECTED, rows=rows, columns=columns)

    result.forget_clean_values()

    assert [row.values for row in rows] == [{}, {"序号": "2", "姓名": "李四"}, {}]
    assert result.columns is None and columns == {}


def test_a_big_file_reads_its_members_while_its_schema_is_checked_apart(centre: Centre, monkeypatch: pytest.MonkeyPatch) -> None:
    """From APART_ROWS rows on the schema runs in another process while the members' identities are read."""
    monkeypatch.setattr(validate, "APART_ROWS", 2)
    identities = queries.SqlMasterData.unit_identities
    schema_process_alive: list[bool] = []

    def spied(self: queries.SqlMasterData, unit_account: str) -> object:
        schema_process_alive.append(any(child.name == "gjj-schema" for child in multiprocessing.active_children()))
        return identities(self, unit_account)

    monkeypatch.setattr(queries.SqlMasterData, "unit_identities", spied)
    members = centre.members_of(0)
    stranger = centre.members_of(1)[0]
    rows = [row_for(members[0], 1), row_for(members[1], 2, amount="-5"), row_for(members[2], 3)]
    rows[2][1:4] = [stranger.member_account, stranger.name, stranger.id_number]
    backpay_file(centre.inbox / centre.unit().unit_account, rows)

    result = centre.run().outcomes[0].result

    assert schema_process_alive == [True]  # read once, while the schema process worked
    assert [[issue.code for issue in row.issues] for row in result.rows] == [[], [Code.AMOUNT_OUT_OF_RANGE], [Code.MEMBER_NOT_FOUND]]
    assert result.status is BatchStatus.REJECTED and centre.table_counts()["backpay_records"] == 0


# Cells a back-pay row may hold once its schema passed, and some it may hold before (the screen
# sees every row of a big sheet, schema failures included).
MONTHS = ["2024-03", "2024-05", "2024-07", "2023-12", "2024-09", "2024-1x", ""]
AMOUNTS = ["1000", "0.4", "0.5", "-3", "12.345", "1e3", "abc", "NaN", "Infinity", ""]


def _screened_and_checked_alike(centre: Centre, picks: list[tuple[int, int, int, int, int]]) -> list[tuple[Any, ...]]:
    """``apply`` gives the same issues, statuses and amounts whether a row went the screen's plain
    way or was checked cell by cell, for rows with any mix of right and wrong cells."""
    members, stranger = centre.members_of(0), centre.members_of(1)[0]

    def rows() -> list[RowResult]:
        made = []
        for index, (who, identity_fault, start, end, amount) in enumerate(picks):
            member = stranger if who == len(members) else members[who]
            name, id_number = faulty_identity(member, identity_fault, members[(who + 1) % len(members)])
            values = {
                "序号": str(index + 1),
                "个人账号": member.member_account,
                "姓名": name,
                "证件号码": id_number,
                "补缴原因": "漏缴",
                "补缴开始年月": MONTHS[start],
                "补缴结束年月": MONTHS[end],
                "补缴金额": AMOUNTS[amount],
            }
            made.append(RowResult(index + 2, str(index + 1), values))
        return made

    def valid(row: RowResult) -> bool:  # what the schema would let through to the rules
        months_valid = all(row.values[column] not in ("2024-1x", "") for column in ("补缴开始年月", "补缴结束年月"))
        return months_valid and row.values["补缴金额"] not in ("-3", "abc", "NaN", "Infinity", "", "1e3")

    with centre.app.sessions() as session:
        unit = queries.unit_info(session, centre.unit().unit_account)
        assert unit is not None
        outcomes = []
        for screened in ("sheet", "rows", "none"):
            context = queries.rule_context(session, centre.app.config, unit, BUSINESS_DATE)
            made = rows()
            clean = [row for row in made if valid(row)]
            if screened == "sheet":  # a big sheet: every row screened while its schema ran
                columns = {name: [row.values[name] for row in made] for name in rules.SCREENED}
                context.screened = rules.screen(columns, [row.excel_row for row in made], context)
            elif screened == "none":  # nothing plain: every row checked cell by cell
                every_row = frozenset(row.excel_row for row in made)
                context.screened = Screen({}, every_row, context.data.recorded_backpay(unit.unit_account))
            rules.apply(clean, context)
            outcomes.append([(row.status, [(i.code, i.column, i.message) for i in row.issues], dict(row.amounts)) for row in clean])
        assert outcomes[0] == outcomes[2]
        assert outcomes[1] == outcomes[2]
        return outcomes[2]


PICKS = st.lists(
    # Mostly right cells and a few members named often, so plain rows meet each other.
    st.tuples(
        st.sampled_from([0, 0, 1, 1, 2, 3, 10]),  # 10: another unit's member
        st.sampled_from([0, 0, 0, 1, 2, 3]),
        st.sampled_from([0, 0, 0, 1, 1, 2, 3, 4, 5, 6]),
        st.sampled_from([1, 1, 1, 2, 2, 0, 3, 4, 5, 6]),
        st.sampled_from([0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9]),
    ),
    min_size=1,
    max_size=12,
)


@given(PICKS)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_screened_rows_are_judged_as_row_by_row_checks_judge_them(sqlite_centre: Centre, picks: list[tuple[int, int, int, int, int]]) -> None:
    _screened_and_checked_alike(sqlite_centre, picks)


def test_screening_sees_back_pay_already_recorded(centre: Centre) -> None:
    """A member with back-pay recorded is never taken plainly: its months are checked against it."""
    members = centre.members_of(0)
    backpay_file(centre.inbox / centre.unit().unit_account, [row_for(members[0], 1, start="2024-03", end="2024-05")])
    assert centre.run().outcomes[0].result.status is BatchStatus.ACCEPTED
    _screened_and_checked_alike(centre, [(0, 0, 0, 1, 0), (1, 0, 0, 1, 0), (0, 0, 2, 2, 0)])


# --- a member who left the unit (离职封存 to the 集中封存户) -----------------------------------------

LEAVING_MONTH = "2024-06"


def _leave(centre: Centre, unit_index: int, person: FakeMember, month: str = LEAVING_MONTH) -> None:
    """The unit seals its member on leaving with a real 封存 file: the member moves to the 集中封存户."""
    kind_file(centre.inbox / centre.unit(unit_index).unit_account, "封存", [[1, *identity(person), "离职封存", month]], name="离职封存.xlsx")
    (outcome,) = centre.run().outcomes
    assert (outcome.result.kind, outcome.result.status) == ("封存", BatchStatus.ACCEPTED)
    with centre.app.sessions() as session:
        assert session.get(Member, person.member_account).unit_account == centre.app.config.sealed_unit


def _not_found(account: str, row: int) -> tuple[Code, str | None, int | None, str]:
    return (Code.MEMBER_NOT_FOUND, "个人账号", row, f"个人账号「{account}」在本单位不存在，请核对")


def _issues(result: BatchResult) -> list[list[tuple[Code, str | None, int | None, str]]]:
    return [[(i.code, i.column, i.row, i.message) for i in row.issues] for row in result.rows]


def test_back_pay_of_a_member_who_left_goes_to_the_counter(centre: Centre, monkeypatch: pytest.MonkeyPatch) -> None:
    """Months up to the 封存 month go to the counter, naming it; the file and its other rows are accepted."""
    members = centre.members_of(0)
    _leave(centre, 0, members[0])
    asked: list[set[str]] = []
    former_members = queries.SqlMasterData.former_members

    def spied(self: queries.SqlMasterData, unit_account: str, sealed_unit: str, accounts: Any) -> Any:
        asked.append(set(accounts))
        return former_members(self, unit_account, sealed_unit, accounts)

    monkeypatch.setattr(queries.SqlMasterData, "former_members", spied)
    rows = [row_for(members[0], 1, start="2024-03", end="2024-05"), row_for(members[1], 2), row_for(members[0], 3, start="2024-06", end="2024-06")]
    backpay_file(centre.inbox / centre.unit().unit_account, rows)

    summary = centre.run()

    result = summary.outcomes[0].result
    assert result.status is BatchStatus.ACCEPTED and result.serial_number is not None
    assert [row.status for row in result.rows] == [RowStatus.COUNTER, RowStatus.ACCEPTED, RowStatus.COUNTER]
    message = "该职工已于 2024-06 离职封存，转入集中封存户；补缴其在本单位工作期间的月份须到柜台办理"
    assert _issues(result) == [[(Code.COUNTER_FORMER_MEMBER, "个人账号", 3, message)], [], [(Code.COUNTER_FORMER_MEMBER, "个人账号", 5, message)]]
    assert asked == [{members[0].member_account}]  # one question for the file, about the account not the unit's
    assert centre.table_counts()["backpay_records"] == 1
    with centre.app.sessions() as session:
        assert list(session.scalars(select(BackPayRecord.member_account))) == [members[1].member_account]
    data = json.loads((summary.outcomes[0].outputs / "result.json").read_text(encoding="utf-8"))
    assert data["totals"]["counter"] == 2 and data["rows"][0]["status"] == "counter"
    assert data["rows"][0]["errors"] == [{"code": "COUNTER_FORMER_MEMBER", "column": "个人账号", "message": message}]
    page = summary.staff_summary
    referrals = json.loads((page.parent / "summary.json").read_text(encoding="utf-8"))["referrals"]
    assert [(r["code"], r["row"], r["member"]["account"]) for r in referrals] == [
        ("COUNTER_FORMER_MEMBER", 3, members[0].member_account),
        ("COUNTER_FORMER_MEMBER", 5, members[0].member_account),
    ]
    assert "该职工与本单位的劳动关系证明（劳动合同或工资发放记录）" in referrals[0]["documents"]

    backpay_file(centre.inbox / centre.unit().unit_account, [row_for(members[2], 1)], name="补缴_普通.xlsx")
    assert centre.run().outcomes[0].result.status is BatchStatus.ACCEPTED
    assert len(asked) == 1  # a file naming only the unit's members asks nothing more


def test_months_after_leaving_are_an_error_and_no_one_else_is_revealed(centre: Centre) -> None:
    """After the 封存 month the member is not the unit's; a wrong 姓名 or 证件号码, or a member who left
    another unit, is MEMBER_NOT_FOUND exactly as an unknown account (and as before they left)."""
    own, other = centre.members_of(0), centre.members_of(1)
    folder = centre.inbox / centre.unit().unit_account
    wrong_name, wrong_id = row_for(own[0], 3, start="2024-01", end="2024-02"), row_for(own[0], 4, start="2024-04", end="2024-04")
    wrong_name[2], wrong_id[3] = own[0].name + "某", own[1].id_number
    rows = [
        row_for(own[0], 1, start="2024-05", end="2024-07"),
        row_for(own[0], 2, start="2024-08", end="2024-08"),
        wrong_name,
        wrong_id,
        row_for(other[0], 5),
        row_for(own[1], 6),
    ]
    backpay_file(folder, [row_for(other[0], 1)], name="之前.xlsx")
    before = centre.run().outcomes[0].result
    _leave(centre, 0, own[0])
    _leave(centre, 1, other[0])
    backpay_file(folder, rows)

    result = centre.run().outcomes[0].result

    assert result.status is BatchStatus.REJECTED and centre.table_counts()["backpay_records"] == 0
    left = "该职工已于 2024-06 离职封存，转入集中封存户；2024-07 起不是本单位职工，不能由本单位补缴（2024-06 及以前在本单位工作期间的月份须到柜台办理）"
    assert _issues(result) == [
        [(Code.MONTH_RANGE, "补缴结束年月", 3, left)],
        [(Code.MONTH_RANGE, "补缴开始年月", 4, left)],
        [_not_found(own[0].member_account, 5)],
        [_not_found(own[0].member_account, 6)],
        [_not_found(other[0].member_account, 7)],
        [],
    ]
    assert [row.status for row in result.rows] == [RowStatus.REJECTED] * 5 + [RowStatus.NOT_APPLIED]
    assert _issues(before) == [[_not_found(other[0].member_account, 3)]]  # the same answer as before they left
    assert all("封存" not in message for *_, message in sum(_issues(result)[2:], []))


def test_a_leaver_since_taken_over_by_another_unit_is_still_the_counter_s(centre: Centre) -> None:
    """单位调整 took the member from the 集中封存户: the unit they left still goes to the counter; the new
    unit pays as for any member; a third unit is told nothing."""
    person = centre.members_of(0)[0]
    _leave(centre, 0, person)
    kind_file(centre.inbox / centre.unit(1).unit_account, "单位调整", [[1, *identity(person), centre.app.config.sealed_unit, "集中封存户", "工作调动"]])
    assert centre.run().outcomes[0].result.status is BatchStatus.ACCEPTED
    for index in range(3):
        backpay_file(centre.inbox / centre.unit(index).unit_account, [row_for(person, 1, start="2024-02", end="2024-04")])

    left, joined, stranger = (outcome.result for outcome in sorted(centre.run().outcomes, key=lambda o: o.result.unit_account))

    assert [i.code for i in left.rows[0].issues] == [Code.COUNTER_FORMER_MEMBER] and "2024-06" in left.rows[0].issues[0].message
    assert (left.status, left.rows[0].status) == (BatchStatus.ACCEPTED, RowStatus.COUNTER)
    assert (joined.status, joined.rows[0].issues) == (BatchStatus.ACCEPTED, [])
    assert _issues(stranger) == [[_not_found(person.member_account, 3)]]


def test_a_big_sheet_refers_a_leaver_as_a_small_one_does(centre: Centre, monkeypatch: pytest.MonkeyPatch) -> None:
    """The screened path (a sheet of APART_ROWS rows or more) gives the same issues as the small one."""
    members = centre.members_of(0)
    _leave(centre, 0, members[0])
    rows = [
        row_for(members[1], 1),
        row_for(members[0], 2, start="2024-01", end="2024-03"),
        row_for(members[0], 3, start="2024-05", end="2024-08"),
        row_for(members[2], 4),
        row_for(members[0], 5, start="2024-02", end="2024-02"),  # overlaps the counter row above
        row_for(centre.members_of(1)[0], 6),
    ]
    screened: list[bool] = []
    apply = rules.apply

    def spied(rows: list[RowResult], context: Any) -> list[Issue]:
        screened.append(isinstance(context.screened, Screen))  # the sheet screened while its schema was checked
        return apply(rows, context)

    monkeypatch.setattr(rules, "apply", spied)
    data = backpay_file(centre.inbox / centre.unit().unit_account, rows).read_bytes()
    small = centre.run().outcomes[0].result
    monkeypatch.setattr(validate, "APART_ROWS", 2)
    (centre.inbox / centre.unit().unit_account / "补缴.xlsx").write_bytes(data)  # rejected as a whole: processed again

    big = centre.run().outcomes[0].result

    assert big.resubmission_of == small.batch_id
    assert _issues(big) == _issues(small)
    assert [[i.code for i in row.issues] for row in small.rows] == [
        [], [Code.COUNTER_FORMER_MEMBER], [Code.MONTH_RANGE], [], [Code.COUNTER_FORMER_MEMBER, Code.MONTH_OVERLAP], [Code.MEMBER_NOT_FOUND]
    ]
    assert screened == [False, True]  # the big sheet went the screened way, the small one did not
    assert [row.status for row in big.rows] == [row.status for row in small.rows]


@pytest.fixture
def leaver_centre(sqlite_centre: Centre) -> Centre:
    """The first member of the first unit left it (离职封存 in 2024-06, by a real 封存 file)."""
    _leave(sqlite_centre, 0, sqlite_centre.members_of(0)[0])
    return sqlite_centre


def test_screening_sees_members_who_left(leaver_centre: Centre) -> None:
    judged = _screened_and_checked_alike(leaver_centre, [(0, 0, 1, 1, 0), (0, 0, 2, 2, 0), (0, 1, 0, 0, 0), (1, 0, 0, 1, 0), (0, 0, 3, 0, 0)])
    assert [[code for code, *_ in issues] for _, issues, _ in judged] == [
        [Code.COUNTER_FORMER_MEMBER],
        [Code.MONTH_RANGE],
        [Code.MEMBER_NOT_FOUND],
        [],
        [Code.COUNTER_CROSS_YEAR, Code.COUNTER_FORMER_MEMBER],
    ]
    assert [status for status, *_ in judged] == [RowStatus.COUNTER, RowStatus.REJECTED, RowStatus.REJECTED, RowStatus.ACCEPTED, RowStatus.COUNTER]


@given(PICKS)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_screened_rows_of_a_leaver_are_judged_as_row_by_row_checks_judge_them(leaver_centre: Centre, picks: list[tuple[int, int, int, int, int]]) -> None:
    """The same property with member 0 gone: its rows are never plain, and go the former-member way."""
    _screened_and_checked_alike(leaver_centre, picks)


# --- a member named by the other form of the 证件号码 (legacy 15 digits / 18 digits) -----------------


@pytest.mark.parametrize("recorded", ["legacy", "18"])
def test_a_member_is_named_by_either_form_of_the_id_number(centre: Centre, recorded: str) -> None:
    """Master data holds the legacy 15-digit 证件号码 and the file the 18-digit one, or the reverse: the same person."""
    members = centre.members_of(0)
    if recorded == "legacy":
        record_legacy_id(centre.app, members[0], centre.app.home.root / "master")
        written = members[0].id_number
    else:
        written = legacy_id(members[0].id_number)
    named = row_for(members[0], 1)
    named[3] = written
    someone_else = row_for(members[1], 1, start="2023-01", end="2023-02")
    someone_else[3] = legacy_id(members[2].id_number)  # the other form of another member's number is still not theirs
    backpay_file(centre.inbox / centre.unit().unit_account, [named, row_for(members[1], 2)])
    backpay_file(centre.inbox / centre.unit().unit_account, [someone_else], name="补缴_错.xlsx")

    results = {outcome.result.source_name: outcome.result for outcome in centre.run().outcomes}

    accepted, rejected = results["补缴.xlsx"], results["补缴_错.xlsx"]
    assert accepted.status is BatchStatus.ACCEPTED and rejected.status is BatchStatus.REJECTED
    assert [row.issues for row in accepted.rows] == [[], []]
    with centre.app.sessions() as session:
        recorded_ids = dict(session.execute(select(BackPayRecord.member_account, BackPayRecord.id_number)).all())
        stored = session.get(Member, members[0].member_account)
        assert stored is not None and stored.id_number == (legacy_id(members[0].id_number) if recorded == "legacy" else members[0].id_number)
    assert recorded_ids[members[0].member_account] == written  # the record keeps what the file said
    assert [[i.code for i in row.issues] for row in rejected.rows] == [[Code.ID_MISMATCH]]


@pytest.mark.parametrize("recorded", ["legacy", "18"])
def test_the_screen_takes_a_member_named_by_the_other_form_plainly(centre: Centre, recorded: str) -> None:
    """The screen compares master data's identities in 18-digit form: such a row needs no row-by-row check."""
    member = centre.members_of(0)[0]
    if recorded == "legacy":
        record_legacy_id(centre.app, member, centre.app.home.root / "master")
        written = member.id_number
    else:
        written = legacy_id(member.id_number)
    columns = {
        "个人账号": [member.member_account, member.member_account],
        "姓名": [member.name, member.name],
        "证件号码": [written, legacy_id(centre.members_of(0)[1].id_number)],
        "补缴开始年月": ["2024-03", "2024-06"],
        "补缴结束年月": ["2024-05", "2024-06"],
        "补缴金额": ["1000", "500"],
    }
    with centre.app.sessions() as session:
        unit = queries.unit_info(session, centre.unit().unit_account)
        assert unit is not None
        context = queries.rule_context(session, centre.app.config, unit, BUSINESS_DATE)
        found = rules.screen(columns, [3, 4], context)
        assert context.legacy_identities == (frozenset({identity_key(member.member_account, member.name, member.id_number)}) if recorded == "legacy" else frozenset())

    assert found.plain == {3: Decimal("1000")}  # row 4 names the member with someone else's number


@pytest.fixture
def legacy_centre(sqlite_centre: Centre) -> Centre:
    """The second member of the first unit is recorded with the legacy 15-digit 证件号码."""
    record_legacy_id(sqlite_centre.app, sqlite_centre.members_of(0)[1], sqlite_centre.app.home.root / "master")
    return sqlite_centre


@given(PICKS)
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_screened_rows_naming_members_by_either_form_are_judged_as_row_by_row_checks_judge_them(
    legacy_centre: Centre, picks: list[tuple[int, int, int, int, int]]
) -> None:
    """The same property with member 1 recorded by its legacy number (named by it, or by the 18-digit form)."""
    _screened_and_checked_alike(legacy_centre, picks)


# --- cells as a clerk's spreadsheet leaves them ----------------------------------------------------

#: Members as the core system's export may spell them (a look-alike dot, a name padded for
#: alignment), and one whose ID, typed into a number cell, becomes an ID that still passes GB 11643.
REAL_ID, CUT_ID = "211402199005017035", "211402199005017000"
SPELLED = [
    FakeMember("300000101", "0100001", "买买提•艾力", fake_id(date(1985, 6, 1), 101), Decimal("4070"), Decimal("1000")),
    FakeMember("300000102", "0100001", "李　娜", fake_id(date(1986, 7, 2), 102), Decimal("4070"), Decimal("1000")),
    FakeMember("300000103", "0100001", "王小明", REAL_ID, Decimal("4070"), Decimal("1000")),
]


def _load_spelled_members(centre: Centre) -> None:
    path = write_table(centre.app.home.root / "master" / "members_more.csv", MEMBER_HEADER, [member.row() for member in SPELLED])
    with centre.app.sessions() as session, session.begin():
        report = load_master_data(session, centre.app.config, members=path)
        assert report.ok, report.issues


# (account, 姓名 and 证件号码 as the file has them, code or None, what the message must say)
IDENTITY_CASES = [
    ("300000101", "买买提·艾力", None, None, ""),
    ("300000101", "买买提•艾力", None, None, ""),
    ("300000101", "买买提・艾力", None, None, ""),
    ("300000101", "买买提．艾力", None, None, ""),
    ("300000101", "买买提.艾力", None, None, ""),
    ("300000101", "买买提‧艾力", None, None, ""),
    ("300000101", "买买提 · 艾力", None, None, ""),
    ("300000101", "买买提艾力", None, Code.NAME_MISMATCH, "只差间隔号"),
    ("300000101", "买买提 艾力", None, Code.NAME_MISMATCH, "只差间隔号"),
    ("300000101", "买买提·艾力2", None, Code.NAME_FORMAT, "含有不允许的字符「2」(U+0032)"),
    ("300000102", "李娜", None, None, ""),
    ("300000102", "李　娜", None, None, ""),
    ("300000102", " 李 娜", None, None, ""),
    ("300000102", "李小娜", None, Code.NAME_MISMATCH, "姓名变更须到中心审批"),
    ("300000103", "王小明", REAL_ID, None, ""),
    ("300000103", "王　小明", CUT_ID, Code.ID_MISMATCH, "末三位是000"),
]


@pytest.mark.parametrize(("account", "name", "id_number", "code", "says"), IDENTITY_CASES)
def test_names_and_ids_are_compared_as_cleaned(sqlite_centre: Centre, account: str, name: str, id_number: str | None, code: Code | None, says: str) -> None:
    _load_spelled_members(sqlite_centre)
    member = next(member for member in SPELLED if member.member_account == account)
    row = [1, account, name, id_number or member.id_number, "漏缴", "2024-03", "2024-05", "1000"]
    backpay_file(sqlite_centre.inbox / sqlite_centre.unit().unit_account, [row])

    result = sqlite_centre.run().outcomes[0].result

    with sqlite_centre.app.sessions() as session:
        stored = dict(session.execute(select(Member.member_account, Member.name).where(Member.member_account.in_([m.member_account for m in SPELLED]))).all())
    assert stored == {"300000101": "买买提·艾力", "300000102": "李娜", "300000103": "王小明"}  # the loader cleans names too
    issues = result.rows[0].issues
    if code is None:
        assert result.status is BatchStatus.ACCEPTED, issues
        assert sqlite_centre.table_counts()["backpay_records"] == 1
    else:
        assert [issue.code for issue in issues] == [code] and says in issues[0].message, issues
        assert sqlite_centre.table_counts()["backpay_records"] == 0


def _xlsxwriter_backpay(path: Path, rows: list[list[Any]]) -> Path:
    """A back-pay file as Excel stores it: text cells, numbers in General cells, dates as date serials."""
    path.parent.mkdir(parents=True, exist_ok=True)
    workbook = xlsxwriter.Workbook(str(path))
    sheet = workbook.add_worksheet()
    dates = workbook.add_format({"num_format": "yyyy-mm-dd"})
    sheet.write_row(0, 0, backpay.HEADER)
    for row_index, row in enumerate(rows, start=1):
        for col, value in enumerate(row):
            if isinstance(value, str):
                sheet.write_string(row_index, col, value)
            elif isinstance(value, datetime):
                sheet.write_datetime(row_index, col, value, dates)
            else:
                sheet.write_number(row_index, col, value)
    workbook.close()
    return path


# (what the clerk typed, the cell Excel keeps, the month recorded or None when refused)
MONTH_CELLS = [
    ("2023.10 in a General cell", 2023.1, None),
    ("2023.11 in a General cell", 2023.11, "2023-11"),
    ("2023.03 in a General cell", 2023.03, "2023-03"),
    ("2023.3 in a General cell", 2023.3, "2023-03"),
    ("202310 in a General cell", 202310, "2023-10"),
    ("2023.10 in a text cell", "2023.10", "2023-10"),
    ("2023.1 in a text cell", "2023.1", None),
    ("2023-10 in a text cell", "2023-10", "2023-10"),
    ("a date cell", datetime(2023, 10, 1), "2023-10"),
]


@pytest.mark.parametrize(("typed", "cell", "recorded"), MONTH_CELLS, ids=[case[0] for case in MONTH_CELLS])
def test_a_month_with_a_decimal_point_is_never_guessed(sqlite_centre: Centre, typed: str, cell: Any, recorded: str | None) -> None:
    member = sqlite_centre.members_of(0)[0]
    _xlsxwriter_backpay(sqlite_centre.inbox / sqlite_centre.unit().unit_account / "补缴.xlsx", [[1, *identity(member), "漏缴", cell, cell, 1000]])

    result = sqlite_centre.run().outcomes[0].result

    with sqlite_centre.app.sessions() as session:
        months = session.execute(select(BackPayRecord.start_month, BackPayRecord.end_month)).all()
    if recorded is not None:
        assert result.status is BatchStatus.ACCEPTED, result.rows[0].issues
        assert months == [(recorded, recorded)]
        return
    issues = result.rows[0].issues
    assert [(i.code, i.column, i.row) for i in issues] == [(Code.MONTH_FORMAT, "补缴开始年月", 2), (Code.MONTH_FORMAT, "补缴结束年月", 2)]
    assert "2023.1 可能是 2023.10" in issues[0].message and "请在文本格式的单元格中填写 2023-10" in issues[0].message
    assert months == []
