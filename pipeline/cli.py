"""``gjj``: the command line. It parses options, calls the library and shows the result.

This module and the subcommands it puts together from :mod:`pipeline.commands` are the only ones
that import Typer or print with Rich. Exit codes: 0 when the command
did its work (a run with rejected files included, a ``load --skip-invalid`` that refused rows
with a warning), 1 when the input given to the command was bad (e.g. master data with errors),
2 for a broken configuration or a usage error.
"""

from __future__ import annotations

import atexit
import json
import os
import sys
import threading
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn, Optional

import typer
from rich.markup import escape
from rich.table import Table

from pipeline.commands.backpay import backpay_app
from pipeline.commands.common import ConfigOption, console, err, open_home
from pipeline.commands.load import load_command, load_master_files
from pipeline.commands.remit import remit_app, remit_template_command
from pipeline.commands.review import review_app
from pipeline.commands.serve import serve_command
from pipeline.commands.staff import staff_app
from pipeline.config import gjj_home, load_config
from pipeline.errors import ConfigError, HelperFailed
from pipeline.model import BatchStatus, RowStatus
from pipeline.money import money_text
from schemas import KINDS, REMIT_KIND

if TYPE_CHECKING:
    from pipeline.app import App
    from pipeline.run.outcomes import FailedFile, RunSummary

# What a command needs beyond the database (pandas, pandera, WeasyPrint, xlsxwriter, the processor)
# is imported inside it: `gjj --help` and the listing commands start without them (README "Start-up").


app = typer.Typer(help="住房公积金单位批量文件处理（gjj-exchange）", no_args_is_help=True, add_completion=False)
app.add_typer(backpay_app, name="backpay")
app.add_typer(remit_app, name="remit")
app.add_typer(review_app, name="review")
app.add_typer(staff_app, name="staff")
app.command("serve")(serve_command)
export_app = typer.Typer(help="导出当前数据（供核心系统导入）", no_args_is_help=True)
app.add_typer(export_app, name="export")
app.command("load")(load_command)


def _install_profile(profile: str, config: Path | None) -> None:
    from pipeline.services.policy import install_profile

    if config is not None:
        err.print("--profile 写入 $GJJ_HOME/config/centre.yaml，不能与 --config 同时使用；请直接编辑该配置文件的 policy 一节", markup=False)
        raise typer.Exit(2)
    try:
        written = install_profile(gjj_home(), profile)
    except ConfigError as exc:
        err.print(f"[red]配置错误：[/red]{escape(str(exc))}")
        raise typer.Exit(2) from exc
    console.print(f"已写入材料与审批方案 {profile}：{written}", markup=False)


@app.command()
def init(
    demo: Annotated[bool, typer.Option("--demo", help="导入演示单位和缴存人，并放入示例文件")] = False,
    profile: Annotated[
        Optional[str],
        typer.Option("--profile", help="材料与审批方案：light（宝鸡2024：只有姓名、证件号码变更须材料和审核）或 strict（葫芦岛手册：每种业务都须材料和审核）；写入 $GJJ_HOME/config/centre.yaml"),
    ] = None,
    config: ConfigOption = None,
) -> None:
    """创建目录结构和数据库（GJJ_HOME，默认当前目录）。"""
    if profile is not None:
        _install_profile(profile, config)
    app_ = open_home(config)
    console.print(f"已初始化：{app_.home.root}", markup=False)
    if demo:
        from pipeline.services import demo as demo_data

        units, members, units_file, members_file = demo_data.demo_master_data(app_.home.var / "demo", date.today())
        load_master_files(app_, units_file, members_file)
        files = demo_data.drop_demo_files(app_.home.inbox, units, members, date.today())
        console.print(f"已放入 {len(files)} 个示例文件到 {app_.home.inbox}", markup=False)
    app_.close()


def _summary_table(summary: RunSummary) -> Table:
    """One screen whatever the night's size: files by template and status, not one line per file."""
    table = Table(title=f"本次处理 {len(summary.outcomes)} 个文件（业务日期 {summary.business_date}）")
    table.add_column("业务")
    for status in BatchStatus:
        table.add_column(status.label, justify="right")
    table.add_column("转柜台行", justify="right")
    kinds = sorted({outcome.result.kind or "未识别" for outcome in summary.outcomes})
    for kind in kinds:
        results = [o.result for o in summary.outcomes if (o.result.kind or "未识别") == kind]
        counts = [sum(1 for r in results if r.status is status) for status in BatchStatus]
        referred = sum(r.count(RowStatus.COUNTER) for r in results)
        table.add_row(kind, *(str(count) for count in counts), str(referred))
    return table


