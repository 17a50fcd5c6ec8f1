"""``gjj serve``: the staff web console over this home's database (uvicorn; imported only when run).

The secret key that signs the session and CSRF cookies comes from ``GJJ_SECRET_KEY`` or
``--secret-key-file``; without one the console refuses to start (exit 2), unless ``--dev`` (a
random key per start: every session ends with the process).
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Annotated, Optional

import typer

from pipeline.commands.common import ConfigOption, console, err, open_home

MIN_KEY = 32


def secret_key(key_file: Path | None, dev: bool) -> str | None:
    """The key from ``key_file`` or ``GJJ_SECRET_KEY``; a random one with ``dev``; else None."""
    if key_file is not None:
        return key_file.read_text(encoding="utf-8").strip()
    if os.environ.get("GJJ_SECRET_KEY"):
        return os.environ["GJJ_SECRET_KEY"].strip()
    return secrets.token_urlsafe(48) if dev else None


def serve_command(
    host: Annotated[str, typer.Option("--host", help="监听地址（默认只在本机；对外请经反向代理）")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="端口")] = 8400,
    key_file: Annotated[Optional[Path], typer.Option("--secret-key-file", exists=True, dir_okay=False, help="签名密钥文件（或环境变量 GJJ_SECRET_KEY）")] = None,
    tls: Annotated[bool, typer.Option("--tls", help="经 HTTPS（反向代理）访问：Cookie 加 Secure 标记")] = False,
    idle_minutes: Annotated[int, typer.Option("--idle-minutes", min=1, max=720, help="无操作多少分钟后须重新登录")] = 30,
    dev: Annotated[bool, typer.Option("--dev", help="开发用：没有密钥时每次启动随机生成")] = False,
    config: ConfigOption = None,
) -> None:
    """启动工作人员网页工作台（默认 http://127.0.0.1:8400）。"""
    key = secret_key(key_file, dev)
    if key is None:
        err.print("没有签名密钥：请设置环境变量 GJJ_SECRET_KEY 或 --secret-key-file（开发时可用 --dev）", markup=False)
        raise typer.Exit(2)
    if len(key) < MIN_KEY:
        err.print(f"签名密钥太短：至少 {MIN_KEY} 个字符（例如 python -c 'import secrets; print(secrets.token_urlsafe(48))'）", markup=False)
        raise typer.Exit(2)
    from pipeline.web.app import serve

    app_ = open_home(config)
    console.print(f"工作台：http://{host}:{port}/（Ctrl-C 停止）", markup=False)
    try:
        serve(app_, key, host, port, secure_cookies=tls, idle_minutes=idle_minutes)
    finally:
        app_.close()
