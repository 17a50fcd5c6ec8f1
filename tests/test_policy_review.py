"""Review as the centre's policy for every kind (issue #22, slice B): under ``strict`` the accepted rows
of 封存, 补缴 … wait (``pending_review``, a review request per row with its scans and the file's), take
effect only when approved — through the kind's own effect, judged again against today's records —
and never when returned or refused. A 补缴 gets its 补缴凭条 only on approval. Decisions row by row
or a whole batch at once. Under ``light`` nothing waits (the rest of the suite)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from pipeline.errors import Code
from pipeline.model import BatchStatus, RowStatus
from pipeline.services.fakes import fake_scan
from pipeline.services.listings import list_requests
from pipeline.services.review import review, review_batch
from pipeline.store.dbapi import session_reader
from pipeline.store.tables import BackPayRecord, Member, RequestDocument, ReviewRequest, StoredDocument
from tests.conftest import Centre, make_centre
from tests.factories import bundle_file, identity, row_for
from tests.test_pdf import compact, pdf_text

DECIDED = datetime(2024, 8, 6, 9, 30)
FILE_SCANS = {"经办人身份证.jpg": fake_scan("jpg"), "现场影像.png": fake_scan("png")}
BACKPAY_SCANS = FILE_SCANS | {"补缴说明.pdf": fake_scan("pdf"), "补缴明细.pdf": fake_scan("pdf")}


@pytest.fixture
def strict(tmp_path: Path, db_url: str) -> Iterator[Centre]:
    centre = make_centre(tmp_path / "home", db_url, policy="strict")
    yield centre
    centre.app.close()


@pytest.fixture
def strict_sqlite(tmp_path: Path) -> Iterator[Centre]:
    centre = make_centre(tmp_path / "home", f"sqlite:///{tmp_path / 'gjj.db'}", policy="strict")
    yield centre
    centre.app.close()


def seal_row(seq: int, member: Any, reason: str = "退休封存", month: str = "2024-07") -> list[Any]:
    return [seq, *identity(member), reason, month]


def retirement_scans(*members: Any) -> dict[str, bytes]:
    return FILE_SCANS | {f"{member.member_account}_退休审批手续.pdf": fake_scan("pdf") for member in members}


def run_one(centre: Centre) -> Any:
    outcomes = centre.run().outcomes
    assert len(outcomes) == 1
    return outcomes[0]


def waiting(centre: Centre) -> list[Any]:
    with centre.app.sessions() as session:
        return list_requests(session_reader(session))


def member_status(centre: Centre, account: str) -> tuple[str, str, str]:
    with centre.app.sessions() as session:
        member = session.get(Member, account)
        assert member is not None
        return member.status, member.seal_reason, member.unit_account


def decide(centre: Centre, request_id: int, state: str, reason: str = ""):
    return review(centre.app.sessions, centre.app.home.outbox, request_id, state, "审核员甲", reason, now=DECIDED, config=centre.app.config)


def rows_of(folder: Path) -> dict[int, dict[str, Any]]:
    return {row["row"]: row for row in json.loads((folder / "result.json").read_text(encoding="utf-8"))["rows"]}


def test_strict_seal_waits_then_is_applied_on_approval(strict: Centre) -> None:
    member = strict.members_of()[0]
    bundle_file(strict.inbox / strict.unit().unit_account, "封存", [seal_row(1, member)], retirement_scans(member))

    outcome = run_one(strict)

    assert outcome.result.status is BatchStatus.ACCEPTED and outcome.result.serial_number
    assert [row.status for row in outcome.result.rows] == [RowStatus.PENDING_REVIEW]
    assert member_status(strict, member.member_account)[0] == "正常"
    assert rows_of(outcome.outputs)[3]["status"] == "pending_review"
    receipt = compact(pdf_text(outcome.outputs / "receipt.pdf"))
    assert "封存受理回执" in receipt and "封存原因退休封存" in receipt and "须经公积金中心审核通过后方可生效" in receipt
    (request,) = waiting(strict)
    assert (request.member_account, request.item, request.new_value, request.reason) == (member.member_account, "封存", "封存原因 退休封存，变更年月 2024-07", "退休封存")
    with strict.app.sessions() as session:
        kinds = sorted(session.scalars(select(RequestDocument.kind).where(RequestDocument.request_id == request.id)))
    assert kinds == ["现场影像", "经办人身份证", "退休审批手续"]  # the file's scans and the row's
    assert len(list((strict.app.home.documents).rglob("*"))) >= 3

    decision = decide(strict, request.id, "审核通过")

    assert decision.refused is None
    assert member_status(strict, member.member_account)[:2] == ("封存", "退休封存")
    notice = outcome.outputs / f"notice_{request.id}.pdf"
    assert notice in decision.published
    text = compact(pdf_text(notice))
    assert "审批结果通知单" in text and "业务类型封存" in text and "审核结果审核通过" in text and "业务已生效" in text
    assert rows_of(outcome.outputs)[3]["status"] == "accepted"


def test_a_returned_seal_never_takes_effect(strict_sqlite: Centre) -> None:
    strict = strict_sqlite
    member = strict.members_of()[0]
    bundle_file(strict.inbox / strict.unit().unit_account, "封存", [seal_row(1, member)], retirement_scans(member))
    outcome = run_one(strict)
    (request,) = waiting(strict)

    assert decide(strict, request.id, "退回").refused == "退回须写明原因（告知单位为何退回）"
    decision = decide(strict, request.id, "退回", "退休审批手续不清晰")

    assert decision.refused is None
    assert member_status(strict, member.member_account)[0] == "正常"
    assert rows_of(outcome.outputs)[3]["status"] == "returned"
    assert "业务未生效" in compact(pdf_text(outcome.outputs / f"notice_{request.id}.pdf"))
    assert decide(strict, request.id, "审核通过").refused.startswith(f"审核申请 {request.id} 已是「退回」")
    assert member_status(strict, member.member_account)[0] == "正常"


def test_strict_backpay_waits_without_a_slip_then_gets_it_with_its_serial(strict_sqlite: Centre) -> None:
    strict = strict_sqlite
    member = strict.members_of()[0]
    bundle_file(strict.inbox / strict.unit().unit_account, "补缴", [row_for(member)], BACKPAY_SCANS)

    outcome = run_one(strict)

    serial = outcome.result.serial_number
    assert serial and [row.status for row in outcome.result.rows] == [RowStatus.PENDING_REVIEW]
    assert not (outcome.outputs / "slip.pdf").exists()
    assert "不出具补缴凭条" in compact(pdf_text(outcome.outputs / "receipt.pdf"))
    assert strict.table_counts()["backpay_records"] == 0
    (request,) = waiting(strict)
    assert request.item == "补缴" and "补缴金额 1000" in request.new_value

    decision = decide(strict, request.id, "审核通过")

    assert decision.refused is None
    assert outcome.outputs / "slip.pdf" in decision.published
    slip = compact(pdf_text(outcome.outputs / "slip.pdf"))
    assert "补缴凭条" in slip and f"业务流水号：{serial}" in slip and "补缴金额1000.00" in slip
    with strict.app.sessions() as session:
        (record,) = session.scalars(select(BackPayRecord))
        assert (record.member_account, record.serial_number, record.amount) == (member.member_account, serial, 1000)
    assert "补缴凭条" in compact(pdf_text(outcome.outputs / f"notice_{request.id}.pdf"))


def test_a_batch_is_decided_at_once(strict_sqlite: Centre) -> None:
    strict = strict_sqlite
    first, second, third = strict.members_of()[:3]
    rows = [seal_row(1, first), seal_row(2, second), seal_row(3, third)]
    bundle_file(strict.inbox / strict.unit().unit_account, "封存", rows, retirement_scans(first, second, third))
    outcome = run_one(strict)
    ids = [request.id for request in waiting(strict)]
    assert len(ids) == 3

    refused = review_batch(strict.app.sessions, strict.app.home.outbox, "20240806-999999", "审核通过", "审核员甲", config=strict.app.config)
    assert refused.refused == "没有批次号或业务流水号为「20240806-999999」的批次"
    decision = review_batch(
        strict.app.sessions, strict.app.home.outbox, outcome.result.serial_number, "审核通过", "审核员甲", now=DECIDED, config=strict.app.config
    )

    assert decision.refused is None and decision.request_ids == ids
    assert [member_status(strict, member.member_account)[0] for member in (first, second, third)] == ["封存"] * 3
    assert {path.name for path in decision.published} == {"result.json", *(f"notice_{i}.pdf" for i in ids)}
    assert {row["status"] for row in rows_of(outcome.outputs).values()} == {"accepted"}
    again = review_batch(strict.app.sessions, strict.app.home.outbox, outcome.result.batch_id, "审核通过", "审核员甲", config=strict.app.config)
    assert again.refused == f"批次 {outcome.result.batch_id} 没有待审核的申请"


def test_a_waiting_batchs_requests_follow_its_rows_each_with_the_files_scans_and_its_own(strict: Centre) -> None:
    """The requests are written in bulk: numbered in row order; each links the file's scans and its
    member's own; each content is one stored document however many requests share it."""
    members = strict.members_of()[:3]
    rows = [seal_row(seq, member) for seq, member in zip((1, 2, 3), members)]
    bundle_file(strict.inbox / strict.unit().unit_account, "封存", rows, retirement_scans(*members))
    outcome = run_one(strict)

    with strict.app.sessions() as session:
        requests = list(session.scalars(select(ReviewRequest).where(ReviewRequest.state == "待审核").order_by(ReviewRequest.id)))
        links = {(link.request_id, link.entry_name) for link in session.scalars(select(RequestDocument))}
        stored = session.scalar(select(func.count()).select_from(StoredDocument))
    assert [(r.excel_row, r.member_account, r.item) for r in requests] == [(row.excel_row, m.member_account, "封存") for row, m in zip(outcome.result.rows, members)]
    assert [r.id for r in requests] == sorted(r.id for r in requests) and len({r.submitted_at for r in requests}) == 1
    for request, member in zip(requests, members):
        assert {entry for number, entry in links if number == request.id} == {*FILE_SCANS, f"{member.member_account}_退休审批手续.pdf"}
    assert len(links) == 3 * (len(FILE_SCANS) + 1)
    assert stored == len({bytes(content) for content in retirement_scans(*members).values()})


