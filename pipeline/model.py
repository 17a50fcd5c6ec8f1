"""The contract between stages and outputs.

The read stage produces a :class:`Sheet`; the schema and rules stages produce :class:`RowResult`
objects; a :class:`BatchResult` gathers everything about one received file. Renderers (json, csv,
xlsx, pdf, html) only read a ``BatchResult``; they never decide anything.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from itertools import chain
from operator import attrgetter
from types import MappingProxyType
from typing import Any

from pipeline.errors import Issue
from pipeline.money import money_text

#: The kind whose 姓名/证件号码 rows wait for a reviewer (:mod:`pipeline.policy` names every kind).
MEMBER_CHANGE = "缴存人信息变更"
#: What a decided 缴存人信息变更 row holds among its computed values (result.json, the 审批结果通知单):
#: the review request's number, the decision, its date and the reviewer's reason.
REVIEW_REQUEST, REVIEW_RESULT, REVIEW_DATE, REVIEW_OPINION = "审核申请编号", "审核结果", "审核日期", "审核意见"
REVIEW_KEYS = (REVIEW_REQUEST, REVIEW_RESULT, REVIEW_DATE, REVIEW_OPINION)


class BatchStatus(StrEnum):
    ACCEPTED = "accepted"
    PARTIALLY_ACCEPTED = "partially_accepted"
    REJECTED = "rejected"
    DUPLICATE = "duplicate"

    @property
    def label(self) -> str:
        return {"accepted": "已受理", "partially_accepted": "部分受理", "rejected": "已退回", "duplicate": "重复文件"}[self.value]


class RowStatus(StrEnum):
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    COUNTER = "counter"
    UNCHANGED = "unchanged"
    NOT_APPLIED = "not_applied"
    #: 缴存人信息变更 of 姓名 or 证件号码: waits for a reviewer; then ACCEPTED, RETURNED or REFUSED.
    PENDING_REVIEW = "pending_review"
    RETURNED = "returned"
    REFUSED = "refused"

    @property
    def label(self) -> str:
        labels = {"accepted": "已受理", "rejected": "错误", "counter": "转柜台", "unchanged": "未变化", "not_applied": "未办理"}
        labels |= {"pending_review": "待审核", "returned": "审核退回", "refused": "审核不通过"}
        return labels[self.value]


@dataclass
class Sheet:
    """What the read stage found in a file: every cell as text, with its Excel row number.

    The data cells are held by column (``columns[i]`` is the column headed ``header[i]``, one
    text per data row): the schema stage cleans and checks a column at a time. ``raw`` holds
    every row of the sheet as it was read (title rows included, index = Excel row − 1) so the
    rejection report can give the unit back its own sheet.
    """

    name: str
    header_row: int
    header: list[str]
    columns: list[list[str]]
    excel_rows: list[int]
    raw: list[list[Any]]
    total_row: list[str] | None = None
    total_excel_row: int | None = None

    @property
    def rows(self) -> list[list[str]]:
        """The data rows as lists of cell text (built on each call: a big sheet is read by column)."""
        return [list(row) for row in zip(*self.columns)]

    @property
    def row_count(self) -> int:
        return len(self.excel_rows)


NOTHING: Mapping[str, Any] = MappingProxyType({})  # a row's amounts and computed until it is given its own


class RowResult:
    """One data row of a file after the schema and rules stages.

    ``values`` maps each template column to the row's normalised cell. A row the schema stage made
    from the sheet's columns (:meth:`in_columns`) makes that dict from them when it is first read:
    the rows of a big accepted file are mostly read a column at a time (records, row parts,
    detail.csv; see :attr:`BatchResult.columns`). The values are never changed once made.
    ``amounts`` and ``computed`` are the read-only :data:`NOTHING` until a rule gives the row its own
    (``row.amounts = {...}``, ``row.computed = {**row.computed, name: text}``); rows may share a
    read-only one (a back-pay amount's). So 100k rows make no 100k dicts: each costs tens of megabytes.
    """

    __slots__ = ("excel_row", "seq_no", "status", "issues", "amounts", "computed", "_values", "_columns", "_index")

    def __init__(
        self,
        excel_row: int,
        seq_no: str,
        values: dict[str, str],
        status: RowStatus = RowStatus.ACCEPTED,
        issues: list[Issue] | None = None,
        amounts: Mapping[str, Decimal] | None = None,
        computed: Mapping[str, str] | None = None,
    ) -> None:
        self.excel_row = excel_row
        self.seq_no = seq_no
        self.status = status
        self.issues: list[Issue] = [] if issues is None else issues
        self.amounts: Mapping[str, Decimal] = NOTHING if amounts is None else amounts
        self.computed: Mapping[str, str] = NOTHING if computed is None else computed
        self._values: dict[str, str] | None = values
        self._columns: dict[str, list[str]] | None = None
        self._index = 0

    @classmethod
    def in_columns(cls, excel_row: int, seq_no: str, columns: dict[str, list[str]], index: int) -> RowResult:
        """The row at ``index`` of ``columns`` (one list of cells per column), its values made when read."""
        row = cls.__new__(cls)
        row.excel_row, row.seq_no, row.status = excel_row, seq_no, RowStatus.ACCEPTED
        row.issues, row.amounts, row.computed = [], NOTHING, NOTHING
        row._values, row._columns, row._index = None, columns, index
        return row

    @property
    def values(self) -> dict[str, str]:
        values = self._values
        if values is None:
            index, columns = self._index, self._columns or {}
            values = self._values = {name: column[index] for name, column in columns.items()}
            self._columns = None
        return values

    @values.setter
    def values(self, values: dict[str, str]) -> None:
        self._values, self._columns = values, None

    def _fields(self) -> tuple[Any, ...]:
        return (self.excel_row, self.seq_no, self.values, self.status, self.issues, self.amounts, self.computed)

    def __eq__(self, other: object) -> bool:
        return self._fields() == other._fields() if isinstance(other, RowResult) else NotImplemented

    __hash__ = None  # type: ignore[assignment]  # mutable, like the dataclass it was

    def __repr__(self) -> str:
        fields = ", ".join(repr(value) for value in self._fields())
        return f"RowResult({fields})"

    @property
    def errors(self) -> list[Issue]:
        return [issue for issue in self.issues if not issue.code.is_counter]

    def to_dict(self, shown: dict[int, dict[str, str]] | None = None) -> dict[str, Any]:
        """The row as result.json shows it.

        ``shown``, from a caller encoding many rows at once, keeps the texts of each ``amounts`` dict
        made so far by its ``id`` (the caller's rows hold them all alive meanwhile); rows that share
        one dict (汇缴: one per base among 100k members) share its texts, made once, and the dicts
        returned share them too. Measured on a 100k-member 汇缴's result.json (benchmarks/, README).
        """
        amounts = self.amounts
        texts = None if shown is None else shown.get(id(amounts))
        if texts is None:
            texts = {name: money_text(value) for name, value in amounts.items()}
            if shown is not None:
                shown[id(amounts)] = texts
        data: dict[str, Any] = {
            "row": self.excel_row,
            "序号": self.seq_no,
            "status": str(self.status),
            "errors": [{"code": str(i.code), "column": i.column, "message": i.message} for i in self.issues],
            "amounts": texts,
        }
        if self.computed:
            data["computed"] = dict(self.computed)
        return data


@dataclass(frozen=True)
class MonthAssessment:
    """One month's 汇缴核定 of a unit (SPEC.md "汇缴"): 上期, 本期增加, 本期减少 and 本期, counts and amounts.

    ``count = previous_count + increase_count - decrease_count`` and the same for the amounts, always.
    An amount is a month's 单位 + 个人 月缴存额 summed over the members.
    """

    month: str  # yyyy-mm
    previous_count: int
    previous_amount: Decimal
    increase_count: int
    increase_amount: Decimal
    decrease_count: int
    decrease_amount: Decimal
    count: int
    amount: Decimal

    def to_dict(self) -> dict[str, Any]:
        return {
            "month": self.month,
            "previous": {"count": self.previous_count, "amount": money_text(self.previous_amount)},
            "increase": {"count": self.increase_count, "amount": money_text(self.increase_amount)},
            "decrease": {"count": self.decrease_count, "amount": money_text(self.decrease_amount)},
            "current": {"count": self.count, "amount": money_text(self.amount)},
        }


@dataclass(frozen=True)
class DepartedMember:
    """A member of the previous 汇缴核定 who is not in this one (封存, moved out): listed as 减少 in the 清册."""

    member_account: str
    name: str
    id_number: str
    base: Decimal
    unit_amount: Decimal
    personal_amount: Decimal

    @property
    def total(self) -> Decimal:
        return self.unit_amount + self.personal_amount

    def to_dict(self) -> dict[str, Any]:
        """As result.json lists it: who (no 证件号码, as its rows carry none) and the amounts that left."""
        return {
            "个人账号": self.member_account,
            "姓名": self.name,
            "amounts": {
                "个人缴存基数": money_text(self.base),
                "单位月缴存额": money_text(self.unit_amount),
                "个人月缴存额": money_text(self.personal_amount),
                "月缴存额": money_text(self.total),
            },
        }


#: The suffix a stored scan is exported with, by its content type.
DOCUMENT_SUFFIXES = {"application/pdf": "pdf", "image/jpeg": "jpg", "image/png": "png"}


@dataclass(frozen=True)
class Document:
    """A scan that came in a zip drop, checked by its bytes (:mod:`pipeline.read.bundle`); the bytes
    stay in the zip until the store keeps them (content-addressed by ``sha256``)."""

    entry: str
    #: Whose row it belongs to (the 个人账号, or the 证件号码 of a 缴存人登记 row); "" for a document of the whole file.
    member_account: str
    kind: str
    content_type: str
    size: int
    sha256: str

    @property
    def suffix(self) -> str:
        return DOCUMENT_SUFFIXES[self.content_type]


_status_of = attrgetter("status")
_amounts_of = attrgetter("amounts")


@dataclass
class BatchResult:
    """Everything about one received file; the database row and every output derive from it."""

    batch_id: str
    unit_account: str
    unit_name: str
    kind: str | None
    source_name: str
    sha256: str
    business_date: date
    status: BatchStatus
    serial_number: str | None = None
    header: list[str] = field(default_factory=list)
    file_issues: list[Issue] = field(default_factory=list)
    rows: list[RowResult] = field(default_factory=list)
    contact_name: str = ""
    contact_phone: str = ""
    duplicate_of: str | None = None
    #: The earlier batch of the same bytes, rejected as a whole, that this one processes again.
    resubmission_of: str | None = None
    processed_at: datetime | None = None
    #: The rows' values by column (``columns[name][i] is rows[i].values[name]``) while a checked
    #: file is processed, so big stages can take a column at once; None once the values are
    #: forgotten, and for rows loaded from the database. See :meth:`column`.
    columns: dict[str, list[str]] | None = None
    #: 汇缴 only: the 核定 of each month the file covers, and the members of the previous 核定 who left.
    assessments: list[MonthAssessment] = field(default_factory=list)
    departed: list[DepartedMember] = field(default_factory=list)
    #: The scans of a zip drop, as checked; kept by the store with the review requests they belong to.
    documents: list[Document] = field(default_factory=list)

    def column(self, name: str) -> list[str]:
        """Every row's value of ``name`` (``""`` where a row has none), in row order; not to be changed."""
        if self.columns is not None and name in self.columns:
            return self.columns[name]
        return [row.values.get(name, "") for row in self.rows]

    def forget_clean_values(self) -> None:
        """Drop the cell values of rows without issues, once every output has been written.

        A run keeps each file's result for its staff summary, which shows a row only when it has
        an issue; counts, statuses and amounts stay. Without this, a night with several 100k-row
        files would hold all their cells until the summary.
        """
        columns, self.columns = self.columns, None
        for row in self.rows:
            if row.issues:
                row.values = row.values  # made now if not yet: the row keeps its own
            elif row._values:
                row._values = {}
        if columns is not None:
            columns.clear()  # the rows not read yet made their values from these: now they have none

    @property
    def all_issues(self) -> list[Issue]:
        return self.file_issues + [issue for row in self.rows for issue in row.issues]

    @property
    def errors(self) -> list[Issue]:
        return [issue for issue in self.all_issues if not issue.code.is_counter]

    @property
    def accepted_rows(self) -> list[RowResult]:
        return [row for row in self.rows if row.status is RowStatus.ACCEPTED]

    def has_accepted_rows(self) -> bool:
        """Whether any row was accepted, without listing them (a big batch has 100k)."""
        return self.has_status(RowStatus.ACCEPTED)

    def has_status(self, *statuses: RowStatus) -> bool:
        """Whether any row has one of ``statuses``: one pass over the rows at C speed, stopping at the first."""
        return not frozenset(statuses).isdisjoint(map(_status_of, self.rows))

    def count(self, status: RowStatus) -> int:
        return sum(1 for row in self.rows if row.status is status)

    def status_counts(self) -> dict[RowStatus, int]:
        """Rows per status, every status included, counted at C speed."""
        return {status: 0 for status in RowStatus} | Counter(map(_status_of, self.rows))

    def accepted_total(self, amount: str) -> Decimal:
        return self._accepted_sums([amount])[amount]

    def _accepted_sums(self, names: list[str]) -> dict[str, Decimal]:
        """The sum of each amount over the accepted rows (0 where none has it)."""
        accepted = RowStatus.ACCEPTED
        amounts = [row.amounts for row in self.rows if row.status is accepted]
        return {name: sum([row[name] for row in amounts if name in row], Decimal(0)) for name in names}

    def totals(self) -> dict[str, Any]:
        """Row counts per status and the accepted rows' amounts, a few passes over the rows at C speed.

        Every amount any row has is listed, at 0.00 when no accepted row has it.
        """
        counts = self.status_counts()
        sums = self._accepted_sums(sorted(set(chain.from_iterable(map(_amounts_of, self.rows)))))
        return {
            "rows": len(self.rows),
            **{str(status): counts[status] for status in RowStatus},
            "amounts": {name: money_text(sums[name]) for name in sorted(sums)},
        }

    def to_dict(self, *, rows: bool = True) -> dict[str, Any]:
        """The content of result.json; ``rows=False`` leaves the rows out (they are streamed)."""
        head = {
            "batch_id": self.batch_id,
            "unit": self.unit_account,
            "unit_name": self.unit_name,
            "kind": self.kind,
            "source_file": self.source_name,
            "sha256": self.sha256,
            "business_date": self.business_date.isoformat(),
            "status": str(self.status),
            "serial_number": self.serial_number,
            "duplicate_of": self.duplicate_of,
            "resubmission_of": self.resubmission_of,
            "processed_at": self.processed_at.isoformat(timespec="seconds") if self.processed_at else None,
            "totals": self.totals(),
            "file_errors": [issue.to_dict() for issue in self.file_issues],
        }
        if self.assessments:
            head["assessments"] = [assessment.to_dict() for assessment in self.assessments]
            head["departed"] = [member.to_dict() for member in self.departed]
        return {**head, "rows": [row.to_dict() for row in self.rows]} if rows else head
