"""Shared cell normalisation and checks, written once for every template.

A template schema is a tuple of :class:`Field` objects; :func:`build_schema` turns it into a
pandera ``DataFrameSchema`` whose checks are named by their error code, so a pandera failure maps
straight back to an :class:`~pipeline.errors.Issue`. Every cell arrives as text (the reader keeps
what the cell held: a number, a date), so one bad cell never hides the other errors of its column.
"""

from __future__ import annotations

import contextlib
import re
import unicodedata
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any, Callable

import numpy as np
import pandas as pd
import pandera.pandas as pa

from pipeline.errors import Code

ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
ID_CHECK_CHARS = "10X98765432"

_SPACES = "\u00a0\u3000\u200b\u200c\u200d\ufeff\u2007\u202f"
_ID_SHAPE = re.compile(r"^\d{17}[\dX]$")
_SCIENTIFIC = re.compile(r"^\d(\.\d+)?[eE]\+?\d+$")
_MONTH_PATTERNS = (
    re.compile(r"^(\d{4})-(\d{1,2})$"),
    re.compile(r"^(\d{4})(\d{2})$"),
    re.compile(r"^(\d{4})/(\d{1,2})$"),
    re.compile(r"^(\d{4})\.(\d{1,2})$"),
    re.compile(r"^(\d{4})年(\d{1,2})月$"),
    # A real Excel date cell arrives as an ISO date; the day does not matter for a month.
    re.compile(r"^(\d{4})-(\d{2})-\d{2}(?:[ T]00:00:00)?$"),
)
_DATE = re.compile(r"^(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?(?:[ T]00:00:00)?$")
_PHONE = re.compile(r"^1[3-9]\d{9}$")
_FIXED_PHONE = re.compile(r"^0$|^(0\d{2,3}-?)?\d{7,8}(-\d{1,6})?$")
_POSTCODE = re.compile(r"^0$|^\d{6}$")
_BANK_ACCOUNT = re.compile(r"^\d{8,30}$")
_AMOUNT = re.compile(r"^-?\d+(\.\d+)?$")
_THOUSANDS = re.compile(r"^-?\d{1,3}(,\d{3})+(\.\d+)?$")
_ACCOUNT = re.compile(r"^\d{1,20}$")
_NAME = re.compile(r"^[\u3400-\u4dbf\u4e00-\u9fff\U00020000-\U0002ffff·A-Za-z][\u3400-\u4dbf\u4e00-\u9fff\U00020000-\U0002ffff·A-Za-z .]*$")


# --- normalisation -------------------------------------------------------------------------


_STRIP = " \t\r\n" + _SPACES


def clean_text(value: str) -> str:
    """NFKC (full-width → half-width) and trim, non-breaking and ideographic spaces included."""
    if value.isascii():  # NFKC leaves ASCII alone and every non-ASCII space is absent: the common case
        return value.strip(" \t\r\n")
    return unicodedata.normalize("NFKC", value).strip(_STRIP)


#: Joins a column's cells for the column-wide checks below: not a space, left alone by NFKC, and a
#: starter, so no character of one cell can combine with the next cell's.
_CELL_SEPARATOR = "\x1f"


def column_is_clean(cells: list[str], *, upper: bool = False) -> bool:
    """Whether :func:`clean_text` (and with ``upper``, :func:`clean_id`) leaves every cell as it is.

    Checked once on the column's joined text, at C speed: no space or other stripped character
    anywhere, already in NFKC, and (``upper``) no lower-case letter. A column that fails is
    cleaned cell by cell.
    """
    joined = _CELL_SEPARATOR.join(cells)
    if any(char in joined for char in _STRIP):
        return False
    if not (joined.isascii() or unicodedata.is_normalized("NFKC", joined)):
        return False
    return not upper or joined.upper() == joined


def clean_id(value: str) -> str:
    text = clean_text(value)
    upper = text.upper()
    return text if upper == text else upper  # keep the cell's own string: no copy per ID held


def parse_month(value: str) -> tuple[int, int] | None:
    """``(year, month)`` of a month cell in any accepted spelling, or ``None``."""
    for pattern in _MONTH_PATTERNS:
        match = pattern.match(value)
        if match:
            year, month = int(match.group(1)), int(match.group(2))
            if 1900 <= year <= 2999 and 1 <= month <= 12:
                return year, month
            return None
    return None


