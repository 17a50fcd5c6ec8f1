"""The columns of a template: what each kind of cell must hold, its messages, its pandera checks.

A template schema is a tuple of :class:`Field` objects; :func:`build_schema` turns it into a
pandera ``DataFrameSchema`` whose checks are named by their error code, so a pandera failure maps
straight back to an :class:`~pipeline.errors.Issue` whose message :func:`describe` writes. Every
cell arrives as text, cleaned by its field (see :mod:`schemas.cells`), so one bad cell never hides
the other errors of its column.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pandera.pandas as pa

from pipeline.errors import Code
from schemas.cells import (
    AMBIGUOUS_MONTH,
    AMOUNT,
    CJK,
    ID_SHAPE,
    LEGACY_ID_SHAPE,
    MIDDLE_DOT,
    SCIENTIFIC,
    bank_card_cut,
    clean_amount,
    clean_date,
    clean_id,
    clean_month,
    clean_name,
    clean_ratio,
    clean_text,
    id_maybe_cut,
    id_problems,
    parse_amount,
    parse_date,
    parse_month,
)

if TYPE_CHECKING:
    from pipeline.config import CentreConfig

_PHONE = re.compile(r"^1[3-9]\d{9}$")
_FIXED_PHONE = re.compile(r"^0$|^(0\d{2,3}-?)?\d{7,8}(-\d{1,6})?$")
_POSTCODE = re.compile(r"^0$|^\d{6}$")
_BANK_ACCOUNT = re.compile(r"^\d{8,30}$")
_ACCOUNT = re.compile(r"^\d{1,20}$")
#: A cleaned 姓名 (:func:`~schemas.cells.clean_name`): ideographs, Latin letters and the middle dot; a
#: Latin name may have spaces and periods after its first letter.
_NAME_START = re.compile(f"[{CJK}{MIDDLE_DOT}A-Za-z]")
_NAME_CHAR = re.compile(f"[{CJK}{MIDDLE_DOT}A-Za-z .]")
_NAME = re.compile(f"^{_NAME_START.pattern}{_NAME_CHAR.pattern}*$")


# --- fields ------------------------------------------------------------------------------------


class FieldKind(StrEnum):
    TEXT = "text"
    SEQ = "seq"
    NAME = "name"
    ID_NUMBER = "id_number"
    ID_OF_TYPE = "id_of_type"  # master data's 证件号码: checked by its row's 证件类型 (see id_of_type)
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
    FieldKind.NAME: clean_name,
    FieldKind.ID_NUMBER: clean_id,
    FieldKind.ID_OF_TYPE: clean_id,
    FieldKind.MONTH: clean_month,
    FieldKind.AMOUNT: clean_amount,
    FieldKind.RATIO: clean_ratio,
    FieldKind.DATE: clean_date,
}

#: Kinds whose cells Excel would turn into numbers or dates (dropping an ID's last digits, a leading
#: 0): the blank template formats their columns as text.
TEXT_KINDS = frozenset(
    {FieldKind.ACCOUNT, FieldKind.ID_NUMBER, FieldKind.ID_OF_TYPE, FieldKind.MONTH, FieldKind.PHONE, FieldKind.FIXED_PHONE, FieldKind.POSTCODE, FieldKind.BANK_ACCOUNT}
)

#: Allowed values the centre sets in its config, found from the config and the template's kind
#: when the schema is built (``CentreConfig.reasons_for`` is one).
ChoicesFrom = Callable[["CentreConfig", str], tuple[str, ...]]


@dataclass(frozen=True)
class Field:
    """One column of a template: its exact header and what its cells must hold.

    ``choices_from`` declares allowed values the config decides; :meth:`for_config` fills them in.
    """

    name: str
    kind: FieldKind = FieldKind.TEXT
    max_length: int = 100
    choices: tuple[str, ...] = ()
    required: bool = True
    positive: bool = False
    non_negative: bool = False
    choices_from: ChoicesFrom | None = None

    @property
    def cleaner(self) -> Callable[[str], str]:
        """The normalisation of this field's cells (look it up once per column, not per cell)."""
        return CLEANERS.get(self.kind, clean_text)

    def clean(self, value: str) -> str:
        return self.cleaner(value)

    @property
    def as_text(self) -> bool:
        """Whether the blank template formats this column as text (see :data:`TEXT_KINDS`)."""
        return self.kind in TEXT_KINDS

    def for_config(self, config: CentreConfig, kind: str) -> Field:
        """This field as the template ``kind`` uses it under ``config``: its allowed values filled in."""
        if self.choices_from is None:
            return self
        return replace(self, choices=self.choices_from(config, kind), choices_from=None)


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


