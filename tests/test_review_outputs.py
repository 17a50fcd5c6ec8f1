"""The outputs of the 缴存人信息变更 review (issue #19): the 受理回执 (receipt.pdf) of a file with rows
waiting, the 审批结果通知单 (notice_<申请编号>.pdf) of each decision with result.json brought up to date,
both rendered again from the database by recovery; SQLite and PostgreSQL."""

from __future__ import annotations

import json
import shutil
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from pipeline.logs import mask_id
from pipeline.model import BatchStatus
from pipeline.run.summary import write_index
from pipeline.services.listings import list_requests
from pipeline.services.review import review
from pipeline.store.dbapi import session_reader
from pipeline.store.tables import Batch
from tests.conftest import BUSINESS_DATE, Centre
from tests.test_member_change import NEW_ID, change_row, drop, gjj, process
from tests.test_pdf import compact, pdf_text

DECIDED = datetime(2024, 8, 6, 9, 30)


def decide(centre: Centre, request_id: int, state: str, reason: str = ""):
    return review(centre.app.sessions, centre.app.home.outbox, request_id, state, "审核员甲", reason, now=DECIDED, config=centre.app.config)


def requests(centre: Centre) -> dict[str, int]:
    """The waiting requests' numbers by 个人账号."""
    with centre.app.sessions() as session:
        return {view.member_account: view.id for view in list_requests(session_reader(session))}


def rows_of(folder: Path) -> dict[int, dict[str, Any]]:
    return {row["row"]: row for row in json.loads((folder / "result.json").read_text(encoding="utf-8"))["rows"]}


def test_the_receipt_lists_the_rows_waiting_and_says_nothing_changes_before_approval(centre: Centre) -> None:
    first, second = centre.members_of()[:2]
    outcome = process(
        centre,
        [
            change_row(1, first, "手机号码", "13912345678"),
            change_row(2, first, "姓名", "王小明", "身份证姓名变更"),
            change_row(3, second, "证件号码", NEW_ID, "证件号码登记错误"),
        ],
    )

    assert {path.name for path in outcome.outputs.iterdir()} == {"result.json", "slip.pdf", "detail.csv", "receipt.pdf"}
    text = compact(pdf_text(outcome.outputs / "receipt.pdf"))
    unit = centre.unit()
    for expected in (
        "缴存人信息变更受理回执",
        f"业务流水号：{outcome.result.serial_number}",
        f"单位名称{unit.name}",
        f"单位账号{unit.unit_account}",
        "待审核2行",
        "序号个人账号姓名变更项目变更后内容",
        f"2{first.member_account}{first.name}姓名王小明",
        f"3{second.member_account}{second.name}证件号码{NEW_ID}",  # what the unit sent is not masked
        "审核通过后方可生效",
        "审批结果通知单",
    ):
        assert expected in text
    assert "13912345678" not in text  # applied at once: on the 确认单, not on the receipt
    assert second.id_number not in text and first.id_number not in text
    assert "手机号码" in compact(pdf_text(outcome.outputs / "slip.pdf"))


def test_no_receipt_without_rows_for_review(sqlite_centre: Centre) -> None:
    outcome = process(sqlite_centre, [change_row(1, sqlite_centre.members_of()[0], "手机号码", "13912345678")])
    assert not (outcome.outputs / "receipt.pdf").exists()


#: Each decision → the row's status in result.json, and what its notice says.
DECISIONS = [
    ("审核通过", "", "accepted", ["审核结果审核通过", "审核意见无", "变更已生效"]),
    ("退回", "请补交户籍部门出具的证明", "returned", ["审核结果退回", "审核意见请补交户籍部门出具的证明", "重新提交"]),
    ("不通过", "证件号码与身份证不符", "refused", ["审核结果不通过", "审核意见证件号码与身份证不符", "缴存人信息保持不变"]),
]


@pytest.mark.parametrize(("state", "reason", "status", "says"), DECISIONS)
def test_each_decision_adds_its_notice_and_updates_result_json(centre: Centre, state: str, reason: str, status: str, says: list[str]) -> None:
    member = centre.members_of()[0]
    outcome = process(centre, [change_row(1, member, "证件号码", NEW_ID, "证件号码登记错误")])
    request_id = requests(centre)[member.member_account]

    decision = decide(centre, request_id, state, reason)

    notice = outcome.outputs / f"notice_{request_id}.pdf"
    assert decision.refused is None
    assert decision.published == [outcome.outputs / "result.json", notice]
    assert not [path.name for path in outcome.outputs.iterdir() if path.name.startswith(".")]  # no temporary file left
    row = rows_of(outcome.outputs)[3]
    assert row["status"] == status
    assert row["computed"] == {"审核申请编号": str(request_id), "审核结果": state, "审核日期": "2024-08-06"} | ({"审核意见": reason} if reason else {})
    text = compact(pdf_text(notice))
    unit = centre.unit()
    for expected in (
        "审批结果通知单",
        f"申请编号：{request_id}",
        f"业务流水号：{outcome.result.serial_number}",
        f"单位名称{unit.name}",
        f"个人账号{member.member_account}",
        f"姓名{member.name}",
        "变更项目证件号码",
        f"原内容{mask_id(member.id_number)}",
        f"变更后内容{mask_id(NEW_ID)}",
        "审核日期2024-08-06",
        "打印日期：2024年08月06日",
        *says,
    ):
        assert expected in text, expected
    assert member.id_number not in text and NEW_ID not in text


