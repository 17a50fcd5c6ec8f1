"""`.ci/install-system-deps` and the Makefile's use of it (README, The two commands).

A user who cannot install a missing Debian package gets one line naming it and the command to
run, and a non-zero exit; nothing is installed. The packages are checked for real with
dpkg-query: a made-up package name (``GJJ_EXTRA_PACKAGES``) is the missing one, and the commands
run as ``nobody`` (through ``runuser`` when the tests run as root, as in CI).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MISSING = "gjj-no-such-package-for-tests"

pytestmark = pytest.mark.skipif(shutil.which("dpkg-query") is None, reason="not a Debian system (no dpkg-query)")


def as_unprivileged(command: list[str]) -> list[str]:
    if os.getuid() != 0:
        return command
    runuser = shutil.which("runuser")
    if runuser is None:
        pytest.skip("running as root without runuser: cannot run the check as another user")
    return [runuser, "-u", "nobody", "--", *command]


@pytest.fixture
def checkout() -> Iterator[Path]:
    """The script and the Makefile in a folder ``nobody`` can read (a test's tmp_path is root's alone)."""
    folder = Path(tempfile.mkdtemp(prefix="gjj-system-deps-"))
    try:
        (folder / ".ci").mkdir()
        shutil.copy(ROOT / ".ci" / "install-system-deps", folder / ".ci" / "install-system-deps")
        shutil.copy(ROOT / "Makefile", folder / "Makefile")
        for path in (folder, folder / ".ci", *folder.rglob("*")):
            path.chmod(0o755)
        yield folder
    finally:
        shutil.rmtree(folder)


def run(command: list[str], folder: Path, extra: str = MISSING) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "GJJ_EXTRA_PACKAGES": extra, "LC_ALL": "C.UTF-8"}
    for name in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKE_TERMOUT", "MAKE_TERMERR"):  # run by `make test`: not a sub-make
        env.pop(name, None)
    return subprocess.run(as_unprivileged(command), cwd=folder, env=env, capture_output=True, text=True, timeout=60)


def test_a_user_who_cannot_install_gets_one_line_and_a_failure(checkout: Path) -> None:
    done = run(["bash", ".ci/install-system-deps", "--demo"], checkout)

    assert done.returncode == 1
    lines = (done.stdout + done.stderr).splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("缺少系统软件包 ")
    assert MISSING in lines[0]
    assert lines[0].endswith("bash .ci/install-system-deps --demo") or lines[0].endswith("bash .ci/install-system-deps --demo'")


def test_the_check_says_the_same_line_on_stdout(checkout: Path) -> None:
    done = run(["bash", ".ci/install-system-deps", "--tests", "--check"], checkout)

    assert done.returncode == 1
    assert done.stderr == ""
    assert len(done.stdout.splitlines()) == 1
    assert MISSING in done.stdout and "--tests" in done.stdout


def test_make_demo_stops_with_that_one_line_before_anything_else(checkout: Path) -> None:
    if shutil.which("make") is None:
        pytest.skip("no make")
    done = run(["make", "demo"], checkout)

    assert done.returncode != 0
    lines = (done.stdout + done.stderr).splitlines()
    assert len(lines) == 1, lines
    assert "*** 缺少系统软件包 " in lines[0] and MISSING in lines[0] and "install-system-deps --demo" in lines[0]
    assert sorted(path.name for path in checkout.iterdir()) == [".ci", "Makefile"]  # no .venv, no demo/


def test_nothing_missing_means_silence(checkout: Path) -> None:
    # bash is an essential Debian package: a set that holds it (and the demo's packages) is complete.
    demo_ready = run(["bash", ".ci/install-system-deps", "--demo", "--check"], checkout, extra="")
    if demo_ready.returncode != 0:
        pytest.skip(f"the demo's packages are not installed here: {demo_ready.stdout.strip()}")

    done = run(["bash", ".ci/install-system-deps", "--demo"], checkout, extra="bash")

    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")
