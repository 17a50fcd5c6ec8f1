"""The 证件类型 of master data and the check of a 证件号码 that fits its type, with its messages.

A unit's file names a member by a 居民身份证号码 (:func:`schemas.cells.id_problem`, 18 digits or the
legacy 15); master data (the core system's export) holds every type a person may be registered
with. The loader (pipeline/services/load.py) runs :func:`id_type_problems` on the 证件号码 column once
the schema passed, each row's number checked as fits its 证件类型, and words what fails with
:func:`describe_id_of_type`.
"""

from __future__ import annotations

import re

import pandas as pd

from pipeline.errors import Code
from schemas.cells import SCIENTIFIC, id_check_char, id_problem, id_problems
from schemas.fields import Field, FieldKind, describe, enum

#: The 证件类型 a core system holds. 身份证 is kept as an alias of 居民身份证 (existing data uses it).
RESIDENT_ID_TYPES = ("居民身份证", "身份证")
PASSPORT = "护照"
HK_MACAO_PERMIT = "港澳居民来往内地通行证"
TAIWAN_PERMIT = "台湾居民来往大陆通行证"
FOREIGN_RESIDENT_ID = "外国人永久居留身份证"
OTHER_ID = "其他"
ID_TYPES = (*RESIDENT_ID_TYPES, PASSPORT, HK_MACAO_PERMIT, TAIWAN_PERMIT, FOREIGN_RESIDENT_ID, OTHER_ID)

#: The shape of a cleaned (upper-case) number of each 证件类型 checked by shape alone.
ID_TYPE_SHAPES: dict[str, re.Pattern[str]] = {
    PASSPORT: re.compile(r"^[A-Z0-9]{5,20}$"),  # letters and digits
    HK_MACAO_PERMIT: re.compile(r"^[HM](\d{8}|\d{10})$"),  # 回乡证: H (Hong Kong) or M (Macao), 8 or (older cards) 10 digits
    TAIWAN_PERMIT: re.compile(r"^\d{8}([A-Z0-9]{2})?$"),  # 台胞证: 8 digits; older cards 10, with the issue letter or check
    OTHER_ID: re.compile(r"^[^\x00-\x1f\x7f]{1,30}$"),  # 1-30 printable characters (tested with isprintable too)
}
#: 外国人永久居留身份证: the 2017 card (3 letters for the country + 12 digits) and the 2023 card, 18
#: characters starting with 9, whose last is a MOD 11-2 check character as in GB 11643.
FOREIGN_RESIDENT_OLD = re.compile(r"^[A-Z]{3}\d{12}$")
FOREIGN_RESIDENT_NEW = re.compile(r"^9\d{16}[\dX]$")


def id_type_problem(id_type: str, value: str) -> Code | None:
    """The check of a cleaned 证件号码 that fits its 证件类型; ``None`` when it is valid.

    居民身份证 (and 身份证): :func:`id_problem` (18 digits with the GB 11643 check digit and a real
    birth date, or the legacy 15 digits); 外国人永久居留身份证: the old 15-character card or the new
    18-digit one starting with 9 and its check digit; the others by their shape. A type that is not
    one of :data:`ID_TYPES` is the 证件类型 column's error, not this one's: ``None``.
    """
    if SCIENTIFIC.match(value):
        return Code.ID_NUMERIC_PRECISION
    if id_type in RESIDENT_ID_TYPES:
        return id_problem(value)
    if id_type == FOREIGN_RESIDENT_ID:
        if FOREIGN_RESIDENT_OLD.match(value):
            return None
        if not FOREIGN_RESIDENT_NEW.match(value):
            return Code.ID_FORMAT
        return None if id_check_char(value[:17]) == value[17] else Code.ID_CHECKSUM
    shape = ID_TYPE_SHAPES.get(id_type)
    if shape is None:
        return None
    return None if shape.match(value) and value.isprintable() else Code.ID_FORMAT


def id_type_problems(id_types: list[str], values: list[str]) -> list[Code | None]:
    """:func:`id_type_problem` of every (证件类型, 证件号码) pair; the 居民身份证 numbers, nearly all of
    a core system's, checked together by :func:`id_problems`."""
    problems: list[Code | None] = [None] * len(values)
    resident = [index for index, id_type in enumerate(id_types) if id_type in RESIDENT_ID_TYPES]
    if resident:
        found = id_problems(pd.Series([values[index] for index in resident], dtype=object)).tolist()
        for index, problem in zip(resident, found):
            problems[index] = problem
    if len(resident) < len(values):
        chosen = set(resident)
        for index, (id_type, value) in enumerate(zip(id_types, values)):
            if index not in chosen:
                problems[index] = id_type_problem(id_type, value)
    return problems


# --- the fields and their messages ------------------------------------------------------------


def id_type(name: str = "证件类型") -> Field:
    """The 证件类型 a core system holds (:data:`ID_TYPES`)."""
    return enum(name, ID_TYPES)


def id_of_type(name: str = "证件号码") -> Field:
    """A 证件号码 of any 证件类型: the schema checks its length; the check that fits its type needs the
    row's 证件类型 and is run by the loader (:func:`id_type_problems`, :func:`describe_id_of_type`)."""
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
