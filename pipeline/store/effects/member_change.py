"""缴存人信息变更: immediate changes applied with the member-change trail; 姓名 and 证件号码 changes queued for review.

手机号码, 婚姻状况, 家庭住址 and the bank account live in the member's ``profile`` (the 缴存人登记
columns, as registration keeps them); the trail row of each change holds the item's old and new
values. A row waiting for review becomes a ``review_requests`` row, 待审核; the member is not
touched until a reviewer approves (:mod:`pipeline.services.review`, which calls :func:`change_member`).
The request keeps the scans of its member that came with the zip drop (:func:`pipeline.store.documents.link`).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from pipeline.model import BatchResult, RowStatus
from pipeline.rules.member_change import ACCOUNT, KIND, new_value
from pipeline.store import documents
from pipeline.store.states import REVIEW_PENDING
from pipeline.store.tables import Batch, Member, MemberChange, ReviewRequest
from schemas.member_change import BANK, BANK_NAME, ID_NUMBER, ITEM, NAME, REASON, split_bank

#: The Member column of each item that is not kept in the profile.
MEMBER_COLUMNS = {NAME: "name", ID_NUMBER: "id_number"}


def current_values(member: Member, item: str) -> dict[str, str]:
    """What the member holds now for ``item``, by the name the trail gives it (a bank account: two)."""
    if item in MEMBER_COLUMNS:
        return {item: getattr(member, MEMBER_COLUMNS[item])}
    profile = member.profile or {}
    names = (BANK_NAME, BANK) if item == BANK else (item,)
    return {name: profile.get(name, "") for name in names}


def _new_values(item: str, value: str) -> dict[str, str]:
    if item == BANK:
        bank, number = split_bank(value) or ("", value)
        return {BANK_NAME: bank, BANK: number}
    return {item: value}


def change_member(session: Session, batch_pk: int, member: Member, item: str, value: str, month: str) -> None:
    """Set ``item`` of ``member`` to ``value`` and keep the before/after trail row."""
    before = current_values(member, item)
    after = _new_values(item, value)
    if item in MEMBER_COLUMNS:
        setattr(member, MEMBER_COLUMNS[item], value)
    else:
        member.profile = {**(member.profile or {}), **after}  # a new dict: the JSON column sees the change
    session.add(MemberChange(batch_pk=batch_pk, member_account=member.member_account, kind=KIND, changed_month=month, before=before, after=after))
    session.flush()


def record(session: Session, batch: Batch, result: BatchResult) -> None:
    """Accepted rows change their member now; rows pending review become review requests."""
    rows = [row for row in result.rows if row.status in (RowStatus.ACCEPTED, RowStatus.PENDING_REVIEW)]
    accounts = sorted({row.values[ACCOUNT] for row in rows})
    members = {member.member_account: member for member in session.scalars(select(Member).where(Member.member_account.in_(accounts)))}
    month = f"{result.business_date:%Y-%m}"
    submitted_at = result.processed_at or datetime.now()
    for row in rows:
        member = members[row.values[ACCOUNT]]
        item, value = row.values[ITEM], new_value(row)
        if row.status is RowStatus.ACCEPTED:
            change_member(session, batch.id, member, item, value, month)
            continue
        request = ReviewRequest(
            batch_pk=batch.id,
            excel_row=row.excel_row,
            unit_account=result.unit_account,
            member_account=member.member_account,
            item=item,
            old_value=current_values(member, item)[item],
            new_value=value,
            reason=row.values[REASON],
            state=REVIEW_PENDING,
            submitted_at=submitted_at,
        )
        session.add(request)
        session.flush()
        documents.link(session, request.id, (d for d in result.documents if d.member_account == member.member_account), submitted_at)
    session.flush()
