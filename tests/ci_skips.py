"""In CI (the ``CI`` environment variable set) a skipped test is a failed test.

A test skips where this machine lacks what it needs (Chromium, LibreOffice, sshd, PostgreSQL,
poppler, a font). On a developer's machine that is fine; in CI it would hide a test that never ran,
since ``.ci/install-system-deps`` installs all of them. So with ``CI`` set every skip — ``pytest.skip``
in a test or a fixture, a ``skipif`` mark, an ``importorskip``, a module skipped at collection —
is reported as a failure naming the skip's reason, unless that reason carries :data:`CI_MAY_SKIP`
and says why even the CI machine may not meet it. xfail is left alone. ``tests/conftest.py``
installs these hooks; ``tests/test_ci_skips.py`` proves them.
"""

from __future__ import annotations

import os
from collections.abc import Generator
from typing import Any, NoReturn

import pytest

#: In a skip's reason: the CI machine itself may lack this (say why next to it).
CI_MAY_SKIP = "[CI may skip]"


def skip_even_in_ci(reason: str) -> NoReturn:
    """Skip, in CI too: only for what a CI runner may really not allow (e.g. mounts in a container)."""
    pytest.skip(f"{reason} {CI_MAY_SKIP}")


def _skip_reason(report: pytest.TestReport | pytest.CollectReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:  # (path, line, "Skipped: reason")
        return str(longrepr[2]).removeprefix("Skipped: ")
    return str(longrepr)


def _fail_silent_skip(report: pytest.TestReport | pytest.CollectReport) -> None:
    if not os.environ.get("CI") or not report.skipped or hasattr(report, "wasxfail"):
        return
    reason = _skip_reason(report)
    if CI_MAY_SKIP in reason:
        return
    report.outcome = "failed"
    report.longrepr = (
        f"skipped in CI: {reason}\n"
        "CI must provide what this test needs (.ci/install-system-deps); a skip the CI machine may really "
        f"need says so with {CI_MAY_SKIP} in its reason (tests/ci_skips.py)"
    )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    _fail_silent_skip(report)
    return report


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> Generator[None, pytest.CollectReport, pytest.CollectReport]:
    report = yield
    _fail_silent_skip(report)
    return report