def enum(name: str, choices: tuple[str, ...] | ChoicesFrom) -> Field:
    """A column of fixed values, or (``choices`` a :data:`ChoicesFrom`) of values the config sets."""
    if callable(choices):
        return Field(name, FieldKind.ENUM, max_length=50, choices_from=choices)
    return Field(name, FieldKind.ENUM, max_length=50, choices=choices)


def text(name: str, max_length: int = 100, *, required: bool = True) -> Field:
    return Field(name, FieldKind.TEXT, max_length=max_length, required=required)


# --- messages ----------------------------------------------------------------------------------

_VALUE = "「{column}」的值「{shown}」"
_ID = "证件号码「{shown}」"

#: The Chinese message of each failed check. ``{column}`` is the header, ``{shown}`` the value found
#: (cut at 40 characters), ``{choices}`` an enum's values, ``{length}`` the value's length and
#: ``{max_length}`` the field's, ``{title}`` the code's title.
MESSAGES: dict[Code, str] = {
    Code.CELL_EMPTY: "「{column}」不能为空；没有内容时请填 0",
    Code.ID_NUMERIC_PRECISION: _ID + "已被Excel转成数字，后几位已经丢失，无法还原；请把该列设为文本格式后重新输入完整的18位号码",
    Code.ID_FORMAT: _ID + "应为18位：17位数字加1位数字或X（旧的15位居民身份证号码为15位数字）",
    Code.ID_CHECKSUM: _ID + "校验位错误，请核对号码是否抄错",
    Code.MONTH_FORMAT: _VALUE + "不是有效的年月，请按 yyyy-mm 填写，例如 2023-11",
    Code.DATE_FORMAT: _VALUE + "不是有效的日期，请按 yyyy-mm-dd 填写",
    Code.NUMBER_FORMAT: _VALUE + "不是有效的数字",
    Code.AMOUNT_OUT_OF_RANGE: "「{column}」必须大于0，实际为「{shown}」",
    Code.ENUM_VALUE: _VALUE + "不在允许范围内，只能填：{choices}",
    Code.ACCOUNT_FORMAT: _VALUE + "应为数字账号",
    Code.PHONE_FORMAT: _VALUE + "不是有效的手机号码（11位，以13-19开头）",
    Code.POSTCODE_FORMAT: _VALUE + "应为6位数字，没有请填 0",
    Code.BANK_ACCOUNT_FORMAT: _VALUE + "应为8至30位数字的银行账号",
    Code.NAME_FORMAT: "{column}「{shown}」{detail}；姓名只能由汉字、英文字母和间隔号「·」组成（外文姓名可含空格），请按身份证上的姓名填写",
    Code.TEXT_TOO_LONG: "「{column}」内容过长（{length}个字符），最多{max_length}个字符",
}

#: The message of any other code.
_OTHER = _VALUE + "有误：{title}"

#: What Excel does to a long number, and what to do, said where a cell shows it happened.
_EXCEL_CUT = "可能是在数字格式的单元格中输入后被Excel截断了末几位（Excel只保留15位有效数字，其后的数字变成0）"
_RETYPE = "请把该列设为文本格式后重新输入完整的"
_AMBIGUOUS = "无法确定月份：{shown} 可能是 {shown}0（在常规格式的单元格中输入 {shown}0 会变成数字 {shown}）；请在文本格式的单元格中填写 {year}-10（1月请填写 {year}-01）"

