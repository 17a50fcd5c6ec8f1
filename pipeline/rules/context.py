"""What the rules may know: the unit, its own members, and what is already recorded for them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from pipeline.config import CentreConfig
from pipeline.issues import Code, Issue
from pipeline.model import RowResult


@dataclass(frozen=True)
class UnitInfo:
    unit_account: str
    name: str
    unit_ratio: Decimal
    personal_ratio: Decimal
    status: str
    contact_name: str = ""
    contact_phone: str = ""


@dataclass(frozen=True)
class MemberInfo:
    member_account: str
    unit_account: str
    name: str
    id_number: str
    status: str
    base: Decimal
    balance: Decimal


@dataclass(frozen=True)
class RecordedBackPay:
    member_account: str
    start_month: str
    end_month: str
    serial_number: str


@dataclass
class RuleContext:
    config: CentreConfig
    unit: UnitInfo
    business_date: date
    members: dict[str, MemberInfo] = field(default_factory=dict)
    recorded_backpay: dict[str, list[RecordedBackPay]] = field(default_factory=dict)


def match_member(row: RowResult, context: RuleContext) -> MemberInfo | None:
    """Account, 姓名 and 证件号码 must name one member of this unit.

    A member of another unit is not in ``context.members`` at all, so it is reported exactly like
    an unknown account: a unit learns nothing about other units' members.
    """
    account = row.values["个人账号"]
    member = context.members.get(account)
    if member is None:
        row.issues.append(
            Issue(Code.MEMBER_NOT_FOUND, f"个人账号「{account}」在本单位不存在，请核对", row.excel_row, "个人账号")
        )
        return None
    if member.name != row.values["姓名"]:
        row.issues.append(
            Issue(
                Code.NAME_MISMATCH,
                f"姓名「{row.values['姓名']}」与个人账号「{account}」登记的姓名不符；姓名变更须到中心审批，不能通过文件办理",
                row.excel_row,
                "姓名",
            )
        )
    if member.id_number != row.values["证件号码"]:
        row.issues.append(
            Issue(
                Code.ID_MISMATCH,
                f"证件号码与个人账号「{account}」登记的证件号码不符；证件号码变更须到中心审批，不能通过文件办理",
                row.excel_row,
                "证件号码",
            )
        )
    return member