def test_a_name_change_notice_shows_both_names(sqlite_centre: Centre) -> None:
    member = sqlite_centre.members_of()[0]
    outcome = process(sqlite_centre, [change_row(1, member, "姓名", "王小明", "身份证姓名变更")])
    request_id = requests(sqlite_centre)[member.member_account]
    decide(sqlite_centre, request_id, "审核通过")
    text = compact(pdf_text(outcome.outputs / f"notice_{request_id}.pdf"))
    assert f"原内容{member.name}" in text and "变更后内容王小明" in text


def test_an_approval_refused_by_the_recheck_writes_no_notice(sqlite_centre: Centre) -> None:
    member = sqlite_centre.members_of()[0]
    outcome = process(sqlite_centre, [change_row(1, member, "姓名", "王小明")])
    request_id = requests(sqlite_centre)[member.member_account]
    before = (outcome.outputs / "result.json").read_bytes()
    with sqlite_centre.app.engine.begin() as connection:  # the name changed since the file came (e.g. by gjj load)
        connection.exec_driver_sql("UPDATE members SET name = '李四' WHERE member_account = ?", (member.member_account,))

    decision = decide(sqlite_centre, request_id, "审核通过")

    assert decision.refused is not None and decision.published == []
    assert not list(outcome.outputs.glob("notice_*.pdf"))
    assert (outcome.outputs / "result.json").read_bytes() == before


def test_a_request_of_a_batch_not_done_waits(sqlite_centre: Centre) -> None:
    """Its outputs (from the result before any decision) are not in place yet: they would overwrite the notice."""
    member = sqlite_centre.members_of()[0]
    outcome = process(sqlite_centre, [change_row(1, member, "姓名", "王小明")])
    request_id = requests(sqlite_centre)[member.member_account]
    with sqlite_centre.app.sessions() as session, session.begin():
        session.scalars(select(Batch)).one().stage = "stored"

    decision = decide(sqlite_centre, request_id, "审核通过")

    assert decision.refused == f"批次 {outcome.result.batch_id} 的回执尚未生成完毕（正在处理，或处理中断、待下一次运行补齐），请稍后再审核"
    assert requests(sqlite_centre) == {member.member_account: request_id} and decision.published == []


def test_recovery_renders_the_receipt_and_the_notices_again_from_the_database(sqlite_centre: Centre) -> None:
    """The batch's outputs rendered again from the database (its stage put back to ``stored``, its folder gone) after a decision."""
    first, second = sqlite_centre.members_of()[:2]
    outcome = process(sqlite_centre, [change_row(1, first, "姓名", "王小明"), change_row(2, second, "证件号码", NEW_ID)])
    waiting = requests(sqlite_centre)
    decide(sqlite_centre, waiting[first.member_account], "退回", "请补交证明")
    shutil.rmtree(outcome.outputs)
    with sqlite_centre.app.sessions() as session, session.begin():
        session.scalars(select(Batch)).one().stage = "stored"

    recovered = sqlite_centre.run().outcomes

    assert [item.result.batch_id for item in recovered] == [outcome.result.batch_id]
    names = {path.name for path in outcome.outputs.iterdir()}
    assert names == {"result.json", "slip.pdf", "receipt.pdf", f"notice_{waiting[first.member_account]}.pdf"}
    assert "待审核2行" in compact(pdf_text(outcome.outputs / "receipt.pdf"))
    assert "审核意见请补交证明" in compact(pdf_text(outcome.outputs / f"notice_{waiting[first.member_account]}.pdf"))
    assert [row["status"] for row in rows_of(outcome.outputs).values()] == ["returned", "pending_review"]
    assert "审核结果" not in pdf_text(outcome.outputs / "slip.pdf")  # the 确认单 keeps its columns; the notice says it


def day_data(centre: Centre, day: date) -> dict[str, Any]:
    page = centre.app.write_summary(day)
    return json.loads(page.with_name("summary.json").read_text(encoding="utf-8")) | {"html": page.read_text(encoding="utf-8")}


