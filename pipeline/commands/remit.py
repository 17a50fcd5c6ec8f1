"""``gjj remit list/delete`` (汇缴核定查询), ``gjj load --payments`` (到账) and ``gjj template 汇缴 --unit``.

Exit codes as everywhere: 0 when the command did its work, 1 when what it was given cannot be
used (an unknown unit, a refused delete, a feed with bad cells or with money nothing here could
take), 2 for a usage or configuration error.
"""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table
from rich.text import Text

from pipeline.commands.common import ConfigOption, console, err, open_home, print_issues, reading
from pipeline.money import money_text

if TYPE_CHECKING:
    from pipeline.services.payments import PaymentReport

remit_app = typer.Typer(help="汇缴核定查询：列出单位的汇缴核定，删除最新一笔未入账的核定", no_args_is_help=True)

#: The columns of ``gjj remit list``, as the 汇缴核定查询 screen has them, then the state and payment.
LIST_COLUMNS = (
    ("汇缴月度", "汇缴月度"),
    ("上期人数", "上期汇缴人数"),
    ("上期金额", "上期汇缴金额"),
    ("增加人数", "本期增加人数"),
    ("增加金额", "本期增加金额"),
    ("减少人数", "本期减少人数"),
    ("减少金额", "本期减少金额"),
    ("本期人数", "本期汇缴人数"),
    ("本期金额", "本期汇缴金额"),
    ("业务流水号", "业务流水号"),
    ("状态", "状态"),
    ("到账日期", "到账日期"),
    ("到账金额", "到账金额"),
)
LEFT_COLUMNS = frozenset({"汇缴月度", "业务流水号", "状态", "到账日期"})


@remit_app.command("list")
def remit_list(
    unit: Annotated[str, typer.Option("--unit", help="单位账号")],
    show_all: Annotated[bool, typer.Option("--all", help="也列出已删除的核定")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="以 JSON 输出（一行）")] = False,
    config: ConfigOption = None,
) -> None:
    """列出单位的汇缴核定（最新月份在前）：上期、本期增加、本期减少、本期人数和金额，业务流水号，未入账/已入账。"""
    from pipeline.services.listings import list_assessments

    with reading(config) as reader:
        listing = list_assessments(reader, unit, include_deleted=show_all)
    data = listing.to_dict() if listing is not None else None
    if data is None:
        err.print(f"单位账号「{unit}」不存在", markup=False)
        raise typer.Exit(1)
    if as_json:
        # One line: `gjj remit list --json | jq` or a log keeps one listing a line.
        print(json.dumps(data, ensure_ascii=False, separators=(",", ":")))
        return
    records: list[dict[str, object]] = data["核定"]  # type: ignore[assignment]
    shown = "全部核定（含已删除）" if show_all else "汇缴核定（不含已删除，--all 全部列出）"
    table = Table(title=f"单位 {unit} {shown}")
    for title, _ in LIST_COLUMNS:
        table.add_column(title, justify="left" if title in LEFT_COLUMNS else "right")
    for record in records:
        table.add_row(*(Text(str(record[key])) for _, key in LIST_COLUMNS))
    console.print(table)
    if not records:
        console.print("没有汇缴核定", markup=False)


@remit_app.command("delete")
def remit_delete(
    unit: Annotated[str, typer.Option("--unit", help="单位账号")],
    serial: Annotated[str, typer.Option("--serial", help="业务流水号（该笔核定的所有月份一起删除）")],
    config: ConfigOption = None,
) -> None:
    """删除单位最新一笔未入账的汇缴核定（同一业务流水号的所有月份），缴至年月恢复为核定前的月份。"""
    from pipeline.services.remit import delete_assessment

    app_ = open_home(config)
    try:
        with app_.sessions() as session, session.begin():
            deletion = delete_assessment(session, unit, serial)
            if not deletion.deleted:
                session.rollback()
    finally:
        app_.close()
    if deletion.refused is not None:
        err.print(f"未删除：{deletion.refused}", markup=False)
        raise typer.Exit(1)
    months = "、".join(deletion.months)
    paid_to = deletion.paid_to_month or "（无）"
    console.print(f"已删除汇缴核定（业务流水号 {serial}，汇缴月度 {months}）；单位 {unit} 缴至年月恢复为 {paid_to}", markup=False)


def load_payments_command(path: Path, config: Path | None) -> None:
    """``gjj load --payments F``: book the feed in one transaction, or nothing when a cell is bad."""
    from pipeline.services.payments import load_payments  # pandas and pandera: a feed is checked like a unit's file

    app_ = open_home(config)
    try:
        with app_.sessions() as session, session.begin():
            report = load_payments(session, app_.config, path)
            if not report.ok:
                session.rollback()
    finally:
        app_.close()
    if not report.ok:
        print_issues(f"{path.name}：{len(report.issues)} 个错误，未入账任何记录", report.issues)
        raise typer.Exit(1)
    _print_payments(path, report)
    if report.needs_attention:
        raise typer.Exit(1)


def _print_payments(path: Path, report: PaymentReport) -> None:
    from pipeline.services.payments import PaymentOutcome

    table = Table(title=f"到账文件 {path.name}：共 {len(report.lines)} 行")
    table.add_column("结果")
    table.add_column("笔数", justify="right")
    table.add_column("到账金额", justify="right")
    for outcome in PaymentOutcome:
        lines = report.with_outcome(outcome)
        table.add_row(outcome.label, str(len(lines)), money_text(sum((line.amount for line in lines), Decimal(0))))
    console.print(table)
    others = [line for line in report.lines if line.outcome is not PaymentOutcome.BOOKED]
    if not others:
        return
    listed = Table(title="本次未入账的行")
    for column in ("行", "业务流水号", "单位账号", "到账金额", "结果", "说明"):
        listed.add_column(column, justify="right" if column in ("行", "到账金额") else "left")
    for line in others:
        listed.add_row(str(line.row), Text(line.serial_number), line.unit_account, money_text(line.amount), line.outcome.label, Text(line.message))
    (err if report.needs_attention else console).print(listed)


def remit_template_command(unit: str, output: Path, config: Path | None, today: date | None = None) -> None:
    """``gjj template 汇缴 --unit U``: the unit's next 汇缴清册, its 正常 members and amounts filled in."""
    from pipeline.outputs.template_xlsx import write_blank_template
    from pipeline.services.remit import prefill_remit
    from schemas.remit import TEMPLATE as REMIT_TEMPLATE

    app_ = open_home(config)
    business_date = today or date.today()
    try:
        with app_.sessions() as session:
            prefill = prefill_remit(session, app_.config, unit, business_date)
    finally:
        app_.close()
    if prefill is None:
        err.print(f"单位账号「{unit}」不存在", markup=False)
        raise typer.Exit(1)
    write_blank_template(REMIT_TEMPLATE, app_.config, output, prefill.rows)
    console.print(f"已生成单位 {unit} 的汇缴清册：{output}（{len(prefill.rows)} 名正常缴存职工，汇缴年月 {prefill.month}）", markup=False)
    if not prefill.rows:
        err.print(f"[yellow]单位 {unit} 没有正常缴存的职工，清册只有表头[/yellow]")
    if prefill.month > f"{business_date:%Y-%m}":
        err.print(f"[yellow]单位已核定到 {prefill.unit.paid_to_month}：{prefill.month} 的汇缴须到该月才能提交[/yellow]")
