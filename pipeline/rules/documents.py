"""The documents a file and its rows must bring, under the centre's policy (:mod:`pipeline.policy`).

Pure functions over the zip drop's good scans (:mod:`pipeline.read.bundle`), called by the check
around a kind's rules:

* :func:`screen` (before the rules): a scan of a type the kind never takes is DOCUMENT_INVALID, a
  file issue naming it — no unit should believe it sent what nobody keeps.
* :func:`check` (after the rules): each document the file needs and did not bring is one
  DOCUMENT_MISSING file issue naming every missing file; each row the rules accepted (or sent to
  review) that lacks its documents gets one DOCUMENT_MISSING at the row, naming every missing file,
  at the reason column when the reason asks for them (离职封存, 姓名 …), else at the key column; a
  row's scan that no row of the file needs (a typo in the account) is DOCUMENT_INVALID.

* :func:`online_review` (after the rules, before :func:`check`): a counter referral the unit sent the
  counter's document for (a 基数调整's 工资流水, a cross-year 补缴's 补缴说明:
  :data:`pipeline.policy.ONLINE_REVIEW`) waits for a reviewer instead (:func:`go_online`, also used
  by the approval's re-check).
* :func:`hold_for_review` (last): under a policy that has the kind reviewed, the accepted rows wait.

Every message gives the names the files must have: ``<文档类型>.<pdf|jpg|png>`` for the file's,
``<个人账号>_<文档类型>.<pdf|jpg|png>`` for a row's.
"""

from __future__ import annotations

from pipeline.errors import Code, Issue
from pipeline.model import Document, RowResult, RowStatus
from pipeline.policy import NAMING, ONLINE_NOTE, ONLINE_REVIEW, REASON_COLUMNS, KindPolicy, file_document_name, key_column, row_document_name

#: The rows that take effect (now or on approval) need their documents; rejected and counter rows do not.
NEEDING = (RowStatus.ACCEPTED, RowStatus.PENDING_REVIEW)
OTHER_SUFFIXES = "（或 .pdf/.png）"


def _keyword(kind: str) -> str:
    return key_column(kind)


def row_key(kind: str, row: RowResult) -> str:
    """What a row's documents are named after: its 个人账号 (a 缴存人登记 row: its 证件号码), upper case."""
    return str(row.values.get(key_column(kind), "")).upper()


def row_reason(kind: str, row: RowResult) -> str | None:
    column = REASON_COLUMNS.get(kind)
    return None if column is None else str(row.values.get(column, ""))


def screen(kind: str, documents: tuple[Document, ...], policy: KindPolicy) -> tuple[list[Issue], tuple[Document, ...]]:
    """DOCUMENT_INVALID for each scan of a type ``kind`` never takes; the scans it may take."""
    online = ONLINE_REVIEW.get(kind)
    if not policy.takes_documents and online is None:
        return [Issue(Code.DOCUMENT_INVALID, f"「{kind}」业务不收材料，压缩包中的「{document.entry}」无法受理；请只上传模板文件") for document in documents], ()
    issues, kept = [], []
    row_types = policy.row_document_types | ({online.document} if online is not None and online.per_row else set())
    file_types = policy.file_documents + ((online.document,) if online is not None and not online.per_row else ())
    for document in documents:
        if document.member_account and document.kind not in row_types:
            wanted = "、".join(sorted(row_types)) or "无"
            issues.append(Issue(Code.DOCUMENT_INVALID, f"「{kind}」业务的每行材料不收「{document.kind}」，压缩包中的「{document.entry}」无法受理；每行须附的材料：{wanted}；{NAMING}"))
        elif not document.member_account and document.kind not in file_types:
            wanted = "、".join(file_types) or "无"
            issues.append(Issue(Code.DOCUMENT_INVALID, f"「{kind}」业务整个文件的材料不收「{document.kind}」，压缩包中的「{document.entry}」无法受理；整个文件须附的材料：{wanted}；{NAMING}"))
        else:
            kept.append(document)
    return issues, tuple(kept)


def _missing_row(kind: str, row: RowResult, policy: KindPolicy, sent: set[tuple[str, str]]) -> Issue | None:
    reason = row_reason(kind, row)
    key = row_key(kind, row)
    missing = [document for document in policy.for_row(reason) if (key, document) not in sent]
    if not missing:
        return None
    by_reason = reason is not None and any(document in policy.reason_documents.get(reason, ()) for document in missing)
    column = REASON_COLUMNS[kind] if by_reason else key_column(kind)
    why = f"「{reason}」" if by_reason else f"{kind}的每一行"
    names = "、".join(row_document_name(key, document) for document in missing)
    return Issue(Code.DOCUMENT_MISSING, f"缺少材料：{names}{OTHER_SUFFIXES}；{why}须将这些材料的扫描件与本表一起压缩为zip上传；{NAMING}", row.excel_row, column)


