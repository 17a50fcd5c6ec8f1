"""What the rules may know: the unit, its own members, and what the store can look up for them.

Rules never open a session themselves; they ask the :class:`MasterData` the store stage hands
over (one query per question, never one per row). Lookups of other units' members exist only for
the businesses that need them (单位调整, 缴存人登记) and never leak into a message; 补缴 may ask
about members who left this very unit (:class:`FormerMember`), never about another unit's.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from functools import cached_property, partial
from typing import NamedTuple, Protocol, TypeVar

from pipeline.config import CentreConfig
from pipeline.errors import Code, Issue
from pipeline.model import Document, RowResult, RowStatus
from schemas.cells import MIDDLE_DOT, id18, id_maybe_cut


@dataclass(frozen=True)
class UnitInfo:
    unit_account: str
    name: str
    unit_ratio: Decimal
    personal_ratio: Decimal
    status: str
    contact_name: str = ""
    contact_phone: str = ""
    #: 缴至年月 (yyyy-mm): the last month the unit's 汇缴 is assessed to; empty when master data has none.
    paid_to_month: str = ""

    @property
    def is_active(self) -> bool:
        """Whether the unit's account may do business (单位账户状态 正常)."""
        return self.status == "正常"


class MemberInfo(NamedTuple):
    """A member as the rules see it (a tuple: a 100k-member unit makes 100k of them per file)."""

    member_account: str
    unit_account: str
    name: str
    id_number: str
    status: str
    base: Decimal
    balance: Decimal
    seal_reason: str = ""
    last_base_adjust_year: int | None = None


class MemberIdentity(NamedTuple):
    """Who a member is, for the files that only check it (补缴): a third of a :class:`MemberInfo` to read."""

    member_account: str
    name: str
    id_number: str


#: Joins a member's (个人账号, 姓名, 证件号码) into one text: a unit's 100k identities are 100k strings
#: rather than 100k tuples of three (≈13 MB less at a big file's peak). No cell that passes its schema
#: holds it, and only rows that pass it are decided.
IDENTITY_SEPARATOR = "\x1f"
_join_identity = IDENTITY_SEPARATOR.join


def identity_key(account: str, name: str, id_number: str) -> str:
    """A member's identity as :attr:`RuleContext.identity_set` holds it."""
    return _join_identity((account, name, id_number))


def identity_keys(accounts: Iterable[str], names: Iterable[str], id_numbers: Iterable[str]) -> Iterator[str]:
    """The identities of rows given by column, in row order (at C speed)."""
    return map(_join_identity, zip(accounts, names, id_numbers))


def split_identity(key: str) -> MemberIdentity:
    return MemberIdentity._make(key.split(IDENTITY_SEPARATOR))


class FormerMember(NamedTuple):
    """A member who left a unit by 离职封存 (moved to the 集中封存户), as that unit may still name them.

    姓名 and 证件号码 are the member's as recorded now; ``sealed_month`` is the 变更年月 of the 封存
    that moved them out of the unit (the latest, if they left it more than once).
    """

    member_account: str
    name: str
    id_number: str
    sealed_month: str


class RemitLine(NamedTuple):
    """One member of a 汇缴核定 (or of a unit's baseline as ``gjj load`` delivered it): base and monthly amounts."""

    member_account: str
    base: Decimal
    unit_amount: Decimal
    personal_amount: Decimal

    @property
    def total(self) -> Decimal:
        """月缴存额: 单位 + 个人, each already rounded on its own."""
        return self.unit_amount + self.personal_amount


#: A :class:`RemitLine` made from a tuple at C speed (``tuple.__new__``): no Python call per member.
new_line = partial(tuple.__new__, RemitLine)


@dataclass(frozen=True)
class RecordedBackPay:
    member_account: str
    start_month: str
    end_month: str
    serial_number: str


