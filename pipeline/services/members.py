"""A member's record as the centre holds it now, in the words of the 缴存人 master data.

``gjj export members`` writes these values, ``gjj review show`` shows them beside a request, and
the staff console's look-ups show them; the labels are the master data's header (schemas.masterdata),
spelt out here so that a light command does not import the schemas.
"""

from __future__ import annotations

from pipeline.money import money_text
from pipeline.store.tables import Member

#: The master data's 缴存人 header, in its order (tests/test_export.py checks it against the schema).
RECORD_LABELS = ("个人账号", "单位账号", "姓名", "证件类型", "证件号码", "个人账户状态", "个人缴存基数", "个人账户余额", "开户日期", "封存原因", "最近基数调整年度")


def member_record(member: Member) -> list[str]:
    """The member's master-data values, as text, in :data:`RECORD_LABELS` order."""
    return [
        member.member_account,
        member.unit_account,
        member.name,
        member.id_type,
        member.id_number,
        member.status,
        money_text(member.base),
        money_text(member.balance),
        member.opened_on.isoformat() if member.opened_on else "",
        member.seal_reason,
        str(member.last_base_adjust_year) if member.last_base_adjust_year else "",
    ]


def member_details(member: Member) -> dict[str, str]:
    """The master-data values by label, then the details registration and 信息变更 keep (手机号码, 婚姻状况…)."""
    return dict(zip(RECORD_LABELS, member_record(member))) | dict(member.profile or {})
