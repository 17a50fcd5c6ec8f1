"""The console driven in a real headless Chromium (Playwright, the system's browser): log in, 待审核
with a scanned image and a PDF, approve one request, return another with a reason, the new name in
缴存人查询 and the decisions in 操作日志; an admin deletes a back-pay record and re-queues a
quarantined file. uvicorn serves the console on a free port of 127.0.0.1 in a thread; Chromium is
started once for the module. Screenshots go to ``tests/artifacts/``; with
``GJJ_UPDATE_SCREENSHOT=1`` also to ``docs/`` for the README.
"""

from __future__ import annotations

import io
import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from PIL import Image, ImageDraw, ImageFont

from pipeline.web.app import create_app
from tests.conftest import Centre, _free_port, wait_until
from tests.web_support import NEW_NAME, PASSWORD, SECRET, add_queries_data, console_centre

playwright = pytest.importorskip("playwright.sync_api")

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
DOCS = Path(__file__).resolve().parent.parent / "docs"
FONT = "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"


def sample_card(title: str, colour: str) -> bytes:
    """A JPEG the size of a scanned card with a title, so the screenshots show a scan, not a dot."""
    image = Image.new("RGB", (428, 270), "#f7f4ea")
    draw = ImageDraw.Draw(image)
    draw.rectangle((8, 8, 419, 261), outline=colour, width=4)
    font = ImageFont.truetype(FONT, 26) if Path(FONT).exists() else ImageFont.load_default()
    draw.text((28, 24), title, fill=colour, font=font)
    for line in range(4):
        draw.rectangle((28, 90 + line * 36, 300 - line * 30, 104 + line * 36), fill="#c9c3b3")
    out = io.BytesIO()
    image.save(out, "JPEG", quality=85)
    return out.getvalue()


def sample_pdf(lines: list[str]) -> bytes:
    """A one-page PDF with a few lines of Latin text (Helvetica, no font embedded), for the screenshot."""
    text = " ".join(f"BT /F1 {22 if i == 0 else 14} Tf 72 {770 - 34 * i} Td ({line}) Tj ET" for i, line in enumerate(lines)).encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(text), text),
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


class Server:
    """uvicorn serving the console in a thread, on 127.0.0.1 and a free port."""

    def __init__(self, asgi: Any):
        self.port = _free_port()
        self.server = uvicorn.Server(uvicorn.Config(asgi, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off", ws="none"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Server:
        self.thread.start()
        wait_until(lambda: self.server.started, "uvicorn to start")
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture(scope="module")
def centre(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Centre]:
    root = tmp_path_factory.mktemp("web-browser")
    centre = console_centre(root / "home", f"sqlite:///{root / 'gjj.db'}", scanned=lambda account: {
        f"{account}_身份证.jpg": sample_card("居民身份证（样例）", "#0b57d0"),
        f"{account}_证明.pdf": sample_pdf(["Certificate of name change (sample)", f"Account {account}", "Issued by the household registration office"]),
    })
    add_queries_data(centre, root)
    yield centre
    centre.app.close()


@pytest.fixture(scope="module")
def server(centre: Centre) -> Iterator[Server]:
    with Server(create_app(centre.app, SECRET)) as running:
        yield running


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.skip("the system's Chromium (/usr/bin/chromium) is not installed")
    with playwright.sync_playwright() as driver:
        launched = driver.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu", "--headless=new"])  # new headless: the PDF viewer renders
        yield launched
        launched.close()


def screenshot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    page.screenshot(path=str(path), full_page=True)
    if os.environ.get("GJJ_UPDATE_SCREENSHOT") == "1":
        DOCS.mkdir(exist_ok=True)
        shutil.copyfile(path, DOCS / name)


def log_in(browser: Any, server: Server, name: str) -> Any:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    page = context.new_page()
    page.goto(server.url + "/reviews")
    assert "/login" in page.url
    page.fill("#name", name)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(server.url + "/reviews")
    return page


def test_a_reviewer_works_through_the_queue(centre: Centre, server: Server, browser: Any) -> None:
    page = log_in(browser, server, "审核员甲")
    page.click("header nav >> text=首页")
    assert page.locator("h2", has_text="最近的运行").is_visible()
    screenshot(page, "console-home.png")
    page.click("header nav >> text=待审核")
    page.click("table >> text=1 >> nth=0")
    page.wait_for_url(server.url + "/reviews/1")
    image = page.locator(".scan img")
    assert image.count() == 1
    wait_until(lambda: page.evaluate("document.querySelector('.scan img').complete"), "the scan to load")
    assert page.evaluate("document.querySelector('.scan img').naturalWidth") > 0
    frame = page.locator(".scan iframe")
    assert frame.count() == 1
    pdf = page.request.get(server.url + (frame.get_attribute("src") or "").split("#")[0])
    assert pdf.status == 200 and pdf.headers["content-type"] == "application/pdf" and pdf.body().startswith(b"%PDF")
    page.wait_for_load_state("networkidle")
    screenshot(page, "console-review.png")

    page.click("button:has-text('通过')")
    page.wait_for_url(server.url + "/reviews/1")
    assert "审核通过" in page.locator(".flash").inner_text()
    page.goto(server.url + "/reviews/2")
    page.fill("#reason", "证明材料不清晰，请重新扫描")
    page.click("button:has-text('退回')")
    assert "退回" in page.locator(".flash").inner_text()

    member = centre.members_of()[0]
    page.click("header nav >> text=缴存人查询")
    page.fill("#q", member.member_account)
    page.click("button:has-text('查询')")
    assert NEW_NAME in page.locator("table").inner_text() and member.id_number not in page.content()
    screenshot(page, "console-members.png")
    page.click("header nav >> text=操作日志")
    log = page.locator("#audit").inner_text()
    assert "审核：通过" in log and "审核：退回" in log and "审核员甲" in log and "证明材料不清晰" in log
    screenshot(page, "console-audit.png")
    page.context.close()


def test_an_admin_deletes_back_pay_and_requeues_a_quarantined_file(centre: Centre, server: Server, browser: Any) -> None:
    page = log_in(browser, server, "管理员甲")
    unit = centre.unit(0).unit_account
    page.click("header nav >> text=补缴查询")
    page.fill("#unit", unit)
    page.click("button:has-text('查询')")
    screenshot(page, "console-backpay.png")
    page.click("table >> text=删除")
    assert "确认删除" in page.content()
    page.click("button:has-text('确认删除')")
    assert "已删除 1 条补缴记录" in page.locator(".flash").inner_text()
    assert "没有已录入未分配的补缴记录" in page.content()

    page.click("header nav >> text=隔离区")
    assert "坏文件.xlsx" in page.content()
    screenshot(page, "console-quarantine.png")
    page.click("button:has-text('重新处理')")
    assert "已将" in page.locator(".flash").inner_text()
    assert (centre.inbox / unit / "坏文件.xlsx").read_bytes() == b"this is not a workbook"
    page.context.close()
