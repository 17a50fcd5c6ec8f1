"""Log-in, log-out, and the staff account behind every request.

The session cookie holds the account's name and when it was last seen; every request reads the
account again (a disabled one is logged out at once, a new role counts at once) and ends a session
idle for longer than the console's timeout. :func:`page` wraps every handler: no session → the
log-in page; a role too low → 403 with the attempt in the audit log. Handlers run in a worker
thread (the database calls block), with the POST form already read.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import wraps
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from pipeline.services import audit
from pipeline.services.staff import StaffView, authenticate, staff
from pipeline.web.base import console_of, render

VIEWER, REVIEWER, ADMIN = "viewer", "reviewer", "admin"
ROLE_LABELS = {VIEWER: "查看", REVIEWER: "审核", ADMIN: "管理"}

Handler = Callable[[Request, StaffView, FormData], Response]


def log_action(request: Request, who: str, action: str, target: str = "", detail: str = "") -> None:
    """One entry in the audit log, in a transaction of its own."""
    with console_of(request).app.sessions() as session, session.begin():
        audit.record(session, who, action, target, detail)


def current_staff(request: Request) -> StaffView | None:
    """The session's account, or None (no session, idle too long, account gone or disabled, or its
    password changed since the session began)."""
    name = request.session.get("staff")
    if not isinstance(name, str):
        return None
    console = console_of(request)
    now = console.clock()
    seen = request.session.get("seen")
    if not isinstance(seen, (int, float)) or now - seen > console.idle_seconds:
        request.session.clear()
        return None
    with console.app.sessions() as session:
        account = staff(session, name)
    since = request.session.get("since")
    if account is None or account.disabled or not isinstance(since, (int, float)) or account.password_changed_at.timestamp() > since:
        request.session.clear()
        return None
    request.session["seen"] = now
    return account


def page(role: str = VIEWER) -> Callable[[Handler], Callable[[Request], object]]:
    """A handler for staff holding ``role`` or higher; the role is checked here, on the server, every time."""

    def wrap(handler: Handler) -> Callable[[Request], object]:
        @wraps(handler)
        async def endpoint(request: Request) -> Response:
            form = await request.form(max_files=0, max_fields=50) if request.method == "POST" else FormData()
            return await run_in_threadpool(_guarded, request, role, handler, form)

        return endpoint

    return wrap


def _guarded(request: Request, role: str, handler: Handler, form: FormData) -> Response:
    account = current_staff(request)
    if account is None:
        query = f"?{request.url.query}" if request.url.query else ""
        target = f"{request.url.path}{query}" if request.method == "GET" else "/"
        return RedirectResponse(f"/login?next={quote(target)}", status_code=303)
    if not account.may(role):
        log_action(request, account.name, "denied", f"{request.method} {request.url.path}", f"role {account.role}, needs {role}")
        return render(request, "error.html", 403, staff=account, title="无权限", message=f"此操作需要「{ROLE_LABELS[role]}」及以上权限")
    return handler(request, account, form)


def _safe_next(target: str) -> str:
    """Only a path of this site: never ``//host`` or ``https://…`` (an open redirect)."""
    return target if target.startswith("/") and not target.startswith("//") and "\\" not in target else "/"


async def login_form(request: Request) -> Response:
    return render(request, "login.html", staff=None, next=_safe_next(request.query_params.get("next", "/")), error=None, name="")


async def login(request: Request) -> Response:
    form = await request.form(max_files=0, max_fields=10)
    name, password = str(form.get("name", "")).strip(), str(form.get("password", ""))
    target = _safe_next(str(form.get("next", "/")))
    return await run_in_threadpool(_login, request, name, password, target)


def _login(request: Request, name: str, password: str, target: str) -> Response:
    with console_of(request).app.sessions() as session, session.begin():
        outcome = authenticate(session, name, password)
        audit.record(session, name or "（空）", "login" if outcome.staff else "login failed", "", outcome.detail)
    if outcome.staff is None:
        return render(request, "login.html", 401, staff=None, next=target, error=outcome.refused, name=name)
    request.session.clear()
    now = console_of(request).clock()
    request.session.update({"staff": outcome.staff.name, "seen": now, "since": time.time()})
    return RedirectResponse(target, status_code=303)


@page(VIEWER)
def logout(request: Request, account: StaffView, form: FormData) -> Response:
    log_action(request, account.name, "logout")
    request.session.clear()
    return RedirectResponse("/login", status_code=303)


ROUTES = [
    Route("/login", login_form, methods=["GET"]),
    Route("/login", login, methods=["POST"]),
    Route("/logout", logout, methods=["POST"]),
]
