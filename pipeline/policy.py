"""The centre's documents-and-approval policy, per kind of business (SPEC.md "Documents and approval policy").

For each template kind the policy says which documents a file needs as a whole (``file_documents``:
经办人身份证, 现场影像, 补缴说明 …), which each row needs (``row_documents``, every row) and which a
row needs for its reason (``reason_documents``: 离职封存 → 终止劳动合同审批手续 …), and whether the
accepted rows take effect at once or wait for a reviewer (``review``: ``immediate`` or ``review``).
A kind the policy does not name takes no documents and applies at once.

Two profiles ship with the package (``profiles/<name>.yaml``): ``light`` (Baoji notice 2024-19:
documents and review only for 姓名/证件号码 changes) and ``strict`` (the Huludao manual's lists, and
review for every kind). ``centre.yaml`` holds ``policy: light`` (a profile by name) or the whole
mapping, which ``gjj init --profile NAME`` writes into ``$GJJ_HOME/config/centre.yaml`` for the
centre to edit.

The documents come in the unit's zip drop (:mod:`pipeline.read.bundle`), named
``<文档类型>.<pdf|jpg|png>`` (the file's) and ``<个人账号>_<文档类型>.<pdf|jpg|png>`` (a row's;
缴存人登记 rows have no account yet and use the 证件号码). The models are pydantic, frozen, and
refuse unknown keys, so a typo in an edited ``centre.yaml`` is a configuration error, not a silently
ignored rule. This module is imported when the configuration is read, never by ``gjj --help``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal, NamedTuple

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from pipeline.errors import ConfigError
from pipeline.model import MEMBER_CHANGE

PROFILES_FOLDER = Path(__file__).resolve().parent / "profiles"
PROFILES = ("light", "strict")
DEFAULT_PROFILE = "light"

#: The column whose value picks a row's ``reason_documents``, per kind.
REASON_COLUMNS = {"补缴": "补缴原因", "封存": "封存原因", "启封": "启封原因", "单位调整": "转移原因", "缴存人信息变更": "变更项目"}
#: The column whose value prefixes a row's documents: 个人账号, or the 证件号码 of a new account.
KEY_COLUMNS = {"缴存人登记": "证件号码"}
DEFAULT_KEY_COLUMN = "个人账号"
#: What a row-level document's name starts with, as the README and the messages write it.
KEY_WORDS = {"个人账号": "个人账号", "证件号码": "证件号码"}
REMIT = "汇缴"
#: The template kinds a policy may name: ``schemas.KINDS`` (a test holds them equal; the schemas import
#: the configuration, so the configuration does not import them).
KINDS = ("补缴", "基数调整", "封存", "启封", "单位调整", "缴存人登记", "汇缴", MEMBER_CHANGE)
#: Its 变更项目, the "reasons" its ``reason_documents`` are keyed by (tests hold them equal to the template's).
MEMBER_CHANGE_ITEMS = ("姓名", "证件号码", "手机号码", "婚姻状况", "家庭住址", "个人存款账户号码")

#: A document type is a part of a file name: Chinese characters, letters, brackets; no digit, ``_``, ``.`` or path.
DOCUMENT_TYPE = re.compile(r"^[\u3400-\u9fffA-Za-z（）()]{1,30}$")
SUFFIX_TEXT = "pdf|jpg|png"
NAMING = f"命名规则：整个文件的材料为「文档类型.{SUFFIX_TEXT}」，每行的材料为「个人账号_文档类型.{SUFFIX_TEXT}」（缴存人登记为「证件号码_文档类型」）"

Review = Literal["immediate", "review"]


def _document_types(values: tuple[str, ...]) -> tuple[str, ...]:
    for value in values:
        if not DOCUMENT_TYPE.match(value):
            raise ValueError(f"材料名称「{value}」只能由汉字、字母和括号组成（它是压缩包中文件名的一部分）")
    if len(set(values)) != len(values):
        raise ValueError(f"材料名称重复：{'、'.join(values)}")
    return values


class KindPolicy(BaseModel):
    """What one kind of business needs: documents of the file, of every row, of a row by its reason; review."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    file_documents: tuple[str, ...] = ()
    row_documents: tuple[str, ...] = ()
    reason_documents: dict[str, tuple[str, ...]] = {}
    review: Review = "immediate"

    @field_validator("file_documents", "row_documents")
    @classmethod
    def _names(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return _document_types(value)

    @field_validator("reason_documents")
    @classmethod
    def _reasons(cls, value: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
        for documents in value.values():
            _document_types(documents)
        return value

    @property
    def waits(self) -> bool:
        return self.review == "review"

    @property
    def takes_documents(self) -> bool:
        return bool(self.file_documents or self.row_documents or any(self.reason_documents.values()))

    def for_row(self, reason: str | None) -> tuple[str, ...]:
        """The documents a row with ``reason`` needs: every row's, then its reason's."""
        extra = self.reason_documents.get(reason or "", ()) if reason is not None else ()
        return self.row_documents + tuple(document for document in extra if document not in self.row_documents)

    @property
    def row_document_types(self) -> frozenset[str]:
        return frozenset(self.row_documents).union(*self.reason_documents.values())


NO_POLICY = KindPolicy()


class Policy(BaseModel):
    """The policy of every kind; a kind it does not name needs nothing and applies at once."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    profile: str = "custom"
    kinds: dict[str, KindPolicy] = {}

    def of(self, kind: str | None) -> KindPolicy:
        return self.kinds.get(kind or "", NO_POLICY)


def key_column(kind: str) -> str:
    return KEY_COLUMNS.get(kind, DEFAULT_KEY_COLUMN)


def file_document_name(document: str, suffix: str = "jpg") -> str:
    """The name a file-level document has in the zip: ``经办人身份证.jpg``."""
    return f"{document}.{suffix}"


def row_document_name(key: str, document: str, suffix: str = "jpg") -> str:
    """The name a row's document has in the zip: ``0100001_死亡证明.jpg``."""
    return f"{key}_{document}.{suffix}"


def profile_text(name: str) -> str:
    """The YAML of a shipped profile, comments included (what ``gjj init --profile`` writes)."""
    if name not in PROFILES:
        raise ConfigError(f"没有名为「{name}」的材料与审批配置方案；可选：{'、'.join(PROFILES)}")
    return (PROFILES_FOLDER / f"{name}.yaml").read_text(encoding="utf-8")


def parse_policy(raw: Any, reasons: dict[str, tuple[str, ...]]) -> Policy:
    """``centre.yaml``'s ``policy``: a profile's name, or the mapping itself; None is the default profile.

    Every kind must be a template kind, every reason one of the kind's configured reasons (for
    缴存人信息变更 a 变更项目), and 缴存人信息变更 cannot be set to ``review`` (its 姓名/证件号码 rows
    always wait, the others always apply at once: SPEC.md).
    """
    if raw is None:
        raw = DEFAULT_PROFILE
    if isinstance(raw, str):
        raw = yaml.safe_load(profile_text(raw))["policy"]
    try:
        policy = Policy.model_validate(raw)
    except ValidationError as exc:
        problems = "；".join(f"{'.'.join(str(part) for part in error['loc'])}：{error['msg']}" for error in exc.errors())
        raise ConfigError(f"配置项 policy 有误：{problems}") from exc
    for kind, rules in policy.kinds.items():
        if kind not in KINDS:
            raise ConfigError(f"配置项 policy.kinds 中的「{kind}」不是模板类型；可选：{'、'.join(KINDS)}")
        if kind == MEMBER_CHANGE and rules.waits:
            raise ConfigError("配置项 policy.kinds.缴存人信息变更.review 不能设置：姓名、证件号码变更总是须审核，其他项目即时生效")
        if kind == REMIT and rules.waits:
            raise ConfigError("配置项 policy.kinds.汇缴.review 不能设置为 review：汇缴核定按月对整个单位生效，不能逐行等待审核")
        if rules.reason_documents and kind not in REASON_COLUMNS:
            raise ConfigError(f"配置项 policy.kinds.{kind}.reason_documents：该业务没有原因列，请用 row_documents")
        allowed = MEMBER_CHANGE_ITEMS if kind == MEMBER_CHANGE else reasons.get(kind)
        for reason in rules.reason_documents:
            if allowed is not None and reason not in allowed:
                raise ConfigError(f"配置项 policy.kinds.{kind}.reason_documents 中的「{reason}」不是该业务的原因；可选：{'、'.join(allowed)}")
    return policy


def _top_level(line: str) -> bool:
    return bool(line.strip()) and not line.startswith((" ", "\t", "#"))


def with_profile(config_text: str, name: str) -> str:
    """``config_text`` (a ``centre.yaml``) with its ``policy`` block replaced by profile ``name``'s, comments
    elsewhere kept; the block is added at the end when there is none."""
    block = profile_text(name)
    lines = config_text.splitlines(keepends=True)
    start = next((index for index, line in enumerate(lines) if re.match(r"^policy\s*:", line)), None)
    if start is None:
        return config_text.rstrip("\n") + "\n\n" + block
    end = next((index for index in range(start + 1, len(lines)) if _top_level(lines[index])), len(lines))
    return "".join(lines[:start]) + block + "".join(lines[end:])


class OnlineReview(NamedTuple):
    """A counter referral a row leaves for the online review queue when the unit sends what the counter would ask for."""

    code: str
    document: str
    #: Whether each row brings its own (``<个人账号>_<document>``) or the file one for all (``<document>``).
    per_row: bool


#: Issue #22, slice C: a 基数调整 over the threshold with the member's 工资流水, a cross-year 补缴 with the
#: file's 补缴说明, waits for a reviewer instead of going to the counter (whatever the profile).
ONLINE_REVIEW = {
    "基数调整": OnlineReview("COUNTER_BASE_CHANGE", "工资流水", True),
    "补缴": OnlineReview("COUNTER_CROSS_YEAR", "补缴说明", False),
}
#: The computed value that says why such a row waits (the counter referral's message).
ONLINE_NOTE = "转审核事由"


#: What a row waiting for review asks, per kind: the cells the 受理回执, the request and its 审批结果通知单 show.
SUMMARY_COLUMNS = {
    "补缴": ("补缴原因", "补缴开始年月", "补缴结束年月", "补缴金额"),
    "基数调整": ("调整后缴存基数",),
    "封存": ("封存原因", "变更年月"),
    "启封": ("启封原因", "变更年月", "缴存基数"),
    "单位调整": ("转出单位账号", "转出单位名称", "转移原因"),
    "缴存人登记": ("证件号码", "个人缴存基数"),
}


def waiting_summary(kind: str, values: dict[str, str]) -> str:
    """A waiting row of ``kind`` in one line, its cells as the unit sent them: 「封存原因 离职封存，变更年月 2024-07」."""
    return "，".join(f"{column} {values[column]}" for column in SUMMARY_COLUMNS.get(kind, ()) if values.get(column))


#: One line of a template's 材料清单: 级别, 适用于, 材料, 压缩包中的文件名.
ChecklistLine = tuple[str, str, str, str]


def checklist(kind: str, policy: KindPolicy) -> list[ChecklistLine]:
    """Every document ``kind`` needs under ``policy``, with the name it must have in the zip (``gjj template``'s 材料清单)."""
    key = f"<{KEY_WORDS[key_column(kind)]}>"
    lines: list[ChecklistLine] = [("整个文件", "每个文件", document, f"{file_document_name(document)}（或 .pdf/.png）") for document in policy.file_documents]
    lines += [("每行", "每一行", document, f"{row_document_name(key, document)}（或 .pdf/.png）") for document in policy.row_documents]
    column = REASON_COLUMNS.get(kind, "")
    for reason, documents in policy.reason_documents.items():
        lines += [("每行", f"{column}为「{reason}」的行", document, f"{row_document_name(key, document)}（或 .pdf/.png）") for document in documents]
    return lines + _online_review_line(kind, policy, key)


def _online_review_line(kind: str, policy: KindPolicy, key: str) -> list[ChecklistLine]:
    """The optional scan that sends a row to online review instead of the counter (:data:`ONLINE_REVIEW`),
    unless the policy asks for that document anyway."""
    online = ONLINE_REVIEW.get(kind)
    if online is None or online.document in policy.file_documents or online.document in policy.row_documents:
        return []
    if online.per_row:
        return [("每行（可选）", "超出柜台标准、须到柜台办理的行：附上即转网上审核", online.document, f"{row_document_name(key, online.document)}（或 .pdf/.png）")]
    return [("整个文件（可选）", "有须到柜台办理的跨年补缴行时：附上即转网上审核", online.document, f"{file_document_name(online.document)}（或 .pdf/.png）")]


def review_text(kind: str, policy: KindPolicy) -> str:
    """What happens to the accepted rows of ``kind``, as the 材料清单 says it."""
    if kind == MEMBER_CHANGE:
        return "姓名、证件号码变更须经中心审核，审核通过后生效；其他项目受理后即时生效。"
    return "受理后须经中心审核，审核通过后生效（审批结果通知单放在回执目录中）。" if policy.waits else "受理后即时生效。"