class MasterData(Protocol):
    """The questions rules may ask the database; implemented by :class:`pipeline.store.batches.SqlMasterData`."""

    def unit_members(self, unit_account: str) -> dict[str, MemberInfo]: ...

    def unit_identities(self, unit_account: str) -> frozenset[str]:
        """This unit's members as their (个人账号, 姓名, 证件号码) joined (:func:`identity_key`)."""
        ...

    def members(self, accounts: Iterable[str]) -> dict[str, MemberInfo]: ...

    def unit_identities_and_bases(self, unit_account: str) -> tuple[frozenset[str], dict[str, Decimal | None]]:
        """:meth:`unit_identities`, and the 缴存基数 of this unit's 正常 members by 个人账号, from one look at
        the members (汇缴's screen: a fraction of :meth:`unit_members`)."""
        ...

    def registered_ids(self, id_numbers: Iterable[str]) -> set[str]:
        """The ``id_numbers`` someone has an account with, open or not, recorded in either form (15 or 18 digits)."""
        ...

    def unit(self, unit_account: str) -> UnitInfo | None: ...

    def recorded_backpay(self, unit_account: str) -> dict[str, list[RecordedBackPay]]: ...

    def former_members(self, unit_account: str, sealed_unit: str, accounts: Iterable[str]) -> dict[str, FormerMember]:
        """Of ``accounts``, the members who left this unit by a 封存 that moved them to ``sealed_unit``
        (the ``member_changes`` trail), by 个人账号; members of this unit now are not in it. One query,
        asked only for accounts that are not the unit's members; never about another unit's leavers."""
        ...

    def applied_batches(self, unit_account: str, kind: str, since: date, until: date) -> list[str]: ...

    def last_remit_month(self, unit_account: str) -> str:
        """The latest month (yyyy-mm) of the unit's 汇缴核定 that stand (not deleted); ``""`` when none does."""
        ...

    def remit_previous(self, unit_account: str) -> dict[str, RemitLine]:
        """Who the unit's latest standing 汇缴核定 counted, by 个人账号; without one, the unit's 正常
        members as ``gjj load`` last delivered them (the 上期 of its first 核定 here)."""
        ...

    def ids_in_use(self, id_numbers: Iterable[str]) -> dict[str, str]:
        """Of ``id_numbers``, those an open account holds (in either form), each with that 个人账号."""
        ...

    def open_reviews(self, accounts: Iterable[str]) -> set[str]:
        """Of ``accounts``, the members with a review request still 待审核."""
        ...

    def lock_members(self) -> None:
        """Wait until no other worker's file changes members, and keep them out until this file commits."""


@dataclass
class RuleContext:
    config: CentreConfig
    unit: UnitInfo
    business_date: date
    data: MasterData
    notes: dict[str, object] = field(default_factory=dict)
    #: What the template's ``screen`` found in a big sheet while its schema was checked (see :mod:`pipeline.rules`).
    screened: object = None
    #: The rows the schema check already refused, which ``apply`` is not given: a rule about the file
    #: as a whole (汇缴: every 正常 member listed) still sees whom they name.
    schema_failed: list[RowResult] = field(default_factory=list)
    #: The good scans of a zip drop, for a kind that takes documents (``DOCUMENTS = True``); none for a plain file.
    documents: tuple[Document, ...] = ()

    @cached_property
    def members(self) -> dict[str, MemberInfo]:
        """This unit's members by 个人账号 (another unit's members are simply absent)."""
        return self.data.unit_members(self.unit.unit_account)

    @cached_property
    def identity_set(self) -> frozenset[str]:
        """Who this unit's members are, as recorded: a row names a member rightly when its (个人账号, 姓名,
        证件号码) is in it (:func:`identity_key`), or (the other form of a 证件号码, see :meth:`names_member`)
        when it is not."""
        return self.data.unit_identities(self.unit.unit_account)

    @cached_property
    def active_bases(self) -> dict[str, Decimal | None]:
        """The 缴存基数 of this unit's 正常 members by 个人账号 (汇缴). Read with :attr:`identity_set`, in one
        look at the members, which gives :attr:`identity_set` its value when it has none yet."""
        identities, bases = self.data.unit_identities_and_bases(self.unit.unit_account)
        self.__dict__.setdefault("identity_set", identities)  # where the cached property keeps its value
        return bases

    @cached_property
    def legacy_identities(self) -> frozenset[str]:
        """The members recorded with a legacy 15-digit 证件号码, with its 18-digit form (:func:`schemas.cells.id18`).

        Made when first asked (one pass over the members), which is only when a row's identity is
        not in :attr:`identity_set` as written.
        """
        members = map(split_identity, self.identity_set)
        return frozenset(identity_key(account, name, id18(id_number)) for account, name, id_number in members if len(id_number) == 15)

    def names_member(self, account: str, name: str, id_number: str) -> bool:
        """Whether (个人账号, 姓名, 证件号码) names a member of this unit, the 证件号码 in either form:
        both sides compared in their 18-digit form, as :func:`check_identity` compares them."""
        if identity_key(account, name, id_number) in self.identity_set:
            return True
        full = identity_key(account, name, id18(id_number))
        return full in self.identity_set or full in self.legacy_identities

    @cached_property
    def identities(self) -> dict[str, MemberIdentity]:
        """Who this unit's members are, by 个人账号: for rules that need nothing else of them."""
        return {identity.member_account: identity for identity in map(split_identity, self.identity_set)}