def clean_month(value: str) -> str:
    """Months become ``yyyy-mm``; anything unparseable is left for MONTH_FORMAT to report."""
    text = clean_text(value)
    parsed = parse_month(text)
    return f"{parsed[0]:04d}-{parsed[1]:02d}" if parsed else text


def clean_amount(value: str) -> str:
    """Amounts lose thousands separators (``1,000.00`` → ``1000.00``) and a trailing 元."""
    text = clean_text(value).removesuffix("元").strip()
    if _THOUSANDS.match(text):
        text = text.replace(",", "")
    return text


def clean_ratio(value: str) -> str:
    """Deposit ratios as decimals: ``12%`` → ``0.12``; ``0.12`` stays."""
    text = clean_text(value)
    if text.endswith("%") and _AMOUNT.match(text[:-1]):
        return str(Decimal(text[:-1]) / 100)
    return text


def parse_date(value: str) -> date | None:
    match = _DATE.match(value)
    if not match:
        return None
    try:
        return date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
    except ValueError:
        return None


def clean_date(value: str) -> str:
    text = clean_text(value)
    parsed = parse_date(text)
    return parsed.isoformat() if parsed else text


def parse_amount(value: str) -> Decimal | None:
    if not _AMOUNT.match(value):
        return None
    try:
        return Decimal(value)
    except InvalidOperation:
        return None


# --- the shared checks -----------------------------------------------------------------------


def id_problem(value: str) -> Code | None:
    """The GB 11643 check of a cleaned 证件号码; ``None`` when it is a valid ID."""
    if _SCIENTIFIC.match(value):
        return Code.ID_NUMERIC_PRECISION
    if not _ID_SHAPE.match(value) or id_birth_date(value) is None:
        return Code.ID_FORMAT
    total = sum(int(digit) * weight for digit, weight in zip(value[:17], ID_WEIGHTS))
    if ID_CHECK_CHARS[total % 11] != value[17]:
        return Code.ID_CHECKSUM
    return None


_ID_WEIGHT_VECTOR = np.array(ID_WEIGHTS, dtype=np.int64)
_ID_CHECK_BYTES = np.frombuffer(ID_CHECK_CHARS.encode("ascii"), dtype=np.uint8)
_DAYS_IN_MONTH = np.array((0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31), dtype=np.int64)
_DIGIT_0, _DIGIT_9, _LETTER_X = ord("0"), ord("9"), ord("X")


def id_problems(values: pd.Series) -> pd.Series:
    """:func:`id_problem` of every cell, the same answers, computed with numpy for the usual IDs.

    18-character ASCII cells are checked as the rows of a byte matrix (shape, birth date, then
    the GB 11643 check digit); every other cell, and any cell not of 17 digits and a digit or X,
    goes through :func:`id_problem` itself.
    """
    cells = values.tolist()
    count = len(cells)
    problems = np.full(count, None, dtype=object)
    if not count:
        return pd.Series(problems, index=values.index, dtype=object)
    lengths = np.fromiter(map(len, cells), dtype=np.int64, count=count)
    joined = "".join(cells)
    if joined.isascii() and (lengths == 18).all():
        usual = np.arange(count)
        matrix = np.frombuffer(joined.encode("ascii"), dtype=np.uint8).reshape(-1, 18)
    else:
        usual = np.flatnonzero(lengths == 18)
        usual = usual[[cells[index].isascii() for index in usual.tolist()]] if len(usual) else usual
        others = np.setdiff1d(np.arange(count), usual, assume_unique=True)
        problems[others] = [id_problem(cells[index]) for index in others.tolist()] if len(others) else []
        if not len(usual):
            return pd.Series(problems, index=values.index, dtype=object)
        matrix = np.frombuffer("".join([cells[index] for index in usual.tolist()]).encode("ascii"), dtype=np.uint8).reshape(-1, 18)
    body, last = matrix[:, :17], matrix[:, 17]
    shaped = ((body >= _DIGIT_0) & (body <= _DIGIT_9)).all(axis=1) & (
        ((last >= _DIGIT_0) & (last <= _DIGIT_9)) | (last == _LETTER_X)
    )
    digits = body.astype(np.int64) - _DIGIT_0
    year = digits[:, 6] * 1000 + digits[:, 7] * 100 + digits[:, 8] * 10 + digits[:, 9]
    month = digits[:, 10] * 10 + digits[:, 11]
    day = digits[:, 12] * 10 + digits[:, 13]
    leap = ((year % 4 == 0) & (year % 100 != 0)) | (year % 400 == 0)
    month_ok = (month >= 1) & (month <= 12)
    last_day = _DAYS_IN_MONTH[np.where(month_ok, month, 0)] + ((month == 2) & leap)
    born = (year >= 1) & month_ok & (day >= 1) & (day <= last_day)
    checked = _ID_CHECK_BYTES[(digits * _ID_WEIGHT_VECTOR).sum(axis=1) % 11] == last
    odd = usual[~shaped]
    if len(odd):
        problems[odd] = [id_problem(cells[index]) for index in odd.tolist()]
    problems[usual[shaped & ~born]] = Code.ID_FORMAT
    problems[usual[shaped & born & ~checked]] = Code.ID_CHECKSUM
    return pd.Series(problems, index=values.index, dtype=object)


