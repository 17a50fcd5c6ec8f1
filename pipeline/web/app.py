"""The console's ASGI application: routes, templates, and the layers every request goes through.

From the outside in: :class:`SecurityHeaders` (nosniff, frames from this site only, a strict CSP,
no caching), Starlette's signed session cookie (HttpOnly, SameSite=Lax, Secure with
``secure_cookies``), asgi-csrf (a double-submit token on every POST, whatever the path: a POST
without the cookie and the matching ``csrftoken`` field or header is answered 403 before any
handler runs; a signed-in staff member's refused POST goes to the audit log), then the routes,
each of which checks the staff account's role itself (:func:`pipeline.web.auth.page`).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import anyio.to_thread
from asgi_csrf import asgi_csrf
from starlette.applications import Starlette
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pipeline.app import App
from pipeline.services import audit
from pipeline.web import auth, pages, queries
from pipeline.web.base import TEMPLATES, Console, render, templates

SESSION_COOKIE = "gjj_session"
CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self'; object-src 'self'; frame-src 'self'; "
    "frame-ancestors 'self'; form-action 'self'; base-uri 'none'"
)


class SecurityHeaders:
    """Headers every response carries unless it set its own (a document sets its own CSP)."""

    HEADERS = {
        b"x-content-type-options": b"nosniff",
        b"x-frame-options": b"SAMEORIGIN",
        b"referrer-policy": b"same-origin",
        b"content-security-policy": CSP.encode(),
        b"cache-control": b"no-store",
    }

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers") or [])
                present = {key.lower() for key, _ in headers}
                headers += [(key, value) for key, value in self.HEADERS.items() if key not in present]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


class _EveryPath:
    """asgi-csrf's ``always_protect``: every path, so a POST without any cookie is refused too."""

    def __contains__(self, path: object) -> bool:
        return True


LOGGER = logging.getLogger(__name__)


def _csrf_refusal(console: Console) -> Callable[[Scope, Send, object], Awaitable[None]]:
    """asgi-csrf's answer to a refused POST: 403, and an audit entry when a staff member was signed in.

    A signed-in browser whose form is refused is worth a look (a form left open past its
    session, or a page elsewhere posting with the staff member's cookies); a POST without a
    session is anyone's, so it is only logged, never written to the database.
    """

    async def refuse(scope: Scope, send: Send, reason: object) -> None:
        staff = scope.get("session", {}).get("staff")
        client = scope.get("client") or ("?", 0)
        where = f"{scope.get('method', 'POST')} {scope.get('path', '')}"
        LOGGER.warning("CSRF refused: %s from %s (%s), session of %s", where, client[0], reason, staff or "nobody")
        if isinstance(staff, str):
            try:
                await anyio.to_thread.run_sync(_audit_refusal, console, staff, where, f"CSRF 校验失败（{reason}），来源 {client[0]}")
            except Exception:  # the database is down: the refusal stands, the log has it
                LOGGER.exception("the CSRF refusal of %s could not be written to the audit log", staff)
        body = "请求无效：表单已过期或来源不明（CSRF 校验失败）。请返回、刷新页面后重试。".encode()
        await send({"type": "http.response.start", "status": 403, "headers": [(b"content-type", b"text/plain; charset=utf-8")]})
        await send({"type": "http.response.body", "body": body})

    return refuse


def _audit_refusal(console: Console, staff: str, target: str, detail: str) -> None:
    with console.app.sessions() as session, session.begin():
        audit.record(session, staff, "csrf refused", target, detail)


def _derived(secret_key: str, purpose: str) -> str:
    """One secret per use (session, CSRF) from the installation's key."""
    return hmac.new(secret_key.encode(), purpose.encode(), hashlib.sha256).hexdigest()


async def _stylesheet(request: Request) -> Response:
    return Response((TEMPLATES / "console.css").read_bytes(), media_type="text/css; charset=utf-8", headers={"cache-control": "private, max-age=3600"})


def routes() -> list[Route]:
    return [Route("/static/console.css", _stylesheet), *auth.ROUTES, *pages.ROUTES, *queries.ROUTES]


async def _not_found(request: Request, exc: Exception) -> Response:
    return render(request, "error.html", 404, staff=None, title="未找到", message="页面或材料不存在") if "session" in request.scope else Response("未找到", 404)


def create_app(app: App, secret_key: str, *, secure_cookies: bool = False, idle_minutes: int = 30) -> ASGIApp:
    """The console over ``app``'s home and database; ``secret_key`` signs the session and CSRF cookies."""
    if len(secret_key) < 16:
        raise ValueError("the console's secret key must be at least 16 characters")
    web = Starlette(routes=routes(), exception_handlers={404: _not_found})
    console = web.state.console = Console(app, idle_minutes * 60, templates())
    protected = asgi_csrf(
        web, signing_secret=_derived(secret_key, "csrf"), always_protect=_EveryPath(), cookie_secure=secure_cookies, send_csrf_failed=_csrf_refusal(console)
    )
    # The session outside the CSRF check: a refusal knows whose session it was.
    session = SessionMiddleware(
        protected,
        secret_key=_derived(secret_key, "session"),
        session_cookie=SESSION_COOKIE,
        max_age=idle_minutes * 60,
        same_site="lax",
        https_only=secure_cookies,
    )
    return SecurityHeaders(session)


def console_state(asgi: ASGIApp) -> Console:
    """The :class:`Console` inside an application made by :func:`create_app` (tests set its clock)."""
    inner: Any = asgi
    while not isinstance(inner, Starlette):
        inner = getattr(inner, "app", None) or getattr(inner, "__wrapped__")
    return inner.state.console


def serve(app: App, secret_key: str, host: str = "127.0.0.1", port: int = 8400, *, secure_cookies: bool = False, idle_minutes: int = 30) -> None:
    """Serve the console with uvicorn until stopped (Ctrl-C or SIGTERM)."""
    import uvicorn

    uvicorn.run(create_app(app, secret_key, secure_cookies=secure_cookies, idle_minutes=idle_minutes), host=host, port=port, log_level="info")
