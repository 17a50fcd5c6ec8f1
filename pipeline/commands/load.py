"""``gjj load``: master data (units, members) from the core system, and ``--payments``.

Thin: the library (:mod:`pipeline.services.load`) checks and writes, and reports through a
progress callback; this module draws the bar (on a terminal only) and prints the outcome.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer
from rich.markup import escape

from pipeline.commands.common import ConfigOption, console, err, open_home, print_issues
from pipeline.commands.remit import load_payments_command

if TYPE_CHECKING:
    from pipeline.app import App


#: How many of the refused rows' issues ``gjj load --skip-invalid`` prints; the report lists them all.
SHOWN_REFUSED = 20


def load_master_files(app_: App, units: Path | None, members: Path | None, skip_invalid: bool = False) -> None:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

    from pipeline.services.load import load_master_data, write_refused

    tasks: dict[str, TaskID] = {}
    refused: Path | None = None
    # On stderr, and only on a terminal: in a pipe or a log a progress bar is noise.
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=err, disable=not err.is_terminal) as bar:

        def progress(stage: str, done: int, total: int | None) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total)
            bar.update(tasks[stage], completed=done, total=total)

        with app_.sessions() as session, session.begin():
            report = load_master_data(session, app_.config, units, members, skip_invalid=skip_invalid, progress=progress)
            if not report.loaded:
                session.rollback()
            else:
                refused = write_refused(report, app_.home.var / "load") if not report.ok else None  # before the commit: never loaded without it
    if not report.loaded:
        if skip_invalid:
            err.print("[red]文件本身有错误（无法读取或表头不符），--skip-invalid 只跳过有错误的行，不能跳过整个文件[/red]")
        for name, issues in report.issues.items():
            if issues:
                print_issues(f"{name}：{len(issues)} 个错误，未导入任何数据", issues)
        raise typer.Exit(1)
    console.print(f"已导入 {report.units} 个单位、{report.members} 个缴存人", markup=False)
    for label, changes, given in (("单位", report.unit_changes, units), ("缴存人", report.member_changes, members)):
        if given is not None:
            console.print(f"{label}：新增 {changes.new}，更新 {changes.updated}，未变 {changes.unchanged}", markup=False)
    if refused is not None:
        issues = [issue for found in report.issues.values() for issue in found]
        counts = "，".join(f"{name} {count} 行" for name, count in report.refused_rows().items())
        more = f"（前 {SHOWN_REFUSED} 个）" if len(issues) > SHOWN_REFUSED else ""
        print_issues(f"未导入的行{more}", issues[:SHOWN_REFUSED])
        err.print(f"[yellow]警告：有错误的行未导入（{escape(counts)}，共 {len(issues)} 个错误）；清单见 {escape(str(refused))}[/yellow]")


def load_command(
    units: Annotated[Optional[Path], typer.Option("--units", exists=True, dir_okay=False, help="单位文件（csv/xlsx）")] = None,
    members: Annotated[Optional[Path], typer.Option("--members", exists=True, dir_okay=False, help="缴存人文件（csv/xlsx）")] = None,
    skip_invalid: Annotated[
        bool, typer.Option("--skip-invalid", help="导入没有错误的行，有错误的行写入 $GJJ_HOME/var/load/<时间>_refused.csv（退出码 0，并打印警告）")
    ] = False,
    payments: Annotated[
        Optional[Path], typer.Option("--payments", exists=True, dir_okay=False, help="核心系统的到账文件（业务流水号、到账日期、到账金额；csv/xlsx）：汇缴核定入账")
    ] = None,
    config: ConfigOption = None,
) -> None:
    """导入或刷新主数据（单位、缴存人）；默认有任何错误则全部不导入（退出码 1）。--payments：到账入账，有未入账的行时退出码 1。"""
    if payments is not None:
        if units is not None or members is not None or skip_invalid:
            err.print("--payments 不能与 --units、--members、--skip-invalid 同时使用；请分开运行", markup=False)
            raise typer.Exit(2)
        load_payments_command(payments, config)
        return
    if units is None and members is None:
        err.print("请至少指定 --units、--members 或 --payments")
        raise typer.Exit(2)
    app_ = open_home(config)
    try:
        load_master_files(app_, units, members, skip_invalid)
    finally:
        app_.close()
