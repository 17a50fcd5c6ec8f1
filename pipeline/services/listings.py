"""What the listing commands and the console's lists show: 补缴查询, 汇缴核定查询 and the review queue.

Each listing is one plain SQL query run by a :class:`~pipeline.store.dbapi.Reader`: the command line
reads through the driver alone (no SQLAlchemy to import, so ``gjj remit list`` starts at once, README
"Start-up"), the console through its session (:func:`~pipeline.store.dbapi.session_reader`). The
rows become the small frozen views below, whose ``to_dict`` is the JSON the commands print.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from pipeline.model import MEMBER_CHANGE, MonthAssessment
from pipeline.money import money_text
from pipeline.store.dbapi import Reader, as_date, as_datetime, as_decimal
from pipeline.store.states import BACKPAY_ENTERED, REMIT_DELETED, REVIEW_PENDING


@dataclass(frozen=True)
class BackPayEntry:
    """One entered (未分配) 补缴记录."""

    serial_number: str
    unit_account: str
    member_account: str
    name: str
    id_number: str
    reason: str
    start_month: str
    end_month: str
    amount: Decimal
    entered_on: date
    state: str


@dataclass(frozen=True)
class BackPayListing:
    unit_account: str
    records: list[BackPayEntry]

    @property
    def unallocated_total(self) -> Decimal:
        """未分配金额: the sum of what is entered and not yet allocated."""
        return sum((record.amount for record in self.records), Decimal(0))

    def to_dict(self) -> dict[str, object]:
        return {
            "unit": self.unit_account,
            "未分配金额": money_text(self.unallocated_total),
            "records": [
                {
                    "业务流水号": r.serial_number,
                    "个人账号": r.member_account,
                    "姓名": r.name,
                    "补缴原因": r.reason,
                    "补缴开始年月": r.start_month,
                    "补缴结束年月": r.end_month,
                    "补缴金额": money_text(r.amount),
                    "录入日期": r.entered_on.isoformat(),
                    "状态": r.state,
                }
                for r in self.records
            ],
        }


def list_unallocated(reader: Reader, unit_account: str) -> BackPayListing:
    """The unit's entered but unallocated 补缴记录, by 业务流水号 then as entered."""
    rows = reader.rows(
        "SELECT serial_number, unit_account, member_account, name, id_number, reason, start_month, end_month, amount, entered_on, state"
        " FROM backpay_records WHERE unit_account = :unit AND state = :entered ORDER BY serial_number, id",
        unit=unit_account,
        entered=BACKPAY_ENTERED,
    )
    return BackPayListing(unit_account, [BackPayEntry(**row | {"amount": as_decimal(row["amount"]), "entered_on": as_date(row["entered_on"])}) for row in rows])


@dataclass(frozen=True)
class Assessment(MonthAssessment):
    """One month's 汇缴核定 as stored (a ``remit_assessments`` row) and as 汇缴核定查询 shows it: the
    month's figures, then its 业务流水号, its state and its payment."""

    serial_number: str
    state: str
    assessed_on: date
    paid_on: date | None
    paid_amount: Decimal | None
    deleted_at: datetime | None

    def to_dict(self) -> dict[str, Any]:
        """The 汇缴核定查询 columns, then the state and the payment (``gjj remit list --json``)."""
        return {
            "汇缴月度": self.month,
            "业务流水号": self.serial_number,
            "上期汇缴人数": self.previous_count,
            "上期汇缴金额": money_text(self.previous_amount),
            "本期增加人数": self.increase_count,
            "本期增加金额": money_text(self.increase_amount),
            "本期减少人数": self.decrease_count,
            "本期减少金额": money_text(self.decrease_amount),
            "本期汇缴人数": self.count,
            "本期汇缴金额": money_text(self.amount),
            "状态": self.state,
            "核定日期": self.assessed_on.isoformat(),
            "到账日期": self.paid_on.isoformat() if self.paid_on else "",
            "到账金额": money_text(self.paid_amount) if self.paid_amount is not None else "",
            "删除时间": self.deleted_at.isoformat(timespec="seconds") if self.deleted_at else "",
        }


@dataclass(frozen=True)
class AssessmentListing:
    unit_account: str
    records: list[Assessment]

    def to_dict(self) -> dict[str, object]:
        return {"unit": self.unit_account, "核定": [record.to_dict() for record in self.records]}


_MONEY = ("previous_amount", "increase_amount", "decrease_amount", "amount", "paid_amount")


