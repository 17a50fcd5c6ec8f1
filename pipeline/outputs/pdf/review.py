"""The two PDFs of the review (SPEC.md "Member details change and review"; the centre's policy: every
kind under ``strict``), built from a batch result without WeasyPrint, like :mod:`pipeline.outputs.pdf.context`.

- ``receipt.pdf``, the 受理回执: written with the batch's other outputs when rows went to review
  (status ``pending_review``, or decided since: a batch rendered again from the database still
  lists them). It lists what waits for approval and says that nothing changes before it.
- ``notice_<申请编号>.pdf``, the 审批结果通知单 of one decision, from the row's computed values
  (:data:`~pipeline.model.REVIEW_KEYS`): added to the batch's folder by ``gjj review`` after the
  decision is committed, and rendered again with the other outputs whenever the batch is (recovery).

The unit's own cells are shown as it sent them; the notice masks 证件号码 (first 6 and last 4).
"""

from __future__ import annotations

from pipeline.config import CentreConfig
from pipeline.logs import mask_id
from pipeline.model import REVIEW_DATE, REVIEW_OPINION, REVIEW_REQUEST, REVIEW_RESULT, BatchResult, RowResult, RowStatus
from pipeline.outputs.pdf.context import MONEY_KIND, SLIP_FULL_LIMIT, SLIP_PREVIEW_ROWS, PdfDocument, common_context
from pipeline.policy import MEMBER_CHANGE, waiting_summary
from schemas.member_change import ID_NUMBER, ITEM, NEW_VALUE, clean_new_value

RECEIPT_NAME = "receipt.pdf"
ACCOUNT, NAME = "个人账号", "姓名"
#: What the notice tells the unit after each decision (the states of ``review_requests``).
NEXT_STEP = {
    "审核通过": "变更已生效。自审核日期起，请以变更后的内容办理该缴存人的各项业务。",
    "退回": "变更未生效。请按审核意见更正或补齐材料后，重新提交缴存人信息变更。",
    "不通过": "变更未生效，缴存人信息保持不变。如有疑问，请联系公积金中心。",
}
#: The same for the rows of the other kinds that waited under the centre's policy.
NEXT_STEP_OTHER = {
    "审核通过": "业务已生效，自审核日期起办结。",
    "退回": "业务未生效。请按审核意见更正或补齐材料后，重新提交。",
    "不通过": "业务未生效。如有疑问，请联系公积金中心。",
}
NEXT_STEP_BACKPAY = "补缴已生效：请按本批次的补缴凭条（slip.pdf，业务流水号见上）缴款。"


def _item_and_value(result: BatchResult, row: RowResult) -> tuple[str, str]:
    """What a row asks, as the receipt and the notice show it: 变更项目 and 变更后内容 for 缴存人信息变更,
    else the kind and the row's cells in one line."""
    if result.kind == MEMBER_CHANGE or result.kind is None:
        return row.values.get(ITEM, ""), row.values.get(NEW_VALUE, "")
    return result.kind, waiting_summary(result.kind, row.values)


def _account(row: RowResult) -> str:
    """The row's 个人账号; a 缴存人登记's, once approved, is the one it was given."""
    return row.values.get(ACCOUNT, "") or row.computed.get(ACCOUNT, "")


def notice_name(request_id: int | str) -> str:
    """The file name of a request's 审批结果通知单 in the batch's outbox folder."""
    return f"notice_{request_id}.pdf"


def went_to_review(row: RowResult) -> bool:
    """A row that waits for a reviewer, or waited and was decided."""
    return row.status is RowStatus.PENDING_REVIEW or REVIEW_RESULT in row.computed


def receipt_document(result: BatchResult, config: CentreConfig) -> PdfDocument | None:
    """The 受理回执 when rows of ``result`` went to review; None otherwise."""
    rows = [row for row in result.rows if went_to_review(row)]
    if not rows:
        return None
    more = len(rows) > SLIP_FULL_LIMIT
    shown = rows[:SLIP_PREVIEW_ROWS] if more else rows
    changes = result.kind in (MEMBER_CHANGE, None)
    return PdfDocument(
        "receipt.html",
        {
            **common_context(result, config),
            "title": f"{config.centre_name}{result.kind or MEMBER_CHANGE}受理回执",
            "serial_number": result.serial_number or "",
            "batch_id": result.batch_id,
            "source_name": result.source_name,
            "contact_name": result.contact_name,
            "contact_phone": result.contact_phone,
            "count": len(rows),
            "more": more,
            "rows": [
                {"seq_no": row.seq_no, "account": _account(row), "name": row.values.get(NAME, ""), "item": item, "value": value}
                for row in shown
                for item, value in [_item_and_value(result, row)]
            ],
            "change": changes,
            "money": result.kind == MONEY_KIND,
        },
    )


def _chinese(day: str) -> str:
    """``2024-08-06`` as the slips print a date: 2024年08月06日."""
    year, month, dom = (day.split("-") + ["", "", ""])[:3]
    return f"{year}年{month}月{dom}日" if dom else day


def _shown(item: str, value: str) -> str:
    return mask_id(value) if item == ID_NUMBER else value


def notice_document(result: BatchResult, row: RowResult, config: CentreConfig) -> PdfDocument:
    """The 审批结果通知单 of a decided row (its computed values hold the decision)."""
    changes = result.kind in (MEMBER_CHANGE, None)
    item, value = _item_and_value(result, row)
    state = row.computed[REVIEW_RESULT]
    next_step = NEXT_STEP.get(state, "") if changes else NEXT_STEP_OTHER.get(state, "")
    if result.kind == MONEY_KIND and row.status is RowStatus.ACCEPTED:
        next_step = NEXT_STEP_BACKPAY
    return PdfDocument(
        "notice.html",
        {
            **common_context(result, config),
            "title": f"{config.centre_name}审批结果通知单",
            "request_id": row.computed.get(REVIEW_REQUEST, ""),
            "serial_number": result.serial_number or "",
            "batch_id": result.batch_id,
            "excel_row": row.excel_row,
            "account": _account(row),
            "name": row.values.get(NAME, ""),
            "change": changes,
            "item": item,
            "old_value": _shown(item, row.values.get(item, "")) if changes else "",
            "new_value": _shown(item, clean_new_value(item, value)) if changes else value,
            "result": state,
            "opinion": row.computed.get(REVIEW_OPINION, ""),
            "decided_on": row.computed.get(REVIEW_DATE, ""),
            "print_date": _chinese(row.computed.get(REVIEW_DATE, "")),
            "next_step": next_step,
        },
    )


def notice_documents(result: BatchResult, config: CentreConfig) -> list[tuple[str, PdfDocument]]:
    """Every decided row's 审批结果通知单, with its file name."""
    return [
        (notice_name(row.computed[REVIEW_REQUEST]), notice_document(result, row, config))
        for row in result.rows
        if REVIEW_RESULT in row.computed and REVIEW_REQUEST in row.computed
    ]


def notice_for(result: BatchResult, request_id: int, config: CentreConfig) -> tuple[str, PdfDocument] | None:
    """One request's 审批结果通知单 with its file name, if ``result`` holds its decision."""
    return next((entry for entry in notice_documents(result, config) if entry[0] == notice_name(request_id)), None)


def review_documents(result: BatchResult, config: CentreConfig) -> list[tuple[str, PdfDocument]]:
    """The receipt (when due) and the notices, as the output writer renders them with a batch."""
    receipt = receipt_document(result, config)
    return ([(RECEIPT_NAME, receipt)] if receipt is not None else []) + notice_documents(result, config)

