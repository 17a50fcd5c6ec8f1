"""WeasyPrint, imported without the slow search for its libraries (a speed trick measured in benchmarks/),
and its font configuration keeping its temporary files where the renderer removes them.

WeasyPrint opens gobject, pango, harfbuzz, fontconfig and pangoft2 trying several names for each,
the Windows and macOS names among the first. cffi looks up each name it cannot open with
``ctypes.util.find_library``, which on Linux runs ``ldconfig``, then gcc and ld: ≈0.27 s of
WeasyPrint's ≈0.65 s import, in every process that renders a PDF. The name that opens on Linux
(``libpango-1.0.so.0``) is opened directly, without the lookup, so the lookup answers "not found"
while WeasyPrint is imported. Where that is not enough (no library opens by such a name), WeasyPrint
is imported again the usual way.
"""

from __future__ import annotations

import ctypes.util
import sys
import tempfile
from pathlib import Path


def _not_found(name: str) -> None:
    return None


def _import_quickly() -> None:
    lookup = ctypes.util.find_library
    ctypes.util.find_library = _not_found
    try:
        import weasyprint  # noqa: F401
    except OSError:
        for name in [name for name in sys.modules if name == "weasyprint" or name.startswith("weasyprint.")]:
            del sys.modules[name]  # half imported: the next import starts over, with the lookup
    finally:
        ctypes.util.find_library = lookup


_import_quickly()

from weasyprint import CSS, HTML  # noqa: E402
from weasyprint.text.fonts import FontConfiguration  # noqa: E402

__all__ = ["CSS", "HTML", "FontConfiguration", "font_configuration"]


def font_configuration(folder: Path) -> FontConfiguration:
    """A WeasyPrint font configuration that copies the fonts of ``@font-face`` rules into ``folder``.

    WeasyPrint copies each such font into a temporary folder of its own, removed only when the
    configuration is garbage-collected: never in a process that leaves with ``os._exit`` (the
    forked PDF process, ``gjj`` itself), whose copies (up to 1.5 MB a subset) stayed in /tmp for
    good. In the renderer's folder they go with it, or with a killed process's (``remove_orphan_folders``).
    """
    configuration = FontConfiguration()
    configuration._folder = Path(tempfile.mkdtemp(prefix="weasyprint-", dir=folder))
    return configuration
