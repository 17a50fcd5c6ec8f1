"""封存 seal template (Huludao manual, 缴存人状态变更 → 封存)."""

from __future__ import annotations

from pipeline.config import CentreConfig
from schemas.fields import account, enum, id_number, month, name, seq
from schemas.template import Template

TEMPLATE = Template(
    KIND="封存",
    FIELDS=(seq(), account(), name(), id_number(), enum("封存原因", CentreConfig.reasons_for), month("变更年月")),
    NOTE=(
        "填写说明：表头顺序不可改动，所有单元格必须填写。封存原因只能填：{reasons}；变更年月按 yyyy-mm 填写，不能是未来月份。"
        "离职封存的职工转入集中封存户；在职职工死亡的选其他封存。已封存的职工不能再次封存。"
    ),
)

__getattr__ = TEMPLATE.module_attribute
