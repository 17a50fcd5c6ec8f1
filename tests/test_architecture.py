"""The architecture as tests (README, Architecture).

- The direction of imports: import-linter's contracts in pyproject.toml (stages import only the
  stages below them; the shared modules and the schemas import no stage; rules, checks and
  reading never touch the database; no cycle between the modules of a package).
- No import cycle between any two modules anywhere, found here on grimp's graph (the one
  import-linter builds), imports made inside functions and under ``TYPE_CHECKING`` included.
- No module over ``MAX_LINES`` lines.

The checkers are tested on a small package written here, so a test that passes has looked.
"""

from __future__ import annotations

import subprocess
import sys
import tomllib
from collections.abc import Iterable
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("pipeline", "schemas")
MAX_LINES = 400


def module_lines(root: Path, packages: Iterable[str]) -> dict[str, int]:
    """Lines of every Python module of ``packages`` under ``root``, by path relative to it."""
    return {
        str(path.relative_to(root)): len(path.read_text(encoding="utf-8").splitlines())
        for package in packages
        for path in sorted((root / package).rglob("*.py"))
    }


def oversized(lines: dict[str, int], limit: int = MAX_LINES) -> list[str]:
    return [f"{path}: {count} lines" for path, count in lines.items() if count > limit]


def import_cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """Every set of modules that import each other in a circle (Tarjan's strongly connected components)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    cycles: list[list[str]] = []
    for start in sorted(graph.modules):
        if start in index:
            continue
        work = [(start, iter(sorted(graph.find_modules_directly_imported_by(start))))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            module, imported = work[-1]
            step = next(imported, None)
            if step is not None:
                if step not in index:
                    index[step] = low[step] = len(index)
                    stack.append(step)
                    on_stack.add(step)
                    work.append((step, iter(sorted(graph.find_modules_directly_imported_by(step)))))
                elif step in on_stack:
                    low[module] = min(low[module], index[step])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[module])
            if low[module] == index[module]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == module:
                        break
                if len(component) > 1 or module in graph.find_modules_directly_imported_by(module):
                    cycles.append(sorted(component))
    return cycles


def test_the_import_contracts_hold() -> None:
    lint = Path(sys.executable).with_name("lint-imports")
    done = subprocess.run([str(lint), "--config", str(ROOT / "pyproject.toml")], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["importlinter"]["contracts"]
    assert f"{len(contracts)} kept, 0 broken" in done.stdout


def test_no_module_is_over_the_size_limit() -> None:
    lines = module_lines(ROOT, PACKAGES)
    assert len(lines) > 40  # the packages were found
    assert oversized(lines) == []


def test_no_two_modules_import_each_other() -> None:
    graph = grimp.build_graph(*PACKAGES, cache_dir=None)
    assert "pipeline.run.processor" in graph.modules
    assert import_cycles(graph) == []


@pytest.fixture
def toy_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``toy``: ``a`` → ``b`` → ``c`` → ``a`` (a cycle), ``d`` → ``a`` (not in it), ``e`` imports itself, ``long`` has 401 lines."""
    package = tmp_path / "toy"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from toy import b\n")
    (package / "b.py").write_text("def late():\n    from toy import c\n")
    (package / "c.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import toy.a\n")
    (package / "d.py").write_text("import toy.a\n")
    (package / "e.py").write_text("import toy.e\n")
    (package / "long.py").write_text("x = 1\n" * 401)
    monkeypatch.syspath_prepend(str(tmp_path))
    return package


def test_the_checkers_find_a_cycle_and_a_long_module(toy_package: Path) -> None:
    graph = grimp.build_graph("toy", cache_dir=None)
    assert import_cycles(graph) == [["toy.a", "toy.b", "toy.c"], ["toy.e"]]
    assert oversized(module_lines(toy_package.parent, ["toy"])) == ["toy/long.py: 401 lines"]
