"""One file checked from its bytes to its judged rows: read → detect → cells (pandera) → rules.

Nothing is written here: the master data comes through the rules' context, made when first
needed, and the caller stores what :func:`check_file` found.

A zip drop's scans (:mod:`pipeline.read.bundle`) are held to the centre's policy for the kind
(:mod:`pipeline.rules.documents`): its bad scans and those of a type the kind never takes are file
issues (DOCUMENT_INVALID); after the rules, what the file and each row it accepts must bring and did
not is DOCUMENT_MISSING, and under a policy that has the kind reviewed the accepted rows wait
(PENDING_REVIEW). The good scans reach the rules through the context and the store through the result.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

from pipeline.check.schema import Columns, finish_validation, start_validation
from pipeline.config import CentreConfig
from pipeline.errors import Issue, ReadFailure
from pipeline.memory import paused_gc
from pipeline.model import Document, RowResult, RowStatus, Sheet
from pipeline.read.bundle import Bundle
from pipeline.read.header import detect, holds_header
from pipeline.read.workbook import read_raw
from pipeline.rules import RULES
from pipeline.rules import documents as required
from pipeline.rules.context import RuleContext
from schemas import TEMPLATES


class CheckedFile(NamedTuple):
    """What :func:`check_file` found: the template kind, the sheet, file-level issues, the rows with
    their issues, the rows' values by column (empty when no row was checked) and the good scans
    of a zip drop, for the store."""

    kind: str | None
    sheet: Sheet | None
    file_issues: list[Issue]
    rows: list[RowResult]
    columns: Columns
    documents: tuple[Document, ...] = ()


def check_file(
    path: Path,
    kind_headers: dict[str, tuple[str, ...]],
    config: CentreConfig,
    context_loader: Callable[[], RuleContext],
    *,
    sha256: str | None = None,
) -> CheckedFile:
    """Read, detect, validate and apply rules to one file (``sha256``: its bytes', when known); nothing is written here."""
    try:
        raw = read_raw(path, config.limits, holds_header(kind_headers), sha256=sha256)
    except ReadFailure as failure:
        return CheckedFile(None, None, [failure.issue], [], {})
    detected = detect(raw, kind_headers)
    bundle_issues, documents = _documents(raw.bundle, detected.kind, config)
    if detected.kind is None or detected.sheet is None or detected.issues:
        return CheckedFile(detected.kind, detected.sheet, detected.issues + bundle_issues, [], {})
    template, rules = TEMPLATES[detected.kind], RULES[detected.kind]
    context = functools.cache(context_loader)  # one context, made when first needed
    with paused_gc():
        validation = start_validation(detected.sheet, template, config)
        if validation.cells is not None and validation.cells.runs_apart:
            # While another process runs the schema, the rules read what they need and look at the sheet.
            try:
                _before_rules(rules, validation.cells.columns, detected.sheet.excel_rows, context)
            except BaseException:
                validation.cells.close()
                raise
        rows, file_issues, columns = finish_validation(validation, template)
    if rows and not file_issues:
        if getattr(rules, "CHANGES_MEMBERS", False):
            context().data.lock_members()  # before any member is read: no other file changes them until this one commits
        clean = [row for row in rows if not row.issues]
        context().schema_failed = [row for row in rows if row.issues]
        context().documents = documents
        file_issues = rules.apply(clean, context())
        file_issues += required.online_review(detected.kind, clean, documents, config.policy_for(detected.kind))
        file_issues += required.check(detected.kind, clean, context().schema_failed, documents, config.policy_for(detected.kind))
        for row in rows:
            if row.issues and row.errors:
                row.status = RowStatus.REJECTED
        required.hold_for_review(rows, config.policy_for(detected.kind))
    return CheckedFile(detected.kind, detected.sheet, file_issues + bundle_issues, rows, columns, documents)


def _documents(bundle: Bundle | None, kind: str | None, config: CentreConfig) -> tuple[list[Issue], tuple[Document, ...]]:
    """The file issues of a zip drop's scans and the good scans ``kind`` takes (see the module's docstring)."""
    if bundle is None:
        return [], ()
    if kind is None:
        return list(bundle.issues), tuple(bundle.documents)
    refused, kept = required.screen(kind, tuple(bundle.documents), config.policy_for(kind))
    return list(bundle.issues) + refused, kept


def _before_rules(rules: object, columns: Columns, excel_rows: list[int], context: Callable[[], RuleContext]) -> None:
    """A rules module's optional ``prepare`` and ``screen`` (see :mod:`pipeline.rules`)."""
    prepare, screen = getattr(rules, "prepare", None), getattr(rules, "screen", None)
    if prepare is not None:
        prepare(context())
    if screen is not None:
        context().screened = screen(columns, excel_rows, context())