def id_birth_date(value: str) -> date | None:
    try:
        return date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        return None


def id_check_char(first17: str) -> str:
    """The 18th character for 17 digits (used by the fake-data generators too)."""
    return ID_CHECK_CHARS[sum(int(d) * w for d, w in zip(first17, ID_WEIGHTS)) % 11]


# --- fields ------------------------------------------------------------------------------------


class FieldKind(StrEnum):
    TEXT = "text"
    SEQ = "seq"
    NAME = "name"
    ID_NUMBER = "id_number"
    ACCOUNT = "account"
    MONTH = "month"
    AMOUNT = "amount"
    ENUM = "enum"
    RATIO = "ratio"
    DATE = "date"
    PHONE = "phone"
    FIXED_PHONE = "fixed_phone"
    POSTCODE = "postcode"
    BANK_ACCOUNT = "bank_account"


CLEANERS: dict[FieldKind, Callable[[str], str]] = {
    FieldKind.ID_NUMBER: clean_id,
    FieldKind.MONTH: clean_month,
    FieldKind.AMOUNT: clean_amount,
    FieldKind.RATIO: clean_ratio,
    FieldKind.DATE: clean_date,
}


@dataclass(frozen=True)
class Field:
    """One column of a template: its exact header and what its cells must hold."""

    name: str
    kind: FieldKind = FieldKind.TEXT
    max_length: int = 100
    choices: tuple[str, ...] = ()
    required: bool = True
    positive: bool = False
    non_negative: bool = False

    @property
    def cleaner(self) -> Callable[[str], str]:
        """The normalisation of this field's cells (look it up once per column, not per cell)."""
        return CLEANERS.get(self.kind, clean_text)

    def clean(self, value: str) -> str:
        return self.cleaner(value)


def seq(name: str = "序号") -> Field:
    return Field(name, FieldKind.SEQ, max_length=20)


def name(name: str = "姓名") -> Field:
    return Field(name, FieldKind.NAME, max_length=50)


def id_number(name: str = "证件号码") -> Field:
    return Field(name, FieldKind.ID_NUMBER, max_length=30)


def account(name: str = "个人账号") -> Field:
    return Field(name, FieldKind.ACCOUNT, max_length=20)


def month(name: str) -> Field:
    return Field(name, FieldKind.MONTH, max_length=20)


def amount(name: str, *, positive: bool = False, non_negative: bool = False) -> Field:
    return Field(name, FieldKind.AMOUNT, max_length=20, positive=positive, non_negative=non_negative)


def enum(name: str, choices: tuple[str, ...]) -> Field:
    return Field(name, FieldKind.ENUM, max_length=50, choices=choices)


def text(name: str, max_length: int = 100, *, required: bool = True) -> Field:
    return Field(name, FieldKind.TEXT, max_length=max_length, required=required)


# --- messages ----------------------------------------------------------------------------------