def _assessment(row: dict[str, Any]) -> Assessment:
    typed = {name: as_decimal(row[name]) for name in _MONEY}
    return Assessment(**row | typed | {"assessed_on": as_date(row["assessed_on"]), "paid_on": as_date(row["paid_on"]), "deleted_at": as_datetime(row["deleted_at"])})


def list_assessments(reader: Reader, unit_account: str, *, include_deleted: bool = False) -> AssessmentListing | None:
    """The unit's 核定, newest month first; the standing ones (未入账, 已入账) unless ``include_deleted``.

    None when the unit is not in the master data (the command says so rather than list nothing).
    """
    if not reader.rows("SELECT 1 AS found FROM units WHERE unit_account = :unit", unit=unit_account):
        return None
    standing = "" if include_deleted else " AND state <> :deleted"
    rows = reader.rows(
        "SELECT month, serial_number, previous_count, previous_amount, increase_count, increase_amount, decrease_count, decrease_amount,"
        " count, amount, state, assessed_on, paid_on, paid_amount, deleted_at"
        f" FROM remit_assessments WHERE unit_account = :unit{standing} ORDER BY month DESC, id DESC",
        unit=unit_account,
        deleted=REMIT_DELETED,
    )
    return AssessmentListing(unit_account, [_assessment(row) for row in rows])


@dataclass(frozen=True)
class DecisionView:
    state: str
    decided_by: str
    decided_at: datetime
    reason: str

    def to_dict(self) -> dict[str, str]:
        return {"state": self.state, "decided_by": self.decided_by, "decided_at": self.decided_at.isoformat(timespec="seconds"), "reason": self.reason}


@dataclass(frozen=True)
class ReviewView:
    """One review request as the commands and the console show it."""

    id: int
    unit_account: str
    batch_id: str
    excel_row: int
    member_account: str
    member_name: str
    item: str
    old_value: str
    new_value: str
    reason: str
    state: str
    submitted_at: datetime
    decisions: list[DecisionView] = field(default_factory=list)
    #: The member's record as the centre holds it now (only for one request shown: ``show_request``).
    current_record: dict[str, str] = field(default_factory=dict)
    #: The kind of business of the request's batch: 缴存人信息变更, or a kind waiting under the centre's policy.
    kind: str = ""

    @property
    def changes_details(self) -> bool:
        """A 姓名/证件号码 change (old and new value), not a row of another kind waiting under the policy."""
        return self.kind in ("", MEMBER_CHANGE)

    @property
    def what(self) -> str:
        """What the request asks, in one line: 姓名「张三」→「张三丰」, or 封存：封存原因 退休封存，变更年月 2024-07."""
        return f"{self.item}「{self.old_value}」→「{self.new_value}」" if self.changes_details else f"{self.item}：{self.new_value}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "unit": self.unit_account,
            "batch_id": self.batch_id,
            "row": self.excel_row,
            "个人账号": self.member_account,
            "姓名": self.member_name,
            "变更项目": self.item,
            "变更前": self.old_value,
            "变更后": self.new_value,
            "变更原因": self.reason,
            "state": self.state,
            "submitted_at": self.submitted_at.isoformat(timespec="seconds"),
            "decisions": [decision.to_dict() for decision in self.decisions],
            "current_record": self.current_record,
            "业务": self.kind,
        }


def list_requests(reader: Reader, unit_account: str | None = None, *, include_decided: bool = False) -> list[ReviewView]:
    """The requests waiting (all of them with ``include_decided``), oldest first; one unit's with ``unit_account``."""
    where, params = [], {}
    if unit_account is not None:
        where.append("r.unit_account = :unit")
        params["unit"] = unit_account
    if not include_decided:
        where.append("r.state = :pending")
        params["pending"] = REVIEW_PENDING
    rows = reader.rows(
        "SELECT r.id, r.unit_account, COALESCE(b.batch_id, '') AS batch_id, r.excel_row, r.member_account, COALESCE(m.name, '') AS member_name,"
        " r.item, r.old_value, r.new_value, r.reason, r.state, r.submitted_at, COALESCE(b.kind, '') AS kind"
        " FROM review_requests r LEFT JOIN batches b ON b.id = r.batch_pk LEFT JOIN members m ON m.member_account = r.member_account"
        + (" WHERE " + " AND ".join(where) if where else "")
        + " ORDER BY r.id",
        **params,
    )
    return [ReviewView(**row | {"submitted_at": as_datetime(row["submitted_at"])}) for row in rows]
