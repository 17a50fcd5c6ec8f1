"""Staff view of one business day: ``outbox/_centre/days/<yyyy-mm-dd>/summary.html`` and ``summary.json``.

Centre staff open it each morning: how many files came in and what became of them (by status and
by template), every rejection grouped by error code, and every counter referral with the member,
the reason and the documents the unit's clerk must bring (from the seeds: the Huludao online-hall
manual's 注意 lines), the review queue and the day's review decisions, then what failed or was not
taken. ``outbox/_centre/index.html`` lists every
business day, newest first. What the page shows is a :class:`DaySummary`, which
:mod:`pipeline.run.day` builds from the database; this module only renders and writes it.

The page is self-contained (inline CSS, no script, no external URL; a Content-Security-Policy
forbids loading anything) so it opens from a shared folder on any desktop. Every text goes
through Jinja2 autoescape: unit names, file names and cell values come from units. Links to a
file's outputs are relative, so the ``outbox`` folder can be moved or shared as a whole. ID
numbers are masked (first 6 and last 4 kept), as in the logs.

Files are written under temporary names and renamed, so a reader never sees half a page.
"""

from __future__ import annotations

import json
import os
from collections import Counter, defaultdict
from collections.abc import Iterable
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import quote

import orjson

from pipeline.errors import Code, Issue
from pipeline.logs import mask_id
from pipeline.model import BatchResult, BatchStatus, RowResult, RowStatus
from pipeline.money import money_text
from pipeline.outputs.html import environment
from pipeline.outputs.pdf.context import remit_figures
from pipeline.rules.backpay import AMOUNT as MONEY_COLUMN
from pipeline.rules.backpay import KIND as MONEY_KIND
from pipeline.run.counter_documents import counter_documents
from pipeline.run.outcomes import DaySummary, FileOutcome, Reported
from pipeline.run.reviews import empty_reviews

CENTRE_FOLDER = "_centre"
DAYS_FOLDER = "days"
SUMMARY_JSON = "summary.json"
SUMMARY_HTML = "summary.html"
INDEX_ENTRY_JSON = "entry.json"
INDEX_HTML = "index.html"

#: The page's font stack: the system CJK font first (Debian: fonts-noto-cjk), then what Windows
#: and macOS desktops have, so Chinese never falls back to a font without CJK glyphs.
FONT_STACK = '"Noto Sans CJK SC", "Source Han Sans SC", "Microsoft YaHei", "PingFang SC", sans-serif'

UNKNOWN_KIND = "未识别"
#: Rejections listed per code on the page; summary.json always has all of them.
PAGE_ISSUES_PER_CODE = 200
OUTPUT_ORDER = ("report.pdf", "report.xlsx", "slip.pdf", "receipt.pdf", "detail.csv", "result.json")

def centre_folder(outbox: Path) -> Path:
    return outbox / CENTRE_FOLDER


def day_folder(outbox: Path, business_date: date) -> Path:
    return centre_folder(outbox) / DAYS_FOLDER / business_date.isoformat()


def write_summary(day: DaySummary, outbox: Path, *, centre_name: str = "") -> Path:
    """Write the day's summary.json and summary.html, then rewrite the index; returns the page."""
    folder = day_folder(outbox, day.business_date)
    folder.mkdir(parents=True, exist_ok=True)
    data = summary_data(day, outbox, centre_name=centre_name)
    _write_atomic(folder / SUMMARY_JSON, orjson.dumps(data, option=orjson.OPT_INDENT_2).decode())
    _write_atomic(folder / INDEX_ENTRY_JSON, json.dumps(_index_entry(folder, data), ensure_ascii=False))
    page = folder / SUMMARY_HTML
    html = environment().get_template(SUMMARY_HTML).render(
        day=data, font_stack=FONT_STACK, href=_href, status_columns=_status_columns(), page_limit=PAGE_ISSUES_PER_CODE
    )
    _write_atomic(page, html)
    write_index(outbox, centre_name=centre_name)
    return page