def describe(code: Code, field: Field, value: str) -> str:
    """The Chinese message for a failed cell check, naming the column and the value found."""
    column, shown = field.name, value if len(value) <= 40 else value[:40] + "…"
    match code:
        case Code.CELL_EMPTY:
            return f"「{column}」不能为空；没有内容时请填 0"
        case Code.ID_NUMERIC_PRECISION:
            return (
                f"证件号码「{shown}」已被Excel转成数字，后几位已经丢失，无法还原；"
                "请把该列设为文本格式后重新输入完整的18位号码"
            )
        case Code.ID_FORMAT:
            if _ID_SHAPE.match(value):
                return f"证件号码「{shown}」中的出生日期无效"
            return f"证件号码「{shown}」应为18位：17位数字加1位数字或X"
        case Code.ID_CHECKSUM:
            return f"证件号码「{shown}」校验位错误，请核对号码是否抄错"
        case Code.MONTH_FORMAT:
            return f"「{column}」的值「{shown}」不是有效的年月，请按 yyyy-mm 填写，例如 2023-11"
        case Code.DATE_FORMAT:
            return f"「{column}」的值「{shown}」不是有效的日期，请按 yyyy-mm-dd 填写"
        case Code.NUMBER_FORMAT:
            return f"「{column}」的值「{shown}」不是有效的数字"
        case Code.AMOUNT_OUT_OF_RANGE if field.non_negative:
            return f"「{column}」不能为负数，实际为「{shown}」"
        case Code.AMOUNT_OUT_OF_RANGE:
            return f"「{column}」必须大于0，实际为「{shown}」"
        case Code.ENUM_VALUE:
            return f"「{column}」的值「{shown}」不在允许范围内，只能填：{'、'.join(field.choices)}"
        case Code.ACCOUNT_FORMAT:
            return f"「{column}」的值「{shown}」应为数字账号"
        case Code.PHONE_FORMAT if field.kind is FieldKind.FIXED_PHONE:
            return f"「{column}」的值「{shown}」不是有效的固定电话号码（如 0429-1234567），没有请填 0"
        case Code.PHONE_FORMAT:
            return f"「{column}」的值「{shown}」不是有效的手机号码（11位，以13-19开头）"
        case Code.POSTCODE_FORMAT:
            return f"「{column}」的值「{shown}」应为6位数字，没有请填 0"
        case Code.BANK_ACCOUNT_FORMAT:
            return f"「{column}」的值「{shown}」应为8至30位数字的银行账号"
        case Code.NAME_FORMAT:
            return f"姓名「{shown}」含有不允许的字符"
        case Code.TEXT_TOO_LONG:
            return f"「{column}」内容过长（{len(value)}个字符），最多{field.max_length}个字符"
        case _:
            return f"「{column}」的值「{shown}」有误：{code.title}"


# --- the pandera schema -----------------------------------------------------------------------


def _not_negative_or_zero(value: str) -> bool:
    parsed = parse_amount(value)
    return parsed is None or parsed > 0


def _per_value(series: pd.Series, fn: Callable[[str], bool]) -> pd.Series:
    """``series.map(fn)``, with ``fn`` run once per distinct value (months, reasons, amounts repeat)."""
    distinct = series.unique()
    if len(distinct) * 2 > len(series):
        return series.map(fn).astype(bool)
    answers = {value: bool(fn(value)) for value in distinct}
    return series.map(answers).astype(bool)


#: What the checks of the validation under way have worked out about each column (its cells'
#: lengths, its ID problems), so that the several checks of a column work it out once.
_COLUMN_FACTS: ContextVar[dict[tuple[str, str], Any] | None] = ContextVar("column_facts", default=None)


@contextlib.contextmanager
def shared_column_facts() -> Iterator[None]:
    """Within this block, the checks of one validation share what they work out about a column.

    Outside it (a schema validated directly) every check works everything out itself.
    """
    token = _COLUMN_FACTS.set({})
    try:
        yield
    finally:
        _COLUMN_FACTS.reset(token)


def _column_fact(series: pd.Series, fact: str, work_out: Callable[[pd.Series], Any]) -> Any:
    facts = _COLUMN_FACTS.get()
    if facts is None:
        return work_out(series)
    key = (str(series.name), fact)
    if key not in facts:
        facts[key] = work_out(series)
    return facts[key]


def _lengths(series: pd.Series) -> np.ndarray:
    """The length of every cell, without a Python call per cell."""
    return _column_fact(series, "lengths", lambda s: np.fromiter(map(len, s.tolist()), dtype=np.int64, count=len(s)))


def _fits(series: pd.Series, max_length: int) -> pd.Series:
    """``series.str.len() <= max_length``."""
    return pd.Series(_lengths(series) <= max_length, index=series.index)


def _empty(series: pd.Series) -> pd.Series:
    """``series.eq("")`` for an all-text column."""
    return pd.Series(_lengths(series) == 0, index=series.index)


