"""Master data snapshots loaded with ``gjj load``: units and members, with their Chinese headers.

A member's 证件号码 is checked by the check that fits its 证件类型 (:func:`schemas.id_types.id_type_problem`),
which needs both cells of the row: the schema checks its length, the loader the rest.
"""

from __future__ import annotations

import pandera.pandas as pa

from schemas.fields import Field, FieldKind, account, build_schema, enum, name, text
from schemas.id_types import id_of_type, id_type

UNIT_FIELDS: tuple[Field, ...] = (
    account("单位账号"),
    text("单位名称", 200),
    text("统一社会信用代码", 18, required=False),
    Field("单位缴存比例", FieldKind.RATIO, max_length=10),
    Field("个人缴存比例", FieldKind.RATIO, max_length=10),
    enum("单位账户状态", ("正常", "封存", "销户")),
    Field("缴至年月", FieldKind.MONTH, max_length=10, required=False),
    text("经办人姓名", 50, required=False),
    Field("经办人手机号码", FieldKind.PHONE, max_length=20, required=False),
)

MEMBER_FIELDS: tuple[Field, ...] = (
    account("个人账号"),
    account("单位账号"),
    name("姓名"),
    id_type("证件类型"),
    id_of_type("证件号码"),  # checked by its 证件类型 when loaded (pipeline/services/load.py)
    enum("个人账户状态", ("正常", "封存")),
    Field("个人缴存基数", FieldKind.AMOUNT, max_length=20),
    Field("个人账户余额", FieldKind.AMOUNT, max_length=20),
    Field("开户日期", FieldKind.DATE, max_length=20, required=False),
    text("封存原因", 20, required=False),
    Field("最近基数调整年度", FieldKind.ACCOUNT, max_length=4, required=False),
)

UNIT_HEADER = tuple(field.name for field in UNIT_FIELDS)
MEMBER_HEADER = tuple(field.name for field in MEMBER_FIELDS)


def unit_schema() -> pa.DataFrameSchema:
    return build_schema(UNIT_FIELDS, "单位")


def member_schema() -> pa.DataFrameSchema:
    return build_schema(MEMBER_FIELDS, "缴存人")
