"""Errors are data: every problem found in a file is an :class:`Issue`.

An issue carries a stable :class:`Code`, the Excel row and column the unit sees, and a message in
Chinese. Stages collect issues and return them; nothing here is raised at the unit. The one
exception tree (:class:`GjjError`) keeps the two apart: a :class:`DataProblem` becomes an issue of
the file, a :class:`Fault` (configuration, a dead helper process, a bug) fails the file loudly::

    GjjError
    ├── DataProblem            what a unit sent cannot be used: carries the Issue for its result
    │   └── ReadFailure        corrupt, encrypted, undecodable, too large or empty
    └── Fault                  ours or the machine's: the file stays in the inbox, nothing applied
        ├── ConfigError        broken configuration, a unit's account numbers used up
        ├── HelperFailed       a ``--workers`` helper process failed
        ├── OutputFailed       a forked output writer failed
        └── SchemaCheckFailed  the process checking a big sheet's cells failed

Codes are stable API (SPEC.md, Error codes): add, never rename.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Severity(StrEnum):
    FILE = "file"
    ROW = "row"
    COUNTER = "counter"


class Code(StrEnum):
    # File level
    UNKNOWN_TEMPLATE = "UNKNOWN_TEMPLATE"
    HEADER_ORDER = "HEADER_ORDER"
    HEADER_MISSING = "HEADER_MISSING"
    HEADER_EXTRA = "HEADER_EXTRA"
    FILE_UNREADABLE = "FILE_UNREADABLE"
    FILE_TOO_LARGE = "FILE_TOO_LARGE"
    TOO_MANY_ROWS = "TOO_MANY_ROWS"
    EMPTY_FILE = "EMPTY_FILE"
    UNIT_UNKNOWN = "UNIT_UNKNOWN"
    UNIT_INACTIVE = "UNIT_INACTIVE"
    DUPLICATE_FILE = "DUPLICATE_FILE"
    TOTAL_MISMATCH = "TOTAL_MISMATCH"
    # Cell level
    CELL_EMPTY = "CELL_EMPTY"
    ID_FORMAT = "ID_FORMAT"
    ID_CHECKSUM = "ID_CHECKSUM"
    ID_NUMERIC_PRECISION = "ID_NUMERIC_PRECISION"
    PHONE_FORMAT = "PHONE_FORMAT"
    MONTH_FORMAT = "MONTH_FORMAT"
    DATE_FORMAT = "DATE_FORMAT"
    NUMBER_FORMAT = "NUMBER_FORMAT"
    ENUM_VALUE = "ENUM_VALUE"
    ACCOUNT_FORMAT = "ACCOUNT_FORMAT"
    BANK_ACCOUNT_FORMAT = "BANK_ACCOUNT_FORMAT"
    POSTCODE_FORMAT = "POSTCODE_FORMAT"
    NAME_FORMAT = "NAME_FORMAT"
    TEXT_TOO_LONG = "TEXT_TOO_LONG"
    # Business
    MEMBER_NOT_FOUND = "MEMBER_NOT_FOUND"
    NAME_MISMATCH = "NAME_MISMATCH"
    ID_MISMATCH = "ID_MISMATCH"
    MEMBER_SEALED = "MEMBER_SEALED"
    ALREADY_SEALED = "ALREADY_SEALED"
    NOT_SEALED = "NOT_SEALED"
    ALREADY_REGISTERED = "ALREADY_REGISTERED"
    DUPLICATE_ROW = "DUPLICATE_ROW"
    MONTH_OVERLAP = "MONTH_OVERLAP"
    BACKPAY_DUPLICATE = "BACKPAY_DUPLICATE"
    BASE_OUT_OF_RANGE = "BASE_OUT_OF_RANGE"
    AMOUNT_MISMATCH = "AMOUNT_MISMATCH"
    MONTH_RANGE = "MONTH_RANGE"
    ADJUSTED_THIS_YEAR = "ADJUSTED_THIS_YEAR"
    TRANSFER_SOURCE_MISMATCH = "TRANSFER_SOURCE_MISMATCH"
    AMOUNT_OUT_OF_RANGE = "AMOUNT_OUT_OF_RANGE"
    ID_IN_USE = "ID_IN_USE"
    BASE_MISMATCH = "BASE_MISMATCH"
    MEMBER_MISSING = "MEMBER_MISSING"
    REMIT_MONTH_MIXED = "REMIT_MONTH_MIXED"
    REMIT_MONTH_GAP = "REMIT_MONTH_GAP"
    REMIT_MONTH_DONE = "REMIT_MONTH_DONE"
    DOCUMENT_MISSING = "DOCUMENT_MISSING"
    DOCUMENT_INVALID = "DOCUMENT_INVALID"
    REVIEW_PENDING = "REVIEW_PENDING"
    # Counter referrals: not errors, the row goes to the counter
    COUNTER_BASE_CHANGE = "COUNTER_BASE_CHANGE"
    COUNTER_CROSS_YEAR = "COUNTER_CROSS_YEAR"
    COUNTER_FORMER_MEMBER = "COUNTER_FORMER_MEMBER"
    COUNTER_ID_SUSPECT = "COUNTER_ID_SUSPECT"

    @property
    def title(self) -> str:
        """Short Chinese name of the code, for report headings and summaries."""
        return TITLES[self]

    @property
    def is_counter(self) -> bool:
        return self in (Code.COUNTER_BASE_CHANGE, Code.COUNTER_CROSS_YEAR, Code.COUNTER_FORMER_MEMBER, Code.COUNTER_ID_SUSPECT)


TITLES: dict[Code, str] = {
    Code.UNKNOWN_TEMPLATE: "无法识别的模板",
    Code.HEADER_ORDER: "表头顺序错误",
    Code.HEADER_MISSING: "缺少表头列",
    Code.HEADER_EXTRA: "多余的表头列",
    Code.FILE_UNREADABLE: "文件无法读取",
    Code.FILE_TOO_LARGE: "文件过大",
    Code.TOO_MANY_ROWS: "行数超过上限",
    Code.EMPTY_FILE: "文件没有数据行",
    Code.UNIT_UNKNOWN: "单位账号不存在",
    Code.UNIT_INACTIVE: "单位账户状态不正常",
    Code.DUPLICATE_FILE: "重复文件",
    Code.TOTAL_MISMATCH: "合计行与明细不符",
    Code.CELL_EMPTY: "单元格为空",
    Code.ID_FORMAT: "证件号码格式错误",
    Code.ID_CHECKSUM: "证件号码校验位错误",
    Code.ID_NUMERIC_PRECISION: "证件号码被Excel转为数字",
    Code.PHONE_FORMAT: "电话号码格式错误",
    Code.MONTH_FORMAT: "年月格式错误",
    Code.DATE_FORMAT: "日期格式错误",
    Code.NUMBER_FORMAT: "数字格式错误",
    Code.ENUM_VALUE: "取值不在允许范围内",
    Code.ACCOUNT_FORMAT: "账号格式错误",
    Code.BANK_ACCOUNT_FORMAT: "银行账号格式错误",
    Code.POSTCODE_FORMAT: "邮政编码格式错误",
    Code.NAME_FORMAT: "姓名格式错误",
    Code.TEXT_TOO_LONG: "内容过长",
    Code.MEMBER_NOT_FOUND: "个人账号不存在",
    Code.NAME_MISMATCH: "姓名与个人账号不符",
    Code.ID_MISMATCH: "证件号码与个人账号不符",
    Code.MEMBER_SEALED: "缴存人已封存",
    Code.ALREADY_SEALED: "缴存人已是封存状态",
    Code.NOT_SEALED: "缴存人不是封存状态",
    Code.ALREADY_REGISTERED: "证件号码已开户",
    Code.DUPLICATE_ROW: "文件内重复",
    Code.MONTH_OVERLAP: "补缴年月在文件内重叠",
    Code.BACKPAY_DUPLICATE: "补缴年月与已录入补缴重叠",
    Code.BASE_OUT_OF_RANGE: "缴存基数超出上下限",
    Code.AMOUNT_MISMATCH: "月缴存额计算不符",
    Code.MONTH_RANGE: "年月范围错误",
    Code.ADJUSTED_THIS_YEAR: "本年度已调整过基数",
    Code.TRANSFER_SOURCE_MISMATCH: "转出单位不符",
    Code.AMOUNT_OUT_OF_RANGE: "金额超出范围",
    Code.ID_IN_USE: "证件号码已属于另一个账户",
    Code.BASE_MISMATCH: "缴存基数与中心登记的不符",
    Code.MEMBER_MISSING: "正常缴存的职工未列入汇缴清册",
    Code.REMIT_MONTH_MIXED: "汇缴年月各行不一致",
    Code.REMIT_MONTH_GAP: "汇缴月份不连续",
    Code.REMIT_MONTH_DONE: "该月份已汇缴核定",
    Code.DOCUMENT_MISSING: "缺少须随附的材料",
    Code.DOCUMENT_INVALID: "材料不符合要求",
    Code.REVIEW_PENDING: "该缴存人已有待审核的变更申请",
    Code.COUNTER_BASE_CHANGE: "基数变动幅度超过规定比例，须到柜台办理",
    Code.COUNTER_CROSS_YEAR: "跨年补缴，须到柜台办理",
    Code.COUNTER_FORMER_MEMBER: "补缴已离职封存职工在本单位期间的月份，须到柜台办理",
    Code.COUNTER_ID_SUSPECT: "证件号码以000结尾，可能被Excel截断，须到柜台核对办理",
}


@dataclass(frozen=True, slots=True)
class Issue:
    """One problem (or counter referral) found in a file.

    ``row`` is the Excel row number the unit sees (``None`` for file-level issues); ``column`` is
    the Chinese header of the cell (``None`` when the issue is about the whole row or file).
    """

    code: Code
    message: str
    row: int | None = None
    column: str | None = None

    @property
    def severity(self) -> Severity:
        if self.code.is_counter:
            return Severity.COUNTER
        return Severity.ROW if self.row is not None else Severity.FILE

    def to_dict(self) -> dict[str, object]:
        return {"code": str(self.code), "row": self.row, "column": self.column, "message": self.message}


class GjjError(Exception):
    """Every exception this project raises on purpose.

    Two kinds stand apart. A :class:`DataProblem` is about what a unit sent: it carries the
    :class:`Issue` that goes into the file's result, and the file is answered (rejected or
    quarantined). A :class:`Fault` is ours or the machine's — broken configuration, a helper or
    output process that died, a bug caught on the way: the file fails loudly, stays in the inbox
    and is listed for the staff; nothing of it is applied.
    """


class DataProblem(GjjError):
    """What a unit sent cannot be used; carries the file-level issue for its result."""

    def __init__(self, issue: Issue):
        super().__init__(issue.message)
        self.issue = issue


class ReadFailure(DataProblem):
    """The file cannot be read at all: corrupt, encrypted, undecodable, too large or empty."""


class Fault(GjjError):
    """A programmer or environment error: never a unit's, never turned into an Issue."""


class ConfigError(Fault):
    """The centre configuration is broken: a programmer or operator mistake, never a unit's."""


class HelperFailed(Fault):
    """A helper process of the run failed; what it committed is in the run's summary all the same."""

    def __init__(self, failures: list[str]):
        super().__init__("; ".join(failures))
        self.failures = failures


class OutputFailed(Fault):
    """A process writing a batch's outputs failed; the batch stays stored and is rendered again."""


class SchemaCheckFailed(Fault):
    """The process checking a big sheet's cells failed, or pandera reported outside a cell."""