@app.command()
def run(
    business_date: Annotated[Optional[str], typer.Option("--business-date", help="业务日期 yyyy-mm-dd，默认今天")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="以 JSON 输出结果")] = False,
    workers: Annotated[int, typer.Option("--workers", min=1, max=16, help="本机并行处理的进程数（默认 1；两核机器用 2）")] = 1,
    helper_of: Annotated[Optional[str], typer.Option("--helper-of", hidden=True, help="作为该运行编号的辅助进程处理文件")] = None,
    config: ConfigOption = None,
) -> None:
    """处理收件箱中所有等待的文件（夜间批处理），并更新当日的中心工作人员汇总。有文件被退回时也返回 0。"""
    from pipeline.run.early import read_first_waiting

    day = _business_date(business_date)
    if helper_of is None:
        read_first_waiting(gjj_home())  # parsed while what follows is imported

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from pipeline.intake.scan import waiting_files
    from pipeline.run.faults import SummaryNotWritten
    from pipeline.run.workers import HelperProcesses

    app_ = open_home(config)
    if helper_of is not None:
        _help_run(app_, day, helper_of)
        return
    processor = app_.processor(day)
    total = len(waiting_files(app_.home.inbox))
    helpers = None
    if workers > 1:
        def helpers() -> HelperProcesses:
            return HelperProcesses.start(workers - 1, home=app_.home.root, run_id=processor.run_id, business_date=day, config_path=config)
    # With helpers this process sees only its share; in a pipe or a log a progress bar is noise.
    show_progress = not as_json and total > 0 and workers == 1 and err.is_terminal
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), console=err, disable=not show_progress) as progress:
        task = progress.add_task("处理文件", total=total)
        try:
            summary = processor.run(
                progress=lambda arrival: progress.update(task, advance=1, description=f"{arrival.unit_account}/{arrival.name}"),
                helpers=helpers,
            )
        except HelperFailed as exc:
            err.print(f"[red]{escape(str(exc))}[/red]")
            raise typer.Exit(1) from exc
        except SummaryNotWritten as exc:  # what the run did is committed; only the staff page is missing
            _print_failed(exc.summary.failed)
            err.print(f"[red]{escape(str(exc))}[/red]")
            raise typer.Exit(1) from exc
        finally:
            processor.close()
    app_.close()
    if as_json:
        # A file's rows are in its result.json: a night with 100k-row files would print them all.
        files = [o.result.to_dict(rows=False) | {"outputs": str(o.outputs)} for o in summary.outcomes]
        report = {
            "run_id": summary.run_id,
            "staff_summary": str(summary.staff_summary),
            "workers": workers,
            "helped": len(summary.helped),
            "files": files,
            "failed": [item.to_dict() for item in summary.failed],
        }
        # One line (JSON Lines): `gjj run --json >> runs.jsonl` keeps one run a line, each valid JSON.
        print(json.dumps(report, ensure_ascii=False, separators=(",", ":")))
    else:
        _print_run(summary, workers, app_.home.outbox)
    _print_failed(summary.failed)
    if summary.failed:
        raise typer.Exit(1)


def _business_date(text: str | None) -> date:
    try:
        return date.fromisoformat(text) if text else date.today()
    except ValueError as exc:
        err.print(f"业务日期「{text}」无效，请按 yyyy-mm-dd 填写", markup=False)
        raise typer.Exit(2) from exc


@app.command("summary")
def summary_command(
    business_date: Annotated[Optional[str], typer.Option("--business-date", help="业务日期 yyyy-mm-dd，默认今天")] = None,
    config: ConfigOption = None,
) -> None:
    """按数据库重新生成某业务日的中心工作人员汇总（当日所有运行、所有进程处理的文件和失败），并更新索引。"""
    day = _business_date(business_date)
    app_ = open_home(config)
    try:
        page = app_.write_summary(day)
    finally:
        app_.close()
    console.print(f"中心工作人员汇总（业务日期 {day}）：{page}", markup=False)


def _print_failed(failed: list[FailedFile], retry: str = "下次运行重试") -> None:
    for item in failed:
        err.print(f"[red]处理失败，文件留在收件箱，{retry}：{escape(f'{item.unit_account}/{item.source}：{item.error}')}[/red]")