def test_an_approval_is_refused_when_the_member_changed_meanwhile(strict: Centre) -> None:
    member, other = strict.members_of()[:2]
    folder = strict.inbox / strict.unit().unit_account
    bundle_file(folder, "封存", [seal_row(1, member)], retirement_scans(member), "封存一.zip")
    first = run_one(strict)
    bundle_file(folder, "封存", [seal_row(1, member, month="2024-06"), seal_row(2, other)], retirement_scans(member, other), "封存二.zip")
    second = run_one(strict)
    requests = {(view.batch_id, view.member_account): view.id for view in waiting(strict)}
    assert len(requests) == 3
    assert decide(strict, requests[(first.result.batch_id, member.member_account)], "审核通过").refused is None

    late = requests[(second.result.batch_id, member.member_account)]
    decision = decide(strict, late, "审核通过")

    assert decision.refused is not None and "已是封存状态" in decision.refused and "不能审核通过" in decision.refused
    assert decision.published == [] and not (second.outputs / f"notice_{late}.pdf").exists()
    with strict.app.sessions() as session:
        assert session.get(ReviewRequest, late).state == "待审核"
    # the whole batch cannot be approved either (nothing of it changes), and the stale row is refused alone
    batch = review_batch(strict.app.sessions, strict.app.home.outbox, second.result.batch_id, "审核通过", "审核员甲", config=strict.app.config)
    assert batch.refused is not None and f"申请 {late}（第 3 行）" in batch.refused
    assert member_status(strict, other.member_account)[0] == "正常"
    assert decide(strict, late, "不通过", "该职工已封存").refused is None
    assert review_batch(strict.app.sessions, strict.app.home.outbox, second.result.batch_id, "审核通过", "审核员甲", config=strict.app.config).refused is None
    assert member_status(strict, other.member_account)[0] == "封存"
    assert member_status(strict, member.member_account)[:2] == ("封存", "退休封存")


