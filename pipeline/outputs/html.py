"""The HTML templates (``outputs/templates``) of the PDFs and the staff pages, and their one Jinja environment.

Every template extends ``base.html``; the staff pages do so through ``staff_page.html``, which holds
their Content-Security-Policy and shared styles.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import jinja2

TEMPLATES = Path(__file__).resolve().parent / "templates"


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    """Autoescaped (every text may come from a unit's file); a missing value is an error, never blank."""
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