def _print_run(summary: RunSummary, workers: int, outbox: Path) -> None:
    console.print(_summary_table(summary))
    counts = "，".join(f"{status.label} {summary.count(status)}" for status in BatchStatus)
    console.print(f"合计：{counts}" + (f"；隔离 {len(summary.quarantined)} 个不安全文件" if summary.quarantined else ""))
    assessed = [outcome.result for outcome in summary.outcomes if outcome.result.assessments]
    if assessed:
        months = sum(len(result.assessments) for result in assessed)
        amount = sum((assessment.amount for result in assessed for assessment in result.assessments), Decimal(0))
        units = len({result.unit_account for result in assessed})
        console.print(f"汇缴核定：{units} 个单位 {months} 个月，核定金额 {money_text(amount)} 元", markup=False)
    if workers > 1:
        console.print(f"{workers} 个进程并行处理，其中辅助进程处理 {len(summary.helped)} 个文件", markup=False)
    console.print(f"中心工作人员汇总：{summary.staff_summary}", markup=False)
    console.print(f"各业务日索引：{outbox / '_centre' / 'index.html'}", markup=False)


def _help_run(app_: App, day: date, run_id: str) -> None:
    """A helper process of ``gjj run --workers``: its share of the inbox, no summary of its own."""
    processor = app_.processor(day, run_id)
    try:
        processor.process_waiting()
    finally:
        processor.close()
        app_.close()
    _print_failed(processor.failed)
    if processor.failed:
        raise typer.Exit(1)  # the run's own process reports it (HelperFailed)


@app.command()
def watch(
    rescan_seconds: Annotated[float, typer.Option("--rescan-seconds", help="完整重新扫描收件箱的间隔（秒）")] = 30.0,
    config: ConfigOption = None,
) -> None:
    """持续监视收件箱：文件上传完成（大小和修改时间稳定）后即处理；Ctrl-C 或 SIGTERM 处理完当前文件后退出。"""
    from pipeline.intake.arrivals import REGISTER_NAME
    from pipeline.run.watch import Watcher

    app_ = open_home(config)

    def report(summary: RunSummary) -> None:
        for outcome in summary.outcomes:
            console.print(f"{outcome.unit_account}/{outcome.source} → {outcome.result.status.label} {outcome.outputs}", markup=False)
        _print_failed(summary.failed, retry="稍后重试")

    register = app_.home.var / REGISTER_NAME  # when each waiting file was first seen, kept across restarts
    settle = app_.config.settle_seconds
    def fault(message: str) -> None:
        err.print(f"[yellow]{escape(message)}[/yellow]")

    watcher = Watcher(lambda: app_.processor(date.today()), app_.home.inbox, settle, rescan_seconds, on_run=report, register=register, on_fault=fault)
    watcher.install_signal_handlers()
    console.print(f"正在监视 {app_.home.inbox}（稳定 {app_.config.settle_seconds:g} 秒后处理，每 {rescan_seconds:g} 秒完整扫描一次）", markup=False)
    stats = watcher.run()
    app_.close()
    console.print(f"已停止：共处理 {len(stats.outcomes)} 个文件", markup=False)


@app.command()
def template(
    kind: Annotated[str, typer.Argument(help=f"模板类型：{'、'.join(KINDS)}")],
    output: Annotated[Path, typer.Option("-o", "--output", help="输出的 xlsx 文件")],
    unit: Annotated[Optional[str], typer.Option("--unit", help=f"单位账号：预填该单位正常缴存的职工和下一个汇缴年月（仅{REMIT_KIND}）")] = None,
    config: ConfigOption = None,
) -> None:
    """生成空白模板（xlsx），表头与中心要求完全一致。只读配置（--config、$GJJ_HOME/config/centre.yaml 或内置默认配置），不建目录、不连数据库。

    汇缴 --unit U：生成该单位预填好的汇缴清册（读取数据库）。
    """
    from pipeline.outputs.template_xlsx import write_blank_template
    from schemas import template_for

    if unit is not None:
        if kind != REMIT_KIND:
            err.print(f"--unit 只用于{REMIT_KIND}模板（预填单位的正常缴存职工）", markup=False)
            raise typer.Exit(2)
        remit_template_command(unit, output, config)
        return
    try:
        blank = template_for(kind)
    except KeyError as exc:
        err.print(str(exc.args[0]), markup=False)
        raise typer.Exit(2) from exc
    # A template needs the configuration only: no home is made, no database opened (the
    # current directory is not a home just because GJJ_HOME is unset).
    home = os.environ.get("GJJ_HOME")
    try:
        centre = load_config(config, home=Path(home).resolve() if home else None)
    except ConfigError as exc:
        err.print(f"[red]配置错误：[/red]{escape(str(exc))}")
        raise typer.Exit(2) from exc
    write_blank_template(blank, centre, output)
    console.print(f"已生成模板：{output}", markup=False)


