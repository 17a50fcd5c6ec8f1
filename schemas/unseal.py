"""启封 unseal template (Huludao manual, 缴存人状态变更 → 启封)."""

from __future__ import annotations

from pipeline.config import CentreConfig
from schemas.fields import account, amount, enum, id_number, month, name, seq
from schemas.template import Template

TEMPLATE = Template(
    KIND="启封",
    FIELDS=(
        seq(),
        account(),
        name(),
        id_number(),
        enum("启封原因", CentreConfig.reasons_for),
        month("变更年月"),
        amount("缴存基数", positive=True),
    ),
    TOTAL_COLUMNS=("缴存基数",),
    NOTE=(
        "填写说明：表头顺序不可改动，所有单元格必须填写。启封原因只能填：{reasons}；变更年月按 yyyy-mm 填写，不能是未来月份；"
        "缴存基数四舍五入取整数，须在缴存基数上下限之间，月缴存额按单位缴存比例计算。只有封存状态的职工可以启封。"
    ),
)

__getattr__ = TEMPLATE.module_attribute