def check(kind: str, rows: list[RowResult], schema_failed: list[RowResult], documents: tuple[Document, ...], policy: KindPolicy) -> list[Issue]:
    """The file issues of missing or unclaimed documents; DOCUMENT_MISSING added to the rows that lack theirs
    (their status is left to the caller, which rejects every row with an error)."""
    if not policy.takes_documents:
        return []
    issues = []
    file_sent = {document.kind for document in documents if not document.member_account}
    missing = [document for document in policy.file_documents if document not in file_sent]
    if missing and rows:
        names = "、".join(file_document_name(document) for document in missing)
        issues.append(Issue(Code.DOCUMENT_MISSING, f"缺少材料：{names}{OTHER_SUFFIXES}；{kind}业务须将这些材料与模板一起压缩为zip上传；{NAMING}"))
    sent = {(document.member_account, document.kind) for document in documents if document.member_account}
    if policy.row_document_types:
        for row in rows:
            if row.status in NEEDING and (issue := _missing_row(kind, row, policy, sent)) is not None:
                row.issues.append(issue)
        wanted = {(row_key(kind, row), document) for row in [*rows, *schema_failed] for document in policy.for_row(row_reason(kind, row))}
        word = _keyword(kind)
        issues.extend(
            Issue(Code.DOCUMENT_INVALID, f"材料「{document.entry}」：本文件中{word} {document.member_account} 没有需要「{document.kind}」的行，不需要该材料；请核对文件名中的{word}")
            for document in documents
            if document.member_account and (document.member_account, document.kind) not in wanted and not _online_document(kind, document.kind)
        )
    return issues


def hold_for_review(rows: list[RowResult], policy: KindPolicy) -> None:
    """Under a policy that has the kind reviewed, the rows the rules accepted wait for a reviewer
    (PENDING_REVIEW): they take effect only when approved (:mod:`pipeline.services.review`)."""
    if not policy.waits:
        return
    for row in rows:
        if row.status is RowStatus.ACCEPTED:
            row.status = RowStatus.PENDING_REVIEW


def _online_document(kind: str, document: str) -> bool:
    online = ONLINE_REVIEW.get(kind)
    return online is not None and online.document == document


def go_online(kind: str, rows: list[RowResult], file_kinds: set[str], row_kinds: set[tuple[str, str]]) -> list[RowResult]:
    """The counter rows that may wait for a reviewer instead (:data:`pipeline.policy.ONLINE_REVIEW`): the
    referral is their only one and they brought its document (the file's ``file_kinds``, the rows'
    ``row_kinds`` by key). They become PENDING_REVIEW, the referral's message kept as their
    转审核事由; the rows changed."""
    online = ONLINE_REVIEW.get(kind)
    if online is None:
        return []
    moved = []
    for row in rows:
        referrals = [issue for issue in row.issues if issue.code.is_counter]
        if row.status is not RowStatus.COUNTER or row.errors or not referrals or any(str(issue.code) != online.code for issue in referrals):
            continue
        if (row_key(kind, row), online.document) not in row_kinds if online.per_row else online.document not in file_kinds:
            continue
        row.issues = [issue for issue in row.issues if not issue.code.is_counter]
        row.computed = {**row.computed, ONLINE_NOTE: "；".join(issue.message for issue in referrals)}
        row.status = RowStatus.PENDING_REVIEW
        moved.append(row)
    return moved


def online_review(kind: str, rows: list[RowResult], documents: tuple[Document, ...], policy: KindPolicy) -> list[Issue]:
    """:func:`go_online` with the zip's scans; DOCUMENT_INVALID for such a scan no row of the file needed
    (one the policy does not ask for anyway), so no unit believes it was used."""
    online = ONLINE_REVIEW.get(kind)
    if online is None:
        return []
    file_kinds = {document.kind for document in documents if not document.member_account}
    row_kinds = {(document.member_account, document.kind) for document in documents if document.member_account}
    moved = go_online(kind, rows, file_kinds, row_kinds)
    if online.per_row:
        used = {row_key(kind, row) for row in moved}
        return [
            Issue(Code.DOCUMENT_INVALID, f"材料「{document.entry}」：本文件中个人账号 {document.member_account} 没有须到柜台办理的{kind}行，不需要该材料；请核对文件名中的个人账号")
            for document in documents
            if document.member_account and document.kind == online.document and document.member_account not in used
        ]
    if online.document in file_kinds and not moved and online.document not in policy.file_documents:
        return [Issue(Code.DOCUMENT_INVALID, f"材料「{online.document}」：本文件没有须到柜台办理（{ONLINE_NOTE_WORDS[kind]}）的行，不需要该材料")]
    return []


ONLINE_NOTE_WORDS = {"补缴": "跨年补缴", "基数调整": "基数变动超过规定比例"}