def test_gjj_review_batch_commands(strict_sqlite: Centre) -> None:
    from tests.test_member_change import gjj

    strict = strict_sqlite
    first, second = strict.members_of()[:2]
    folder = strict.inbox / strict.unit().unit_account
    bundle_file(folder, "封存", [seal_row(1, first), seal_row(2, second)], retirement_scans(first, second))
    outcome = run_one(strict)
    serial = outcome.result.serial_number

    both = gjj(strict, "review", "approve", "1", "--batch", serial)
    neither = gjj(strict, "review", "approve")
    no_reason = gjj(strict, "review", "return", "--batch", serial)
    listed = gjj(strict, "review", "list", "--json")
    shown = gjj(strict, "review", "show", "1")
    returned = gjj(strict, "review", "return", "--batch", serial, "--reason", "材料不全", "--by", "张审核")

    assert both.exit_code == neither.exit_code == 2
    assert no_reason.exit_code == 2  # --reason is required for a return
    assert [(entry["变更项目"], entry["个人账号"]) for entry in json.loads(listed.output)] == [("封存", first.member_account), ("封存", second.member_account)]
    assert "业务 封存：封存原因 退休封存，变更年月 2024-07" in shown.output and "原因 退休封存" in shown.output
    assert "材料 经办人身份证" in shown.output and "材料 退休审批手续" in shown.output
    assert returned.exit_code == 0, returned.output
    assert f"批次 {outcome.result.batch_id}：2 条申请（1、2）退回" in returned.output
    assert (outcome.outputs / "notice_1.pdf").is_file() and (outcome.outputs / "notice_2.pdf").is_file()
    assert [member_status(strict, member.member_account)[0] for member in (first, second)] == ["正常", "正常"]
    assert gjj(strict, "review", "approve", "--batch", serial).exit_code == 1  # nothing waits any more


