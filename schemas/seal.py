"""封存 seal template (Huludao manual, 缴存人状态变更 → 封存)."""

from __future__ import annotations

import pandera.pandas as pa

from pipeline.config import CentreConfig
from schemas.fields import Field, account, build_schema, enum, id_number, month, name, seq

KIND = "封存"
HEADER = ("序号", "个人账号", "姓名", "证件号码", "封存原因", "变更年月")
TOTAL_COLUMNS: tuple[str, ...] = ()
TEXT_COLUMNS = frozenset({"个人账号", "证件号码", "变更年月"})
NOTE = (
    "填写说明：表头顺序不可改动，所有单元格必须填写。封存原因只能填：{reasons}；变更年月按 yyyy-mm 填写，不能是未来月份。"
    "离职封存的职工转入集中封存户；在职职工死亡的选其他封存。已封存的职工不能再次封存。"
)


def fields(config: CentreConfig) -> tuple[Field, ...]:
    return (seq(), account(), name(), id_number(), enum("封存原因", config.reasons_for(KIND)), month("变更年月"))


def schema(config: CentreConfig) -> pa.DataFrameSchema:
    return build_schema(fields(config), KIND)
