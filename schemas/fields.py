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
    AMOUNT,
    FOREIGN_RESIDENT_ID,
    HK_MACAO_PERMIT,
    ID_SHAPE,
    ID_TYPES,
    LEGACY_ID_SHAPE,
    OTHER_ID,
    PASSPORT,
    RESIDENT_ID_TYPES,
    TAIWAN_PERMIT,
    clean_amount,
    clean_date,
    clean_id,
    clean_month,
    clean_ratio,
    clean_text,
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
_NAME = re.compile(r"^[\u3400-\u4dbf\u4e00-\u9fff\U00020000-\U0002ffff·A-Za-z][\u3400-\u4dbf\u4e00-\u9fff\U00020000-\U0002ffff·A-Za-z .]*$")


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
    Code.NAME_FORMAT: "姓名「{shown}」含有不允许的字符",
    Code.TEXT_TOO_LONG: "「{column}」内容过长（{length}个字符），最多{max_length}个字符",
}

#: The message of any other code.
_OTHER = _VALUE + "有误：{title}"

#: Codes with a second message, used instead of :data:`MESSAGES`' when the field and value call for it.
_SPECIAL_MESSAGES: dict[Code, tuple[Callable[[Field, str], bool], str]] = {
    Code.ID_FORMAT: (lambda field, value: (ID_SHAPE.match(value) or LEGACY_ID_SHAPE.match(value)) is not None, _ID + "中的出生日期无效"),
    Code.AMOUNT_OUT_OF_RANGE: (lambda field, value: field.non_negative, "「{column}」不能为负数，实际为「{shown}」"),
    Code.PHONE_FORMAT: (
        lambda field, value: field.kind is FieldKind.FIXED_PHONE,
        _VALUE + "不是有效的固定电话号码（如 0429-1234567），没有请填 0",
    ),
}


def describe(code: Code, field: Field, value: str) -> str:
    """The Chinese message for a failed cell check, naming the column and the value found."""
    message = MESSAGES.get(code, _OTHER)
    special = _SPECIAL_MESSAGES.get(code)
    if special is not None and special[0](field, value):
        message = special[1]
    return message.format(
        column=field.name,
        shown=value if len(value) <= 40 else value[:40] + "…",
        choices="、".join(field.choices),
        length=len(value),
        max_length=field.max_length,
        title=code.title,
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
            checks.append(check(Code.BANK_ACCOUNT_FORMAT, lambda s: ~long_ok(s) | _fullmatch(s, _BANK_ACCOUNT)))
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


# --- 证件类型: master data's 证件号码, checked by its row's type --------------------------------------


def id_type(name: str = "证件类型") -> Field:
    """The 证件类型 a core system holds (:data:`schemas.cells.ID_TYPES`)."""
    return enum(name, ID_TYPES)


def id_of_type(name: str = "证件号码") -> Field:
    """A 证件号码 of any 证件类型: the schema checks its length; the check that fits its type needs the
    row's 证件类型 and is run by the loader (:func:`schemas.cells.id_type_problems`, :func:`describe_id_of_type`)."""
    return Field(name, FieldKind.ID_OF_TYPE, max_length=30)


#: What a number of each 证件类型 checked by shape must be, for its ID_FORMAT message.
ID_TYPE_RULES: dict[str, str] = {
    PASSPORT: "应为5至20位字母或数字",
    HK_MACAO_PERMIT: "应为H或M加8位或10位数字",
    TAIWAN_PERMIT: "应为8位数字，或10位（8位数字加2位字母或数字）",
    FOREIGN_RESIDENT_ID: "应为15位（3位字母加12位数字）或以9开头的18位（17位数字加1位数字或X）",
    OTHER_ID: "应为1至30个可打印字符",
}


def describe_id_of_type(code: Code, field: Field, type_name: str, value: str) -> str:
    """The Chinese message of a 证件号码 that fails the check of its 证件类型 ``type_name`` (see :func:`describe`)."""
    shown = value if len(value) <= 40 else value[:40] + "…"
    if type_name in RESIDENT_ID_TYPES:
        return describe(code, field, value)
    if code is Code.ID_NUMERIC_PRECISION:
        return f"{type_name}号码「{shown}」已被Excel转成数字，后几位已经丢失，无法还原；请把该列设为文本格式后重新输入完整的号码"
    if code is Code.ID_CHECKSUM:
        return f"{type_name}号码「{shown}」校验位错误，请核对号码是否抄错"
    return f"{type_name}号码「{shown}」{ID_TYPE_RULES.get(type_name, '格式错误')}"
