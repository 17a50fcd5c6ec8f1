"""补缴查询, 汇缴核定查询, 转柜台 and 隔离区, with their deletes and re-queue (admin only)."""

from __future__ import annotations

from starlette.routing import Route

ROUTES: list[Route] = []
