"""基数调整 base adjustment template (Huludao manual, 基数调整 → 批量录入)."""

from __future__ import annotations

from schemas.fields import account, amount, id_number, name, seq
from schemas.template import Template

TEMPLATE = Template(
    KIND="基数调整",
    FIELDS=(seq(), account(), name(), id_number(), amount("调整后缴存基数", positive=True)),
    TOTAL_COLUMNS=("调整后缴存基数",),
    NOTE=(
        "填写说明：表头顺序不可改动，所有单元格必须填写（无内容填 0）。调整后缴存基数四舍五入取整数，须在缴存基数上下限之间；"
        "基数无变化的职工不需要填写。每个单位每年只能调整一次；调整幅度超过{counter_threshold}的须到柜台办理，"
        "并提供该职工上一年度银行工资流水。已封存的职工不能调整基数。"
    ),
)

__getattr__ = TEMPLATE.module_attribute
