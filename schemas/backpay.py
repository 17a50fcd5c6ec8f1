"""补缴 back-pay template (Huludao manual, 批量导入补缴)."""

from __future__ import annotations

import pandera.pandas as pa

from pipeline.config import CentreConfig
from schemas.fields import Field, account, amount, build_schema, enum, id_number, month, name, seq

KIND = "补缴"
HEADER = ("序号", "个人账号", "姓名", "证件号码", "补缴原因", "补缴开始年月", "补缴结束年月", "补缴金额")
TOTAL_COLUMNS = ("补缴金额",)
TEXT_COLUMNS = frozenset({"个人账号", "证件号码", "补缴开始年月", "补缴结束年月"})
NOTE = (
    "填写说明：表头顺序不可改动，所有单元格必须填写（无内容填 0）。补缴起止年月按 yyyy-mm 填写，"
    "开始年月不能晚于结束年月，不能是未来月份；跨年补缴须到柜台办理。补缴金额须大于0，四舍五入到元。"
    "补缴原因只能填：{reasons}。最后一行可填合计。"
)


def fields(config: CentreConfig) -> tuple[Field, ...]:
    return (
        seq(),
        account(),
        name(),
        id_number(),
        enum("补缴原因", config.reasons_for(KIND)),
        month("补缴开始年月"),
        month("补缴结束年月"),
        amount("补缴金额", positive=True),
    )


def schema(config: CentreConfig) -> pa.DataFrameSchema:
    return build_schema(fields(config), KIND)
