"""What the console's handlers share: the :class:`Console` state, the templates and :func:`render`."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader
from starlette.requests import Request
from starlette.responses import HTMLResponse

from pipeline.app import App
from pipeline.logs import mask_id

TEMPLATES = Path(__file__).resolve().parent / "templates"


@dataclass
class Console:
    """What every handler needs: the installation, the templates, the idle timeout and the clock."""

    app: App
    idle_seconds: int
    templates: Environment
    clock: Callable[[], float] = field(default=time.time)


def templates() -> Environment:
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=True, trim_blocks=True, lstrip_blocks=True)
    env.filters["mask_id"] = mask_id
    return env


def console_of(request: Request) -> Console:
    return request.app.state.console


def render(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """A page from ``templates/``; the staff account and a CSRF token for its forms go with it."""
    token = request.scope["csrftoken"]() if "csrftoken" in request.scope else ""
    flash = request.session.pop("flash", None) if "session" in request.scope else None
    html = console_of(request).templates.get_template(template).render(request=request, csrftoken=token, flash=flash, **context)
    return HTMLResponse(html, status_code=status_code)




def flash(request: Request, text: str, *, error: bool = False) -> None:
    """A message for the next page shown (after the redirect that follows a POST)."""
    request.session["flash"] = {"text": text, "error": error}