@export_app.command("members")
def export_members_command(
    output: Annotated[Path, typer.Option("-o", "--output", help="输出文件（.csv 或 .xlsx），格式与 gjj load --members 相同")],
    config: ConfigOption = None,
) -> None:
    """导出全部缴存人当前状态，格式与 gjj load 的缴存人文件相同。"""
    from pipeline.services.export import export_members

    if output.suffix.lower() not in (".csv", ".xlsx"):
        err.print(f"不支持的导出格式「{output.suffix}」，请用 .csv 或 .xlsx", markup=False)
        raise typer.Exit(2)
    app_ = open_home(config)
    with app_.sessions() as session:
        count = export_members(session, output)
    app_.close()
    console.print(f"已导出 {count} 个缴存人到 {output}", markup=False)


@app.command("demo")
def demo_command(config: ConfigOption = None) -> None:
    """演示：在 GJJ_HOME 初始化演示数据、处理示例文件，并列出输出位置。"""
    from pipeline.services import demo as demo_data

    home = gjj_home()
    for folder in ("inbox", "outbox", "archive", "quarantine", "var"):
        if (home / folder).exists() and any(p.name != ".gitkeep" for p in (home / folder).rglob("*")):
            err.print(f"{home} 中已有数据（{folder}/ 不为空）；请在空目录中运行演示，例如 GJJ_HOME=demo gjj demo", markup=False)
            raise typer.Exit(2)
    init(demo=True, config=config)
    run(business_date=None, as_json=False, config=config)
    # Second step: the first unit's 汇缴清册, pre-filled from what the first step left (gjj template 汇缴 --unit).
    app_ = open_home(config)
    try:
        with app_.sessions() as session:
            files = demo_data.drop_remit_demo_files(session, app_.config, app_.home.inbox, demo_data.REMIT_UNIT, date.today())
    finally:
        app_.close()
    console.print(f"\n第二步：单位 {demo_data.REMIT_UNIT} 按预填的汇缴清册办理两个月的汇缴：{'、'.join(path.name for path in files)}", markup=False)
    run(business_date=None, as_json=False, config=config)
    console.print(f"\n输出在 {home / 'outbox'}（每个单位一个目录，每个文件一个批次目录）；原文件已移到 {home / 'archive'}", markup=False)
    for path in sorted((home / "outbox").rglob("*")):
        if path.is_file():
            console.print(f"  {path.relative_to(home)}", markup=False)


def main() -> NoReturn:
    """The ``gjj`` console script and ``python -m pipeline``: run the command, then leave at once.

    Typer ends every command with ``SystemExit``. The interpreter's own exit after a ``gjj run``
    that imported pandas, pandera, SQLAlchemy and WeasyPrint then unloads them all: about 0.5 s
    (measured: README "whole gjj run process"), a tenth of the whole process, none of it needed.
    What that exit does that matters is done here: other non-daemon threads are joined, the
    atexit handlers run (logging's flush, multiprocessing's join of its children, the finalizers
    that remove temporary folders), the streams are flushed; then the process leaves with the
    command's exit code. An exception a command did not handle takes the interpreter's usual way.
    """
    try:
        app()
    except SystemExit as exc:
        leave(exc.code)
    leave(0)


def leave(code: object) -> NoReturn:
    """Exit with ``code`` (as ``SystemExit`` takes it) without unloading the modules: see :func:`main`."""
    if code is None or isinstance(code, int):
        status = code or 0
    else:
        print(code, file=sys.stderr)
        status = 1
    for thread in threading.enumerate():
        if thread is not threading.main_thread() and not thread.daemon:
            thread.join()
    atexit._run_exitfuncs()  # what the interpreter runs first at exit; os._exit skips the rest
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe (`gjj … | head`): nothing more can be shown
            pass
    os._exit(status)


