"""汇缴 monthly remittance template, the 汇缴清册 (Huludao 汇缴核定 screen and 汇缴凭条; SPEC.md "汇缴")."""

from __future__ import annotations

from schemas.fields import account, amount, id_number, month, name, seq
from schemas.template import Template

TEMPLATE = Template(
    KIND="汇缴",
    FIELDS=(
        seq(),
        account(),
        name(),
        id_number(),
        amount("个人缴存基数", positive=True),
        amount("单位月缴存额", positive=True),
        amount("个人月缴存额", positive=True),
        month("汇缴开始年月"),
        month("汇缴结束年月"),
    ),
    TOTAL_COLUMNS=("单位月缴存额", "个人月缴存额"),
    NOTE=(
        "填写说明：表头顺序不可改动，所有单元格必须填写。列出本单位全部正常缴存的职工，每人一行；"
        "缴存基数须与中心登记的一致（有变化请先办理基数调整），单位和个人月缴存额按基数乘缴存比例四舍五入到元。"
        "所有行的汇缴开始、结束年月必须相同，按 yyyy-mm 填写：开始年月为单位缴至年月的下一个月，结束年月不能晚于当月。"
        "最后一行可填合计。"
    ),
)

__getattr__ = TEMPLATE.module_attribute
