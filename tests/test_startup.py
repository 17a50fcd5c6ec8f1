"""Start-up (issue #21, README "Start-up"): ``gjj --help`` and the listing commands import no heavy library.

Each command runs as a real process under ``python -X importtime``; the modules it imported are read
from that report. No wall-clock time is asserted here: the benchmark measures it
(``python -m benchmarks.startup``).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.script import ScriptDirectory

import schemas
from pipeline.app import open_app
from pipeline.store.dbapi import MIGRATIONS, head_revision
from pipeline.store.engine import current_revision, make_engine, migrate

REPO = Path(__file__).resolve().parent.parent
#: What only processing, loading and rendering need: a light command imports none of them.
HEAVY = ("pandas", "pandera", "numpy", "weasyprint", "openpyxl", "xlsxwriter", "python_calamine", "pipeline.run.processor")
HELP = (("--help",), ("backpay", "--help"), ("remit", "--help"), ("review", "--help"))
LISTINGS = (("review", "list", "--all"), ("backpay", "list", "--unit", "0100001"), ("remit", "list", "--unit", "0100001"))


def imported(args: tuple[str, ...], home: Path) -> tuple[set[str], subprocess.CompletedProcess[str]]:
    """The modules ``python -m pipeline ARGS`` imported, from its ``-X importtime`` report."""
    environment = {**os.environ, "GJJ_HOME": str(home), "PYTHONPATH": str(REPO)}
    environment.pop("GJJ_DB", None)
    command = [sys.executable, "-X", "importtime", "-m", "pipeline", *args]
    done = subprocess.run(command, capture_output=True, text=True, env=environment, cwd=home, timeout=120)
    modules = {line.rsplit("|", 1)[1].strip() for line in done.stderr.splitlines() if line.startswith("import time:") and "|" in line}
    assert "pipeline.cli" in modules, done.stderr[-2000:]  # the report was read: a test that passes has looked
    return modules, done


def heavy_in(modules: set[str]) -> list[str]:
    return sorted(module for module in modules if module.split(".")[0] in HEAVY or module in HEAVY)


@pytest.mark.parametrize("args", HELP, ids=" ".join)
def test_help_imports_neither_the_heavy_libraries_nor_the_database(tmp_path: Path, args: tuple[str, ...]) -> None:
    modules, done = imported(args, tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Usage" in done.stdout
    assert heavy_in(modules) == []
    assert not {"sqlalchemy", "alembic", "psycopg", "pydantic"} & modules  # pydantic: Typer ≥ 0.29's option adapters


@pytest.fixture(scope="module")
def migrated_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("home")
    open_app(home).close()
    return home


@pytest.mark.parametrize("args", LISTINGS, ids=" ".join)
def test_a_listing_reads_through_the_driver_alone(migrated_home: Path, args: tuple[str, ...]) -> None:
    modules, done = imported(args, migrated_home)
    assert done.returncode in (0, 1), done.stderr[-2000:]  # 1: the unit is not in the (empty) master data
    assert "无法打开数据库" not in done.stderr and "Traceback" not in done.stderr
    assert done.returncode == 0 or "单位账号「0100001」不存在" in done.stderr
    assert "sqlite3" in modules and "pipeline.services.listings" in modules
    assert heavy_in(modules) == []
    # The database is at the newest migration (one query says so): no SQLAlchemy, no Alembic, no
    # configuration (PyYAML is read by pipeline.config's import, the pydantic policy models are not).
    assert not {"sqlalchemy", "alembic", "psycopg", "pydantic", "pipeline.policy"} & modules


def _alembic() -> AlembicConfig:
    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def test_a_command_on_an_old_database_still_migrates_it(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'gjj.db'}")
    assert current_revision(engine) is None
    migrate(engine)
    assert current_revision(engine) == head_revision()
    with engine.begin() as connection:
        config = _alembic()
        config.attributes["connection"] = connection
        command.downgrade(config, "-1")
    assert current_revision(engine) != head_revision()
    migrate(engine)
    assert current_revision(engine) == head_revision()
    with engine.connect() as connection:
        assert connection.exec_driver_sql("SELECT count(*) FROM documents").scalar_one() == 0  # the last migration's table is back
    engine.dispose()


def test_the_head_revision_read_from_the_file_names_is_alembics() -> None:
    assert head_revision() == ScriptDirectory.from_config(_alembic()).get_current_head()


def test_the_kinds_known_without_the_schemas_are_the_templates() -> None:
    assert schemas.KINDS == tuple(schemas.TEMPLATES)
    assert schemas.template_for(schemas.REMIT_KIND).KIND == schemas.REMIT_KIND
    with pytest.raises(KeyError, match="未知的模板类型"):
        schemas.template_for("不存在")
