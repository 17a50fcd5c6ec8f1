"""缴存人信息变更 member details change template (Baoji notice 2024-19, point 二; SPEC.md "Member details change").

One row changes one item of one member: 变更项目 says which, 变更后内容 holds the new value, checked
as the 缴存人登记 column of that item is (:func:`value_problems`), so a phone number, a marital
status or an ID number is held to the same rules whichever template brings it. A bank account
comes as ``开户银行/账号``.
"""

from __future__ import annotations

import pandas as pd
import pandera.errors

from pipeline.errors import Code
from schemas import registration
from schemas.fields import Field, account, build_schema, describe, enum, field_map, id_number, name, seq, text
from schemas.template import Template

NAME = "姓名"
ID_NUMBER = "证件号码"
PHONE = "手机号码"
MARITAL = "婚姻状况"
ADDRESS = "家庭住址"
BANK = "个人存款账户号码"
ITEM = "变更项目"
NEW_VALUE = "变更后内容"
REASON = "变更原因"

#: What may be changed, in the order of SPEC.md; 姓名 and 证件号码 wait for a reviewer's approval.
ITEMS = (NAME, ID_NUMBER, PHONE, MARITAL, ADDRESS, BANK)
NEEDS_REVIEW = frozenset({NAME, ID_NUMBER})

#: The 缴存人登记 columns a bank-account change writes: the bank, then the account.
BANK_NAME = "个人存款账户开户银行名称"
BANK_SEPARATORS = ("/", "／")

TEMPLATE = Template(
    KIND="缴存人信息变更",
    FIELDS=(seq(), account(), name(), id_number(), enum(ITEM, ITEMS), text(NEW_VALUE, 100), text(REASON, 100)),
    CONFIRMATION_COLUMNS=("个人账号", NAME, ITEM, NEW_VALUE),
    NOTE=(
        "填写说明：表头顺序不可改动，所有单元格必须填写。个人账号、姓名、证件号码填写缴存人现在登记的信息；"
        "变更项目只能填：姓名、证件号码、手机号码、婚姻状况、家庭住址、个人存款账户号码，每行一项。"
        "变更后内容按缴存人登记的要求填写：证件号码为18位居民身份证号码（请设为文本格式），手机号码11位，"
        "婚姻状况填未婚、已婚、初婚、再婚、复婚、丧偶、离婚、未说明的婚姻状况之一，"
        "个人存款账户号码填「开户银行/账号」，如 中国银行葫芦岛分行/6216600000001234566。"
        "手机号码、婚姻状况、家庭住址、个人存款账户号码当即变更；姓名、证件号码变更须经中心审核通过后生效，"
        "审核期间不能再提交该缴存人的姓名或证件号码变更。"
    ),
)

#: The 缴存人登记 column each item's new value is checked as.
_REGISTRATION_FIELDS = field_map(registration.TEMPLATE.FIELDS)
VALUE_FIELDS: dict[str, Field] = {item: _REGISTRATION_FIELDS[item] for item in (NAME, ID_NUMBER, PHONE, MARITAL, ADDRESS, BANK, BANK_NAME)}


def split_bank(value: str) -> tuple[str, str] | None:
    """``开户银行/账号`` as (bank, account), each stripped; None without a separator."""
    for separator in BANK_SEPARATORS:
        if separator in value:
            bank, _, number = value.rpartition(separator)
            return bank.strip(), number.strip()
    return None


def clean_new_value(item: str, value: str) -> str:
    """The new value as it is stored: cleaned as the item's 缴存人登记 column cleans it (an ID's x made X;
    a bank account as ``开户银行/账号`` without spaces around the separator)."""
    if item == BANK:
        bank, number = split_bank(value) or ("", value)
        return f"{VALUE_FIELDS[BANK_NAME].clean(bank)}/{VALUE_FIELDS[BANK].clean(number)}"
    return VALUE_FIELDS[item].clean(value)


def value_problems(field: Field, values: list[str]) -> list[tuple[Code, str] | None]:
    """Each value checked by the 缴存人登记 column ``field`` (its own pandera checks): the first
    failure's code and Chinese message, or None. ``values`` are cleaned by the field first."""
    cleaned = [field.clean(value) for value in values]
    schema = build_schema((field,), TEMPLATE.KIND)
    found: dict[int, Code] = {}
    try:
        schema.validate(pd.DataFrame({field.name: pd.Series(cleaned, dtype=object)}), lazy=True)
    except pandera.errors.SchemaErrors as error:
        cases = error.failure_cases
        for check, index in zip(cases["check"], cases["index"]):
            if index is not None and not pd.isna(index):
                found.setdefault(int(index), Code(str(check)))
    return [(found[index], describe(found[index], field, value)) if index in found else None for index, value in enumerate(cleaned)]


__getattr__ = TEMPLATE.module_attribute
