"""The console's pages over HTTP: 首页 with the runs, 待审核 with the member's record and the scans
inline, decisions that do exactly what ``gjj review`` does, 缴存人查询 and 操作日志. SQLite (the
decision's database behaviour is :mod:`tests.test_member_change`'s and the PostgreSQL test's)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from pipeline.outputs.writer import batch_folder
from pipeline.run.summary import day_folder
from pipeline.services import audit
from pipeline.services.review import show_request
from pipeline.store.console_tables import ConsoleAudit
from pipeline.web import pages
from tests.conftest import Centre
from tests.web_support import NEW_ID, NEW_NAME, console_centre, logged_in, post


@pytest.fixture(scope="module")
def centre(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Centre]:
    root = tmp_path_factory.mktemp("web-pages")
    centre = console_centre(root / "home", f"sqlite:///{root / 'gjj.db'}")
    yield centre
    centre.app.close()


def test_home_lists_the_run_and_its_files(centre: Centre) -> None:
    client = logged_in(centre, "查看员甲")
    home = client.get("/")
    assert home.status_code == 200 and "最近的运行" in home.text
    run_id = re.search(r'href="/runs/([^"]+)"', home.text).group(1)  # type: ignore[union-attr]
    run = client.get(f"/runs/{run_id}")
    assert run.status_code == 200 and "缴存人信息变更.zip" in run.text and "已受理" in run.text
    assert client.get("/runs/no-such-run").status_code == 404
    assert home.headers["content-security-policy"].startswith("default-src 'none'") and home.headers["x-frame-options"] == "SAMEORIGIN"


def test_the_queue_and_a_request_with_the_member_and_the_scans(centre: Centre) -> None:
    client = logged_in(centre, "审核员甲")
    first, second = centre.members_of()[:2]
    queue = client.get("/reviews")
    assert queue.status_code == 200 and NEW_NAME in queue.text and first.member_account in queue.text
    assert NEW_ID not in queue.text and NEW_ID[:6] + "********" + NEW_ID[-4:] in queue.text  # masked in the list
    page = client.get("/reviews/1")
    assert page.status_code == 200 and first.name in page.text and first.id_number in page.text
    images = re.findall(r'<img src="/documents/([0-9a-f]{64})"', page.text)
    frames = re.findall(r'<iframe src="/documents/([0-9a-f]{64})#', page.text)
    assert len(images) == 1 and len(frames) == 1
    assert client.get(f"/documents/{images[0]}").headers["content-type"] == "image/jpeg"
    assert client.get(f"/documents/{frames[0]}").headers["content-type"] == "application/pdf"
    other = client.get("/reviews/2")
    assert len(re.findall(r'<img src="/documents/', other.text)) == 2 and second.member_account in other.text
    assert client.get("/reviews/99").status_code == 404


def test_decisions_do_what_gjj_review_does(centre: Centre) -> None:
    client = logged_in(centre, "审核员甲")
    no_reason = post(client, "/reviews/2/decide", {"decision": "return", "reason": " "})
    assert no_reason.status_code == 303 and "须写明原因" in client.get("/reviews/2").text
    approved = post(client, "/reviews/1/decide", {"decision": "approve"})
    returned = post(client, "/reviews/2/decide", {"decision": "return", "reason": "证明材料不清晰，请重新扫描"})
    again = post(client, "/reviews/1/decide", {"decision": "refuse", "reason": "x"})
    assert [r.status_code for r in (approved, returned, again)] == [303, 303, 303]
    assert "已是「审核通过」" in client.get("/reviews/1").text
    with centre.app.sessions() as session:
        first, second = show_request(session, 1), show_request(session, 2)
    assert first is not None and second is not None
    assert (first.state, first.decisions[0].decided_by) == ("审核通过", "审核员甲")
    assert (second.state, second.decisions[0].reason) == ("退回", "证明材料不清晰，请重新扫描")
    folder = batch_folder(centre.app.home.outbox, centre.unit().unit_account, first.batch_id)
    rows = json.loads((folder / "result.json").read_text(encoding="utf-8"))["rows"]
    assert [row["status"] for row in rows] == ["accepted", "returned"]
    assert (folder / "notice_1.pdf").is_file() and (folder / "notice_2.pdf").is_file()
    decided_on = first.decisions[0].decided_at.date()
    summary = (day_folder(centre.app.home.outbox, decided_on) / "summary.html").read_text(encoding="utf-8")
    assert "审核员甲" in summary  # the decision's day rebuilt, as after `gjj review`

    member = centre.members_of()[0]
    found = client.get(f"/members?q={member.member_account}")
    assert found.status_code == 200 and NEW_NAME in found.text and member.id_number not in found.text
    by_id = client.get(f"/members?q={member.id_number}")
    assert NEW_NAME in by_id.text
    record = client.get(f"/members/{member.member_account}")
    assert NEW_NAME in record.text and member.name in record.text  # the change trail: before and after
    assert "没有个人账号或证件号码为" in client.get("/members?q=nobody").text

    log = client.get("/audit").text
    assert '<td title="review approve">审核：通过</td>' in log and "审核申请 1" in log and "证明材料不清晰" in log and "审核员甲" in log
    assert "未审核" in log  # the refused attempts are logged too


def test_every_action_the_console_logs_has_a_chinese_label() -> None:
    """The 操作日志 page shows actions in Chinese; every code written by pipeline/web (and each review decision) has one."""
    import ast

    from pipeline.web.pages import DECISIONS

    web = Path(pages.__file__).parent
    logged = set()
    for source in web.glob("*.py"):
        for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) in ("log_action", "record"):
                logged |= {arg.value for arg in node.args[2:3] if isinstance(arg, ast.Constant) and isinstance(arg.value, str)}
    logged |= {f"review {decision}{batch}" for decision in DECISIONS for batch in ("", " batch")} | {"login", "login failed"}  # codes held in variables
    assert {"denied", "csrf refused", "logout", "member search"} <= logged  # the scan found the calls
    assert logged <= set(audit.ACTION_LABELS), logged - set(audit.ACTION_LABELS)
    assert all(label and not label.isascii() for label in audit.ACTION_LABELS.values())


def test_a_batch_is_approved_at_once_from_the_queue(tmp_path) -> None:
    centre = console_centre(tmp_path / "home", f"sqlite:///{tmp_path / 'gjj.db'}")
    try:
        viewer, reviewer = logged_in(centre, "查看员甲"), logged_in(centre, "审核员甲")
        queue = reviewer.get("/reviews")
        (batch_id,) = set(re.findall(r'action="/reviews/batches/([^/"]+)/decide"', queue.text))
        assert "整批通过" in queue.text and "整批退回" in queue.text and "2 条" in queue.text
        assert "整批通过" not in viewer.get("/reviews").text and batch_id in viewer.get("/reviews").text  # the batches, not the buttons
        assert post(viewer, f"/reviews/batches/{batch_id}/decide", {"decision": "approve"}).status_code == 403

        approved = post(reviewer, f"/reviews/batches/{batch_id}/decide", {"decision": "approve"})

        assert approved.status_code == 303
        with centre.app.sessions() as session:
            assert [show_request(session, number).state for number in (1, 2)] == ["审核通过", "审核通过"]  # type: ignore[union-attr]
        folder = batch_folder(centre.app.home.outbox, centre.unit().unit_account, batch_id)
        assert (folder / "notice_1.pdf").is_file() and (folder / "notice_2.pdf").is_file()
        assert "没有待审核的申请" in reviewer.get("/reviews").text
        again = post(reviewer, f"/reviews/batches/{batch_id}/decide", {"decision": "approve"})
        assert again.status_code == 303 and "没有待审核的申请" in reviewer.get("/reviews").text
        assert '<td title="review approve batch">审核：整批通过</td>' in reviewer.get("/audit").text
    finally:
        centre.app.close()


def test_a_batch_is_returned_at_once_with_its_reason_and_not_without_one(tmp_path) -> None:
    """整批退回 as ``gjj review return --batch``: every waiting request, one reason, a notice each; no reason, nothing changes."""
    centre = console_centre(tmp_path / "home", f"sqlite:///{tmp_path / 'gjj.db'}")
    try:
        reviewer = logged_in(centre, "审核员甲")
        (batch_id,) = set(re.findall(r'action="/reviews/batches/([^/"]+)/decide"', reviewer.get("/reviews").text))

        unexplained = post(reviewer, f"/reviews/batches/{batch_id}/decide", {"decision": "return", "reason": "  "})
        assert unexplained.status_code == 303 and "退回须写明原因" in reviewer.get("/reviews").text
        with centre.app.sessions() as session:
            assert [show_request(session, number).state for number in (1, 2)] == ["待审核", "待审核"]  # type: ignore[union-attr]

        returned = post(reviewer, f"/reviews/batches/{batch_id}/decide", {"decision": "return", "reason": "扫描件不清晰，请重新扫描"})

        assert returned.status_code == 303
        queue = reviewer.get("/reviews").text
        assert f"批次 {batch_id}：2 条申请退回" in queue and "没有待审核的申请" in queue
        with centre.app.sessions() as session:
            views = [show_request(session, number) for number in (1, 2)]
        assert [(v.state, v.decisions[-1].reason) for v in views] == [("退回", "扫描件不清晰，请重新扫描")] * 2  # type: ignore[union-attr]
        folder = batch_folder(centre.app.home.outbox, centre.unit().unit_account, batch_id)
        assert (folder / "notice_1.pdf").is_file() and (folder / "notice_2.pdf").is_file()
        log = reviewer.get("/audit").text
        assert '<td title="review return batch">审核：整批退回</td>' in log and "退回 2 条：扫描件不清晰，请重新扫描" in log
        assert '<td title="review return batch">审核：整批退回</td><td>批次' in log
    finally:
        centre.app.close()


def test_a_decision_and_its_audit_entry_are_one_transaction(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The audit entry is written in the decision's transaction: when it cannot be written, the decision
    is not taken either (and never a decision without its entry)."""
    centre = console_centre(tmp_path / "home", f"sqlite:///{tmp_path / 'gjj.db'}")
    try:
        reviewer = logged_in(centre, "审核员甲")

        def disk_full(*args: object, **kwargs: object) -> None:
            raise OSError(28, "No space left on device")

        monkeypatch.setattr(audit, "record", disk_full)
        with pytest.raises(OSError):
            post(reviewer, "/reviews/1/decide", {"decision": "approve"})
        monkeypatch.undo()
        with centre.app.sessions() as session:
            assert show_request(session, 1).state == "待审核"  # type: ignore[union-attr]
            assert session.scalar(select(func.count()).select_from(ConsoleAudit).where(ConsoleAudit.action.like("review%"))) == 0

        assert post(reviewer, "/reviews/1/decide", {"decision": "approve"}).status_code == 303
        with centre.app.sessions() as session:
            assert show_request(session, 1).state == "审核通过"  # type: ignore[union-attr]
            entries = session.execute(select(ConsoleAudit.staff, ConsoleAudit.action, ConsoleAudit.detail).where(ConsoleAudit.action.like("review%"))).all()
        assert [tuple(entry) for entry in entries] == [("审核员甲", "review approve", "审核通过")]
    finally:
        centre.app.close()
