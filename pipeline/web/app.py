"""The console's ASGI application: routes, templates, and the layers every request goes through.

From the outside in: :class:`SecurityHeaders` (nosniff, frames from this site only, a strict CSP,
no caching), asgi-csrf (a double-submit token on every POST, whatever the path: a POST without the
cookie and the matching ``csrftoken`` field or header is answered 403 before any handler runs),
Starlette's signed session cookie (HttpOnly, SameSite=Lax, Secure with ``secure_cookies``), then
the routes, each of which checks the staff account's role itself (:func:`pipeline.web.auth.page`).
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from asgi_csrf import asgi_csrf
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pipeline.app import App
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


async def _csrf_failed(scope: Scope, send: Send, message_id: object) -> None:
    body = "请求无效：表单已过期或来源不明（CSRF 校验失败）。请返回、刷新页面后重试。".encode()
    await send({"type": "http.response.start", "status": 403, "headers": [(b"content-type", b"text/plain; charset=utf-8")]})
    await send({"type": "http.response.body", "body": body})


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
    middleware = [
        Middleware(
            SessionMiddleware,
            secret_key=_derived(secret_key, "session"),
            session_cookie=SESSION_COOKIE,
            max_age=idle_minutes * 60,
            same_site="lax",
            https_only=secure_cookies,
        )
    ]
    web = Starlette(routes=routes(), middleware=middleware, exception_handlers={404: _not_found})
    web.state.console = Console(app, idle_minutes * 60, templates())
    protected = asgi_csrf(
        web, signing_secret=_derived(secret_key, "csrf"), always_protect=_EveryPath(), cookie_secure=secure_cookies, send_csrf_failed=_csrf_failed
    )
    return SecurityHeaders(protected)


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
