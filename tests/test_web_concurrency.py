"""On PostgreSQL: a decision in the console while ``gjj run`` processes a file of the same unit
about the same member. Both wait for the member lock (held here first, so both are seen waiting);
once it is free they run one after the other — the file's transaction, then the review's — and
neither is lost or half-applied."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy

from pipeline.model import BatchStatus
from pipeline.services.review import show_request
from pipeline.store.queries import hold_member_lock
from pipeline.store.tables import Member, MemberChange
from tests.conftest import Centre, PostgresServer, wait_until
from tests.factories import identity, kind_file
from tests.web_support import NEW_NAME, console_centre, logged_in, post

WAITING = sqlalchemy.text(
    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
    " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
)
NEW_PHONE = "13912345678"


@pytest.fixture
def centre(tmp_path: Path, postgres_server: PostgresServer) -> Iterator[Centre]:
    centre = console_centre(tmp_path / "home", postgres_server.new_database())
    yield centre
    centre.app.close()


def test_a_console_decision_and_a_run_on_the_same_member_serialise(centre: Centre) -> None:
    member = centre.members_of()[0]  # request 1: 姓名 → 王小明, waiting
    kind_file(centre.inbox / centre.unit().unit_account, "缴存人信息变更", [[1, *identity(member), "手机号码", NEW_PHONE, "更换手机"]], name="手机号码.xlsx")
    client = logged_in(centre, "审核员甲")
    results: dict[str, Any] = {}

    def run() -> None:
        results["run"] = centre.run()

    def decide() -> None:
        results["decision"] = post(client, "/reviews/1/decide", {"decision": "approve"})

    holder = centre.app.sessions()
    holder.begin()
    hold_member_lock(holder)
    threads = [threading.Thread(target=run), threading.Thread(target=decide)]
    with centre.app.engine.connect() as observer:
        for count, thread in enumerate(threads, start=1):
            thread.start()
            wait_until(lambda: observer.execute(WAITING).scalar_one() == count, f"{count} sessions to wait for the member lock", timeout=60)
        with centre.app.sessions() as session:
            waiting = session.get(Member, member.member_account)
            assert waiting is not None and waiting.name == member.name and (waiting.profile or {}).get("手机号码") != NEW_PHONE
    holder.rollback()
    holder.close()
    for thread in threads:
        thread.join(timeout=120)
        assert not thread.is_alive()

    assert results["decision"].status_code == 303
    (outcome,) = results["run"].outcomes
    assert outcome.result.status is BatchStatus.ACCEPTED, outcome.result.all_issues
    with centre.app.sessions() as session:
        stored = session.get(Member, member.member_account)
        request = show_request(session, 1)
        changes = session.scalars(sqlalchemy.select(MemberChange).where(MemberChange.member_account == member.member_account).order_by(MemberChange.id)).all()
        assert stored is not None and request is not None
        assert (stored.name, (stored.profile or {}).get("手机号码")) == (NEW_NAME, NEW_PHONE)
        assert request.state == "审核通过" and request.decisions[0].decided_by == "审核员甲"
        assert [change.after for change in changes] == [{"手机号码": NEW_PHONE}, {"姓名": NEW_NAME}]  # the file's, then the review's