def _fullmatch(series: pd.Series, pattern: re.Pattern[str]) -> pd.Series:
    """``series.str.fullmatch(pattern)`` for an all-text column, with the compiled pattern."""
    return pd.Series([found is not None for found in map(pattern.fullmatch, series.tolist())], index=series.index, dtype=bool)


def _month_ok(value: str) -> bool:
    return parse_month(value) is not None


def _date_ok(value: str) -> bool:
    return parse_date(value) is not None


def _allow_empty(check: Callable[[pd.Series], pd.Series]) -> Callable[[pd.Series], pd.Series]:
    """Empty cells are reported once, as CELL_EMPTY, never again by a format check."""
    return lambda series: _empty(series) | check(series)


def _checks_for(field: Field) -> list[pa.Check]:
    # Cells are never missing (the schema stage makes every cell text), so no check needs pandera
    # to drop missing values first: ``ignore_na=False`` saves an isna() pass per check.
    def check(code: Code, fn: Callable[[pd.Series], pd.Series]) -> pa.Check:
        return pa.Check(_allow_empty(fn), name=str(code), ignore_na=False)

    checks = [pa.Check(lambda s, f=field: _fits(s, f.max_length), name=str(Code.TEXT_TOO_LONG), ignore_na=False)]
    if field.required:
        checks.append(pa.Check(lambda s: ~_empty(s), name=str(Code.CELL_EMPTY), ignore_na=False))
    long_ok = lambda s, f=field: _fits(s, f.max_length)  # noqa: E731 - format checks skip overlong cells
    match field.kind:
        case FieldKind.ID_NUMBER:
            for code in (Code.ID_NUMERIC_PRECISION, Code.ID_FORMAT, Code.ID_CHECKSUM):
                checks.append(check(code, lambda s, c=code: ~long_ok(s) | _column_fact(s, "id_problems", id_problems).ne(c)))
        case FieldKind.MONTH:
            checks.append(check(Code.MONTH_FORMAT, lambda s: _per_value(s, _month_ok)))
        case FieldKind.AMOUNT | FieldKind.RATIO:
            checks.append(check(Code.NUMBER_FORMAT, lambda s: _fullmatch(s, _AMOUNT)))
            if field.positive:
                checks.append(check(Code.AMOUNT_OUT_OF_RANGE, lambda s: _per_value(s, _not_negative_or_zero)))
            elif field.non_negative:
                checks.append(check(Code.AMOUNT_OUT_OF_RANGE, lambda s: ~s.str.startswith("-")))
        case FieldKind.ENUM:
            checks.append(check(Code.ENUM_VALUE, lambda s, f=field: s.isin(f.choices)))
        case FieldKind.ACCOUNT:
            checks.append(check(Code.ACCOUNT_FORMAT, lambda s: ~long_ok(s) | _fullmatch(s, _ACCOUNT)))
        case FieldKind.PHONE:
            checks.append(check(Code.PHONE_FORMAT, lambda s: _fullmatch(s, _PHONE)))
        case FieldKind.FIXED_PHONE:
            checks.append(check(Code.PHONE_FORMAT, lambda s: _fullmatch(s, _FIXED_PHONE)))
        case FieldKind.POSTCODE:
            checks.append(check(Code.POSTCODE_FORMAT, lambda s: _fullmatch(s, _POSTCODE)))
        case FieldKind.BANK_ACCOUNT:
            checks.append(check(Code.BANK_ACCOUNT_FORMAT, lambda s: ~long_ok(s) | _fullmatch(s, _BANK_ACCOUNT)))
        case FieldKind.DATE:
            checks.append(check(Code.DATE_FORMAT, lambda s: _per_value(s, _date_ok)))
        case FieldKind.NAME:
            checks.append(check(Code.NAME_FORMAT, lambda s: ~long_ok(s) | _fullmatch(s, _NAME)))
    return checks


def build_schema(fields: tuple[Field, ...], title: str) -> pa.DataFrameSchema:
    """A pandera schema over an all-text DataFrame whose columns are the template's headers."""
    return pa.DataFrameSchema(
        {field.name: pa.Column(checks=_checks_for(field), nullable=False) for field in fields},
        strict=False,
        ordered=False,
        name=title,
    )


def field_map(fields: tuple[Field, ...]) -> dict[str, Field]:
    return {field.name: field for field in fields}
