"""Render stage: a batch's outputs, written atomically to ``outbox/<单位账号>/<batch_id>/``.

Everything is first written into a hidden temporary folder beside the target and then renamed
into place, so a unit (or a crash) never sees half a result. Renderers only read the
:class:`~pipeline.model.BatchResult`; they decide nothing.
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path
from typing import TYPE_CHECKING

from pipeline.config import CentreConfig
from pipeline.errors import OutputFailed
from pipeline.memory import paused_gc
from pipeline.model import BatchResult, BatchStatus, RowStatus, Sheet
from pipeline.outputs.pdf.context import MONEY_KIND, PdfDocument, report_document, slip_document
from pipeline.outputs.pdf.review import review_documents
from pipeline.outputs.report_xlsx import write_report_xlsx
from pipeline.outputs.result_files import write_detail_csv, write_result_json

if TYPE_CHECKING:
    from pipeline.outputs.pdf.render import PdfRenderer


def needs_report(result: BatchResult) -> bool:
    """Anything the unit must act on: file errors, bad rows, rows sent to the counter."""
    return bool(result.file_issues) or result.has_status(RowStatus.REJECTED, RowStatus.COUNTER)


def _report_xlsx_due(result: BatchResult, sheet: Sheet | None) -> bool:
    """report.xlsx gives the unit its own sheet back annotated: for a read file that needs a report."""
    if result.status is BatchStatus.DUPLICATE or sheet is None or not result.rows:
        return False
    return needs_report(result)


def batch_folder(outbox: Path, unit_account: str, batch_id: str) -> Path:
    """Where a batch's outputs are: ``outbox/<单位账号>/<batch_id>/``."""
    return outbox / unit_account / batch_id