def test_the_staff_summary_shows_what_waits_per_kind(strict_sqlite: Centre) -> None:
    strict = strict_sqlite
    first, second, third = strict.members_of()[:3]
    folder = strict.inbox / strict.unit().unit_account
    bundle_file(folder, "封存", [seal_row(1, first), seal_row(2, second)], retirement_scans(first, second))
    bundle_file(folder, "补缴", [row_for(third)], BACKPAY_SCANS)
    strict.run()

    page = strict.app.write_summary(strict.run().business_date)
    data = json.loads(page.with_name("summary.json").read_text(encoding="utf-8"))

    assert data["reviews"]["queue"]["by_kind"] == [{"kind": "封存", "open": 2}, {"kind": "补缴", "open": 1}]
    assert data["totals"]["review_queue"] == 3
    assert "按业务：封存 2 行，补缴 1 行" in page.read_text(encoding="utf-8")


def approve_the_only_request(centre: Centre) -> Any:
    (request,) = waiting(centre)
    decision = decide(centre, request.id, "审核通过")
    assert decision.refused is None, decision.refused
    return decision


def test_every_member_kind_waits_and_takes_effect_on_approval(strict_sqlite: Centre) -> None:
    """离职封存 → 单位调整 into another unit → 启封 → 基数调整, then a 缴存人登记: each waits, each applies on approval."""
    from tests.test_registration import person, reg_row

    strict = strict_sqlite
    leaver = strict.members_of(1)[0]
    home, new = strict.inbox / strict.unit(1).unit_account, strict.inbox / strict.unit(0).unit_account
    account = leaver.member_account
    steps: list[tuple[Path, str, list[Any], tuple[str, ...], tuple[str, str, str]]] = [
        (home, "封存", seal_row(1, leaver, "离职封存"), ("终止劳动合同审批手续", "用工备案表"), ("封存", "离职封存", "0000010")),
        (new, "单位调整", [1, *identity(leaver), "0000010", "集中封存户", "工作调动"], ("劳动合同", "用工备案表", "社保缴费核定单及缴费明细"), ("封存", "离职封存", strict.unit(0).unit_account)),
        (new, "启封", [1, *identity(leaver), "正常上班启封", "2024-08", "4070"], ("劳动合同", "用工备案表", "社保核定单及社保缴费明细"), ("正常", "", strict.unit(0).unit_account)),
    ]
    for folder, kind, row, row_documents, after in steps:
        before = member_status(strict, account)
        bundle_file(folder, kind, [row], FILE_SCANS | {f"{account}_{document}.pdf": fake_scan("pdf") for document in row_documents}, f"{kind}.zip")
        assert [r.status for r in run_one(strict).result.rows] == [RowStatus.PENDING_REVIEW], kind
        assert member_status(strict, account) == before, kind
        approve_the_only_request(strict)
        assert member_status(strict, account) == after, kind

    bundle_file(new, "基数调整", [[1, *identity(leaver), "4500"]], FILE_SCANS, "基数调整.zip")
    assert [r.status for r in run_one(strict).result.rows] == [RowStatus.PENDING_REVIEW]
    approve_the_only_request(strict)
    with strict.app.sessions() as session:
        member = session.get(Member, account)
        assert member is not None and (member.base, member.last_base_adjust_year) == (4500, 2024)

    name, id_number = person(0)
    documents = ("劳动合同", "用工备案表", "社保核定单", "缴费明细")
    bundle_file(new, "缴存人登记", [reg_row(1, 0)], FILE_SCANS | {f"{id_number}_{document}.pdf": fake_scan("pdf") for document in documents}, "登记.zip")
    outcome = run_one(strict)
    assert [r.status for r in outcome.result.rows] == [RowStatus.PENDING_REVIEW]
    with strict.app.sessions() as session:
        assert session.scalars(select(Member).where(Member.id_number == id_number)).first() is None
    approve_the_only_request(strict)
    with strict.app.sessions() as session:
        opened = session.scalars(select(Member).where(Member.id_number == id_number)).one()
        (request,) = session.scalars(select(ReviewRequest).where(ReviewRequest.item == "缴存人登记"))
    assert (opened.name, opened.status, opened.unit_account) == (name, "正常", strict.unit(0).unit_account)
    assert request.member_account == opened.member_account  # the account given on approval
    assert rows_of(outcome.outputs)[3]["computed"]["个人账号"] == opened.member_account  # result.json shows it