def not_found(row: RowResult, account: str) -> None:
    row.issues.append(Issue(Code.MEMBER_NOT_FOUND, f"个人账号「{account}」在本单位不存在，请核对", row.excel_row, "个人账号"))


Member = TypeVar("Member", MemberInfo, MemberIdentity)


def same_id(recorded: str, written: str) -> bool:
    """Whether a file's 证件号码 is the recorded one: equal, or equal in 18-digit form (a legacy 15-digit
    number names the same person as its 18-digit form; :func:`schemas.cells.id18`)."""
    return recorded == written or id18(recorded) == id18(written)


def check_identity(row: RowResult, member: MemberInfo | MemberIdentity) -> bool:
    """姓名 and 证件号码 must be the member's; changing them needs the centre's approval.

    Both are compared as cleaned (:func:`schemas.cells.clean_name`: spaces and look-alike dots
    already made one). A 证件号码 in its other form (15 digits for 18, or the reverse) is the
    member's (:func:`same_id`). Where the difference is what a spreadsheet does — a middle dot left
    out or typed as a space, an ID whose last three digits Excel turned into 000 — the message says so
    (the recorded number compared in its 18-digit form, so a member recorded by the legacy 15 digits
    gets the hint too).
    """
    ok = True
    account = member.member_account
    name, id_number = row.values["姓名"], row.values["证件号码"]
    if member.name != name:
        hint = ""
        if member.name.replace(MIDDLE_DOT, "") == name.replace(MIDDLE_DOT, ""):
            hint = "（两者只差间隔号「·」：请按身份证上的姓名填写，间隔号不要省略，也不要用空格代替）"
        row.issues.append(
            Issue(
                Code.NAME_MISMATCH,
                f"姓名「{name}」与个人账号「{account}」登记的姓名不符{hint}；姓名变更须到中心审批，不能通过文件办理",
                row.excel_row,
                "姓名",
            )
        )
        ok = False
    if not same_id(member.id_number, id_number):
        hint = ""
        if id_maybe_cut(id_number) and id18(member.id_number)[:15] == id_number[:15]:
            hint = "（号码末三位是000，可能是在数字格式的单元格中输入后被Excel截断了；请把该列设为文本格式后重新输入完整的18位号码）"
        row.issues.append(
            Issue(
                Code.ID_MISMATCH,
                f"证件号码与个人账号「{account}」登记的证件号码不符{hint}；证件号码变更须到中心审批，不能通过文件办理",
                row.excel_row,
                "证件号码",
            )
        )
        ok = False
    return ok


def match_member(row: RowResult, context: RuleContext) -> MemberInfo | None:
    """Account, 姓名 and 证件号码 must name one member of this unit (see :func:`find_member`)."""
    return find_member(row, context.members)


def find_member(row: RowResult, members: Mapping[str, Member]) -> Member | None:
    """The member of this unit the row's account names, its 姓名 and 证件号码 checked against the row.

    ``members`` holds this unit's members only: a member of another unit is not in it at all,
    so it is reported exactly like an unknown account and a unit learns nothing about other
    units' members.
    """
    account = row.values["个人账号"]
    member = members.get(account)
    if member is None:
        not_found(row, account)
        return None
    check_identity(row, member)
    return member


def settle_statuses(rows: list[RowResult]) -> None:
    """Rows with an error are REJECTED, rows with only a counter referral go to the COUNTER."""
    for row in rows:
        if not row.issues:
            continue
        if row.errors:
            row.status = RowStatus.REJECTED
        elif any(issue.code.is_counter for issue in row.issues):
            row.status = RowStatus.COUNTER
