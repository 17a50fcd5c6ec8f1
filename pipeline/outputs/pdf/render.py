"""PDF outputs: the money slips (补缴凭条, 汇缴凭条), the confirmation (确认单), the printable rejection report,
and the review's 受理回执 and 审批结果通知单.

:mod:`pipeline.outputs.pdf.context` says what each document shows; :class:`PdfRenderer` lays it out
with WeasyPrint in the renderer's own font subsets (:mod:`pipeline.outputs.pdf.fonts` says why
subsets, and how they grow). This is the one module that uses WeasyPrint (≈40 MB; imported through
:mod:`pipeline.outputs.pdf.weasy`, which skips its slow library search): the output
writer imports it when the first PDF is due, or in the :class:`~pipeline.outputs.writer.PdfWorker`
it forks for a big file.

A renderer is not thread-safe: use one per worker.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import weakref
from pathlib import Path

from pipeline.config import CentreConfig
from pipeline.errors import TITLES
from pipeline.model import BatchResult, BatchStatus, RowStatus
from pipeline.money import DIGITS
from pipeline.outputs.html import TEMPLATES, environment
from pipeline.outputs.pdf.context import PdfDocument, report_document, slip_document
from pipeline.outputs.pdf.fonts import FontCache, FontFace, FontFileCache, find_cjk_face
from pipeline.outputs.pdf.weasy import CSS, HTML, FontConfiguration, font_configuration

BASE_CHARS = frozenset(
    "".join(chr(code) for code in range(0x20, 0x7F))
    + DIGITS
    + "拾佰仟万亿元角分整"
    + "：；，、。（）！？“”—·•「」×…"
    + "".join(TITLES.values())
    + "".join(status.label for status in RowStatus)
    + "".join(status.label for status in BatchStatus)
)

#: A renderer's font files are in ``<temp>/gjj-pdf-<pid>-<random>``, removed when it is closed.
FOLDER_PREFIX = "gjj-pdf-"


def process_alive(pid: int) -> bool:
    """Whether process ``pid`` exists (another user's included)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def remove_orphan_folders(parent: Path | None = None) -> list[Path]:
    """Remove the font folders of renderers whose process is gone (killed: no finalizer ran); returns them.

    A ``gjj run`` killed mid-batch would otherwise leave ≈1.5 MB of font subsets in the temporary
    folder each time. Folders of a living process (or a pid now reused) are left alone.
    """
    removed = []
    for folder in Path(parent or tempfile.gettempdir()).glob(f"{FOLDER_PREFIX}*-*"):
        pid = folder.name[len(FOLDER_PREFIX) :].split("-", 1)[0]
        if pid.isdigit() and not process_alive(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


class PdfRenderer:
    """Renders a batch's PDFs; keeps its font subsets and font configuration between documents.

    ``face`` defaults to the system's Noto Sans CJK SC; ``prefill`` and ``prefill_after`` tune
    :class:`FontCache` (tests use a tiny prefill to stay fast).
    """

    def __init__(
        self,
        config: CentreConfig,
        face: FontFace | None = None,
        *,
        prefill: frozenset[str] | None = None,
        prefill_after: int = 2,
        font_cache: FontFileCache | None = None,
    ):
        self.config = config
        self._face = face
        self._prefill = prefill
        self._prefill_after = prefill_after
        self._font_cache = font_cache
        remove_orphan_folders()
        self._folder = Path(tempfile.mkdtemp(prefix=f"{FOLDER_PREFIX}{os.getpid()}-"))
        self._finalizer = weakref.finalize(self, shutil.rmtree, self._folder, ignore_errors=True)
        self._fonts: FontCache | None = None
        self._font_config: FontConfiguration | None = None
        self._stylesheet: CSS | None = None
        self._env = environment()
        self._css_text = (TEMPLATES / "pdf.css").read_text(encoding="utf-8")

    def __enter__(self) -> PdfRenderer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Remove the renderer's temporary font files (also done when it is garbage-collected).

        WeasyPrint's copies of the subsets are in that folder too (see :func:`font_configuration`).
        """
        self._finalizer()

    @property
    def fonts(self) -> FontCache:
        if self._fonts is None:
            base = BASE_CHARS | set(self._css_text) | set(self._fixed_text())
            self._fonts = FontCache(
                self._face or find_cjk_face(),
                self._folder,
                frozenset(base),
                self._prefill,
                self._prefill_after,
                self._font_cache,
            )
        return self._fonts

    def slip(self, result: BatchResult, path: Path) -> None:
        """补缴凭条 for a 补缴 batch, 汇缴凭条 for a 汇缴 batch; a 确认单 with the same header for any other kind."""
        self.render(slip_document(result, self.config), path)

    def report(self, result: BatchResult, path: Path) -> None:
        """The printable rejection list: file errors, then the row issues (the first ``REPORT_MAX_ISSUES``)."""
        self.render(report_document(result, self.config), path)

    def render(self, document: PdfDocument, path: Path) -> None:
        html = self._env.get_template(document.template).render(**document.context)
        stylesheet, font_config = self._fonts_for(html)
        HTML(string=html).write_pdf(path, stylesheets=[stylesheet], font_config=font_config)

    def warm(self) -> None:
        """Load the fonts and lay out a tiny document, so the next PDF costs only its own layout.

        WeasyPrint imports and initialises much of itself on the first document (≈0.5 s).
        """
        stylesheet, font_config = self._fonts_for(self._fixed_text())
        HTML(string="<p>公积金 0</p>").write_pdf(stylesheets=[stylesheet], font_config=font_config)

    def _fixed_text(self) -> str:
        """The text of the PDFs' templates, base included: every document needs its characters."""
        loader = self._env.loader
        assert loader is not None
        return "".join(loader.get_source(self._env, name)[0] for name in ("base.html", "slip.html", "slip_remit.html", "report.html", "receipt.html", "notice.html"))

    def _fonts_for(self, html: str) -> tuple[CSS, FontConfiguration]:
        """The stylesheet and font configuration of subsets that cover ``html``.

        A rebuilt subset gets a fresh FontConfiguration: one whose fontconfig already knows an
        older file of the same family could pick the old file.
        """
        if self.fonts.ensure(html) or self._stylesheet is None or self._font_config is None:
            self._font_config = font_configuration(self._folder)
            self._stylesheet = CSS(string=self._css_text + self.fonts.stylesheet(), font_config=self._font_config)
        return self._stylesheet, self._font_config
