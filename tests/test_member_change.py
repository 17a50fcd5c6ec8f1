"""缴存人信息变更 end to end (SPEC.md "Member details change and review"; Baoji notice 2024-19, point 二):
immediate changes, 姓名/证件号码 changes that wait for a reviewer, and the decisions; SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.errors import Code
from pipeline.model import BatchStatus, RowStatus
from pipeline.run.outcomes import FileOutcome
from pipeline.services.fakes import FakeMember, fake_id
from pipeline.services.listings import list_requests
from pipeline.services.members import RECORD_LABELS
from pipeline.services.review import review, show_request
from pipeline.store.dbapi import session_reader
from pipeline.store.tables import Member, MemberChange, ReviewDecision, ReviewRequest
from schemas import TEMPLATES
from schemas.masterdata import MEMBER_HEADER
from tests.conftest import Centre
from tests.factories import bundle_file, identity, kind_file, scans_for, sheet_xml

KIND = "缴存人信息变更"
runner = CliRunner()
NEW_ID = fake_id(date(1990, 3, 7), 777)


def change_row(seq: Any, member: FakeMember, item: str, value: str, reason: str = "信息有误") -> list[Any]:
    return [seq, *identity(member), item, value, reason]


def drop(centre: Centre, rows: list[list[Any]], name: str | None = None, unit: int = 0) -> Path:
    """The rows as an xlsx; as a zip drop with both scans of each member of a 姓名 or 证件号码 row, when there is one."""
    folder = centre.inbox / centre.unit(unit).unit_account
    reviewed = [str(row[1]) for row in rows if row[4] in ("姓名", "证件号码")]
    if not reviewed:
        return kind_file(folder, KIND, rows, name)
    return bundle_file(folder, KIND, rows, scans_for(*dict.fromkeys(reviewed)), Path(name or KIND).stem + ".zip")


def process(centre: Centre, rows: list[list[Any]], name: str | None = None):
    drop(centre, rows, name)
    outcomes = centre.run().outcomes
    assert len(outcomes) == 1
    return outcomes[0]


def stored(centre: Centre, account: str) -> Member:
    with centre.app.sessions() as session:
        member = session.get(Member, account)
        assert member is not None
        session.expunge(member)
        return member


def test_immediate_changes_apply_at_once_with_the_trail(centre: Centre) -> None:
    first, second = centre.members_of()[:2]
    rows = [
        change_row(1, first, "手机号码", "13912345678"),
        change_row(2, first, "婚姻状况", "已婚"),
        change_row(3, second, "家庭住址", "辽宁省葫芦岛市龙港区滨海路8号"),
        change_row(4, second, "个人存款账户号码", "中国银行葫芦岛分行 / 6216600000001234566"),
    ]

    outcome = process(centre, rows)

    result = outcome.result
    assert result.status is BatchStatus.ACCEPTED, result.all_issues
    assert [row.status for row in result.rows] == [RowStatus.ACCEPTED] * 4
    assert {path.name for path in outcome.outputs.iterdir()} == {"result.json", "slip.pdf", "detail.csv"}
    assert stored(centre, first.member_account).profile == {"手机号码": "13912345678", "婚姻状况": "已婚"}
    assert stored(centre, second.member_account).profile == {
        "家庭住址": "辽宁省葫芦岛市龙港区滨海路8号",
        "个人存款账户开户银行名称": "中国银行葫芦岛分行",
        "个人存款账户号码": "6216600000001234566",
    }
    with centre.app.sessions() as session:
        trail = [(c.member_account, c.kind, c.before, c.after) for c in session.scalars(select(MemberChange).order_by(MemberChange.id))]
    assert trail == [
        (first.member_account, KIND, {"手机号码": ""}, {"手机号码": "13912345678"}),
        (first.member_account, KIND, {"婚姻状况": ""}, {"婚姻状况": "已婚"}),
        (second.member_account, KIND, {"家庭住址": ""}, {"家庭住址": "辽宁省葫芦岛市龙港区滨海路8号"}),
        (
            second.member_account,
            KIND,
            {"个人存款账户开户银行名称": "", "个人存款账户号码": ""},
            {"个人存款账户开户银行名称": "中国银行葫芦岛分行", "个人存款账户号码": "6216600000001234566"},
        ),
    ]


def decide(centre: Centre, request_id: int, state: str, reason: str = "", by: str = "审核员甲"):
    return review(centre.app.sessions, centre.app.home.outbox, request_id, state, by, reason, now=datetime(2024, 8, 6, 9, 30))


def only_request(centre: Centre) -> int:
    with centre.app.sessions() as session:
        (request,) = list_requests(session_reader(session))
    return request.id


def result_row(outcome, excel_row: int) -> dict[str, Any]:
    data = json.loads((outcome.outputs / "result.json").read_text(encoding="utf-8"))
    return next(row for row in data["rows"] if row["row"] == excel_row)


def test_a_name_change_waits_then_is_approved_and_later_files_use_the_new_name(centre: Centre) -> None:
    member = centre.members_of()[0]
    outcome = process(centre, [change_row(1, member, "姓名", "王小明", "身份证姓名变更")])

    assert outcome.result.status is BatchStatus.ACCEPTED and outcome.result.serial_number
    assert result_row(outcome, 3)["status"] == "pending_review"
    assert stored(centre, member.member_account).name == member.name
    with centre.app.sessions() as session:
        (waiting,) = list_requests(session_reader(session), centre.unit().unit_account)
    assert (waiting.member_account, waiting.item, waiting.old_value, waiting.new_value, waiting.state) == (
        member.member_account, "姓名", member.name, "王小明", "待审核"
    )

    decision = decide(centre, waiting.id, "审核通过")

    assert decision.refused is None
    assert stored(centre, member.member_account).name == "王小明"
    row = result_row(outcome, 3)
    assert row["status"] == "accepted"
    assert row["computed"] == {"审核申请编号": str(waiting.id), "审核结果": "审核通过", "审核日期": "2024-08-06"}
    with centre.app.sessions() as session:
        shown = show_request(session, waiting.id)
        trail = session.scalars(select(MemberChange).where(MemberChange.member_account == member.member_account)).all()
    assert shown is not None and shown.state == "审核通过"
    assert [(d.state, d.decided_by) for d in shown.decisions] == [("审核通过", "审核员甲")]
    assert [(c.before, c.after) for c in trail] == [({"姓名": member.name}, {"姓名": "王小明"})]
    # The old name no longer names the member; the new one does.
    old = process(centre, [change_row(1, member, "手机号码", "13912345678")], "旧姓名.xlsx")
    assert [issue.code for issue in old.result.all_issues] == [Code.NAME_MISMATCH]
    renamed = FakeMember(member.member_account, member.unit_account, "王小明", member.id_number, member.base, member.balance)
    new = process(centre, [change_row(1, renamed, "手机号码", "13912345678")], "新姓名.xlsx")
    assert new.result.status is BatchStatus.ACCEPTED


@pytest.mark.parametrize(("state", "status"), [("退回", "returned"), ("不通过", "refused")])
def test_a_returned_or_refused_request_changes_nothing_and_says_why(centre: Centre, state: str, status: str) -> None:
    member = centre.members_of()[0]
    outcome = process(centre, [change_row(1, member, "证件号码", NEW_ID, "证件号码登记错误")])
    request_id = only_request(centre)

    assert decide(centre, request_id, state).refused == f"{state}须写明原因（告知单位为何{state}）"
    decision = decide(centre, request_id, state, reason="缺少户籍部门证明")

    assert decision.refused is None
    assert stored(centre, member.member_account).id_number == member.id_number
    row = result_row(outcome, 3)
    assert row["status"] == status
    assert row["computed"] == {"审核申请编号": str(request_id), "审核结果": state, "审核日期": "2024-08-06", "审核意见": "缺少户籍部门证明"}
    with centre.app.sessions() as session:
        request = session.get(ReviewRequest, request_id)
        assert request is not None
        assert (request.state, request.decided_by, request.decision_reason) == (state, "审核员甲", "缺少户籍部门证明")
        assert session.scalars(select(ReviewDecision.state)).all() == [state]
        assert session.scalars(select(MemberChange)).all() == []
    again = decide(centre, request_id, "审核通过")
    assert again.refused is not None and f"已是「{state}」" in again.refused
    # Decided, the member may ask again.
    second = process(centre, [change_row(1, member, "证件号码", NEW_ID, "补齐材料")], "再次提交.xlsx")
    assert [row.status for row in second.result.rows] == [RowStatus.PENDING_REVIEW]


def test_one_open_request_per_member(centre: Centre) -> None:
    member = centre.members_of()[0]
    process(centre, [change_row(1, member, "姓名", "王小明")])

    second = process(centre, [change_row(1, member, "证件号码", NEW_ID), change_row(2, member, "手机号码", "13912345678")], "第二次.xlsx")

    result = second.result
    assert [(row.status, [(i.code, i.row, i.column) for i in row.issues]) for row in result.rows] == [
        (RowStatus.REJECTED, [(Code.REVIEW_PENDING, 3, "变更项目")]),
        (RowStatus.NOT_APPLIED, []),
    ]
    with centre.app.sessions() as session:
        assert len(list_requests(session_reader(session))) == 1


def test_two_requests_for_one_member_in_one_file(sqlite_centre: Centre) -> None:
    member = sqlite_centre.members_of()[0]
    outcome = process(sqlite_centre, [change_row(1, member, "姓名", "王小明"), change_row(2, member, "证件号码", NEW_ID)])
    # The second row is the error; one bad row rejects the file, so the first waits for nothing either.
    assert [(row.status, [i.code for i in row.issues]) for row in outcome.result.rows] == [
        (RowStatus.NOT_APPLIED, []),
        (RowStatus.REJECTED, [Code.REVIEW_PENDING]),
    ]
    with sqlite_centre.app.sessions() as session:
        assert list_requests(session_reader(session)) == []


def test_an_id_taken_by_another_account_before_approval_is_refused_at_approval(centre: Centre) -> None:
    member, other = centre.members_of()[:2]
    process(centre, [change_row(1, member, "证件号码", NEW_ID)])
    request_id = only_request(centre)
    # Meanwhile another member's ID becomes that number (an approved correction of the other account).
    with centre.app.sessions() as session, session.begin():
        taken = session.get(Member, other.member_account)
        assert taken is not None
        taken.id_number = NEW_ID

    decision = decide(centre, request_id, "审核通过")

    assert decision.refused is not None and "ID_IN_USE" in decision.refused and NEW_ID in decision.refused
    assert stored(centre, member.member_account).id_number == member.id_number
    with centre.app.sessions() as session:
        request = session.get(ReviewRequest, request_id)
        assert request is not None and request.state == "待审核"
        assert session.scalars(select(ReviewDecision)).all() == []
    assert decide(centre, request_id, "不通过", reason="该证件号码已属于另一账户").refused is None


def test_one_new_id_for_two_members_of_a_file(sqlite_centre: Centre) -> None:
    first, second = sqlite_centre.members_of()[:2]
    outcome = process(sqlite_centre, [change_row(1, first, "证件号码", NEW_ID), change_row(2, second, "证件号码", NEW_ID)])
    assert [(i.code, i.row, i.column) for i in outcome.result.all_issues] == [(Code.DUPLICATE_ROW, 4, "变更后内容")]


def test_an_id_in_use_at_submission_is_rejected(sqlite_centre: Centre) -> None:
    member, other = sqlite_centre.members_of()[:2]
    outcome = process(sqlite_centre, [change_row(1, member, "证件号码", other.id_number)])
    assert [(i.code, i.row, i.column) for i in outcome.result.all_issues] == [(Code.ID_IN_USE, 3, "变更后内容")]
    assert other.member_account not in outcome.result.all_issues[0].message


MEMBER = 0  # rows name the first member of the first unit


@pytest.mark.parametrize(
    ("item", "value", "code"),
    [
        ("手机号码", "12345678901", Code.PHONE_FORMAT),
        ("手机号码", "1381234567", Code.PHONE_FORMAT),
        ("婚姻状况", "结婚", Code.ENUM_VALUE),
        ("证件号码", "110101199003071234", Code.ID_CHECKSUM),
        ("证件号码", "110101199013071230", Code.ID_FORMAT),
        ("证件号码", "2.10102199001011e+17", Code.ID_NUMERIC_PRECISION),
        ("证件号码", "110101900307123", Code.ID_FORMAT),
        ("姓名", "王小明1", Code.NAME_FORMAT),
        ("个人存款账户号码", "6216600000001234566", Code.BANK_ACCOUNT_FORMAT),
        ("个人存款账户号码", "中国银行/12345", Code.BANK_ACCOUNT_FORMAT),
        ("个人存款账户号码", "中国银行/6216600000001234567", Code.BANK_ACCOUNT_FORMAT),
        ("家庭住址", "路" * 101, Code.TEXT_TOO_LONG),
    ],
)
def test_each_new_value_is_checked_as_in_registration(sqlite_centre: Centre, item: str, value: str, code: Code) -> None:
    member = sqlite_centre.members_of()[MEMBER]
    good = change_row(1, member, "家庭住址", "辽宁省葫芦岛市")
    outcome = process(sqlite_centre, [good, change_row(2, member, item, value)])

    assert outcome.result.status is BatchStatus.REJECTED
    assert [(i.code, i.row, i.column) for i in outcome.result.all_issues] == [(code, 4, "变更后内容")]
    assert stored(sqlite_centre, member.member_account).profile is None


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        ([["1", "999999999999", "某某", NEW_ID, "手机号码", "13912345678", "x"]], [(Code.MEMBER_NOT_FOUND, 3, "个人账号")]),
        ([[1, "{account}", "{name}", "{id}", "电子邮箱", "a@b.cn", "x"]], [(Code.ENUM_VALUE, 3, "变更项目")]),
        ([[1, "{account}", "{name}", "{id}", "手机号码", "13912345678", ""]], [(Code.CELL_EMPTY, 3, "变更原因")]),
        (
            [[1, "{account}", "{name}", "{id}", "手机号码", "13912345678", "x"], [2, "{account}", "{name}", "{id}", "手机号码", "13912345679", "x"]],
            [(Code.DUPLICATE_ROW, 4, "变更项目")],
        ),
    ],
)
def test_row_checks_name_row_and_column(sqlite_centre: Centre, rows: list[list[Any]], expected: list[tuple[Code, int, str]]) -> None:
    member = sqlite_centre.members_of()[0]
    filled = [[cell.format(account=member.member_account, name=member.name, id=member.id_number) if isinstance(cell, str) else cell for cell in row] for row in rows]
    outcome = process(sqlite_centre, filled)
    assert [(i.code, i.row, i.column) for i in outcome.result.all_issues] == expected


def test_gjj_template_has_the_header_and_a_dropdown_for_the_item(tmp_path: Path) -> None:
    path = tmp_path / "变更.xlsx"
    result = runner.invoke(app, ["template", KIND, "-o", str(path)])
    assert result.exit_code == 0, result.output
    sheet = sheet_xml(path)
    assert 'type="list"' in sheet and "姓名,证件号码,手机号码,婚姻状况,家庭住址,个人存款账户号码" in sheet
    rows = [[cell for cell in row if cell is not None] for row in openpyxl.load_workbook(path).worksheets[0].iter_rows(max_row=5, values_only=True)]
    assert list(TEMPLATES[KIND].HEADER) in rows


def gjj(centre: Centre, *args: str):
    env = {"GJJ_HOME": str(centre.app.home.root), "GJJ_DB": centre.app.engine.url.render_as_string(hide_password=False), "COLUMNS": "200", "USER": "clerk"}
    return runner.invoke(app, list(args), env=env)


def test_review_commands(sqlite_centre: Centre) -> None:
    member = sqlite_centre.members_of()[0]
    outcome = process(sqlite_centre, [change_row(1, member, "姓名", "王小明", "身份证姓名变更"), change_row(2, sqlite_centre.members_of()[1], "证件号码", NEW_ID)])
    listed = gjj(sqlite_centre, "review", "list", "--unit", sqlite_centre.unit().unit_account, "--json")
    assert listed.exit_code == 0, listed.output
    first, second = json.loads(listed.output)
    assert (first["id"], first["个人账号"], first["变更项目"], first["变更后"], first["state"]) == (1, member.member_account, "姓名", "王小明", "待审核")
    assert "王小明" in gjj(sqlite_centre, "review", "list").output

    approved = gjj(sqlite_centre, "review", "approve", "1", "--by", "张审核")
    refused = gjj(sqlite_centre, "review", "refuse", "2", "--reason", "缺少证明材料")
    no_reason = gjj(sqlite_centre, "review", "return", "2")
    again = gjj(sqlite_centre, "review", "approve", "2")
    unknown = gjj(sqlite_centre, "review", "show", "9")
    shown = gjj(sqlite_centre, "review", "show", "2")

    assert approved.exit_code == 0 and "申请 1：审核通过" in approved.output
    assert refused.exit_code == 0 and "申请 2：不通过" in refused.output
    assert no_reason.exit_code == 2  # --reason is required
    assert again.exit_code == 1 and "已是「不通过」" in again.output
    assert unknown.exit_code == 1 and "没有编号为 9 的审核申请" in unknown.output
    assert shown.exit_code == 0 and "不通过（缺少证明材料）" in shown.output
    second_member = sqlite_centre.members_of()[1]
    assert f"当前记录 个人账号 {second_member.member_account}，单位账号 {sqlite_centre.unit().unit_account}" in shown.output
    assert f"证件号码 {second_member.id_number}，个人账户状态 正常" in shown.output  # the refused change left the ID as it was
    record = json.loads(gjj(sqlite_centre, "review", "show", "1", "--json").output)["current_record"]
    assert (record["个人账号"], record["姓名"], record["证件号码"]) == (member.member_account, "王小明", member.id_number)  # approved: the new name
    assert [row["status"] for row in json.loads((outcome.outputs / "result.json").read_text(encoding="utf-8"))["rows"]] == ["accepted", "refused"]
    assert gjj(sqlite_centre, "review", "list", "--json").output.strip() == "[]"


def test_totals_stored_before_the_review_statuses_count_none_of_them() -> None:
    old = {"rows": 2, "accepted": 2, "rejected": 0, "counter": 0, "unchanged": 0, "not_applied": 0, "amounts": {}}
    outcome = FileOutcome("a.xlsx", "0100001", None, Path(), Path(), stored_totals=old)  # type: ignore[arg-type]
    assert outcome.totals() == {**old, "pending_review": 0, "returned": 0, "refused": 0}


def test_the_current_record_speaks_the_master_datas_words() -> None:
    assert RECORD_LABELS == MEMBER_HEADER  # what review show calls a field is what gjj load and export call it
