"""单位调整 transfer template: members move into the submitting unit (Huludao manual, 缴存人单位调整)."""

from __future__ import annotations

import pandera.pandas as pa

from pipeline.config import CentreConfig
from schemas.fields import Field, account, build_schema, enum, id_number, name, seq, text

KIND = "单位调整"
HEADER = ("序号", "个人账号", "姓名", "证件号码", "转出单位账号", "转出单位名称", "转移原因")
TOTAL_COLUMNS: tuple[str, ...] = ()
TEXT_COLUMNS = frozenset({"个人账号", "证件号码", "转出单位账号"})
NOTE = (
    "填写说明：表头顺序不可改动，所有单元格必须填写。只能把已封存的职工调入本单位；转出单位账号和名称须为该职工当前所在单位，"
    "离职封存的职工转出单位为集中封存户（0000010）。转移原因只能填：{reasons}。调入后职工为封存状态，请再办理启封。"
)


def fields(config: CentreConfig) -> tuple[Field, ...]:
    return (
        seq(),
        account(),
        name(),
        id_number(),
        account("转出单位账号"),
        text("转出单位名称", 200),
        enum("转移原因", config.reasons_for(KIND)),
    )


def schema(config: CentreConfig) -> pa.DataFrameSchema:
    return build_schema(fields(config), KIND)
