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
from collections.abc import Callable
from pathlib import Path

from pipeline.config import CentreConfig
from pipeline.model import BatchResult, BatchStatus, RowStatus, Sheet
from pipeline.money import money_text
from pipeline.read import paused_gc
from pipeline.render_pdf import FontFileCache, PdfRenderer
from pipeline.render_xlsx import neutralise_formula, write_report_xlsx


_encode_string = json.encoder.encode_basestring  # what json.dumps(ensure_ascii=False) uses (C when available)


def _json_key(key: object) -> str:
    if isinstance(key, str):
        return _encode_string(key)
    if isinstance(key, bool) or key is None or isinstance(key, int | float):
        return _encode_string(json.dumps(key))
    raise TypeError(f"keys must be str, int, float, bool or None, not {type(key).__name__}")


_FLUSH_PARTS = 1 << 16


def _json_indented(value: object, level: int, parts: list[str], flush: Callable[[list[str]], None]) -> None:
    """Append ``value`` as ``json.dumps(value, ensure_ascii=False, indent=2)`` writes it at ``level``.

    The standard library only has a C encoder for compact output; with ``indent`` it falls back
    to a generator-based Python encoder. This writes the same text, character for character,
    about 1.7 times faster; ``flush`` takes the text so far whenever ``parts`` grows long, so a
    big result is never held in memory as one text.
    """
    if isinstance(value, str):
        parts.append(_encode_string(value))
    elif value is None:
        parts.append("null")
    elif value is True:
        parts.append("true")
    elif value is False:
        parts.append("false")
    elif isinstance(value, int | float):
        parts.append(json.dumps(value))
    elif isinstance(value, list | tuple):
        if not value:
            parts.append("[]")
            return
        inner = "\n" + "  " * (level + 1)
        separator = "[" + inner
        for item in value:
            if type(item) is str:  # plain str and int inline: the same text, no call per cell
                parts.append(separator + _encode_string(item))
            elif type(item) is int:
                parts.append(separator + int.__repr__(item))
            else:
                parts.append(separator)
                _json_indented(item, level + 1, parts, flush)
                if len(parts) > _FLUSH_PARTS:
                    flush(parts)
            separator = "," + inner
        parts.append("\n" + "  " * level + "]")
    elif isinstance(value, dict):
        if not value:
            parts.append("{}")
            return
        inner = "\n" + "  " * (level + 1)
        separator = "{" + inner
        for key, item in value.items():
            head = separator + (_encode_string(key) if type(key) is str else _json_key(key)) + ": "
            separator = "," + inner
            if type(item) is str:
                parts.append(head + _encode_string(item))
            elif type(item) is int:
                parts.append(head + int.__repr__(item))
            else:
                parts.append(head)
                _json_indented(item, level + 1, parts, flush)
        parts.append("\n" + "  " * level + "}")
    else:
        parts.append(json.dumps(value, ensure_ascii=False, indent=2))  # raises TypeError like json.dumps


def write_result_json(result: BatchResult, path: Path) -> None:
    """``json.dumps(result.to_dict(), ensure_ascii=False, indent=2)``, written as it is encoded."""
    with path.open("w", encoding="utf-8") as handle:

        def flush(parts: list[str]) -> None:
            handle.write("".join(parts))
            parts.clear()

        parts: list[str] = []
        _json_indented(result.to_dict(), 0, parts, flush)
        flush(parts)


def write_detail_csv(result: BatchResult, path: Path) -> None:
    """清册: every row with its status and computed amounts; UTF-8 with BOM so Excel shows Chinese."""
    amount_names = list(dict.fromkeys(name for row in result.rows for name in row.amounts))
    computed_names = list(dict.fromkeys(name for row in result.rows for name in row.computed))
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["行号", *result.header, "处理结果", *computed_names, *(f"核定{name}" for name in amount_names), "说明"])
        header = result.header
        labels = {status: status.label for status in RowStatus}
        writerow = writer.writerow
        for row in result.rows:
            values, amounts = row.values, row.amounts
            writerow(
                [
                    row.excel_row,
                    *[neutralise_formula(values.get(column, "")) for column in header],
                    labels[row.status],
                    *[row.computed.get(name, "") for name in computed_names],
                    *[money_text(amounts[name]) if name in amounts else "" for name in amount_names],
                    neutralise_formula("；".join([issue.message for issue in row.issues])) if row.issues else "",
                ]
            )


def needs_report(result: BatchResult) -> bool:
    """Anything the unit must act on: file errors, bad rows, rows sent to the counter."""
    return bool(result.file_issues) or any(
        row.status in (RowStatus.REJECTED, RowStatus.COUNTER) for row in result.rows
    )


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
        if self._pdf is None:
            self._pdf = PdfRenderer(self.config, font_cache=FontFileCache.default(self.font_cache))
        return self._pdf

    def folder_for(self, result: BatchResult) -> Path:
        return self.outbox / result.unit_account / result.batch_id

    @paused_gc()
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
