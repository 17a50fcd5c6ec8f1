"""A skip fails the run in CI (tests/ci_skips.py): proved on a small suite run by pytester."""

from __future__ import annotations

import pytest

from tests.ci_skips import CI_MAY_SKIP

pytest_plugins = ["pytester"]

SUITE = f'''
import shutil

import pytest

from tests.ci_skips import skip_even_in_ci


@pytest.fixture
def missing_tool():
    pytest.skip("frobnicator not installed (fixture)")


def test_passes():
    assert True


def test_skips_in_the_test():
    pytest.skip("chromium not installed (test body)")


@pytest.mark.skipif(True, reason="poppler-utils not installed (mark)")
def test_skipped_by_a_mark():
    pass


def test_skipped_by_its_fixture(missing_tool):
    pass


def test_imports_what_is_missing():
    pytest.importorskip("a_module_nobody_has")


def test_may_skip_in_ci():
    skip_even_in_ci("mount --bind is not permitted here")


def test_allowed_by_a_mark_reason():
    pytest.skip("runner has no /dev/fuse {CI_MAY_SKIP}")


@pytest.mark.xfail(reason="a known bug", strict=True)
def test_expected_to_fail():
    assert False
'''

SKIPPED_MODULE = '''
import pytest

pytest.skip("the whole module needs a GPU", allow_module_level=True)


def test_never_collected():
    pass
'''


@pytest.fixture
def suite(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makepyfile(test_suite=SUITE)
    pytester.makeconftest("from tests.ci_skips import pytest_make_collect_report, pytest_runtest_makereport  # noqa: F401")
    return pytester


@pytest.mark.parametrize("ci", ["", None])
def test_skips_are_skips_outside_ci(suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, ci: str | None) -> None:
    if ci is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", ci)
    result = suite.runpytest("-p", "no:cacheprovider", "-rs")
    result.assert_outcomes(passed=1, skipped=6, xfailed=1)


def test_in_ci_every_skip_fails_unless_its_reason_allows_it(suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    result = suite.runpytest("-p", "no:cacheprovider", "-rs")

    # A skip in the test body fails the test; one in setup (a mark, a fixture) is an error there.
    result.assert_outcomes(passed=1, failed=2, errors=2, skipped=2, xfailed=1)
    outcomes = {report.nodeid.split("::")[-1]: report.outcome for report in result.reprec.getreports("pytest_runtest_logreport") if report.when != "teardown" and not report.passed}
    assert outcomes == {
        "test_skips_in_the_test": "failed",
        "test_skipped_by_a_mark": "failed",
        "test_skipped_by_its_fixture": "failed",
        "test_imports_what_is_missing": "failed",
        "test_may_skip_in_ci": "skipped",
        "test_allowed_by_a_mark_reason": "skipped",
        "test_expected_to_fail": "skipped",  # xfail is reported as a skip with wasxfail: left alone
    }
    output = result.stdout.str()
    for reason in ("chromium not installed (test body)", "poppler-utils not installed (mark)", "frobnicator not installed (fixture)"):
        assert f"skipped in CI: {reason}\nCI must provide what this test needs" in output
    assert f"mount --bind is not permitted here {CI_MAY_SKIP}" in output and "skipped in CI: mount" not in output


def test_in_ci_a_module_skipped_at_collection_is_an_error(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    pytester.makepyfile(test_gpu=SKIPPED_MODULE)
    pytester.makeconftest("from tests.ci_skips import pytest_make_collect_report, pytest_runtest_makereport  # noqa: F401")
    monkeypatch.delenv("CI", raising=False)
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(skipped=1)

    monkeypatch.setenv("CI", "1")
    result = pytester.runpytest("-p", "no:cacheprovider")

    result.assert_outcomes(errors=1)
    assert "skipped in CI: the whole module needs a GPU" in result.stdout.str()
    assert result.ret != 0
