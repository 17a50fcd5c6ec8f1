"""``gjj load --payments``: the core system's feed of money received books 汇缴核定 as 已入账.

The feed (CSV in UTF-8 or GB18030, or xlsx; columns 业务流水号, 到账日期, 到账金额) is read and its
cells checked exactly as master data is (:func:`pipeline.services.load.read_rows`): a bad cell gets
its row, column and a Chinese message, and a feed with any bad cell books nothing. The same
业务流水号 on two lines is a bad feed too (DUPLICATE_ROW on both): which of them is right is not
ours to guess.

A good feed is booked in the caller's one transaction, line by line. A line books the 核定 of its
业务流水号 (every month of it) only when 到账金额 equals the 核定's total, the sum of its months'
本期汇缴金额; each month records the feed's 到账日期 and its own amount as ``paid_amount``, so the
paid amounts of a serial add up to the money received. Every other line is reported, not booked
(:class:`PaymentOutcome`): an unknown serial, a different amount (both amounts said), a deleted
核定. A serial already paid is reported as such and left as it is, so loading the same feed twice
books nothing twice and is not an error. The processor records; it does not move money.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from enum import StrEnum
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from pipeline.config import CentreConfig
from pipeline.errors import Issue
from pipeline.model import RowResult
from pipeline.money import money_text
from pipeline.outputs.pdf.context import month_span
from pipeline.services.master_rows import mark_duplicates, read_rows
from pipeline.store.states import REMIT_DELETED, REMIT_PAID
from pipeline.store.tables import RemitAssessment
from schemas.payments import AMOUNT, PAID_ON, PAYMENT_FIELDS, PAYMENT_HEADER, SERIAL, payment_schema


class PaymentOutcome(StrEnum):
    BOOKED = "booked"
    ALREADY_PAID = "already_paid"
    AMOUNT_MISMATCH = "amount_mismatch"
    UNKNOWN_SERIAL = "unknown_serial"
    DELETED = "deleted"

    @property
    def label(self) -> str:
        return {
            "booked": "已入账",
            "already_paid": "此前已入账",
            "amount_mismatch": "金额不符",
            "unknown_serial": "业务流水号不存在",
            "deleted": "核定已删除",
        }[self.value]

    @property
    def needs_attention(self) -> bool:
        """Money arrived that nothing here could take: the staff must look (the command exits 1)."""
        return self not in (PaymentOutcome.BOOKED, PaymentOutcome.ALREADY_PAID)


@dataclass(frozen=True)
class PaymentLine:
    """What became of one line of the feed; ``unit_account`` is empty for an unknown serial."""

    row: int
    serial_number: str
    paid_on: date
    amount: Decimal
    outcome: PaymentOutcome
    message: str
    unit_account: str = ""


@dataclass
class PaymentReport:
    """A feed's bad cells (then nothing was booked) or what became of each of its lines."""

    issues: list[Issue] = field(default_factory=list)
    lines: list[PaymentLine] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.issues

    def with_outcome(self, outcome: PaymentOutcome) -> list[PaymentLine]:
        return [line for line in self.lines if line.outcome is outcome]

    @property
    def needs_attention(self) -> bool:
        return any(line.outcome.needs_attention for line in self.lines)


def _assessments(session: Session, serials: list[str]) -> dict[str, list[RemitAssessment]]:
    """The 核定 months of each serial, locked until the booking commits (a delete waits for it, and it for a delete)."""
    found: dict[str, list[RemitAssessment]] = defaultdict(list)
    for start in range(0, len(serials), 5000):
        query = (
            select(RemitAssessment)
            .where(RemitAssessment.serial_number.in_(serials[start : start + 5000]))
            .order_by(RemitAssessment.serial_number, RemitAssessment.month)
            .with_for_update()
        )
        for record in session.scalars(query):
            found[record.serial_number].append(record)
    return found


def _book(row: RowResult, records: list[RemitAssessment]) -> PaymentLine:
    serial = row.values[SERIAL]
    paid_on = date.fromisoformat(row.values[PAID_ON])
    amount = Decimal(row.values[AMOUNT])

    def line(outcome: PaymentOutcome, message: str, unit: str = "") -> PaymentLine:
        return PaymentLine(row.excel_row, serial, paid_on, amount, outcome, message, unit)

    if not records:
        return line(PaymentOutcome.UNKNOWN_SERIAL, f"业务流水号 {serial} 没有对应的汇缴核定，未入账")
    unit = records[0].unit_account
    what = f"单位 {unit} 汇缴月度 {month_span([record.month for record in records])} 的核定"
    standing = [record for record in records if record.state != REMIT_DELETED]
    if not standing:
        return line(PaymentOutcome.DELETED, f"{what}已删除，未入账；请核实这笔到账 {money_text(amount)}", unit)
    if all(record.state == REMIT_PAID for record in standing):
        before = sum((record.paid_amount or Decimal(0) for record in standing), Decimal(0))
        recorded = standing[0].paid_on
        differs = "" if (recorded, before) == (paid_on, amount) else f"；本行到账日期 {paid_on}、金额 {money_text(amount)} 与已入账记录不同，请核实"
        return line(PaymentOutcome.ALREADY_PAID, f"{what}已于 {recorded} 入账 {money_text(before)}，本行未重复入账{differs}", unit)
    total = sum((record.amount for record in standing), Decimal(0))
    if amount != total:
        return line(PaymentOutcome.AMOUNT_MISMATCH, f"到账金额 {money_text(amount)} 与{what}金额 {money_text(total)} 不符，未入账", unit)
    for record in standing:
        record.state, record.paid_on, record.paid_amount = REMIT_PAID, paid_on, record.amount
    return line(PaymentOutcome.BOOKED, f"{what}已入账 {money_text(amount)}", unit)


def load_payments(session: Session, config: CentreConfig, path: Path) -> PaymentReport:
    """Check the feed at ``path`` and book what it can in the caller's transaction; nothing when a cell is bad."""
    rows, file_issues = read_rows(path, "到账", PAYMENT_HEADER, PAYMENT_FIELDS, payment_schema(), config)
    mark_duplicates(rows, SERIAL)
    issues = file_issues + [issue for row in rows for issue in row.issues]
    if issues:
        return PaymentReport(issues=issues)
    found = _assessments(session, sorted({row.values[SERIAL] for row in rows}))
    return PaymentReport(lines=[_book(row, found.get(row.values[SERIAL], [])) for row in rows])
