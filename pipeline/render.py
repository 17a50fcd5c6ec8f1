"""Render stage: a batch's outputs, written atomically to ``outbox/<单位账号>/<batch_id>/``.

Everything is first written into a hidden temporary folder beside the target and then renamed
into place, so a unit (or a crash) never sees half a result. Renderers only read the
:class:`~pipeline.model.BatchResult`; they decide nothing.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
from pathlib import Path

from pipeline.config import CentreConfig
from pipeline.model import BatchResult, BatchStatus, RowStatus, Sheet
from pipeline.money import money_text
from pipeline.render_pdf import PdfRenderer
from pipeline.render_xlsx import neutralise_formula, write_report_xlsx


def write_result_json(result: BatchResult, path: Path) -> None:
    path.write_text(json.dumps(result.to_dict(), ensure_ascii=False, indent=2), encoding="utf-8")


def write_detail_csv(result: BatchResult, path: Path) -> None:
    """清册: every row with its status and computed amounts; UTF-8 with BOM so Excel shows Chinese."""
    amount_names = list(dict.fromkeys(name for row in result.rows for name in row.amounts))
    computed_names = list(dict.fromkeys(name for row in result.rows for name in row.computed))
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["行号", *result.header, "处理结果", *computed_names, *(f"核定{name}" for name in amount_names), "说明"])
        for row in result.rows:
            writer.writerow(
                [
                    row.excel_row,
                    *(neutralise_formula(row.values.get(column, "")) for column in result.header),
                    row.status.label,
                    *(row.computed.get(name, "") for name in computed_names),
                    *(money_text(row.amounts[name]) if name in row.amounts else "" for name in amount_names),
                    neutralise_formula("；".join(issue.message for issue in row.issues)),
                ]
            )


def needs_report(result: BatchResult) -> bool:
    """Anything the unit must act on: file errors, bad rows, rows sent to the counter."""
    return bool(result.file_issues) or any(
        row.status in (RowStatus.REJECTED, RowStatus.COUNTER) for row in result.rows
    )


class OutputWriter:
    """Writes every output of a batch; one PDF renderer (and its font subset) per run."""

    def __init__(self, outbox: Path, config: CentreConfig):
        self.outbox = outbox
        self.config = config
        self._pdf: PdfRenderer | None = None

    @property
    def pdf(self) -> PdfRenderer:
        if self._pdf is None:
            self._pdf = PdfRenderer(self.config)
        return self._pdf

    def folder_for(self, result: BatchResult) -> Path:
        return self.outbox / result.unit_account / result.batch_id

    def write(self, result: BatchResult, sheet: Sheet | None) -> Path:
        target = self.folder_for(result)
        target.parent.mkdir(parents=True, exist_ok=True)
        for stale in target.parent.glob(f".{result.batch_id}.tmp-*"):
            shutil.rmtree(stale)  # left by a killed worker; the caller holds this file's lock
        staging = target.parent / f".{result.batch_id}.tmp-{os.getpid()}"
        staging.mkdir()
        write_result_json(result, staging / "result.json")
        if result.status is not BatchStatus.DUPLICATE:
            if result.accepted_rows:
                write_detail_csv(result, staging / "detail.csv")
            if result.serial_number:
                self.pdf.slip(result, staging / "slip.pdf")
            if needs_report(result):
                if sheet is not None and result.rows:
                    write_report_xlsx(result, sheet, staging / "report.xlsx")
                self.pdf.report(result, staging / "report.pdf")
        if target.exists():
            shutil.rmtree(target)
        os.rename(staging, target)
        return target