class OutputWriter:
    """Writes every output of a batch; one PDF renderer (and its font subset) per run."""

    def __init__(self, outbox: Path, config: CentreConfig, font_cache: Path | None = None):
        self.outbox = outbox
        self.config = config
        # Subset fonts outlive the run in the installation's var/ (outbox/ and var/ are siblings
        # in GJJ_HOME): the ≈5 s GB 2312 subset is made once per installation, not once per run.
        self.font_cache = font_cache or outbox.parent / "var" / "cache" / "fonts"
        self._pdf: PdfRenderer | None = None

    @property
    def pdf(self) -> PdfRenderer:
        """The run's PDF renderer, made (and WeasyPrint imported: ≈40 MB) when the first PDF is due."""
        if self._pdf is None:
            from pipeline.outputs.pdf.fonts import FontFileCache
            from pipeline.outputs.pdf.render import PdfRenderer

            self._pdf = PdfRenderer(self.config, font_cache=FontFileCache.default(self.font_cache))
        return self._pdf

    def close(self) -> None:
        """Remove the PDF renderer's temporary font files, if it was made."""
        if self._pdf is not None:
            self._pdf.close()
            self._pdf = None

    def folder_for(self, result: BatchResult) -> Path:
        return batch_folder(self.outbox, result.unit_account, result.batch_id)

    def writes_aside(self, result: BatchResult) -> bool:
        """Whether ``result`` is big enough for its outputs to be written by other processes.

        Such a batch's outputs may be started (:meth:`start`) before the batch is stored: the
        database work and the files take seconds each on a 100k-row file, and run at once.
        """
        return len(result.rows) >= PARALLEL_ROWS

    @paused_gc()
    def write(self, result: BatchResult, sheet: Sheet | None) -> Path:
        """Write every output of ``result`` and put the folder in place; its path."""
        if self.writes_aside(result):
            return self.start(result, sheet).finish()
        staging = self._staging(result)
        try:
            self._write_files(result, sheet, staging)
            self._write_pdfs(result, staging)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return self._put_in_place(result, staging)

    def warm_pdfs(self, source: Path) -> PdfWorker | None:
        """A :class:`PdfWorker` warming up while ``source`` is read, when the file is big.

        Only a file of ``WARM_BYTES`` or more can hold ``PARALLEL_ROWS`` rows (and one over the
        size limit is refused unread); the caller hands the worker to :meth:`start`, or cancels
        it when the batch turns out small.
        """
        size = source.stat().st_size
        return PdfWorker(self) if WARM_BYTES <= size <= self.config.limits.max_file_bytes else None

    def start(self, result: BatchResult, sheet: Sheet | None, pdfs: PdfWorker | None = None) -> PendingOutputs:
        """Start writing the outputs in forked processes, into a hidden folder.

        One process writes the files, ``pdfs`` (or a worker forked now) renders the PDFs. Nothing
        is visible in the outbox until :meth:`PendingOutputs.finish`; the caller finishes it once
        the batch is stored, or discards it. When report.xlsx is due it takes longer than the rest
        and the store is quick (no row is applied), so result.json is left to :meth:`finish`, in
        this process, while report.xlsx is still being written.
        """
        staging = self._staging(result)
        json_here = _report_xlsx_due(result, sheet)
        pending = PendingOutputs(self, result, staging, result_json=json_here)
        try:
            pending.fork(lambda: self._write_files(result, sheet, staging, result_json=not json_here))
            worker = pdfs or PdfWorker(self)
            pdfs = None  # from here on the pending outputs own the worker: discard() waits for it
            pending.render(worker, self._pdf_documents(result, staging))
        except BaseException:
            if pdfs is not None:  # failed before the warm worker was handed over
                pdfs.cancel()
            pending.discard()
            raise
        return pending

    def _staging(self, result: BatchResult) -> Path:
        """A fresh hidden folder beside the batch's target; stale ones of killed workers go first."""
        target = self.folder_for(result)
        target.parent.mkdir(parents=True, exist_ok=True)
        for stale in target.parent.glob(f".{result.batch_id}.tmp-*"):
            shutil.rmtree(stale)  # left by a killed worker; the caller holds this file's lock
        staging = target.parent / f".{result.batch_id}.tmp-{os.getpid()}"
        staging.mkdir()
        return staging

    def _put_in_place(self, result: BatchResult, staging: Path) -> Path:
        target = self.folder_for(result)
        if target.exists():
            shutil.rmtree(target)
        os.rename(staging, target)
        return target

    @paused_gc()
    def _write_files(
        self, result: BatchResult, sheet: Sheet | None, staging: Path, *, result_json: bool = True
    ) -> None:
        """result.json (unless written elsewhere), detail.csv and report.xlsx: plain Python, no PDF renderer."""
        if result_json:
            write_result_json(result, staging / "result.json")
        if result.status is BatchStatus.DUPLICATE:
            return
        if result.has_accepted_rows():
            write_detail_csv(result, staging / "detail.csv")
        if sheet is not None and _report_xlsx_due(result, sheet):
            write_report_xlsx(result, sheet, staging / "report.xlsx")

    def _pdf_documents(self, result: BatchResult, folder: Path) -> list[tuple[Path, PdfDocument]]:
        """slip.pdf when rows were applied, report.pdf when the unit must act, receipt.pdf when rows went
        to review and a notice per decision taken (:mod:`pipeline.outputs.pdf.review`); none for a duplicate."""
        if result.status is BatchStatus.DUPLICATE:
            return []
        documents = []
        if result.serial_number and (result.kind != MONEY_KIND or result.has_accepted_rows()):  # a 补缴 waiting for review: no 凭条 yet
            documents.append((folder / "slip.pdf", slip_document(result, self.config)))
        if needs_report(result):
            documents.append((folder / "report.pdf", report_document(result, self.config)))
        documents += [(folder / name, document) for name, document in review_documents(result, self.config)]
        return documents

    @paused_gc()
    def _write_pdfs(self, result: BatchResult, staging: Path) -> None:
        for path, document in self._pdf_documents(result, staging):
            self.pdf.render(document, path)

    def _render_sent(self, documents: Connection) -> None:
        """In a :class:`PdfWorker`: warm up, then render what the main process sends.

        A renderer made here is closed here: the process leaves with ``os._exit``, no finalizer
        would remove its font files.
        """
        made_here = self._pdf is None
        try:
            self.pdf.warm()
            for path, document in documents.recv():
                self.pdf.render(document, path)
        finally:
            if made_here and self._pdf is not None:
                self._pdf.close()