#: Codes with other messages, each used instead of :data:`MESSAGES`' when the field and value call
#: for it (the first that applies). ``{year}`` is the first four characters of the value.
_SPECIAL_MESSAGES: dict[Code, tuple[tuple[Callable[[Field, str], bool], str], ...]] = {
    Code.ID_FORMAT: (
        (lambda field, value: ID_SHAPE.match(value) is not None, _ID + "中的出生日期无效"),
        (lambda field, value: LEGACY_ID_SHAPE.match(value) is not None, _ID + "中的出生日期无效"),  # a legacy 15-digit number
    ),
    Code.ID_CHECKSUM: ((lambda field, value: id_maybe_cut(value), _ID + "校验位错误；号码以000结尾，" + _EXCEL_CUT + "；" + _RETYPE + "18位号码"),),
    Code.MONTH_FORMAT: ((lambda field, value: AMBIGUOUS_MONTH.match(value) is not None, _VALUE + _AMBIGUOUS),),
    Code.AMOUNT_OUT_OF_RANGE: ((lambda field, value: field.non_negative, "「{column}」不能为负数，实际为「{shown}」"),),
    Code.PHONE_FORMAT: ((lambda field, value: field.kind is FieldKind.FIXED_PHONE, _VALUE + "不是有效的固定电话号码（如 0429-1234567），没有请填 0"),),
    Code.BANK_ACCOUNT_FORMAT: (
        (lambda field, value: SCIENTIFIC.match(value) is not None, _VALUE + "已被Excel转成数字，后几位已经丢失，无法还原；" + _RETYPE + "卡号"),
        (lambda field, value: bank_card_cut(value), _VALUE + "不是有效的银联卡号：最后一位校验位不对，可能是抄错了，或" + _EXCEL_CUT + "；请核对卡号，" + _RETYPE + "卡号"),
    ),
}


def _name_fault(value: str) -> str:
    """What is wrong with a 姓名 that fails NAME_FORMAT: its first character not allowed there, and its code point."""
    for index, char in enumerate(value):
        if not (_NAME_START if index == 0 else _NAME_CHAR).match(char):
            shown = f"「{char}」(U+{ord(char):04X})"
            return f"不能以{shown}开头" if _NAME_CHAR.match(char) else f"含有不允许的字符{shown}"
    return "含有不允许的字符"


#: The ``{detail}`` of a code's message, worked out from the value.
_DETAILS: dict[Code, Callable[[str], str]] = {Code.NAME_FORMAT: _name_fault}


def describe(code: Code, field: Field, value: str) -> str:
    """The Chinese message for a failed cell check, naming the column and the value found."""
    message = next((special for applies, special in _SPECIAL_MESSAGES.get(code, ()) if applies(field, value)), None) or MESSAGES.get(code, _OTHER)
    detail = _DETAILS.get(code)
    return message.format(
        column=field.name,
        shown=value if len(value) <= 40 else value[:40] + "…",
        choices="、".join(field.choices),
        length=len(value),
        max_length=field.max_length,
        title=code.title,
        year=value[:4],
        detail=detail(value) if detail is not None else "",
    )


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


def _bank_account_ok(value: str) -> bool:
    """8 to 30 digits; a 银联 card number with its Luhn check digit right."""
    return _BANK_ACCOUNT.fullmatch(value) is not None and not bank_card_cut(value)


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
            checks.append(check(Code.NUMBER_FORMAT, lambda s: _fullmatch(s, AMOUNT)))
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
            checks.append(check(Code.BANK_ACCOUNT_FORMAT, lambda s: ~long_ok(s) | _per_value(s, _bank_account_ok)))
        case FieldKind.DATE:
            checks.append(check(Code.DATE_FORMAT, lambda s: _per_value(s, _date_ok)))
        case FieldKind.NAME:
            checks.append(check(Code.NAME_FORMAT, lambda s: ~long_ok(s) | _fullmatch(s, _NAME)))
    return checks


def build_schema(fields: tuple[Field, ...], title: str) -> pa.DataFrameSchema:
    """A pandera schema over an all-text DataFrame whose columns are the template's headers."""
    unresolved = [field.name for field in fields if field.choices_from is not None]
    if unresolved:
        raise ValueError(f"{title}: the allowed values of {unresolved} come from the config; build from Field.for_config")
    return pa.DataFrameSchema(
        {field.name: pa.Column(checks=_checks_for(field), nullable=False) for field in fields},
        strict=False,
        ordered=False,
        name=title,
    )


def field_map(fields: tuple[Field, ...]) -> dict[str, Field]:
    return {field.name: field for field in fields}
