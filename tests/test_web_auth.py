"""The console against hostile requests (httpx through Starlette's TestClient): no session, forged
or missing CSRF tokens, a viewer deciding, path tricks for documents, guessing passwords, a disabled
account, HTML in a unit's data; and the accounts' commands. SQLite unless the database matters."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import httpx2 as httpx
import pytest
import sqlalchemy
from typer.testing import CliRunner

from pipeline.app import open_app
from pipeline.cli import app as cli
from pipeline.services import audit
from pipeline.services.documents import request_documents
from pipeline.services.staff import LOCK_AFTER, add_staff, authenticate, disable_staff, set_password
from pipeline.store.console_tables import StaffAccount
from pipeline.store.tables import ReviewRequest
from pipeline.web.app import console_state, routes
from tests.conftest import Centre, _free_port, wait_until
from tests.factories import kind_file
from tests.web_support import PASSWORD, client_for, console_centre, logged_in, login, post

runner = CliRunner()
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def centre(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Centre]:
    root = tmp_path_factory.mktemp("web-auth")
    centre = console_centre(root / "home", f"sqlite:///{root / 'gjj.db'}")
    yield centre
    centre.app.close()


def states(centre: Centre) -> list[str]:
    with centre.app.sessions() as session:
        return list(session.scalars(sqlalchemy.select(ReviewRequest.state).order_by(ReviewRequest.id)))


def test_without_a_session_every_page_is_the_log_in_page(centre: Centre) -> None:
    client = client_for(centre)
    for path in ("/", "/reviews", "/reviews/1", "/members?q=1", "/audit", "/documents/" + "0" * 64):
        response = client.get(path)
        assert response.status_code == 303 and response.headers["location"].startswith("/login?next="), path
    page = client.get("/login")
    assert page.status_code == 200 and "工作人员登录" in page.text
    assert client.get("/members?q=1").headers["location"] == "/login?next=/members%3Fq%3D1"
    assert client.post("/reviews/1/decide", data={"decision": "approve"}).status_code == 403  # no cookie at all: refused by CSRF
    assert states(centre) == ["待审核", "待审核"]


def test_log_in_sets_a_signed_http_only_lax_cookie_secure_over_tls(centre: Centre) -> None:
    client = client_for(centre)
    response = login(client, "查看员甲")
    assert response.status_code == 303 and response.headers["location"] == "/"
    cookie = response.headers["set-cookie"].lower()
    assert "gjj_session=" in cookie and "httponly" in cookie and "samesite=lax" in cookie and "secure" not in cookie
    assert "查看员甲" in client.get("/").text
    secure = client_for(centre, base_url="https://testserver", secure_cookies=True)
    form = secure.get("/login")
    assert "secure" in form.headers["set-cookie"].lower()  # the CSRF cookie
    tls = login(secure, "查看员甲")
    assert tls.status_code == 303 and "secure" in tls.headers["set-cookie"].lower()


def test_a_log_in_may_only_go_on_to_a_path_of_this_site(centre: Centre) -> None:
    client = client_for(centre)
    client.get("/login")
    response = client.post("/login", data={"name": "查看员甲", "password": PASSWORD, "csrftoken": client.cookies["csrftoken"], "next": "//evil.example/x"})
    assert response.status_code == 303 and response.headers["location"] == "/"


def test_a_post_without_or_with_a_forged_csrf_token_is_refused_and_changes_nothing(centre: Centre) -> None:
    client = logged_in(centre, "审核员甲")
    missing = client.post("/reviews/1/decide", data={"decision": "approve"})
    forged = client.post("/reviews/1/decide", data={"decision": "approve", "csrftoken": "forged"})
    other = client_for(centre)
    other.get("/login")
    borrowed = client.post("/reviews/1/decide", data={"decision": "approve", "csrftoken": other.cookies["csrftoken"]})
    as_json = client.post("/reviews/1/decide", json={"decision": "approve"})
    assert [r.status_code for r in (missing, forged, borrowed, as_json)] == [403, 403, 403, 403]
    assert "CSRF" in forged.text
    assert states(centre) == ["待审核", "待审核"]


def _csrf_refusals(centre: Centre) -> list[tuple[str, str, str]]:
    with centre.app.sessions() as session:
        return [(e.staff, e.target, e.detail) for e in audit.entries(session, limit=10_000) if e.action == "csrf refused"]


def test_a_signed_in_staff_members_refused_post_is_in_the_audit_log_an_anonymous_one_only_in_the_log(
    centre: Centre, caplog: pytest.LogCaptureFixture
) -> None:
    before = _csrf_refusals(centre)
    signed_in = logged_in(centre, "审核员甲")
    anonymous = client_for(centre)
    anonymous.get("/login")
    refused = [
        signed_in.post("/reviews/2/decide", data={"decision": "approve", "csrftoken": "forged"}),
        anonymous.post("/reviews/2/decide", data={"decision": "approve", "csrftoken": "forged"}),
    ]
    assert [r.status_code for r in refused] == [403, 403]
    new = _csrf_refusals(centre)[: len(_csrf_refusals(centre)) - len(before)]
    assert [(staff, target) for staff, target, _ in new] == [("审核员甲", "POST /reviews/2/decide")]
    assert new[0][2].startswith("CSRF 校验失败（") and "来源" in new[0][2]
    assert sum("CSRF refused: POST /reviews/2/decide" in record.getMessage() for record in caplog.records) == 2
    assert states(centre) == ["待审核", "待审核"]


def test_a_viewer_may_read_but_not_decide_nor_see_the_scans(centre: Centre) -> None:
    client = logged_in(centre, "查看员甲")
    page = client.get("/reviews/1")
    assert page.status_code == 200 and "王小明" in page.text and "/documents/" not in page.text and "/decide" not in page.text
    member = centre.members_of()[0]
    assert member.id_number not in page.text and member.id_number[:6] + "********" + member.id_number[-4:] in page.text  # masked for a viewer
    refused = post(client, "/reviews/1/decide", {"decision": "approve"})
    assert refused.status_code == 403 and "无权限" in refused.text
    with centre.app.sessions() as session:
        sha = request_documents(session, centre.app.home.documents, 1)[0].sha256
    assert client.get(f"/documents/{sha}").status_code == 403
    assert states(centre) == ["待审核", "待审核"]
    assert '<td title="denied">无权限被拒</td>' in logged_in(centre, "管理员甲").get("/audit").text


def test_every_post_but_log_in_and_out_is_refused_to_a_viewer(centre: Centre) -> None:
    client = logged_in(centre, "查看员甲")
    posts = [route.path for route in routes() if "POST" in (route.methods or ())]
    assert {"/reviews/{request_id:int}/decide", "/backpay/delete", "/remit/delete", "/quarantine/requeue"} <= set(posts)
    for path in posts:
        if path in ("/login", "/logout"):
            continue
        response = post(client, path.replace("{request_id:int}", "1"), {"decision": "approve", "unit": centre.unit().unit_account, "serial": "1", "folder": "x", "name": "y"})
        assert response.status_code == 403, path
    assert states(centre) == ["待审核", "待审核"]


def test_documents_only_by_the_content_id_of_a_stored_scan(centre: Centre) -> None:
    client = logged_in(centre, "审核员甲")
    with centre.app.sessions() as session:
        documents = request_documents(session, centre.app.home.documents, 1)
        batch_sha = session.execute(sqlalchemy.text("SELECT sha256 FROM batches")).scalar_one()  # the zip's own content id
    for document in documents:
        response = client.get(f"/documents/{document.sha256}")
        assert response.status_code == 200 and response.content == document.path.read_bytes()
        assert response.headers["content-type"] == document.content_type
        assert response.headers["content-disposition"].startswith("inline;")
        assert response.headers["x-content-type-options"] == "nosniff"
    (centre.app.home.documents / batch_sha[:2]).mkdir(exist_ok=True)
    (centre.app.home.documents / batch_sha[:2] / batch_sha).write_bytes(b"<script>alert(1)</script>")  # a file there that is not a stored scan
    tricks = [batch_sha, "../../var/gjj.db", "..%2F..%2Fvar%2Fgjj.db", documents[0].sha256.upper(), documents[0].sha256[:63], documents[0].sha256 + "/..", hashlib.sha256(b"x").hexdigest()]
    for trick in tricks:
        response = client.get(f"/documents/{trick}")
        assert response.status_code == 404, trick
        assert "alert" not in response.text


def test_wrong_passwords_lock_the_account_for_15_minutes(db_url: str, tmp_path: Path) -> None:
    app = open_app(tmp_path / "home", db_url=db_url)
    now = datetime(2024, 8, 5, 9, 0)
    with app.sessions() as session, session.begin():
        assert add_staff(session, "张三", "reviewer", PASSWORD) is None
    outcomes = []
    for attempt in range(LOCK_AFTER + 1):
        with app.sessions() as session, session.begin():
            outcomes.append(authenticate(session, "张三", "wrong password", now + timedelta(seconds=attempt)))
    with app.sessions() as session, session.begin():
        right_but_locked = authenticate(session, "张三", PASSWORD, now + timedelta(minutes=14))
    with app.sessions() as session, session.begin():
        later = authenticate(session, "张三", PASSWORD, now + timedelta(minutes=16))
    app.close()
    assert [o.refused for o in outcomes[: LOCK_AFTER - 1]] == ["账号或密码错误"] * (LOCK_AFTER - 1)
    assert "已锁定" in (outcomes[LOCK_AFTER - 1].refused or "") and "已锁定" in (outcomes[LOCK_AFTER].refused or "")
    assert right_but_locked.staff is None and "已锁定" in (right_but_locked.refused or "")
    assert later.staff is not None and later.staff.role == "reviewer"


def test_the_sixth_wrong_password_in_the_browser_finds_the_account_locked(centre: Centre) -> None:
    with centre.app.sessions() as session, session.begin():
        assert add_staff(session, "猜密码", "admin", PASSWORD) is None
    client = client_for(centre)
    answers = [login(client, "猜密码", f"guess {n}") for n in range(LOCK_AFTER + 1)]
    right = login(client, "猜密码", PASSWORD)
    assert [a.status_code for a in answers] == [401] * (LOCK_AFTER + 1)
    assert "已锁定" in answers[-1].text and "已锁定" in right.text and right.status_code == 401
    with centre.app.sessions() as session:
        account = session.scalars(sqlalchemy.select(StaffAccount).where(StaffAccount.name == "猜密码")).one()
        assert account.locked_until is not None


def test_a_disabled_account_cannot_log_in_and_its_session_ends(centre: Centre) -> None:
    with centre.app.sessions() as session, session.begin():
        assert add_staff(session, "离职员工", "admin", PASSWORD) is None
    client = logged_in(centre, "离职员工")
    assert client.get("/").status_code == 200
    with centre.app.sessions() as session, session.begin():
        assert disable_staff(session, "离职员工") is None
    assert client.get("/").status_code == 303
    refused = login(client_for(centre), "离职员工")
    assert refused.status_code == 401 and "停用" in refused.text


def test_a_new_password_ends_the_sessions_begun_before(centre: Centre) -> None:
    with centre.app.sessions() as session, session.begin():
        assert add_staff(session, "换密码", "viewer", PASSWORD) is None
    client = logged_in(centre, "换密码")
    with centre.app.sessions() as session, session.begin():
        assert set_password(session, "换密码", PASSWORD, now=datetime.now() + timedelta(seconds=2)) is None
    assert client.get("/").headers["location"].startswith("/login")


def test_an_idle_session_ends(centre: Centre) -> None:
    client = client_for(centre)
    login(client, "查看员甲")
    assert client.get("/").status_code == 200
    state = console_state(client.app)
    start = state.clock()
    state.clock = lambda: start + 29 * 60
    assert client.get("/").status_code == 200
    state.clock = lambda: start + 29 * 60 + 31 * 60
    assert client.get("/").headers["location"].startswith("/login")


def test_html_in_a_units_data_is_shown_escaped(centre: Centre) -> None:
    unit = centre.unit(1).unit_account
    kind_file(centre.inbox / unit, "缴存人信息变更", [[1, "x", "y", "z", "手机号码", "1", "r"]], name="<img src=x onerror=alert(1)>.xlsx")
    centre.run()
    member = centre.members_of(1)[0]
    with centre.app.engine.begin() as connection:
        connection.execute(sqlalchemy.text("UPDATE members SET name = :n WHERE member_account = :a"), {"n": "<script>alert(1)</script>", "a": member.member_account})
    client = logged_in(centre, "查看员甲")
    home = client.get("/").text
    run_link = home.split('href="/runs/')[1].split('"')[0]
    pages = [client.get(f"/runs/{run_link}").text, client.get(f"/members?q={member.member_account}").text, client.get(f"/members/{member.member_account}").text]
    assert "&lt;img src=x onerror=alert(1)&gt;.xlsx" in pages[0] and "<img src=x" not in pages[0]
    for page in pages[1:]:
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>" not in page


def test_staff_commands_and_serve_refuses_without_a_key(tmp_path: Path) -> None:
    env = {"GJJ_HOME": str(tmp_path), "GJJ_DB": f"sqlite:///{tmp_path / 'gjj.db'}", "GJJ_SECRET_KEY": ""}
    added = runner.invoke(cli, ["staff", "add", "张审核", "--role", "reviewer"], input=PASSWORD + "\n", env=env)
    again = runner.invoke(cli, ["staff", "add", "张审核", "--role", "viewer"], input=PASSWORD + "\n", env=env)
    short = runner.invoke(cli, ["staff", "add", "李查看"], input="short\n", env=env)
    bad_role = runner.invoke(cli, ["staff", "add", "王", "--role", "root"], input=PASSWORD + "\n", env=env)
    passwd = runner.invoke(cli, ["staff", "passwd", "张审核"], input="another good password\n", env=env)
    disabled = runner.invoke(cli, ["staff", "disable", "张审核"], env=env)
    unknown = runner.invoke(cli, ["staff", "disable", "无此人"], env=env)
    listed = runner.invoke(cli, ["staff", "list"], env={**env, "COLUMNS": "200"})
    no_key = runner.invoke(cli, ["serve"], env=env)
    assert added.exit_code == 0 and "已新增账号 张审核" in added.output
    assert again.exit_code == 1 and "已存在" in again.output
    assert short.exit_code == 1 and "至少" in short.output
    assert bad_role.exit_code == 2
    assert passwd.exit_code == 0 and disabled.exit_code == 0 and unknown.exit_code == 1
    assert "张审核" in listed.output and "已停用" in listed.output
    assert no_key.exit_code == 2 and "GJJ_SECRET_KEY" in no_key.output
    app = open_app(tmp_path, db_url=env["GJJ_DB"])
    with app.sessions() as session, session.begin():
        assert authenticate(session, "张审核", "another good password").refused == "账号已停用"
    app.close()


def test_gjj_serve_starts_uvicorn_on_127_0_0_1_with_a_key_file(tmp_path: Path) -> None:
    key = tmp_path / "console-key"
    key.write_text("k" * 48, encoding="utf-8")
    port = _free_port()
    env = {**os.environ, "GJJ_HOME": str(tmp_path / "home"), "GJJ_DB": f"sqlite:///{tmp_path / 'gjj.db'}", "PYTHONPATH": str(ROOT)}
    env.pop("GJJ_SECRET_KEY", None)
    command = [sys.executable, "-m", "pipeline", "serve", "--port", str(port), "--secret-key-file", str(key), "--tls"]
    server = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        def login_page() -> httpx.Response | None:
            try:
                return httpx.get(f"http://127.0.0.1:{port}/login", timeout=2)
            except httpx.TransportError:
                assert server.poll() is None, server.stdout.read() if server.stdout else ""
                return None

        page = wait_until(login_page, "gjj serve to answer", timeout=60)
        assert isinstance(page, httpx.Response) and page.status_code == 200 and "工作人员登录" in page.text
        assert "secure" in page.headers["set-cookie"].lower()  # --tls
    finally:
        server.terminate()
        server.communicate(timeout=30)