# --- slice C: a counter referral with what the counter would ask for waits for review instead ---------


def base_row(member: Any, factor: str, seq: int = 1) -> list[Any]:
    return [seq, *identity(member), str((member.base * Decimal(factor)).quantize(Decimal(1)))]


def test_a_big_base_change_with_its_salary_statement_waits_for_review(sqlite_centre: Centre) -> None:
    centre = sqlite_centre  # light: 基数调整 applies at once, and takes no documents otherwise
    big, small, plain = centre.members_of()[:3]
    folder = centre.inbox / centre.unit().unit_account
    rows = [base_row(big, "1.5", 1), base_row(small, "1.1", 2), base_row(plain, "1.6", 3)]
    bundle_file(folder, "基数调整", rows, {f"{big.member_account}_工资流水.pdf": fake_scan("pdf")})

    outcome = run_one(centre)

    assert [row.status for row in outcome.result.rows] == [RowStatus.PENDING_REVIEW, RowStatus.ACCEPTED, RowStatus.COUNTER]
    assert "须到柜台办理" in outcome.result.rows[0].computed["转审核事由"]
    assert [issue.code for issue in outcome.result.rows[2].issues] == [Code.COUNTER_BASE_CHANGE]  # no statement: the counter
    (request,) = waiting(centre)
    assert (request.member_account, request.item) == (big.member_account, "基数调整")
    with centre.app.sessions() as session:
        assert list(session.scalars(select(RequestDocument.kind).where(RequestDocument.request_id == request.id))) == ["工资流水"]
        assert session.get(Member, big.member_account).base == big.base

    assert decide(centre, request.id, "审核通过").refused is None

    with centre.app.sessions() as session:
        assert session.get(Member, big.member_account).base == (big.base * Decimal("1.5")).quantize(Decimal(1))


def test_a_salary_statement_no_row_needs_is_document_invalid(sqlite_centre: Centre) -> None:
    member = sqlite_centre.members_of()[0]
    bundle_file(sqlite_centre.inbox / sqlite_centre.unit().unit_account, "基数调整", [base_row(member, "1.1")], {f"{member.member_account}_工资流水.pdf": fake_scan("pdf")})

    result = run_one(sqlite_centre).result

    assert [(issue.code, issue.row) for issue in result.all_issues] == [(Code.DOCUMENT_INVALID, None)]
    assert "没有须到柜台办理的基数调整行" in result.all_issues[0].message


def test_a_cross_year_backpay_with_its_explanation_waits_for_review(sqlite_centre: Centre) -> None:
    centre = sqlite_centre
    cross, plain = centre.members_of()[:2]
    folder = centre.inbox / centre.unit().unit_account
    rows = [row_for(cross, 1, start="2023-11", end="2024-02"), row_for(plain, 2)]
    bundle_file(folder, "补缴", rows, {"补缴说明.pdf": fake_scan("pdf")})

    outcome = run_one(centre)

    assert [row.status for row in outcome.result.rows] == [RowStatus.PENDING_REVIEW, RowStatus.ACCEPTED]
    slip = compact(pdf_text(outcome.outputs / "slip.pdf"))  # the plain row applies at once, as under light
    assert "补缴人数1" in slip
    (request,) = waiting(centre)
    assert request.member_account == cross.member_account

    decision = decide(centre, request.id, "审核通过")

    assert decision.refused is None
    with centre.app.sessions() as session:
        assert sorted(session.scalars(select(BackPayRecord.member_account))) == sorted([cross.member_account, plain.member_account])
    assert "补缴人数2" in compact(pdf_text(outcome.outputs / "slip.pdf"))


