"""单位调整 transfer template: members move into the submitting unit (Huludao manual, 缴存人单位调整)."""

from __future__ import annotations

from pipeline.config import CentreConfig
from schemas.fields import account, enum, id_number, name, seq, text
from schemas.template import Template

TEMPLATE = Template(
    KIND="单位调整",
    FIELDS=(
        seq(),
        account(),
        name(),
        id_number(),
        account("转出单位账号"),
        text("转出单位名称", 200),
        enum("转移原因", CentreConfig.reasons_for),
    ),
    NOTE=(
        "填写说明：表头顺序不可改动，所有单元格必须填写。只能把已封存的职工调入本单位；转出单位账号和名称须为该职工当前所在单位，"
        "离职封存的职工转出单位为集中封存户（{sealed_unit}）。转移原因只能填：{reasons}。调入后职工为封存状态，请再办理启封。"
    ),
)

__getattr__ = TEMPLATE.module_attribute