def write_index(outbox: Path, *, centre_name: str = "") -> Path:
    """Rewrite ``outbox/_centre/index.html`` from every day folder, newest business day first.

    Each day folder has its line of the index in a small entry.json, so a year of days does not
    mean reading a year of summaries; a folder without one is read from its summary.json.
    """
    root = centre_folder(outbox)
    days_dir = root / DAYS_FOLDER
    days = []
    for folder in sorted(days_dir.iterdir()) if days_dir.is_dir() else []:
        if not folder.is_dir() or folder.name.startswith("."):
            continue
        entry = _read_json(folder / INDEX_ENTRY_JSON)
        if isinstance(entry, dict) and "business_date" in entry:
            days.append({**entry, "link": f"{DAYS_FOLDER}/{folder.name}/{SUMMARY_HTML}"})
        else:
            days.append(_index_entry(folder, _read_json(folder / SUMMARY_JSON)))
    days.sort(key=lambda entry: (entry["business_date"], entry["generated_at"]), reverse=True)
    root.mkdir(parents=True, exist_ok=True)
    index = root / INDEX_HTML
    html = environment().get_template(INDEX_HTML).render(
        days=days, centre_name=centre_name, font_stack=FONT_STACK, href=_href, status_columns=_status_columns()
    )
    _write_atomic(index, html)
    return index


def summary_data(day: DaySummary, outbox: Path, *, centre_name: str = "") -> dict[str, Any]:
    """Everything the page shows, as plain data (what summary.json holds).

    Links are relative to the day's folder; the home's ``quarantine/`` is ``outbox``'s sibling.
    """
    folder = day_folder(outbox, day.business_date)
    quarantine = outbox.parent / "quarantine"
    outcomes = list(day.outcomes)
    files = [_file_entry(outcome, folder, quarantine) for outcome in outcomes]
    unfinished = [_file_entry(outcome, folder, quarantine) for outcome in day.unfinished]
    rejections = _rejections(outcomes)
    referrals = [referral for outcome in outcomes for referral in _referrals(outcome)]
    quarantined = [_quarantined_entry(path, folder) for path in day.quarantined]
    failed = [_reported_entry(item, "error") for item in day.failed]
    ignored = [_reported_entry(item, "reason") for item in day.ignored]
    reviews = day.reviews or empty_reviews()
    return {
        "business_date": day.business_date.isoformat(),
        "runs": list(day.runs),
        "generated_at": datetime.now().isoformat(timespec="microseconds"),
        "centre_name": centre_name,
        "totals": {
            **_totals(outcomes, files, rejections, referrals, quarantined),
            "unfinished": len(unfinished),
            "failed": len(failed),
            "ignored": len(ignored),
            "review_queue": reviews["queue"]["open"],
            "review_decisions": len(reviews["decisions"]),
        },
        "by_template": _by_template(files),
        "remittances": _remittances(outcomes),
        "reviews": reviews,
        "files": files,
        "unfinished": unfinished,
        "rejections": rejections,
        "referrals": referrals,
        "quarantined": quarantined,
        "failed": failed,
        "ignored": ignored,
    }


def _remittances(outcomes: list[FileOutcome]) -> list[dict[str, Any]]:
    """The day's 汇缴核定, one line per accepted 汇缴清册: its months, 人数 and amounts (those of its 汇缴凭条)."""
    entries = []
    for outcome in outcomes:
        result = outcome.result
        if not result.assessments:
            continue
        figures = remit_figures(result.assessments)
        months = sorted(assessment.month for assessment in result.assessments)
        entries.append(
            {
                "unit": outcome.unit_account,
                "unit_name": result.unit_name,
                "batch_id": result.batch_id,
                "serial_number": result.serial_number,
                "months": months[0] if len(months) == 1 else f"{months[0]} 至 {months[-1]}",
                "month_count": len(result.assessments),
                **{key: figures[key] for key in ("previous_count", "increase_count", "decrease_count", "count")},
                "monthly_amount": figures["amount"],
                "amount": figures["total"],
            }
        )
    return entries


def _reported_entry(item: Reported, says: str) -> dict[str, Any]:
    """A failure (``says`` = "error") or an ignored file ("reason"), with how often it was reported."""
    last_seen = item.last_seen.isoformat(timespec="seconds") if item.last_seen else ""
    return {"unit": item.unit_account, "source_file": item.source, says: item.message, "times": item.times, "last_seen": last_seen}


