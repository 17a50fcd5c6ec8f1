"""补缴查询 and 汇缴核定查询 with their deletes, 转柜台 and 隔离区 with 重新处理, over HTTP (SQLite):
what the processor stored is listed; deletes and re-queues are an admin's, confirmed first, done by
the same services as the commands, and refused with the service's reason."""

from __future__ import annotations

import re
from collections.abc import Iterator
from html import unescape

import pytest
import sqlalchemy

from pipeline.store.tables import BackPayRecord, RemitAssessment
from tests.conftest import Centre
from tests.web_support import add_queries_data, console_centre, logged_in, post


@pytest.fixture(scope="module")
def centre(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Centre]:
    root = tmp_path_factory.mktemp("web-queries")
    centre = console_centre(root / "home", f"sqlite:///{root / 'gjj.db'}")
    add_queries_data(centre, root)
    yield centre
    centre.app.close()


def states(centre: Centre, table: type) -> list[str]:
    with centre.app.sessions() as session:
        return list(session.scalars(sqlalchemy.select(table.state).order_by(table.id)))


def test_backpay_is_listed_and_an_admin_deletes_it_after_confirming(centre: Centre) -> None:
    unit = centre.unit(0).unit_account
    viewer, admin = logged_in(centre, "查看员甲"), logged_in(centre, "管理员甲")
    listed = viewer.get(f"/backpay?unit={unit}")
    with centre.app.sessions() as session:
        serial = session.scalars(sqlalchemy.select(BackPayRecord.serial_number)).one()
    assert "未分配金额" in listed.text and centre.members_of(0)[2].member_account in listed.text and "/backpay/delete" not in listed.text
    assert unit in viewer.get("/backpay").text  # the units with back-pay are offered
    assert viewer.get(f"/backpay/delete?unit={unit}&serial={serial}").status_code == 403
    assert post(viewer, "/backpay/delete", {"unit": unit, "serial": serial}).status_code == 403
    confirm = admin.get(f"/backpay/delete?unit={unit}&serial={serial}")
    assert confirm.status_code == 200 and "确认删除" in confirm.text and states(centre, BackPayRecord) == ["未分配"]
    assert post(admin, "/backpay/delete", {"unit": centre.unit(1).unit_account, "serial": serial}).status_code == 303  # another unit's serial
    assert "没有业务流水号为" in admin.get("/backpay").text and states(centre, BackPayRecord) == ["未分配"]
    deleted = post(admin, "/backpay/delete", {"unit": unit, "serial": serial})
    assert deleted.status_code == 303 and states(centre, BackPayRecord) == ["已删除"]
    assert "已删除 1 条补缴记录" in admin.get(deleted.headers["location"]).text
    assert "backpay delete" in admin.get("/audit").text


def test_remit_lists_and_deletes_only_the_latest_unpaid(centre: Centre) -> None:
    unit = centre.unit(1).unit_account
    admin = logged_in(centre, "管理员甲")
    listed = admin.get(f"/remit?unit={unit}")
    serials = re.findall(r"serial=([^&\"]+)", listed.text)
    assert len(serials) == 2 and serials[0] != serials[1] and states(centre, RemitAssessment) == ["未入账", "未入账"]
    assert "不存在" in admin.get("/remit?unit=9999999").text
    older = post(admin, "/remit/delete", {"unit": unit, "serial": serials[1]})
    assert older.status_code == 303 and "不是本单位最新的核定" in unescape(admin.get(f"/remit?unit={unit}").text)
    assert states(centre, RemitAssessment) == ["未入账", "未入账"]
    assert "确认删除" in admin.get(f"/remit/delete?unit={unit}&serial={serials[0]}").text
    latest = post(admin, "/remit/delete", {"unit": unit, "serial": serials[0]})
    assert latest.status_code == 303 and states(centre, RemitAssessment) == ["未入账", "已删除"]  # 2024-08 stays, 2024-09 deleted
    assert "缴至年月恢复为" in admin.get(f"/remit?unit={unit}").text


def test_counter_referrals_with_what_to_bring(centre: Centre) -> None:
    client = logged_in(centre, "查看员甲")
    home = client.get("/").text
    assert re.search(r'<div class="n">2</div><div class="l">隔离区文件', home)  # the unreadable file and the link
    run_row = home.split("2024-09-05")[1].split("</tr>")[0]
    assert [int(n) for n in re.findall(r'<td class="num">(\d+)</td>', run_row)][-3:-1] == [1, 0]  # one row referred, none waiting
    page = client.get("/referrals")
    assert page.status_code == 200 and "COUNTER_CROSS_YEAR" in page.text and "补缴说明" in page.text and "补缴.xlsx" in page.text


def test_quarantine_lists_why_and_an_admin_puts_a_file_back_without_overwriting(centre: Centre) -> None:
    unit0, unit1 = centre.unit(0).unit_account, centre.unit(1).unit_account
    viewer, admin = logged_in(centre, "查看员甲"), logged_in(centre, "管理员甲")
    page = viewer.get("/quarantine")
    assert "坏文件.xlsx" in page.text and "链接.xlsx" in page.text and "符号链接" in page.text and "重新处理</button>" not in page.text
    assert "重新处理</button>" in admin.get("/quarantine").text
    quarantined = next((centre.app.home.quarantine / unit0).glob("*_坏文件.xlsx"))
    assert post(viewer, "/quarantine/requeue", {"folder": unit0, "name": quarantined.name}).status_code == 403 and quarantined.exists()

    link = next((centre.app.home.quarantine / unit1).glob("*链接.xlsx"))
    for folder, name in ((unit1, link.name), ("..", "var"), (unit0, "../../var/gjj.db"), (unit0, quarantined.name + ".reason.json")):
        assert post(admin, "/quarantine/requeue", {"folder": folder, "name": name}).status_code == 303
    assert link.is_symlink() and not (centre.inbox / unit1 / "链接.xlsx").exists()

    waiting = centre.inbox / unit0 / "坏文件.xlsx"
    waiting.write_bytes(b"a newer upload with the same name")
    refused = post(admin, "/quarantine/requeue", {"folder": unit0, "name": quarantined.name})
    assert refused.status_code == 303 and "已有同名文件" in admin.get("/quarantine").text
    assert waiting.read_bytes() == b"a newer upload with the same name" and quarantined.exists()
    waiting.unlink()
    moved = post(admin, "/quarantine/requeue", {"folder": unit0, "name": quarantined.name})
    assert moved.status_code == 303 and not quarantined.exists() and waiting.read_bytes() == b"this is not a workbook"
    assert f'value="{quarantined.name}"' not in admin.get("/quarantine").text
    log = admin.get("/audit").text
    assert "quarantine requeue" in log and "已放回" in log and "未放回" in log
