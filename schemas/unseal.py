"""启封 unseal template (Huludao manual, 缴存人状态变更 → 启封)."""

from __future__ import annotations

import pandera.pandas as pa

from pipeline.config import CentreConfig
from schemas.fields import Field, account, amount, build_schema, enum, id_number, month, name, seq

KIND = "启封"
HEADER = ("序号", "个人账号", "姓名", "证件号码", "启封原因", "变更年月", "缴存基数")
TOTAL_COLUMNS = ("缴存基数",)
TEXT_COLUMNS = frozenset({"个人账号", "证件号码", "变更年月"})
NOTE = (
    "填写说明：表头顺序不可改动，所有单元格必须填写。启封原因只能填：{reasons}；变更年月按 yyyy-mm 填写，不能是未来月份；"
    "缴存基数四舍五入取整数，须在缴存基数上下限之间，月缴存额按单位缴存比例计算。只有封存状态的职工可以启封。"
)


def fields(config: CentreConfig) -> tuple[Field, ...]:
    return (
        seq(),
        account(),
        name(),
        id_number(),
        enum("启封原因", config.reasons_for(KIND)),
        month("变更年月"),
        amount("缴存基数", positive=True),
    )


def schema(config: CentreConfig) -> pa.DataFrameSchema:
    return build_schema(fields(config), KIND)
