"""What the web console's tests share: a centre with staff accounts and two review requests with
scans, a client logged in as one of them, and the CSRF token its forms carry."""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

from starlette.testclient import TestClient

from pipeline.services.demo import drop_remit_demo_files
from pipeline.services.fakes import fake_id, fake_scan
from pipeline.services.staff import add_staff
from pipeline.web.app import create_app
from tests.conftest import BUSINESS_DATE, Centre, make_centre
from tests.factories import backpay_file, bundle_file, identity, row_for, scans_for

SECRET = "test secret key of the console, long enough"
PASSWORD = "correct horse battery"
STAFF = {"管理员甲": "admin", "审核员甲": "reviewer", "查看员甲": "viewer"}
NEW_NAME = "王小明"
NEW_ID = fake_id(date(1990, 3, 7), 777)


def console_centre(home: Path, db_url: str, scanned: Callable[[str], dict[str, bytes]] | None = None) -> Centre:
    """Staff accounts of each role; request 1 (姓名 → 王小明, a JPEG and a PDF) and request 2
    (证件号码, a PNG and a JPEG) of the first unit, waiting for review; ``scans`` replaces any of
    the scans by name: ``scanned(first member's 个人账号)`` gives ``{<个人账号>_<kind>.<ext>: bytes}``."""
    centre = make_centre(home, db_url)
    with centre.app.sessions() as session, session.begin():
        for name, role in STAFF.items():
            assert add_staff(session, name, role, PASSWORD) is None
    first, second = centre.members_of()[:2]
    rows: list[list[Any]] = [[1, *identity(first), "姓名", NEW_NAME, "身份证姓名变更"], [2, *identity(second), "证件号码", NEW_ID, "证件号码有误"]]
    scans = scans_for(first.member_account) | {f"{second.member_account}_身份证.png": fake_scan("png"), f"{second.member_account}_证明.jpg": fake_scan("jpg")}
    bundle_file(centre.inbox / centre.unit().unit_account, "缴存人信息变更", rows, scans | (scanned(first.member_account) if scanned else {}))
    outcome = centre.run().outcomes[0]
    assert outcome.result.totals()["pending_review"] == 2
    return centre


def client_for(centre: Centre, base_url: str = "http://testserver", **options: Any) -> TestClient:
    return TestClient(create_app(centre.app, SECRET, **options), base_url=base_url, follow_redirects=False)


def login(client: TestClient, name: str, password: str = PASSWORD) -> Any:
    client.get("/login")
    return client.post("/login", data={"name": name, "password": password, "csrftoken": client.cookies["csrftoken"], "next": "/"})


def logged_in(centre: Centre, name: str, **options: Any) -> TestClient:
    client = client_for(centre, **options)
    response = login(client, name)
    assert response.status_code == 303, response.text
    return client


def post(client: TestClient, path: str, data: dict[str, str]) -> Any:
    """A form POST as the console's own pages send it: with the CSRF token of the client's cookie."""
    return client.post(path, data={**data, "csrftoken": client.cookies["csrftoken"]})


def add_queries_data(centre: Centre, root: Path) -> None:
    """Unit 0's back-pay (one row referred to the counter, cross-year), unit 1's 汇缴 of 2024-08 and
    2024-09, an unreadable file and a link, all processed in a run of 2024-09-05."""
    unit0, unit1 = centre.unit(0).unit_account, centre.unit(1).unit_account
    members = centre.members_of(0)
    backpay_file(centre.inbox / unit0, [row_for(members[2], 1), row_for(members[3], 2, start="2023-11", end="2024-02")])
    with centre.app.sessions() as session:
        drop_remit_demo_files(session, centre.app.config, centre.inbox, unit1, BUSINESS_DATE)
    (centre.inbox / unit0 / "坏文件.xlsx").write_bytes(b"this is not a workbook")
    outside = root / "outside.xlsx"
    outside.write_bytes(b"secret")
    os.symlink(outside, centre.inbox / unit1 / "链接.xlsx")
    centre.app.run(date(2024, 9, 5))
