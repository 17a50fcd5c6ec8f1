"""What a unit brings to the counter for each referral: by code, else by business, else generic.

The lists come from the Huludao unit online-hall manual V-1.32 (seed 004); the staff summary
prints them beside each referral so the counter desk knows what to ask for.
"""

from __future__ import annotations

from pipeline.errors import Code

#: What the counter needs for each referral code (Huludao unit online-hall manual V-1.32).
COUNTER_DOCUMENTS: dict[Code, list[str]] = {
    # 基数调整：“调整比例超20%的只能来前台办理，前台办理时提供基数调整超比例的职工上一年度银行工资流水”
    Code.COUNTER_BASE_CHANGE: [
        "该职工上一年度银行工资流水",
        "经办人身份证",
    ],
    # 补缴：“跨年补缴需到前台办理”；“补缴必须上传 经办人身份证、补缴说明（加盖单位公章）、补缴明细”；
    # “补缴说明内容：写明补缴原因、补缴时间、补缴人数、补缴总金额”；新入职职工另需工资审批表或编制手册。
    Code.COUNTER_CROSS_YEAR: [
        "补缴说明（加盖单位公章，写明补缴原因、补缴时间、补缴人数、补缴总金额）",
        "补缴明细",
        "经办人身份证",
        "新入职职工补缴的，另附工资审批表或载有入职时间的编制手册",
    ],
    # Not in the manual: back-pay of a member who left (离职封存); what any 补缴 needs and the labour relation.
    Code.COUNTER_FORMER_MEMBER: [
        "补缴说明（加盖单位公章，写明补缴原因、补缴时间、补缴人数、补缴总金额）",
        "该职工与本单位的劳动关系证明（劳动合同或工资发放记录）",
        "补缴明细",
        "经办人身份证",
    ],
    # 证件号码以000结尾：可能被Excel截断，柜台核对身份证原件后办理。
    Code.COUNTER_ID_SUSPECT: [
        "经办人身份证",
        "该职工身份证原件及复印件",
    ],
}

#: Fallback for a referral code not in :data:`COUNTER_DOCUMENTS`: what the manual asks for the
#: business of the file (the online hall's 现场影像 is left out: at the counter the clerk is there).
KIND_DOCUMENTS: dict[str, list[str]] = {
    "补缴": COUNTER_DOCUMENTS[Code.COUNTER_CROSS_YEAR],
    "基数调整": COUNTER_DOCUMENTS[Code.COUNTER_BASE_CHANGE],
    "缴存人登记": ["经办人身份证", "劳动合同", "用工备案表", "社保核定单", "缴费明细", "编制手册（机关单位）"],
    "启封": [
        "经办人身份证",
        "劳动合同",
        "用工备案表",
        "社保核定单及社保缴费明细",
        "编制手册（机关单位）",
        "工资审批表（机关单位）",
    ],
    "封存": [
        "经办人身份证",
        "离职封存：劳动部门的终止劳动合同审批手续、用工备案表；机关单位在编人员另附编制手册下编页或上级组织部门文件",
    ],
    "单位调整": [
        "经办人身份证",
        "劳动合同",
        "用工备案表",
        "社保缴费核定单及缴费明细",
        "事业在编人员另附编制手册所在页或组织部门文件",
    ],
}

#: Last resort when neither the code nor the business is known.
GENERIC_DOCUMENTS = ["经办人身份证", "本批次的处理报告（report.pdf）", "与该业务有关的证明材料（以柜台要求为准）"]


def counter_documents(code: Code, kind: str | None) -> list[str]:
    """The documents the counter needs for a referral: by code, else by business, else generic."""
    return list(COUNTER_DOCUMENTS.get(code) or KIND_DOCUMENTS.get(kind or "") or GENERIC_DOCUMENTS)
