"""``gjj backpay list/delete``: 补缴查询 (Baoji notice 2024-19), a unit's entered but unallocated back-pay."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from pipeline.commands.common import ConfigOption, console, err, open_home, reading

backpay_app = typer.Typer(help="补缴查询：列出、删除已录入未分配的补缴记录", no_args_is_help=True)


@backpay_app.command("list")
def backpay_list(
    unit: Annotated[str, typer.Option("--unit", help="单位账号")],
    as_json: Annotated[bool, typer.Option("--json", help="以 JSON 输出")] = False,
    config: ConfigOption = None,
) -> None:
    """列出单位已录入未分配的补缴记录和未分配金额。"""
    from pipeline.services.listings import list_unallocated

    with reading(config) as reader:
        data = list_unallocated(reader, unit).to_dict()
    if as_json:
        print(json.dumps(data, ensure_ascii=False, separators=(",", ":")))  # one line, as gjj remit list --json
        return
    table = Table(title=f"单位 {unit} 已录入未分配补缴（未分配金额 {data['未分配金额']}）")
    columns = ("业务流水号", "个人账号", "姓名", "补缴原因", "补缴开始年月", "补缴结束年月", "补缴金额", "录入日期")
    for column in columns:
        table.add_column(column, justify="right" if column == "补缴金额" else "left")
    for record in data["records"]:  # type: ignore[union-attr]
        table.add_row(*(Text(record[column]) for column in columns))  # unit-supplied text is never markup
    console.print(table)


@backpay_app.command("delete")
def backpay_delete(
    unit: Annotated[str, typer.Option("--unit", help="单位账号")],
    serial: Annotated[str, typer.Option("--serial", help="业务流水号")],
    config: ConfigOption = None,
) -> None:
    """删除单位某业务流水号下已录入未分配的补缴记录。"""
    from pipeline.services.backpay_query import delete_unallocated

    app_ = open_home(config)
    with app_.sessions() as session, session.begin():
        deleted = delete_unallocated(session, unit, serial)
    app_.close()
    if deleted == 0:
        err.print(f"单位 {unit} 没有业务流水号为 {serial} 的未分配补缴记录", markup=False)
        raise typer.Exit(1)
    console.print(f"已删除 {deleted} 条补缴记录（业务流水号 {serial}）", markup=False)