#: From this many rows on, a batch's files and its PDFs are written by forked processes, started
#: before the batch is stored: a 100k-row file's database work, its result files (or rejection
#: report.xlsx) and its PDFs take a second or more each.
PARALLEL_ROWS = 20_000

#: Files from this size on get a :class:`PdfWorker` before they are read: 20,000 rows of the
#: smallest template take about 0.9 MB, so a smaller file never has ``PARALLEL_ROWS`` rows.
WARM_BYTES = 800_000


class PdfWorker:
    """A forked process with its own PDF renderer, rendering the documents it is sent.

    Forked before a big file is read (:meth:`OutputWriter.warm_pdfs`), it imports WeasyPrint,
    loads the fonts and lays out a first document on the core the main process leaves idle while
    it reads and checks the file; the batch's PDFs then cost only their own layout.
    """

    def __init__(self, writer: OutputWriter):
        context = multiprocessing.get_context("fork")
        received, self._sender = context.Pipe(duplex=False)
        self.process = context.Process(target=writer._render_sent, args=(received,), name="gjj-pdf")
        self.process.start()
        received.close()

    def send(self, documents: list[tuple[Path, PdfDocument]]) -> None:
        """The PDFs to render, each with its path; an empty list lets the worker leave."""
        try:
            self._sender.send(documents)
        except OSError:
            pass  # the worker died while warming up: its exit code tells whoever joins it
        finally:
            self._sender.close()

    def cancel(self) -> None:
        """Nothing to render after all (a small or failed batch): the worker leaves once warm.

        It is not waited for (it may still be importing WeasyPrint); multiprocessing reaps it.
        """
        if not self._sender.closed:
            self.send([])


class PendingOutputs:
    """The outputs of one batch, being written into a hidden folder by forked processes.

    Fork, not spawn: a child needs the batch in memory as it is. It only writes files: it never
    touches the database connections it inherits, and leaves with ``os._exit``.
    """

    def __init__(self, writer: OutputWriter, result: BatchResult, staging: Path, *, result_json: bool = False):
        self._writer = writer
        self._result = result
        self._staging = staging
        self._result_json = result_json
        self._children: list[multiprocessing.process.BaseProcess] = []

    def fork(self, work: Callable[[], None]) -> None:
        child = multiprocessing.get_context("fork").Process(target=work, name="gjj-output")
        child.start()
        self._children.append(child)

    def render(self, worker: PdfWorker, documents: list[tuple[Path, PdfDocument]]) -> None:
        """Hand the PDFs to ``worker``; it is waited for like the other writers."""
        self._children.append(worker.process)
        worker.send(documents)

    def finish(self) -> Path:
        """Wait for the writers and put the folder in place; :class:`OutputFailed` if one failed.

        result.json, when it was left to this process (see :meth:`OutputWriter.start`), is
        written first, while the writers run.
        """
        if self._result_json:
            try:
                write_result_json(self._result, self._staging / "result.json")
            except BaseException:
                self.discard()
                raise
        failed = []
        for child in self._children:
            child.join()
            if child.exitcode != 0:
                failed.append(f"process {child.pid} (exit code {child.exitcode})")
        self._children = []
        if failed:
            self.discard()
            raise OutputFailed(f"writing the outputs failed in {', '.join(failed)}")
        return self._writer._put_in_place(self._result, self._staging)

    def discard(self) -> None:
        """Remove what the writers wrote, once they have finished (the batch was not stored, or a writer failed).

        They are not killed: a killed PDF process would leave its temporary font files behind.
        """
        for child in self._children:
            child.join()
        self._children = []
        shutil.rmtree(self._staging, ignore_errors=True)