def _status_columns() -> list[dict[str, str]]:
    return [{"status": str(status), "label": status.label} for status in BatchStatus]


def _totals(
    outcomes: list[FileOutcome],
    files: list[dict[str, Any]],
    rejections: list[dict[str, Any]],
    referrals: list[dict[str, Any]],
    quarantined: list[dict[str, Any]],
) -> dict[str, Any]:
    statuses = Counter(str(outcome.result.status) for outcome in outcomes)
    rows: Counter[str] = Counter()
    for entry in files:
        rows.update({name: entry["counts"][name] for name in ("rows", *map(str, RowStatus))})
    backpay = sum(
        (Decimal(entry["accepted_amounts"].get(MONEY_COLUMN, "0")) for entry in files if entry["kind"] == MONEY_KIND),
        Decimal(0),
    )
    return {
        "files": len(outcomes),
        "by_status": {str(status): statuses.get(str(status), 0) for status in BatchStatus},
        "rows": {name: rows.get(name, 0) for name in ("rows", *map(str, RowStatus))},
        "errors": sum(group["count"] for group in rejections),
        "referrals": len(referrals),
        "quarantined": len(quarantined),
        "accepted_backpay": money_text(backpay),
    }


def _by_template(files: list[dict[str, Any]]) -> dict[str, dict[str, int]]:
    """Files, statuses, rows and counter rows per template, from the files' entries."""
    table: dict[str, dict[str, int]] = {}
    for file in files:
        entry = table.setdefault(
            file["kind"], {"files": 0, **{str(status): 0 for status in BatchStatus}, "rows": 0, "counter": 0}
        )
        entry["files"] += 1
        entry[file["status"]] += 1
        entry["rows"] += file["counts"]["rows"]
        entry["counter"] += file["counts"][str(RowStatus.COUNTER)]
    return dict(sorted(table.items(), key=lambda item: (item[0] == UNKNOWN_KIND, -item[1]["files"], item[0])))


def _relative(path: Path, folder: Path) -> str:
    return Path(os.path.relpath(os.path.abspath(path), os.path.abspath(folder))).as_posix()


def _is_under(path: Path, folder: Path) -> bool:
    return Path(os.path.abspath(path)).is_relative_to(os.path.abspath(folder))


def _href(relative: str) -> str:
    """A relative path as an href: percent-encoded (names are Chinese), never a scheme."""
    return quote(relative, safe="/")


def _outputs(outputs: Path, folder: Path) -> list[dict[str, str]]:
    if outputs.is_dir():
        names = [child.name for child in outputs.iterdir() if child.is_file() and not child.name.startswith(".")]
        rank = {name: index for index, name in enumerate(OUTPUT_ORDER)}
        names.sort(key=lambda name: (rank.get(name, len(rank)), name))
        return [{"name": name, "path": _relative(outputs / name, folder)} for name in names]
    if outputs.is_file():
        return [{"name": outputs.name, "path": _relative(outputs, folder)}]
    return []


def _file_entry(outcome: FileOutcome, folder: Path, quarantine: Path) -> dict[str, Any]:
    result = outcome.result
    totals = outcome.totals()  # one pass over the rows: a file may have 100k
    moved = outcome.moved_to
    original = _relative(moved, folder) if moved.is_file() else None
    return {
        "unit": outcome.unit_account,
        "unit_name": result.unit_name,
        "source_file": outcome.source,
        "batch_id": result.batch_id,
        "kind": result.kind or UNKNOWN_KIND,
        "status": str(result.status),
        "status_label": result.status.label,
        "serial_number": result.serial_number,
        "duplicate_of": result.duplicate_of,
        "counts": {
            "rows": totals["rows"],
            **{str(status): totals[str(status)] for status in RowStatus},
            "errors": len(result.errors),
            "file_errors": sum(1 for issue in result.file_issues if not issue.code.is_counter),
        },
        "accepted_amounts": totals["amounts"],
        "outputs": _outputs(outcome.outputs, folder),
        "original": original,
        "quarantined": original is not None and _is_under(moved, quarantine),
    }


