"""The database's tables as SQLAlchemy 2 models.

The schema is only ever created by the migrations in ``pipeline/store/migrations`` (a test holds
the migrations at head to exactly these models); the engine is in :mod:`pipeline.store.engine`.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from pipeline.store.states import REMIT_UNPAID, REVIEW_PENDING


def refuse_float(value: Any) -> None:
    """Money is stored from ``Decimal`` (or its text), never from a float: 0.1 is 0.1000000000000000055…"""
    if isinstance(value, float):
        raise TypeError(f"a money column takes a Decimal, never a float ({value!r}); convert the cell text with Decimal(text)")


class DecimalText(TypeDecorator[Decimal]):
    """Exact decimals on SQLite, which has no decimal type (SQLAlchemy would go through float)."""

    impl = String(40)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Any) -> str | None:
        if value is None:
            return None
        refuse_float(value)
        return str(Decimal(value))

    def process_result_value(self, value: Any, dialect: Any) -> Decimal | None:
        return None if value is None else Decimal(value)


class ExactNumeric(TypeDecorator[Decimal]):
    """``NUMERIC`` (PostgreSQL) that refuses a float as :class:`DecimalText` does on SQLite."""

    impl = Numeric
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Any) -> Any:
        refuse_float(value)
        return value


def Money(precision: int = 14, scale: int = 2) -> Any:  # noqa: N802 - reads like a column type
    return ExactNumeric(precision, scale, asdecimal=True).with_variant(DecimalText(), "sqlite")


class Base(DeclarativeBase):
    pass


class Unit(Base):
    __tablename__ = "units"

    unit_account: Mapped[str] = mapped_column(String(20), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    credit_code: Mapped[str] = mapped_column(String(18), default="")
    unit_ratio: Mapped[Decimal] = mapped_column(Money(6, 4))
    personal_ratio: Mapped[Decimal] = mapped_column(Money(6, 4))
    status: Mapped[str] = mapped_column(String(10), default="正常")
    paid_to_month: Mapped[str] = mapped_column(String(7), default="")
    contact_name: Mapped[str] = mapped_column(String(50), default="")
    contact_phone: Mapped[str] = mapped_column(String(20), default="")


#: Members whose account is open: a 证件号码 belongs to at most one of them (SPEC.md, Decisions).
OPEN_MEMBER = "status <> '销户'"

#: Batches that took a file's bytes for good: the same bytes again are a duplicate of them. A file
#: rejected as a whole applied nothing, and its bytes may be sent again (SPEC.md, Decisions).
TOOK_THE_BYTES = "status NOT IN ('duplicate', 'rejected') AND withdrawn_at IS NULL"


class Member(Base):
    __tablename__ = "members"
    __table_args__ = (
        Index("uq_members_open_id_number", "id_number", unique=True, sqlite_where=text(OPEN_MEMBER), postgresql_where=text(OPEN_MEMBER)),
    )

    member_account: Mapped[str] = mapped_column(String(20), primary_key=True)
    unit_account: Mapped[str] = mapped_column(String(20), ForeignKey("units.unit_account"), index=True)
    name: Mapped[str] = mapped_column(String(50))
    id_type: Mapped[str] = mapped_column(String(20), default="身份证")
    id_number: Mapped[str] = mapped_column(String(30), index=True)  # 30: the longest 证件号码 of any 证件类型 (其他)
    status: Mapped[str] = mapped_column(String(10), default="正常")
    base: Mapped[Decimal] = mapped_column(Money())
    balance: Mapped[Decimal] = mapped_column(Money())
    opened_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    seal_reason: Mapped[str] = mapped_column(String(20), default="")
    last_base_adjust_year: Mapped[int | None] = mapped_column(Integer, nullable=True)
    profile: Mapped[dict[str, str] | None] = mapped_column(JSON, nullable=True)


class Batch(Base):
    """One received file. ``stage`` tells how far processing got: claimed → stored → done."""

    __tablename__ = "batches"
    __table_args__ = (
        Index(
            "uq_batches_unit_sha256",
            "unit_account",
            "sha256",
            unique=True,
            sqlite_where=text(TOOK_THE_BYTES),
            postgresql_where=text(TOOK_THE_BYTES),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    batch_id: Mapped[str | None] = mapped_column(String(40), unique=True, nullable=True)
    run_id: Mapped[str] = mapped_column(String(40), index=True)
    unit_account: Mapped[str] = mapped_column(String(20), index=True)
    kind: Mapped[str | None] = mapped_column(String(20), nullable=True)
    source_name: Mapped[str] = mapped_column(String(255))
    sha256: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(20))
    stage: Mapped[str] = mapped_column(String(10), default="claimed")
    serial_number: Mapped[str | None] = mapped_column(String(30), unique=True, nullable=True)
    business_date: Mapped[date] = mapped_column(Date, index=True)  # the day's staff summary reads a day's batches
    received_at: Mapped[datetime] = mapped_column(DateTime)
    processed_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    duplicate_of: Mapped[str | None] = mapped_column(String(40), nullable=True)
    resubmission_of: Mapped[str | None] = mapped_column(String(40), nullable=True)
    #: When what the batch did was undone as a whole (``gjj remit delete``): its bytes may come again.
    withdrawn_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    header: Mapped[list[str]] = mapped_column(JSON, default=list)
    row_count: Mapped[int] = mapped_column(Integer, default=0)
    error_count: Mapped[int] = mapped_column(Integer, default=0)
    #: Rows per status and the accepted rows' amounts (``BatchResult.totals()``), so the day's staff
    #: summary never reads a batch's rows for them; null for batches stored before migration 0007.
    totals: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)


class RunEvent(Base):
    """Something a run reported that is not a batch: a file that failed, a folder or file it may not
    read, a file in a subfolder, a file quarantined unread (``kind``, see :mod:`pipeline.store.events`).

    Kept so that the day's staff summary holds every worker's reports, whoever made them.
    """

    __tablename__ = "run_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(String(40))
    business_date: Mapped[date] = mapped_column(Date, index=True)
    kind: Mapped[str] = mapped_column(String(20))
    unit_account: Mapped[str] = mapped_column(String(255))  # a folder name: not always a unit's account
    source_name: Mapped[str] = mapped_column(Text)  # empty for a whole unit folder; ``sub/x.xlsx`` for a file in a subfolder
    message: Mapped[str] = mapped_column(Text)
    happened_at: Mapped[datetime] = mapped_column(DateTime)


class BatchRowPart(Base):
    """The rows of a batch as received and judged, ``ROWS_PER_PART`` rows per JSON document.

    A part holds its rows by column: ``{"excel_row": [...], "seq_no": [...], "status": [...],
    "values": {cell: [...]}, "amounts": {name: [...]}, "computed": [...] or null}``, null where a
    row lacks a cell or amount (parts written before 2026-11 are lists of rows
    ``[excel_row, 序号, status, values, amounts, computed]``; both are read). Rows are kept for
    re-rendering a batch's outputs, never queried one by one (business effects and issues have
    tables of their own), so a 100k-row file is twenty inserts instead of 100,000.
    """

    __tablename__ = "batch_row_parts"
    __table_args__ = (UniqueConstraint("batch_pk", "part"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    batch_pk: Mapped[int] = mapped_column(ForeignKey("batches.id"), index=True)
    part: Mapped[int] = mapped_column(Integer)
    row_count: Mapped[int] = mapped_column(Integer)
    rows: Mapped[list[Any]] = mapped_column(JSON)


ROWS_PER_PART = 5000


class BatchIssue(Base):
    __tablename__ = "batch_issues"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    batch_pk: Mapped[int] = mapped_column(ForeignKey("batches.id"), index=True)
    excel_row: Mapped[int | None] = mapped_column(Integer, nullable=True)
    column: Mapped[str | None] = mapped_column(String(50), nullable=True)
    code: Mapped[str] = mapped_column(String(40))
    message: Mapped[str] = mapped_column(Text)


class BackPayRecord(Base):
    """补缴记录: entered (未分配) until the centre allocates it, or deleted (已删除) by the unit."""

    __tablename__ = "backpay_records"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    batch_pk: Mapped[int] = mapped_column(ForeignKey("batches.id"), index=True)
    unit_account: Mapped[str] = mapped_column(String(20), index=True)
    member_account: Mapped[str] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(50))
    id_number: Mapped[str] = mapped_column(String(18))
    reason: Mapped[str] = mapped_column(String(20))
    start_month: Mapped[str] = mapped_column(String(7))
    end_month: Mapped[str] = mapped_column(String(7))
    amount: Mapped[Decimal] = mapped_column(Money())
    state: Mapped[str] = mapped_column(String(10), default="未分配")
    serial_number: Mapped[str] = mapped_column(String(30))
    entered_on: Mapped[date] = mapped_column(Date)
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


class MemberChange(Base):
    """One change a file made to a member (登记, 基数调整, 封存, 启封, 单位调整), with before and after."""

    __tablename__ = "member_changes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    batch_pk: Mapped[int] = mapped_column(ForeignKey("batches.id"), index=True)
    member_account: Mapped[str] = mapped_column(String(20), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    changed_month: Mapped[str] = mapped_column(String(7), default="")
    before: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    after: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)


class AccountCounter(Base):
    """The last 个人账号 sequence given out per unit (see :func:`pipeline.store.effects.registration.new_account`)."""

    __tablename__ = "account_counters"

    unit_account: Mapped[str] = mapped_column(String(20), primary_key=True)
    last_value: Mapped[int] = mapped_column(Integer)


class SerialCounter(Base):
    """The last serial number given out per business day; gap-free because it commits with the batch."""

    __tablename__ = "serial_counters"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    last_value: Mapped[int] = mapped_column(Integer)



#: 核定 that stand: a month of a unit is assessed at most once among them.
REMIT_STANDING = "state <> '已删除'"


class RemitAssessment(Base):
    """汇缴核定: one month of a unit's accepted 汇缴清册 (SPEC.md "汇缴"); a file covering three months makes three.

    ``state`` is 未入账 until the core system's feed (``gjj load --payments``) books the money
    (已入账), or 已删除 when the unit deleted it (the latest, unpaid only). ``paid_to_before`` is the
    unit's 缴至年月 before the file, put back on delete.
    """

    __tablename__ = "remit_assessments"
    __table_args__ = (
        Index("uq_remit_unit_month", "unit_account", "month", unique=True, sqlite_where=text(REMIT_STANDING), postgresql_where=text(REMIT_STANDING)),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    batch_pk: Mapped[int] = mapped_column(ForeignKey("batches.id"), index=True)
    unit_account: Mapped[str] = mapped_column(String(20), index=True)
    month: Mapped[str] = mapped_column(String(7))
    serial_number: Mapped[str] = mapped_column(String(30), index=True)
    previous_count: Mapped[int] = mapped_column(Integer)
    previous_amount: Mapped[Decimal] = mapped_column(Money())
    increase_count: Mapped[int] = mapped_column(Integer)
    increase_amount: Mapped[Decimal] = mapped_column(Money())
    decrease_count: Mapped[int] = mapped_column(Integer)
    decrease_amount: Mapped[Decimal] = mapped_column(Money())
    count: Mapped[int] = mapped_column(Integer)
    amount: Mapped[Decimal] = mapped_column(Money())
    paid_to_before: Mapped[str] = mapped_column(String(7), default="")
    state: Mapped[str] = mapped_column(String(10), default=REMIT_UNPAID)
    assessed_on: Mapped[date] = mapped_column(Date)
    paid_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    paid_amount: Mapped[Decimal | None] = mapped_column(Money(), nullable=True)
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    #: The members of the previous 核定 who are not in this one (first month of a file only), as
    #: ``[{"个人账号", "姓名", "证件号码", "个人缴存基数", "单位月缴存额", "个人月缴存额"}]`` texts.
    departed: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list)


class RemitMember(Base):
    """A unit's baseline: its 正常 members as ``gjj load`` last delivered them, with their base and
    monthly amounts, the 上期 of the unit's first 核定 here (``batch_pk`` NULL).

    The members a 核定 counted (the next one's 上期) are its batch's rows in ``batch_row_parts``
    (a 汇缴清册 is accepted whole): batch rows are no longer written here, so ``batch_pk`` is
    always NULL; the column stays (nullable) from migration 0007.
    """

    __tablename__ = "remit_members"
    __table_args__ = (Index("ix_remit_members_unit_batch", "unit_account", "batch_pk"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    batch_pk: Mapped[int | None] = mapped_column(ForeignKey("batches.id"), nullable=True)
    unit_account: Mapped[str] = mapped_column(String(20))
    member_account: Mapped[str] = mapped_column(String(20))
    base: Mapped[Decimal] = mapped_column(Money())
    unit_amount: Mapped[Decimal] = mapped_column(Money())
    personal_amount: Mapped[Decimal] = mapped_column(Money())


#: The states of a review request (SPEC.md "Member details change and review"); only 待审核 is open.


class ReviewRequest(Base):
    """A 缴存人信息变更 row that waits for a reviewer (姓名, 证件号码): what it would change, and the decision."""

    __tablename__ = "review_requests"
    __table_args__ = (Index("ix_review_requests_member_state", "member_account", "state"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    batch_pk: Mapped[int] = mapped_column(ForeignKey("batches.id"), index=True)
    excel_row: Mapped[int] = mapped_column(Integer)
    unit_account: Mapped[str] = mapped_column(String(20), index=True)
    member_account: Mapped[str] = mapped_column(String(20))
    item: Mapped[str] = mapped_column(String(20))
    old_value: Mapped[str] = mapped_column(String(100))
    new_value: Mapped[str] = mapped_column(String(100))
    reason: Mapped[str] = mapped_column(Text, default="")
    state: Mapped[str] = mapped_column(String(10), default=REVIEW_PENDING)
    submitted_at: Mapped[datetime] = mapped_column(DateTime)
    decided_by: Mapped[str | None] = mapped_column(String(50), nullable=True)
    decided_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    decision_reason: Mapped[str | None] = mapped_column(Text, nullable=True)


class ReviewDecision(Base):
    """Every decision on a review request, kept: who, when, what and why."""

    __tablename__ = "review_decisions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("review_requests.id"), index=True)
    state: Mapped[str] = mapped_column(String(10))
    decided_by: Mapped[str] = mapped_column(String(50))
    decided_at: Mapped[datetime] = mapped_column(DateTime, index=True)  # the day's staff summary lists a day's decisions
    reason: Mapped[str] = mapped_column(Text, default="")


class StoredDocument(Base):
    """A scan kept by its content (:mod:`pipeline.store.documents`): the bytes are the file
    ``var/documents/<aa>/<sha256>``, never in any outbox; one row however many requests use it."""

    __tablename__ = "documents"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    content_type: Mapped[str] = mapped_column(String(50))
    size: Mapped[int] = mapped_column(Integer)
    first_seen: Mapped[datetime] = mapped_column(DateTime)


class RequestDocument(Base):
    """A scan that came with a review request: its kind (身份证, 证明) and its name in the unit's zip."""

    __tablename__ = "review_request_documents"
    __table_args__ = (UniqueConstraint("request_id", "kind", name="uq_review_request_documents_request_kind"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("review_requests.id"), index=True)
    sha256: Mapped[str] = mapped_column(ForeignKey("documents.sha256"), index=True)
    kind: Mapped[str] = mapped_column(String(10))
    entry_name: Mapped[str] = mapped_column(String(255))