def test_a_cross_year_backpay_without_its_explanation_stays_at_the_counter(sqlite_centre: Centre) -> None:
    member = sqlite_centre.members_of()[0]
    bundle_file(sqlite_centre.inbox / sqlite_centre.unit().unit_account, "补缴", [row_for(member, 1, start="2023-11", end="2024-02")], {})

    result = run_one(sqlite_centre).result

    assert [row.status for row in result.rows] == [RowStatus.COUNTER] and waiting(sqlite_centre) == []


def test_under_strict_a_cross_year_backpay_waits_with_the_others(strict_sqlite: Centre) -> None:
    cross, plain = strict_sqlite.members_of()[:2]
    rows = [row_for(cross, 1, start="2023-11", end="2024-02"), row_for(plain, 2)]
    bundle_file(strict_sqlite.inbox / strict_sqlite.unit().unit_account, "补缴", rows, BACKPAY_SCANS)
    outcome = run_one(strict_sqlite)
    assert [row.status for row in outcome.result.rows] == [RowStatus.PENDING_REVIEW] * 2  # 补缴说明 is always sent under strict

    decision = review_batch(strict_sqlite.app.sessions, strict_sqlite.app.home.outbox, outcome.result.batch_id, "审核通过", "审核员甲", config=strict_sqlite.app.config)

    assert decision.refused is None
    assert "补缴人数2" in compact(pdf_text(outcome.outputs / "slip.pdf"))


def test_the_console_shows_a_waiting_seal_and_approves_its_batch(strict_sqlite: Centre) -> None:
    from pipeline.services.staff import add_staff
    from tests.web_support import PASSWORD, logged_in, post

    strict = strict_sqlite
    with strict.app.sessions() as session, session.begin():
        assert add_staff(session, "审核员甲", "reviewer", PASSWORD) is None
    member = strict.members_of()[0]
    bundle_file(strict.inbox / strict.unit().unit_account, "封存", [seal_row(1, member)], retirement_scans(member))
    outcome = run_one(strict)
    client = logged_in(strict, "审核员甲")

    page = client.get("/reviews/1")
    assert page.status_code == 200 and "业务内容" in page.text and "封存原因 退休封存" in page.text and "变更前" not in page.text
    assert "整批通过" in client.get("/reviews").text
    assert post(client, f"/reviews/batches/{outcome.result.batch_id}/approve", {}).status_code == 303
    assert member_status(strict, member.member_account)[0] == "封存"


def test_a_base_adjustment_whose_rows_were_all_refused_is_not_the_years_adjustment(sqlite_centre: Centre) -> None:
    """Once a year (SPEC.md): a file whose only row waits for review takes the year's adjustment while it
    waits; refused, it took nothing, and the unit's next 基数调整 file that year is accepted."""
    centre = sqlite_centre
    big, other = centre.members_of()[:2]
    folder = centre.inbox / centre.unit().unit_account
    bundle_file(folder, "基数调整", [base_row(big, "1.5")], {f"{big.member_account}_工资流水.pdf": fake_scan("pdf")}, "第一次.zip")
    first = run_one(centre)
    assert [row.status for row in first.result.rows] == [RowStatus.PENDING_REVIEW]
    (request,) = waiting(centre)

    bundle_file(folder, "基数调整", [base_row(other, "1.1")], {}, "第二次.zip")
    while_waiting = run_one(centre)
    assert [issue.code for issue in while_waiting.result.file_issues] == [Code.ADJUSTED_THIS_YEAR]
    assert first.result.batch_id in while_waiting.result.file_issues[0].message

    assert decide(centre, request.id, "不通过", "工资流水与申报基数不符").refused is None
    bundle_file(folder, "基数调整", [base_row(other, "1.1")], {}, "第三次.zip")
    after_refusal = run_one(centre)

    assert after_refusal.result.status is BatchStatus.ACCEPTED and after_refusal.result.file_issues == []
    with centre.app.sessions() as session:
        assert session.get(Member, big.member_account).base == big.base
        assert session.get(Member, other.member_account).base == (other.base * Decimal("1.1")).quantize(Decimal(1))
