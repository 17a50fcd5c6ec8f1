"""补缴 back-pay template (Huludao manual, 批量导入补缴)."""

from __future__ import annotations

from pipeline.config import CentreConfig
from schemas.fields import account, amount, enum, id_number, month, name, seq
from schemas.template import Template

TEMPLATE = Template(
    KIND="补缴",
    FIELDS=(
        seq(),
        account(),
        name(),
        id_number(),
        enum("补缴原因", CentreConfig.reasons_for),
        month("补缴开始年月"),
        month("补缴结束年月"),
        amount("补缴金额", positive=True),
    ),
    TOTAL_COLUMNS=("补缴金额",),
    NOTE=(
        "填写说明：表头顺序不可改动，所有单元格必须填写（无内容填 0）。补缴起止年月按 yyyy-mm 填写，"
        "开始年月不能晚于结束年月，不能是未来月份；跨年补缴须到柜台办理。补缴金额须大于0，四舍五入到元。"
        "补缴原因只能填：{reasons}。最后一行可填合计。"
    ),
)

__getattr__ = TEMPLATE.module_attribute
