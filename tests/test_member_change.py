"""缴存人信息变更 end to end (SPEC.md "Member details change and review"; Baoji notice 2024-19, point 二):
immediate changes, 姓名/证件号码 changes that wait for a reviewer, and the decisions; SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import select

from pipeline.model import BatchStatus, RowStatus
from pipeline.services.fakes import FakeMember, fake_id
from pipeline.store.tables import Member, MemberChange
from tests.conftest import Centre
from tests.factories import identity, kind_file

KIND = "缴存人信息变更"
NEW_ID = fake_id(date(1990, 3, 7), 777)


def change_row(seq: Any, member: FakeMember, item: str, value: str, reason: str = "信息有误") -> list[Any]:
    return [seq, *identity(member), item, value, reason]


def drop(centre: Centre, rows: list[list[Any]], name: str | None = None, unit: int = 0) -> Path:
    return kind_file(centre.inbox / centre.unit(unit).unit_account, KIND, rows, name)


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