def test_the_staff_summary_lists_the_queue_and_the_days_decisions(centre: Centre) -> None:
    first, second, third = centre.members_of()[:3]
    other = centre.members_of(1)[0]
    outcome = process(centre, [change_row(1, first, "姓名", "王小明"), change_row(2, second, "证件号码", NEW_ID), change_row(3, third, "姓名", "李四")])
    drop(centre, [change_row(1, other, "姓名", "赵六")], unit=1)
    centre.run()
    waiting = requests(centre)
    decide(centre, waiting[first.member_account], "审核通过")
    decide(centre, waiting[second.member_account], "退回", "请补交证明<script>")

    night, next_day = day_data(centre, BUSINESS_DATE), day_data(centre, DECIDED.date())

    unit, unit2 = centre.unit().unit_account, centre.unit(1).unit_account
    for data in (night, next_day):  # the queue is what waits when the page is built
        assert data["totals"]["review_queue"] == 2
        assert [(entry["unit"], entry["open"]) for entry in data["reviews"]["queue"]["by_unit"]] == [(unit, 1), (unit2, 1)]
        assert data["reviews"]["queue"]["by_kind"] == [{"kind": "缴存人信息变更", "open": 2}]
    assert night["reviews"]["decisions"] == [] and night["totals"]["review_decisions"] == 0
    decisions = next_day["reviews"]["decisions"]
    assert next_day["totals"]["review_decisions"] == 2
    assert [
        (d["request_id"], d["decided_at"], d["decided_by"], d["unit"], d["batch_id"], d["member_account"], d["member_name"], d["item"], d["state"], d["reason"])
        for d in decisions
    ] == [
        (waiting[first.member_account], "2024-08-06T09:30:00", "审核员甲", unit, outcome.result.batch_id, first.member_account, "王小明", "姓名", "审核通过", ""),
        (waiting[second.member_account], "2024-08-06T09:30:00", "审核员甲", unit, outcome.result.batch_id, second.member_account, second.name, "证件号码", "退回", "请补交证明<script>"),
    ]
    assert decisions[0]["notice"] == f"../../../{unit}/{outcome.result.batch_id}/notice_{waiting[first.member_account]}.pdf"
    html = next_day["html"]
    assert "<h2>审核（待审核 2，当日审核 2）" in html and "请补交证明&lt;script&gt;" in html and "<script>" not in html
    assert f'href="{decisions[0]["notice"]}"' in html


def test_gjj_review_rebuilds_the_day_page_of_the_decision(sqlite_centre: Centre) -> None:
    member = sqlite_centre.members_of()[0]
    process(sqlite_centre, [change_row(1, member, "姓名", "王小明")])
    request_id = requests(sqlite_centre)[member.member_account]

    done = gjj(sqlite_centre, "review", "refuse", str(request_id), "--reason", "与身份证不符", "--by", "张审核")

    assert done.exit_code == 0, done.output
    assert f"result.json、notice_{request_id}.pdf" in done.output
    page = sqlite_centre.app.home.outbox / "_centre" / "days" / date.today().isoformat() / "summary.json"
    data = json.loads(page.read_text(encoding="utf-8"))
    assert [(d["request_id"], d["decided_by"], d["state"], d["reason"]) for d in data["reviews"]["decisions"]] == [(request_id, "张审核", "不通过", "与身份证不符")]
    assert data["totals"]["review_queue"] == 0
    index = (sqlite_centre.app.home.outbox / "_centre" / "index.html").read_text(encoding="utf-8")
    assert "<th class=\"num\">待审核</th><th class=\"num\">审核决定</th>" in index
    today = next(row for row in index.split("<tr>") if date.today().isoformat() in row)
    assert '<td class="num">0</td>\n      <td class="num">1</td>' in today  # the queue emptied, one decision


def test_an_index_entry_written_before_the_review_columns_still_renders(sqlite_centre: Centre) -> None:
    outbox = sqlite_centre.app.home.outbox
    day = outbox / "_centre" / "days" / "2024-01-02"
    day.mkdir(parents=True)
    old_totals = {"files": 1, "by_status": {str(status): 0 for status in BatchStatus}, "referrals": 0, "errors": 0, "failed": 0}
    (day / "entry.json").write_text(json.dumps({"business_date": "2024-01-02", "generated_at": "2024-01-02T08:00:00", "runs": 1, "totals": old_totals}), encoding="utf-8")

    write_index(outbox)

    row = next(row for row in (outbox / "_centre" / "index.html").read_text(encoding="utf-8").split("<tr>") if "2024-01-02" in row)
    assert row.count('<td class="num">0</td>') >= 3  # 转柜台, 待审核 and 审核决定 all shown as 0
