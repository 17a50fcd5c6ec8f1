"""What each PDF shows, built from a batch result without WeasyPrint.

A big batch's PDFs are rendered by a process that imported WeasyPrint while the file was still
being read (see :class:`pipeline.outputs.writer.PdfWorker`): the main process builds these contexts, small
and picklable, and sends them there. :class:`pipeline.outputs.pdf.render.PdfRenderer` renders them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from pipeline.config import CentreConfig
from pipeline.model import REVIEW_KEYS, BatchResult, BatchStatus, MonthAssessment, RowResult
from pipeline.money import amount_in_words, money_text
from schemas import TEMPLATES as TEMPLATES_BY_KIND
from schemas.remit import TEMPLATE as REMIT_TEMPLATE

COLUMN_WEIGHTS = {
    "证件号码": 3.1,
    "个人存款账户号码": 3.2,
    "家庭住址": 2.0,
    "转出单位名称": 2.0,
    "个人存款账户开户银行名称": 2.0,
    "手机号码": 2.0,
    "固定电话号码": 2.2,
    "个人账号": 2.3,
    "转出单位账号": 1.4,
    "邮政编码": 1.3,
    "姓名": 1.2,
}

#: Columns of digits a 确认单 never breaks inside (their widths above hold them); names and
#: addresses wrap between characters.
NUMBER_COLUMNS = frozenset({"证件号码", "个人存款账户号码", "手机号码", "固定电话号码", "个人账号", "转出单位账号", "邮政编码"})

MONEY_KIND = "补缴"
MONEY_COLUMN = "补缴金额"
REMIT_KIND = REMIT_TEMPLATE.KIND
SLIP_FULL_LIMIT = 200
SLIP_PREVIEW_ROWS = 40
#: report.pdf prints at most this many row issues (about 8 pages; every 100 cost WeasyPrint ≈0.3 s
#: and ≈8 MB); the 错误清单 sheet of report.xlsx lists them all, and the PDF says so.
REPORT_MAX_ISSUES = 200
WIDE_COLUMNS = 8


def _chinese_date(day: date) -> str:
    return f"{day.year}年{day.month:02d}月{day.day:02d}日"


def _months(row: RowResult) -> str:
    """补缴年月 as the slip prints it: ``yyyymm-yyyymm`` from the template's ``yyyy-mm`` cells."""
    start = row.values.get("补缴开始年月", "").replace("-", "")
    end = row.values.get("补缴结束年月", "").replace("-", "")
    return f"{start}-{end}"


def month_span(months: Iterable[str]) -> str:
    """汇缴月度 of ``yyyy-mm`` months as the Huludao 汇缴凭条 and 核定 screen print it: ``202203 - 202203``, ``202610 - 202611``."""
    ordered = sorted(months)
    return f"{ordered[0].replace('-', '')} - {ordered[-1].replace('-', '')}"


def remit_figures(assessments: list[MonthAssessment]) -> dict[str, Any]:
    """The figures of a 汇缴凭条 (SPEC.md "汇缴") from the 核定 of the months one file covers.

    单位缴存人数 and 月缴存金额 are the last month's 本期; for a range 上月 is the first month's 上期
    and 增加/减少 are summed over the months, so 上月 + 增加 − 减少 = 本月 holds for the range as it
    does for each month. 汇缴金额 is the sum of the months' 本期 amounts: the "monthly amount ×
    months" of the Huludao slip when later months change nothing, and still the money owed when
    they do. A range also lists its months, as the 汇缴核定 screen does.
    """
    months = sorted(assessments, key=lambda assessment: assessment.month)
    first, last = months[0], months[-1]
    total = sum((month.amount for month in months), Decimal(0))
    return {
        "months": month_span(month.month for month in months),
        "count": last.count,
        "amount": money_text(last.amount),
        "previous_count": first.previous_count,
        "previous_amount": money_text(first.previous_amount),
        "increase_count": sum(month.increase_count for month in months),
        "increase_amount": money_text(sum((month.increase_amount for month in months), Decimal(0))),
        "decrease_count": sum(month.decrease_count for month in months),
        "decrease_amount": money_text(sum((month.decrease_amount for month in months), Decimal(0))),
        "total": money_text(total),
        "total_words": amount_in_words(total),
        "by_month": [
            {
                "month": month.month.replace("-", ""),
                "counts": (month.previous_count, month.increase_count, month.decrease_count, month.count),
                "amounts": tuple(money_text(value) for value in (month.previous_amount, month.increase_amount, month.decrease_amount, month.amount)),
            }
            for month in months
        ]
        if len(months) > 1
        else [],
    }


@dataclass(frozen=True)
class Cell:
    """A column name or value of a 确认单; amounts are right-aligned."""

    text: str
    amount: bool = False
    #: Digits that must stay on one line (an account, ID or phone number).
    number: bool = False


def common_context(result: BatchResult, config: CentreConfig) -> dict[str, Any]:
    return {
        "centre_name": config.centre_name,
        "unit_name": result.unit_name,
        "unit_account": result.unit_account,
        "business_date": result.business_date.isoformat(),
        "print_date": _chinese_date(result.business_date),
    }


