"""缴存人信息变更 rules (SPEC.md "Member details change and review"; Baoji notice 2024-19, point 二).

Each row names one of this unit's members (account, 姓名 and 证件号码 as recorded) and one item to
change. The new value is checked as the 缴存人登记 column of that item is (:func:`schemas.member_change.value_problems`),
reported at 变更后内容. 手机号码, 婚姻状况, 家庭住址 and the bank account are accepted and applied
with the file; 姓名 and 证件号码 become PENDING_REVIEW: the file is accepted, the member stays as
it is until a reviewer approves (:mod:`pipeline.services.review`). A new 证件号码 held by another
open account is ID_IN_USE (the message names no account); a member with a request still 待审核,
or named by two such rows of the file, is REVIEW_PENDING. The same item twice for one member in
a file is DUPLICATE_ROW.

A 姓名 or 证件号码 row needs the scans the centre's policy asks for its 变更项目 (both profiles:
``<个人账号>_身份证`` and ``<个人账号>_证明``), which the check looks for after these rules
(:mod:`pipeline.rules.documents`): without them the row is DOCUMENT_MISSING (at 变更项目, naming the
files as the unit must name them), and a scan whose 个人账号 has no such row is DOCUMENT_INVALID.
"""

from __future__ import annotations

from pipeline.errors import Code, Issue
from pipeline.model import RowResult, RowStatus
from pipeline.rules.common import refer_cut_id
from pipeline.rules.context import RuleContext, match_member, settle_statuses
from schemas.cells import id18
from schemas.member_change import (
    BANK,
    BANK_NAME,
    ID_NUMBER,
    ITEM,
    NEEDS_REVIEW,
    NEW_VALUE,
    VALUE_FIELDS,
    clean_new_value,
    split_bank,
    value_problems,
)

KIND = "缴存人信息变更"
ACCOUNT = "个人账号"
CHANGES_MEMBERS = True  # applies immediate changes: the check takes the member lock before these rules read


def _issue(row: RowResult, code: Code, message: str) -> None:
    row.issues.append(Issue(code, message, row.excel_row, NEW_VALUE))


def _check_values(rows: list[RowResult]) -> None:
    """Every new value checked as its 缴存人登记 column (cleaned as that column is first: see
    :func:`schemas.member_change.clean_new_value`)."""
    by_field: dict[str, list[tuple[RowResult, str]]] = {}
    for row in rows:
        item, value = row.values[ITEM], row.values[NEW_VALUE]
        if item == BANK:
            parts = split_bank(value)
            if parts is None:
                _issue(row, Code.BANK_ACCOUNT_FORMAT, f"「{NEW_VALUE}」应填写为「开户银行/账号」，如 中国银行葫芦岛分行/6216600000001234566，实际为「{value}」")
                continue
            by_field.setdefault(BANK_NAME, []).append((row, parts[0]))
            by_field.setdefault(BANK, []).append((row, parts[1]))
        else:
            by_field.setdefault(item, []).append((row, value))
    for name, pairs in by_field.items():
        field = VALUE_FIELDS[name]
        for (row, value), problem in zip(pairs, value_problems(field, [value for _, value in pairs])):
            if problem is not None:
                _issue(row, *problem)


def new_value(row: RowResult) -> str:
    """The row's new value as it is stored (see :func:`schemas.member_change.clean_new_value`)."""
    return clean_new_value(row.values[ITEM], row.values[NEW_VALUE])


def _check_new_id(row: RowResult, member_account: str, holders: dict[str, str]) -> None:
    new_id = new_value(row)
    if len(new_id) == 15:
        _issue(row, Code.ID_FORMAT, f"证件号码「{new_id}」是15位旧号码；变更后的证件号码须填写18位居民身份证号码（该号码的18位为 {id18(new_id)}）")
    elif holders.get(new_id, member_account) != member_account:
        _issue(row, Code.ID_IN_USE, f"证件号码「{new_id}」已属于另一个住房公积金个人账户，不能变更为该号码；如确属本人，请到中心柜台办理")
    else:
        refer_cut_id(row, NEW_VALUE, new_id)


def apply(rows: list[RowResult], context: RuleContext) -> list[Issue]:
    """Rows naming their member with a good new value are ACCEPTED, or PENDING_REVIEW for 姓名 and 证件号码
    (their scans are looked for after these rules: :mod:`pipeline.rules.documents`)."""
    seen: dict[tuple[str, str], int] = {}
    named: list[tuple[RowResult, str]] = []
    for row in rows:
        key = (row.values[ACCOUNT], row.values[ITEM])
        if key in seen:
            row.issues.append(Issue(Code.DUPLICATE_ROW, f"与第{seen[key]}行重复：同一缴存人的{key[1]}在一个文件中只能变更一次", row.excel_row, ITEM))
            continue
        seen[key] = row.excel_row
        member = match_member(row, context)
        if member is not None and not row.issues:
            named.append((row, member.member_account))
    _check_values([row for row, _ in named])
    named = [(row, account) for row, account in named if not row.issues]
    reviewed = [(row, account) for row, account in named if row.values[ITEM] in NEEDS_REVIEW]
    holders = context.data.ids_in_use(new_value(row) for row, _ in reviewed if row.values[ITEM] == ID_NUMBER)
    waiting = context.data.open_reviews(account for _, account in reviewed)
    first_request: dict[str, int] = {}
    first_id: dict[str, int] = {}
    for row, account in reviewed:
        if account in waiting:
            row.issues.append(Issue(Code.REVIEW_PENDING, "该缴存人已有姓名或证件号码变更在审核中，请待审核结果出来后再提交", row.excel_row, ITEM))
            continue
        if account in first_request:
            row.issues.append(
                Issue(Code.REVIEW_PENDING, f"第{first_request[account]}行已提交该缴存人的变更申请；每位缴存人同时只能有一项姓名或证件号码变更待审核", row.excel_row, ITEM)
            )
            continue
        if row.values[ITEM] == ID_NUMBER:
            new_id = id18(new_value(row)) if len(new_value(row)) == 15 else new_value(row)
            if new_id in first_id:
                _issue(row, Code.DUPLICATE_ROW, f"与第{first_id[new_id]}行变更后的证件号码相同：一个证件号码只能属于一个账户")
                continue
            first_id[new_id] = row.excel_row
            _check_new_id(row, account, holders)
        if not row.issues:
            first_request[account] = row.excel_row
            row.status = RowStatus.PENDING_REVIEW
    settle_statuses(rows)
    return []