def _issue_entry(outcome: FileOutcome, issue: Issue) -> dict[str, Any]:
    result = outcome.result
    return {
        "unit": outcome.unit_account,
        "unit_name": result.unit_name,
        "source_file": outcome.source,
        "batch_id": result.batch_id,
        "row": issue.row,
        "column": issue.column,
        "message": issue.message,
    }


def _rejections(outcomes: Iterable[FileOutcome]) -> list[dict[str, Any]]:
    """Every error of the day (not counter referrals), grouped by code, biggest group first."""
    groups: dict[Code, list[dict[str, Any]]] = defaultdict(list)
    for outcome in outcomes:
        for issue in outcome.result.errors:
            groups[issue.code].append(_issue_entry(outcome, issue))
    ordered = sorted(groups.items(), key=lambda item: (-len(item[1]), str(item[0])))
    return [{"code": str(code), "title": code.title, "count": len(items), "items": items} for code, items in ordered]


def _member(row: RowResult | None) -> dict[str, str]:
    if row is None:
        return {"account": "", "name": "", "id_number": ""}
    values = row.values
    return {
        "account": row.computed.get("个人账号") or values.get("个人账号", ""),
        "name": values.get("姓名", ""),
        "id_number": mask_id(values.get("证件号码", "")),
    }


def _referrals(outcome: FileOutcome) -> list[dict[str, Any]]:
    """Every counter referral of one file: file-level ones first, then row by row."""
    result: BatchResult = outcome.result
    found: list[tuple[RowResult | None, Issue]] = [(None, issue) for issue in result.file_issues if issue.code.is_counter]
    found += [(row, issue) for row in result.rows for issue in row.issues if issue.code.is_counter]
    return [
        {
            "code": str(issue.code),
            "title": issue.code.title,
            "unit": outcome.unit_account,
            "unit_name": result.unit_name,
            "contact_name": result.contact_name,
            "contact_phone": result.contact_phone,
            "source_file": outcome.source,
            "batch_id": result.batch_id,
            "kind": result.kind or UNKNOWN_KIND,
            "file_status": str(result.status),
            "file_status_label": result.status.label,
            "row": issue.row if issue.row is not None else (row.excel_row if row else None),
            "member": _member(row),
            "reason": issue.message,
            "documents": counter_documents(issue.code, result.kind),
        }
        for row, issue in found
    ]


def _quarantined_entry(path: Path, folder: Path) -> dict[str, Any]:
    """A file moved to quarantine unread (a link, a stray file); its note says why."""
    reason = ""
    note = path.with_name(path.name + ".reason.json")
    try:
        reason = str(json.loads(note.read_text(encoding="utf-8")).get("message", ""))
    except (OSError, ValueError, AttributeError):
        reason = ""
    return {"name": path.name, "folder": path.parent.name, "path": _relative(path, folder), "reason": reason}


def _index_entry(folder: Path, data: dict[str, Any] | None) -> dict[str, Any]:
    link = f"{DAYS_FOLDER}/{folder.name}/{SUMMARY_HTML}"
    if not isinstance(data, dict):
        return {"business_date": folder.name, "generated_at": "", "runs": 0, "totals": None, "link": link}
    totals = data.get("totals")
    if isinstance(totals, dict):
        by_status = totals.get("by_status")
        by_status = by_status if isinstance(by_status, dict) else {}
        totals = {
            "files": totals.get("files", 0),
            "by_status": {str(status): by_status.get(str(status), 0) for status in BatchStatus},
            "referrals": totals.get("referrals", 0),
            "errors": totals.get("errors", 0),
            "failed": totals.get("failed", 0) + totals.get("ignored", 0) + totals.get("unfinished", 0),
            "review_queue": totals.get("review_queue", 0),
            "review_decisions": totals.get("review_decisions", 0),
        }
    runs = data.get("runs")
    return {
        "business_date": str(data.get("business_date", folder.name)),
        "generated_at": str(data.get("generated_at", "")),
        "runs": len(runs) if isinstance(runs, list) else 0,
        "totals": totals if isinstance(totals, dict) else None,
        "link": link,
    }


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _write_atomic(path: Path, text: str) -> None:
    staging = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    staging.write_text(text, encoding="utf-8")
    os.replace(staging, path)
