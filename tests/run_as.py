"""Running this checkout's ``gjj`` as another user (a service user, ``nobody``), as the tests that
drop root's rights need: the interpreter, packages and checkout must be ones that user may reach."""

from __future__ import annotations

import atexit
import functools
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from site import getsitepackages

import pytest

REPO = Path(__file__).resolve().parent.parent


def unavailable(reason: str) -> None:
    """Skip on a developer machine; in CI a missing prerequisite is a failure."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason}: CI must provide it")
    pytest.skip(reason)


def setpriv(user: str) -> list[str]:
    """Run as ``user`` with its groups from /etc/group as they are now (what starting a service does)."""
    return ["setpriv", f"--reuid={user}", f"--regid={pwd.getpwnam(user).pw_gid}", "--init-groups", "--"]


@functools.cache
def code_for_everyone() -> list[str]:
    """This checkout's packages and the tests' site-packages, hard-linked (or copied) under a folder any
    user may pass: for a checkout or virtualenv in a folder only root may enter. Removed at exit."""
    mirror = Path(tempfile.mkdtemp(prefix="gjj-test-code-", dir="/var/tmp"))
    mirror.chmod(0o755)
    atexit.register(shutil.rmtree, mirror, True)

    def link(source: str, target: str) -> None:
        try:
            os.link(source, target)
        except OSError:  # another file system
            shutil.copy2(source, target)

    for name in ("pipeline", "schemas"):
        shutil.copytree(REPO / name, mirror / "src" / name, copy_function=link, ignore=shutil.ignore_patterns("__pycache__"))
    path = [str(mirror / "src")]
    for index, packages in enumerate(path for path in getsitepackages() if Path(path).is_dir()):
        shutil.copytree(packages, mirror / f"packages-{index}", copy_function=link, symlinks=True)
        path.append(str(mirror / f"packages-{index}"))
    return path


def gjj_as(user: str, home: Path) -> tuple[list[str], dict[str, str]]:
    """The command line that starts ``gjj`` (this checkout's) as ``user`` with umask 027, and its environment.

    The tests' own interpreter where ``user`` may run it; where that lives in a folder only root may
    enter (a pyenv under /root), the system's python3 of the same version with the tests' packages;
    where those are closed to ``user`` too, with copies of them that are not.
    """
    packages = [path for path in getsitepackages() if Path(path).is_dir()]
    system_python = str(Path(f"/usr/bin/python{sys.version_info.major}.{sys.version_info.minor}"))
    candidates: list[tuple[str, Callable[[], list[str]]]] = [
        (sys.executable, lambda: [str(REPO)]),
        (system_python, lambda: [str(REPO), *packages]),
        (system_python, code_for_everyone),
    ]
    for python, python_path in candidates:
        if not Path(python).exists():
            continue
        path = python_path()
        env = {
            "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
            "LANG": "C.UTF-8",
            "PYTHONPATH": os.pathsep.join(path),
            "GJJ_HOME": str(home),
            "XDG_CACHE_HOME": str(home / "var" / "cache"),  # fontconfig's cache: the service's own
        }
        start = [*setpriv(user), "sh", "-c", 'umask 027 && exec "$@"', "sh", python]
        probe = subprocess.run([*start, "-c", "import pipeline.cli"], env=env, capture_output=True, check=False, cwd="/")
        if probe.returncode == 0:
            return [*start, "-m", "pipeline"], env
    unavailable(f"no Python that the service user {user} may run with this checkout ({sys.executable} is not reachable for it)")
    raise AssertionError("unreachable")
