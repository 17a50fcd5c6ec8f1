"""What the web console's tests share: a centre with staff accounts and two review requests with
scans, a client logged in as one of them, and the CSRF token its forms carry."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

from starlette.testclient import TestClient

from pipeline.services.fakes import fake_id, fake_scan
from pipeline.services.staff import add_staff
from pipeline.web.app import create_app
from tests.conftest import Centre, make_centre
from tests.factories import bundle_file, identity, scans_for

SECRET = "test secret key of the console, long enough"
PASSWORD = "correct horse battery"
STAFF = {"管理员甲": "admin", "审核员甲": "reviewer", "查看员甲": "viewer"}
NEW_NAME = "王小明"
NEW_ID = fake_id(date(1990, 3, 7), 777)


def console_centre(home: Path, db_url: str) -> Centre:
    """Staff accounts of each role; request 1 (姓名 → 王小明, a JPEG and a PDF) and request 2
    (证件号码, a PNG and a JPEG) of the first unit, waiting for review."""
    centre = make_centre(home, db_url)
    with centre.app.sessions() as session, session.begin():
        for name, role in STAFF.items():
            assert add_staff(session, name, role, PASSWORD) is None
    first, second = centre.members_of()[:2]
    rows: list[list[Any]] = [[1, *identity(first), "姓名", NEW_NAME, "身份证姓名变更"], [2, *identity(second), "证件号码", NEW_ID, "证件号码有误"]]
    scans = scans_for(first.member_account) | {f"{second.member_account}_身份证.png": fake_scan("png"), f"{second.member_account}_证明.jpg": fake_scan("jpg")}
    bundle_file(centre.inbox / centre.unit().unit_account, "缴存人信息变更", rows, scans)
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
