"""缴存人登记 registration template (Huludao manual, 缴存人登记 -- 批量导入).

Every cell is required; "0" is the placeholder for an optional item such as 固定电话号码 or 邮政编码.
The monthly amounts are the unit's: one file holds one deposit ratio (checked by the rules stage).
"""

from __future__ import annotations

from schemas.fields import Field, FieldKind, amount, enum, id_number, name, seq, text
from schemas.template import Template

# GB/T 2261.2-2003 婚姻状况代码 names.
MARITAL_STATUSES = ("未婚", "已婚", "初婚", "再婚", "复婚", "丧偶", "离婚", "未说明的婚姻状况")

TEMPLATE = Template(
    KIND="缴存人登记",
    FIELDS=(
        seq(),
        name(),
        id_number(),
        enum("婚姻状况", MARITAL_STATUSES),
        Field("固定电话号码", FieldKind.FIXED_PHONE, max_length=20),
        Field("手机号码", FieldKind.PHONE, max_length=20),
        amount("家庭月收入", non_negative=True),
        text("职务", 50),
        text("职业", 50),
        text("职称", 50),
        text("学历", 20),
        text("家庭住址", 100),
        Field("邮政编码", FieldKind.POSTCODE, max_length=10),
        amount("个人缴存基数", positive=True),
        amount("个人月缴存额", positive=True),
        amount("单位月缴存额", positive=True),
        text("个人存款账户开户银行名称", 60),
        Field("个人存款账户号码", FieldKind.BANK_ACCOUNT, max_length=30),
    ),
    TOTAL_COLUMNS=("个人缴存基数", "个人月缴存额", "单位月缴存额"),
    CONFIRMATION_COLUMNS=("姓名", "证件号码", "手机号码", "个人月缴存额", "单位月缴存额"),
    NOTE=(
        "填写说明：表头顺序不可改动，所有单元格必须填写（无内容填 0，如没有固定电话或邮政编码填 0）。"
        "证件号码填18位居民身份证号码，请设为文本格式。婚姻状况按国家标准填写：未婚、已婚、初婚、再婚、复婚、"
        "丧偶、离婚、未说明的婚姻状况。手机号码为11位。个人缴存基数四舍五入到元，须在中心公布的上下限之间；"
        "个人月缴存额 = 个人缴存基数 × 本单位个人缴存比例，单位月缴存额 = 个人缴存基数 × 本单位单位缴存比例，"
        "均四舍五入。已在公积金中心开过个人账户的职工不能重复登记，请办理单位调整后启封。最后一行可填合计。"
    ),
)

# The member's own details, kept on the new account as its profile: every column but the
# identity and the amounts.
PROFILE_COLUMNS = tuple(
    column for column in TEMPLATE.HEADER if column not in ("序号", "姓名", "证件号码", "个人缴存基数", "个人月缴存额", "单位月缴存额")
)

__getattr__ = TEMPLATE.module_attribute
