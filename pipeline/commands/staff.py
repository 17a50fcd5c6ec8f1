"""``gjj staff add/passwd/disable/list``: the staff accounts of the web console.

The password is asked twice on a terminal, or read as the first line of standard input when that
is not a terminal (``printf '%s\\n' "$PW" | gjj staff add 张三 --role reviewer``); it is never an
option, so it never shows in the shell's history or the process list. Exit 1 when the library
refuses (a taken name, a short password, an unknown account), 2 for a usage error.
"""

from __future__ import annotations

import getpass
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from pipeline.commands.common import ConfigOption, console, err, open_home

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

staff_app = typer.Typer(help="工作台（gjj serve）的工作人员账号：新增、改密码、停用、列出", no_args_is_help=True)
ROLE_HELP = "角色：viewer（查看）、reviewer（查看并审核）、admin（另可删除记录、重新处理隔离文件）"


def _password() -> str:
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("密码：")
    if getpass.getpass("再次输入密码：") != first:
        err.print("两次输入的密码不一致", markup=False)
        raise typer.Exit(1)
    return first


def _apply(change: Callable[[Session], str | None], success: str, config: ConfigOption) -> None:
    app_ = open_home(config)
    try:
        with app_.sessions() as session, session.begin():
            refused = change(session)
            if refused is not None:
                session.rollback()
    finally:
        app_.close()
    if refused is not None:
        err.print(refused, markup=False)
        raise typer.Exit(1)
    console.print(success, markup=False)


@staff_app.command("add")
def staff_add(
    name: Annotated[str, typer.Argument(help="账号名称（登录名，通常为本人姓名或工号）")],
    role: Annotated[str, typer.Option("--role", help=ROLE_HELP)] = "viewer",
    config: ConfigOption = None,
) -> None:
    """新增工作人员账号；密码在终端输入两次，或从标准输入读取第一行。"""
    from pipeline.services.staff import add_staff
    from pipeline.store.console_tables import STAFF_ROLES

    if role not in STAFF_ROLES:
        err.print(f"角色「{role}」无效，可选：{'、'.join(STAFF_ROLES)}", markup=False)
        raise typer.Exit(2)
    password = _password()
    _apply(lambda session: add_staff(session, name, role, password), f"已新增账号 {name}（{role}）", config)


@staff_app.command("passwd")
def staff_passwd(name: Annotated[str, typer.Argument(help="账号名称")], config: ConfigOption = None) -> None:
    """修改密码（同时解除锁定）。"""
    from pipeline.services.staff import set_password

    password = _password()
    _apply(lambda session: set_password(session, name, password), f"已修改账号 {name} 的密码", config)


@staff_app.command("disable")
def staff_disable(name: Annotated[str, typer.Argument(help="账号名称")], config: ConfigOption = None) -> None:
    """停用账号：不能再登录，已登录的会话在下一次操作时结束。"""
    from pipeline.services.staff import disable_staff

    _apply(lambda session: disable_staff(session, name), f"已停用账号 {name}", config)


@staff_app.command("list")
def staff_list(config: ConfigOption = None) -> None:
    """列出工作人员账号。"""
    from pipeline.services.staff import list_staff

    app_ = open_home(config)
    try:
        with app_.sessions() as session:
            accounts = list_staff(session)
    finally:
        app_.close()
    table = Table(title="工作人员账号")
    for column in ("账号", "角色", "状态", "锁定至"):
        table.add_column(column)
    for account in accounts:
        locked = f"{account.locked_until:%Y-%m-%d %H:%M}" if account.locked_until else ""
        table.add_row(account.name, account.role, "已停用" if account.disabled else "正常", locked)
    console.print(table)
