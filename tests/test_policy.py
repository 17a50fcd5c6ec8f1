"""The documents-and-approval policy (issue #22, slice A): the profiles, ``gjj init --profile``, the
zip's names, DOCUMENT_MISSING / DOCUMENT_INVALID per kind, the template's 材料清单.

Under ``light`` nothing changes (the rest of the suite runs under it); under ``strict`` every kind
asks for the Huludao manual's documents (seed 004).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openpyxl
import pytest
import yaml

from pipeline.config import DEFAULT_CONFIG, load_config, parse_config
from pipeline.errors import Code, ConfigError
from pipeline.model import BatchStatus, RowStatus
from pipeline.policy import KINDS as POLICY_KINDS
from pipeline.policy import MEMBER_CHANGE_ITEMS, with_profile
from pipeline.services.fakes import fake_scan
from pipeline.services.policy import install_profile
from schemas import KINDS
from schemas.member_change import ITEMS
from tests.conftest import Centre, make_centre
from tests.factories import bundle_file, identity, kind_file, row_for

REPO = Path(__file__).resolve().parent.parent
FILE_SCANS = {"经办人身份证.jpg": fake_scan("jpg"), "现场影像.png": fake_scan("png")}


@pytest.fixture
def strict(tmp_path: Path) -> Iterator[Centre]:
    centre = make_centre(tmp_path / "home", f"sqlite:///{tmp_path / 'gjj.db'}", policy="strict")
    yield centre
    centre.app.close()


def run_one(centre: Centre) -> Any:
    outcomes = centre.run().outcomes
    assert len(outcomes) == 1
    return outcomes[0].result


# --- the profiles -----------------------------------------------------------------------------


def test_light_is_the_default_and_asks_only_for_name_and_id_changes() -> None:
    config = load_config()
    assert config.policy.profile == "light"
    assert [kind for kind in KINDS if config.policy_for(kind).takes_documents or config.policy_for(kind).waits] == ["缴存人信息变更"]
    change = config.policy_for("缴存人信息变更")
    assert change.for_row("姓名") == change.for_row("证件号码") == ("身份证", "证明")
    assert change.for_row("手机号码") == ()


STRICT = [
    # (kind, reason or None, file documents, row documents) — seed 004's lists
    ("基数调整", None, ("经办人身份证", "现场影像"), ()),
    ("补缴", "漏缴", ("经办人身份证", "补缴说明", "补缴明细", "现场影像"), ()),
    ("缴存人登记", None, ("经办人身份证", "现场影像"), ("劳动合同", "用工备案表", "社保核定单", "缴费明细")),
    ("封存", "离职封存", ("经办人身份证", "现场影像"), ("终止劳动合同审批手续", "用工备案表")),
    ("封存", "退休封存", ("经办人身份证", "现场影像"), ("退休审批手续",)),
    ("封存", "其他封存", ("经办人身份证", "现场影像"), ("死亡证明",)),
    ("启封", "正常上班启封", ("经办人身份证", "现场影像"), ("劳动合同", "用工备案表", "社保核定单及社保缴费明细")),
    ("单位调整", "工作调动", ("经办人身份证", "现场影像"), ("劳动合同", "用工备案表", "社保缴费核定单及缴费明细")),
    ("缴存人信息变更", "姓名", (), ("身份证", "证明")),
    ("缴存人信息变更", "手机号码", (), ()),
    ("汇缴", None, (), ()),
]


@pytest.mark.parametrize(("kind", "reason", "file_documents", "row_documents"), STRICT)
def test_strict_follows_the_huludao_manual(kind: str, reason: str | None, file_documents: tuple[str, ...], row_documents: tuple[str, ...]) -> None:
    policy = load_config(policy="strict").policy_for(kind)
    assert policy.file_documents == file_documents
    assert policy.for_row(reason) == row_documents
    assert policy.waits is (kind not in ("缴存人信息变更", "汇缴"))


def test_the_policys_kinds_and_items_are_the_templates() -> None:
    assert MEMBER_CHANGE_ITEMS == ITEMS
    assert POLICY_KINDS == KINDS


@pytest.mark.parametrize(
    ("policy", "words"),
    [
        ("medium", "medium"),
        ({"kinds": {"封存": {"file_document": ["经办人身份证"]}}}, "file_document"),
        ({"kinds": {"封存": {"review": "later"}}}, "review"),
        ({"kinds": {"封存": {"file_documents": ["身份证_1"]}}}, "身份证_1"),
        ({"kinds": {"封存": {"file_documents": ["现场影像", "现场影像"]}}}, "重复"),
        ({"kinds": {"封存": {"reason_documents": {"辞职": ["合同"]}}}}, "辞职"),
        ({"kinds": {"基数调整": {"reason_documents": {"x": ["合同"]}}}}, "row_documents"),
        ({"kinds": {"转账": {}}}, "转账"),
        ({"kinds": {"缴存人信息变更": {"review": "review"}}}, "缴存人信息变更"),
        ({"kinds": {"汇缴": {"review": "review"}}}, "汇缴.review"),  # a 核定 is of the whole unit, month by month
    ],
)
def test_a_broken_policy_is_a_configuration_error_naming_it(policy: Any, words: str) -> None:
    raw = yaml.safe_load(DEFAULT_CONFIG.read_text(encoding="utf-8")) | {"policy": policy}
    with pytest.raises(ConfigError, match=words):
        parse_config(raw)


# --- gjj init --profile -----------------------------------------------------------------------


def test_init_profile_writes_the_profile_and_keeps_the_rest_of_the_file(tmp_path: Path) -> None:
    target = install_profile(tmp_path, "strict")
    assert target == tmp_path / "config" / "centre.yaml"
    assert load_config(home=tmp_path).policy.profile == "strict"
    text = target.read_text(encoding="utf-8").replace("settle_seconds: 5", "settle_seconds: 7  # 本中心的设置")
    target.write_text(text, encoding="utf-8")

    install_profile(tmp_path, "light")
    once = target.read_text(encoding="utf-8")
    install_profile(tmp_path, "light")

    assert target.read_text(encoding="utf-8") == once  # the block is replaced, not added again
    assert "settle_seconds: 7  # 本中心的设置" in once
    config = load_config(home=tmp_path)
    assert config.policy.profile == "light" and config.settle_seconds == 7
    assert with_profile("a: 1\n", "light").startswith("a: 1\n\npolicy:\n")


def test_gjj_init_profile_from_the_command_line(tmp_path: Path) -> None:
    environment = {**os.environ, "GJJ_HOME": str(tmp_path), "PYTHONPATH": str(REPO), "GJJ_DB": f"sqlite:///{tmp_path / 'gjj.db'}"}

    def gjj(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "pipeline", *args], capture_output=True, text=True, env=environment, cwd=tmp_path, timeout=120)

    done = gjj("init", "--profile", "strict")
    assert done.returncode == 0, done.stderr
    assert "strict" in done.stdout and load_config(home=tmp_path).policy_for("封存").waits
    refused = gjj("init", "--profile", "medium")
    assert refused.returncode == 2 and "medium" in refused.stderr
    assert load_config(home=tmp_path).policy.profile == "strict"  # nothing half-written


# --- the template's 材料清单 ------------------------------------------------------------------


def _checklist(kind: str, policy: str, tmp_path: Path) -> list[tuple[Any, ...]] | None:
    from pipeline.outputs.template_xlsx import write_blank_template
    from schemas import template_for

    path = tmp_path / f"{kind}.xlsx"
    write_blank_template(template_for(kind), load_config(policy=policy), path)
    book = openpyxl.load_workbook(path)
    if "材料清单" not in book.sheetnames:
        return None
    assert book.sheetnames.index("材料清单") == 1
    return [row for row in book["材料清单"].iter_rows(min_row=3, values_only=True)]


def test_the_template_lists_every_document_and_its_file_name(tmp_path: Path) -> None:
    lines = _checklist("封存", "strict", tmp_path)
    assert lines is not None
    assert [(line[2], line[3]) for line in lines] == [
        ("经办人身份证", "经办人身份证.jpg（或 .pdf/.png）"),
        ("现场影像", "现场影像.jpg（或 .pdf/.png）"),
        ("终止劳动合同审批手续", "<个人账号>_终止劳动合同审批手续.jpg（或 .pdf/.png）"),
        ("用工备案表", "<个人账号>_用工备案表.jpg（或 .pdf/.png）"),
        ("退休审批手续", "<个人账号>_退休审批手续.jpg（或 .pdf/.png）"),
        ("死亡证明", "<个人账号>_死亡证明.jpg（或 .pdf/.png）"),
    ]
    assert lines[2][1] == "封存原因为「离职封存」的行"
    registration = _checklist("缴存人登记", "strict", tmp_path)
    assert registration is not None and registration[2][3] == "<证件号码>_劳动合同.jpg（或 .pdf/.png）"
    assert _checklist("封存", "light", tmp_path) is None
    assert _checklist("缴存人信息变更", "light", tmp_path) is not None


@pytest.mark.parametrize(
    ("kind", "policy", "optional"),
    [
        ("基数调整", "light", [("每行（可选）", "工资流水", "<个人账号>_工资流水.jpg（或 .pdf/.png）")]),
        ("补缴", "light", [("整个文件（可选）", "补缴说明", "补缴说明.jpg（或 .pdf/.png）")]),
        ("基数调整", "strict", [("每行（可选）", "工资流水", "<个人账号>_工资流水.jpg（或 .pdf/.png）")]),
        ("补缴", "strict", []),  # strict asks every 补缴 file for its 补缴说明 anyway
    ],
)
def test_the_template_names_the_scan_that_turns_a_counter_visit_into_an_online_review(kind: str, policy: str, optional: list[tuple[str, ...]], tmp_path: Path) -> None:
    lines = _checklist(kind, policy, tmp_path)
    assert lines is not None
    assert [(line[0], line[2], line[3]) for line in lines if "可选" in line[0]] == optional
    assert all("附上即转网上审核" in line[1] for line in lines if "可选" in line[0])


# --- strict: documents of the file and of each row -------------------------------------------


def seal_row(seq: int, member: Any, reason: str) -> list[Any]:
    return [seq, *identity(member), reason, "2024-07"]


def test_strict_seal_without_documents_names_each_missing_file(strict: Centre) -> None:
    first, second = strict.members_of()[:2]
    kind_file(strict.inbox / strict.unit().unit_account, "封存", [seal_row(1, first, "离职封存"), seal_row(2, second, "其他封存")])
    before = strict.table_counts()

    result = run_one(strict)

    assert result.status is BatchStatus.REJECTED
    assert [(i.code, i.row, i.column) for i in result.all_issues] == [
        (Code.DOCUMENT_MISSING, None, None),
        (Code.DOCUMENT_MISSING, 3, "封存原因"),
        (Code.DOCUMENT_MISSING, 4, "封存原因"),
    ]
    file_issue, rows = result.all_issues[0], result.all_issues[1:]
    assert rows[0].message.startswith(f"缺少材料：{first.member_account}_终止劳动合同审批手续.jpg、{first.member_account}_用工备案表.jpg（或 .pdf/.png）")
    assert rows[1].message.startswith(f"缺少材料：{second.member_account}_死亡证明.jpg（或 .pdf/.png）")
    assert file_issue.message.startswith("缺少材料：经办人身份证.jpg、现场影像.jpg（或 .pdf/.png）")
    assert all("个人账号_文档类型" in issue.message for issue in result.all_issues)  # the naming rule, every time
    assert strict.table_counts()["members"] == before["members"]


def test_strict_seal_with_its_documents_is_accepted_for_review(strict: Centre) -> None:
    member = strict.members_of()[0]
    scans = FILE_SCANS | {f"{member.member_account}_退休审批手续.pdf": fake_scan("pdf")}
    bundle_file(strict.inbox / strict.unit().unit_account, "封存", [seal_row(1, member, "退休封存")], scans)

    result = run_one(strict)

    assert result.all_issues == []
    assert [row.status for row in result.rows] == [RowStatus.PENDING_REVIEW]  # strict: it waits (tests/test_policy_review.py)


@pytest.mark.parametrize(
    ("scans", "expected"),
    [
        # 补缴说明 (and 补缴明细) missing: the file is refused, naming them.
        ({"经办人身份证.jpg": fake_scan("jpg"), "现场影像.jpg": fake_scan("jpg")}, [(Code.DOCUMENT_MISSING, None, None)]),
        # All four: accepted (for review: tests/test_policy_review.py).
        ({**FILE_SCANS, "补缴说明.pdf": fake_scan("pdf"), "补缴明细.pdf": fake_scan("pdf")}, []),
    ],
)
def test_strict_backpay_needs_its_explanation(strict: Centre, scans: dict[str, bytes], expected: list[tuple[Any, ...]]) -> None:
    member = strict.members_of()[0]
    bundle_file(strict.inbox / strict.unit().unit_account, "补缴", [row_for(member)], scans)

    result = run_one(strict)

    assert [(i.code, i.row, i.column) for i in result.all_issues] == expected
    if expected:
        assert result.status is BatchStatus.REJECTED
        assert result.all_issues[0].message.startswith("缺少材料：补缴说明.jpg、补缴明细.jpg（或 .pdf/.png）")
    else:
        assert result.status is BatchStatus.ACCEPTED


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        ({"营业执照.jpg": fake_scan("jpg")}, "整个文件的材料不收「营业执照」"),  # a file document the kind does not take
        ({"0109999_死亡证明.pdf": fake_scan("pdf")}, "没有需要「死亡证明」的行"),  # a typo in the account
        ({"{account}_劳动合同.pdf": fake_scan("pdf")}, "每行材料不收「劳动合同」"),  # a row document of another kind
    ],
)
def test_strict_scans_nobody_asked_for_are_document_invalid(strict: Centre, extra: dict[str, bytes], words: str) -> None:
    member = strict.members_of()[0]
    scans = FILE_SCANS | {f"{member.member_account}_死亡证明.pdf": fake_scan("pdf")}
    scans |= {name.format(account=member.member_account): data for name, data in extra.items()}
    bundle_file(strict.inbox / strict.unit().unit_account, "封存", [seal_row(1, member, "其他封存")], scans)

    result = run_one(strict)

    assert [(i.code, i.row) for i in result.all_issues] == [(Code.DOCUMENT_INVALID, None)]
    assert words in result.all_issues[0].message


def test_light_takes_the_same_files_as_before(sqlite_centre: Centre) -> None:
    member = sqlite_centre.members_of()[0]
    kind_file(sqlite_centre.inbox / sqlite_centre.unit().unit_account, "封存", [seal_row(1, member, "其他封存")])

    result = run_one(sqlite_centre)

    assert result.status is BatchStatus.ACCEPTED and result.all_issues == []
