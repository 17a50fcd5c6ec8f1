"""``gjj review list/show/approve/return/refuse``: the review queue (姓名 and 证件号码 changes; under the
centre's policy, the rows of any kind that wait). ``approve/return/refuse`` take a request's number or
``--batch <批次号|业务流水号>`` for every waiting request of a batch at once.

Exit codes as everywhere: 0 when the command did its work, 1 when what it was given cannot be used
(an unknown request, one decided already, a return or refusal without a reason, an approval that
no longer applies: the reason is printed and nothing changes), 2 for a usage or configuration error.
"""

from __future__ import annotations

import getpass
import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer
from rich.table import Table
from rich.text import Text

from pipeline.commands.common import ConfigOption, console, err, open_home, reading

if TYPE_CHECKING:
    from pipeline.services.listings import ReviewView

review_app = typer.Typer(help="审核：列出、查看待审核的申请（姓名和证件号码变更；按中心配置须审核的各类业务），逐条或整批审核通过、退回或不通过", no_args_is_help=True)

ByOption = Annotated[Optional[str], typer.Option("--by", help="审核人（默认为当前操作系统用户）")]
ReasonOption = Annotated[str, typer.Option("--reason", help="原因（告知单位）")]
LIST_COLUMNS = ("编号", "单位账号", "批次", "行", "个人账号", "姓名", "变更项目", "变更前", "变更后", "状态", "提交时间")


def _row(view: ReviewView) -> list[str]:
    return [
        str(view.id),
        view.unit_account,
        view.batch_id,
        str(view.excel_row),
        view.member_account,
        view.member_name,
        view.item,
        view.old_value,
        view.new_value,
        view.state,
        f"{view.submitted_at:%Y-%m-%d %H:%M}",
    ]


@review_app.command("list")
def review_list(
    unit: Annotated[Optional[str], typer.Option("--unit", help="只列出该单位的申请")] = None,
    show_all: Annotated[bool, typer.Option("--all", help="也列出已审核的申请")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="以 JSON 输出（一行）")] = False,
    config: ConfigOption = None,
) -> None:
    """列出待审核的姓名、证件号码变更申请（最早提交的在前）。"""
    from pipeline.services.listings import list_requests

    with reading(config) as reader:
        views = list_requests(reader, unit, include_decided=show_all)
    if as_json:
        print(json.dumps([view.to_dict() for view in views], ensure_ascii=False, separators=(",", ":")))
        return
    table = Table(title="审核申请（全部）" if show_all else "待审核的变更申请")
    for column in LIST_COLUMNS:
        table.add_column(column)
    for view in views:
        table.add_row(*(Text(cell) for cell in _row(view)))
    console.print(table)
    if not views:
        console.print("没有待审核的申请", markup=False)


@review_app.command("show")
def review_show(
    request_id: Annotated[int, typer.Argument(help="申请编号")],
    export: Annotated[Optional[Path], typer.Option("--export", help="把材料复制到该文件夹（<申请编号>_<材料>.<扩展名>）")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="以 JSON 输出（一行）")] = False,
    config: ConfigOption = None,
) -> None:
    """显示一条申请：变更内容、原因、状态、缴存人的当前记录、每一次审核（审核人、时间、原因）和随附的材料（身份证、证明）。"""
    from pipeline.services.documents import export_documents, request_documents
    from pipeline.services.review import show_request

    app_ = open_home(config)
    try:
        with app_.sessions() as session:
            view = show_request(session, request_id)
            documents = request_documents(session, app_.home.documents, request_id)
    finally:
        app_.close()
    if view is None:
        err.print(f"没有编号为 {request_id} 的审核申请", markup=False)
        raise typer.Exit(1)
    copies = []
    if export is not None:
        try:
            copies = export_documents(request_id, documents, export)
        except OSError as exc:
            err.print(f"材料未能导出：{exc}", markup=False)
            raise typer.Exit(1) from exc
    if as_json:
        data = view.to_dict() | {"documents": [document.to_dict() for document in documents]}
        print(json.dumps(data, ensure_ascii=False, separators=(",", ":")))
        return
    lines = [
        f"申请 {view.id}（{view.state}）",
        f"单位账号 {view.unit_account}，批次 {view.batch_id} 第 {view.excel_row} 行，提交于 {view.submitted_at:%Y-%m-%d %H:%M:%S}",
        f"缴存人 {view.member_account} {view.member_name}",
        "当前记录 " + ("，".join(f"{label} {value}" for label, value in view.current_record.items() if value) or "无（账户已不存在）"),
        f"变更项目 {view.item}：「{view.old_value}」→「{view.new_value}」" if view.changes_details else f"业务 {view.what}",
        f"{'变更原因' if view.changes_details else '原因'} {view.reason or '无'}",
    ]
    lines += [f"{d.decided_at:%Y-%m-%d %H:%M:%S} {d.decided_by}：{d.state}" + (f"（{d.reason}）" if d.reason else "") for d in view.decisions]
    lines += [
        f"材料 {d.kind}：{d.entry_name}，{d.content_type}，{d.size} 字节，sha256 {d.sha256}，{d.path}" + ("" if d.present else "（文件缺失）")
        for d in documents
    ] or ["材料 无"]
    lines += [f"已导出 {copy}" for copy in copies]
    console.print("\n".join(lines), markup=False, soft_wrap=True)