def slip_context(result: BatchResult, config: CentreConfig) -> dict[str, Any]:
    """补缴凭条 for a 补缴 batch, 汇缴凭条 for a 汇缴 batch with its 核定; a 确认单 with the same header for any other kind."""
    accepted = result.accepted_rows
    more = len(accepted) > SLIP_FULL_LIMIT
    shown = accepted[:SLIP_PREVIEW_ROWS] if more else accepted
    money = result.kind == MONEY_KIND
    remit = result.kind == REMIT_KIND and bool(result.assessments)
    context = {
        **common_context(result, config),
        "money": money,
        "remit": remit,
        "serial_number": result.serial_number or "",
        "contact_name": result.contact_name,
        "contact_phone": result.contact_phone,
        "accepted_count": len(accepted),
        "row_count": len(result.rows),
        "more": more,
        "wide": False,
    }
    if remit:
        # The Huludao 汇缴凭条 lists no members: the 汇缴清册 returned is detail.csv.
        return {**context, "title": f"{config.centre_name}汇缴凭条", "account": config.collection_account, **remit_figures(result.assessments)}
    if money:
        total = result.accepted_total(MONEY_COLUMN)
        return {
            **context,
            "title": f"{config.centre_name}补缴凭条",
            "total": money_text(total),
            "total_words": amount_in_words(total),
            "account": config.collection_account,
            "rows": [
                {
                    "id_number": row.values.get("证件号码", ""),
                    "name": row.values.get("姓名", ""),
                    "amount": money_text(row.amounts[MONEY_COLUMN]) if MONEY_COLUMN in row.amounts else "",
                    "months": _months(row),
                    "reason": row.values.get("补缴原因", ""),
                }
                for row in shown
            ],
        }
    columns = _confirmation_columns(result)
    weights = [COLUMN_WEIGHTS.get(column.text, 1.5 if column.amount else 1.0) for column in columns]
    return {
        **context,
        "title": f"{config.centre_name}{result.kind or ''}确认单",
        "wide": len(columns) > WIDE_COLUMNS,
        "widths": [f"{100 * weight / sum(weights):.2f}%" for weight in weights],
        "counts": [(status.label, count) for status, count in result.status_counts().items() if count],
        "columns": columns,
        "rows": [
            [
                Cell(money_text(row.amounts[column.text]), True)
                if column.text in row.amounts
                else Cell(row.computed.get(column.text) or row.values.get(column.text, ""), number=column.number)
                for column in columns
            ]
            for row in shown
        ],
    }


def _confirmation_columns(result: BatchResult) -> list[Cell]:
    """Computed values (a new 个人账号; not a review's decision: its notice says it), the template's confirmation columns, then computed amounts."""
    amounts = list(dict.fromkeys(name for row in result.rows for name in row.amounts))
    computed = list(dict.fromkeys(name for row in result.rows for name in row.computed if name not in REVIEW_KEYS))
    template = TEMPLATES_BY_KIND.get(result.kind or "")
    shown = getattr(template, "CONFIRMATION_COLUMNS", None) or [name for name in result.header if name != "序号"]
    columns = [Cell(name, number=name in NUMBER_COLUMNS) for name in computed] + [
        Cell(name, name in amounts, name in NUMBER_COLUMNS) for name in shown if name not in computed
    ]
    named = {column.text for column in columns}
    return columns + [Cell(name, True) for name in amounts if name not in named]


def report_context(result: BatchResult, config: CentreConfig) -> dict[str, Any]:
    """The printable rejection list: file errors, then the row issues (the first ``REPORT_MAX_ISSUES``)."""
    issues = [(row, issue) for row in result.rows for issue in row.issues]
    counts = result.status_counts()
    counter_count = sum(1 for _, issue in issues if issue.code.is_counter)
    has_errors = bool(result.file_issues) or counter_count < len(issues)
    if result.status in (BatchStatus.REJECTED, BatchStatus.DUPLICATE):
        title = "文件退回报告"
    elif not has_errors:
        title = "转柜台报告"
    else:
        title = "错误报告"
    return {
        **common_context(result, config),
        "title": f"{config.centre_name}{title}",
        "source_name": result.source_name,
        "batch_id": result.batch_id,
        "kind": result.kind or "未识别",
        "status": result.status.label,
        "duplicate_of": result.duplicate_of,
        "file_issues": [
            {"code": str(issue.code), "title": issue.code.title, "message": issue.message}
            for issue in result.file_issues
        ],
        "row_issues": [
            {
                "row": issue.row if issue.row is not None else row.excel_row,
                "column": issue.column or "",
                "code": str(issue.code),
                "message": issue.message,
                "counter": issue.code.is_counter,
            }
            for row, issue in issues[:REPORT_MAX_ISSUES]
        ],
        "omitted": len(issues) > REPORT_MAX_ISSUES,
        "issue_count": len(issues),
        "error_count": len(issues) - counter_count,
        "counter_count": counter_count,
        "row_count": len(result.rows),
        "counts": [(status.label, count) for status, count in counts.items() if count],
        "advice": has_errors and result.status is not BatchStatus.DUPLICATE,
    }


@dataclass(frozen=True)
class PdfDocument:
    """One PDF to render: its template and everything it shows."""

    template: str
    context: dict[str, Any]


def slip_document(result: BatchResult, config: CentreConfig) -> PdfDocument:
    return PdfDocument("slip.html", slip_context(result, config))


def report_document(result: BatchResult, config: CentreConfig) -> PdfDocument:
    return PdfDocument("report.html", report_context(result, config))
