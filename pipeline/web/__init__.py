"""The staff web console (``gjj serve``; SPEC.md "Staff web console"): a Starlette application over
the same home and database as the processor. It shows what the store holds and decides through the
same service functions as the commands; it has no business rule of its own.

- :mod:`pipeline.web.app`: :func:`create_app`, the middleware (session, CSRF, security headers), the routes.
- :mod:`pipeline.web.auth`: log-in, log-out, the session's staff account, the role check of every request.
- :mod:`pipeline.web.pages`: 首页, 待审核 with the scans and the decisions, 缴存人查询, 操作日志.
- :mod:`pipeline.web.queries`: 补缴查询, 汇缴核定查询, 转柜台, 隔离区, with their deletes and re-queue.
"""