def _decide(request_id: int | None, batch: str | None, state: str, by: str | None, reason: str, config: ConfigOption) -> None:
    from pipeline.services.review import review, review_batch

    if (request_id is None) == (batch is None):
        err.print("请给出申请编号，或用 --batch 给出批次号或业务流水号（二者选一）", markup=False)
        raise typer.Exit(2)
    app_ = open_home(config)
    try:
        if batch is not None:
            outcome = review_batch(app_.sessions, app_.home.outbox, batch, state, by or getpass.getuser(), reason, config=app_.config)
        else:
            assert request_id is not None
            outcome = review(app_.sessions, app_.home.outbox, request_id, state, by or getpass.getuser(), reason, config=app_.config)
        if outcome.decided_at is not None:
            app_.write_summary(outcome.decided_at.date())  # the day's staff page lists the decision
    finally:
        app_.close()
    if outcome.refused is not None:
        err.print(f"未审核：{outcome.refused}", markup=False)
        raise typer.Exit(1)
    view = outcome.request
    assert view is not None
    written = "、".join(path.name for path in outcome.published)
    if batch is not None:
        numbers = "、".join(str(number) for number in outcome.request_ids)
        console.print(f"批次 {outcome.batch_id}：{len(outcome.request_ids)} 条申请（{numbers}）{state}；已写入 {written}", markup=False)
        return
    console.print(f"申请 {view.id}：{state}（{view.member_account} {view.what}）；已写入批次 {view.batch_id} 的 {written}", markup=False)


RequestArgument = Annotated[Optional[int], typer.Argument(help="申请编号（或用 --batch 审核整批）")]
BatchOption = Annotated[Optional[str], typer.Option("--batch", help="整批审核：批次号或业务流水号，该批次所有待审核的申请一并处理")]


@review_app.command("approve")
def review_approve(request_id: RequestArgument = None, batch: BatchOption = None, by: ByOption = None, config: ConfigOption = None) -> None:
    """审核通过：申请当即生效（按提交后的现状重新核对，已不适用的不予通过并说明原因）；--batch 整批通过（其中一行不适用则整批不通过、不做任何改动）。"""
    from pipeline.store.states import REVIEW_APPROVED

    _decide(request_id, batch, REVIEW_APPROVED, by, "", config)


@review_app.command("return")
def review_return(reason: ReasonOption, request_id: RequestArgument = None, batch: BatchOption = None, by: ByOption = None, config: ConfigOption = None) -> None:
    """退回：单位按原因更正后重新提交；--batch 整批退回。"""
    from pipeline.store.states import REVIEW_RETURNED

    _decide(request_id, batch, REVIEW_RETURNED, by, reason, config)


@review_app.command("refuse")
def review_refuse(reason: ReasonOption, request_id: RequestArgument = None, batch: BatchOption = None, by: ByOption = None, config: ConfigOption = None) -> None:
    """不通过：申请结束，不生效；--batch 整批不通过。"""
    from pipeline.store.states import REVIEW_REFUSED

    _decide(request_id, batch, REVIEW_REFUSED, by, reason, config)
