"""Shared fixtures: a real PostgreSQL server started by the tests, fresh homes with master data."""

from __future__ import annotations

import fcntl
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path

import pytest
import sqlalchemy

from pipeline.app import App, open_app
from pipeline.outputs.pdf.render import process_alive
from pipeline.services.fakes import FakeMember, FakeUnit, fake_master_data, write_master_files
from pipeline.services.load import load_master_data
from tests.ci_skips import pytest_make_collect_report, pytest_runtest_makereport  # noqa: F401 - hooks: a skip fails in CI

BUSINESS_DATE = date(2024, 8, 5)


def wait_until(condition: Callable[[], object], what: str, timeout: float = 30.0, interval: float = 0.02) -> object:
    """Poll ``condition`` until it returns something true and return that; fail naming ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)
    return value


def _pg_bin() -> Path | None:
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if candidates:
        return Path(candidates[-1]).parent
    found = shutil.which("initdb")
    return Path(found).parent if found else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def remove_orphan_servers(bin_dir: Path) -> list[Path]:
    """Stop and remove the clusters of test or benchmark processes that were killed (1–2 GB each).

    A cluster's folder names the process that made it (``owner``); one whose process is gone is
    an orphan: its server, if still up, is stopped and the folder removed. A running session's
    clusters are left alone, and so is a folder without ``owner`` (not ours to judge).
    """
    removed = []
    for root in Path(tempfile.gettempdir()).glob("gjj-pg-*"):
        try:
            owner = int((root / "owner").read_text())
        except (OSError, ValueError):
            continue
        if process_alive(owner):
            continue
        if (root / "data" / "postmaster.pid").exists():
            subprocess.run(_as_postgres([str(bin_dir / "pg_ctl"), "-D", str(root / "data"), "-m", "immediate", "stop"]), capture_output=True)
        shutil.rmtree(root, ignore_errors=True)
        removed.append(root)
    return removed


def _as_postgres(command: list[str]) -> list[str]:
    """``command`` as the ``postgres`` user when run as root: initdb and postgres refuse root."""
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


class PostgresServer:
    """A throwaway PostgreSQL cluster in a temp dir, on a free port of 127.0.0.1."""

    def __init__(self, bin_dir: Path):
        self.bin_dir = bin_dir
        remove_orphan_servers(bin_dir)
        self.root = Path(tempfile.mkdtemp(prefix="gjj-pg-"))
        (self.root / "owner").write_text(str(os.getpid()))
        self.data = self.root / "data"
        self.port = _free_port()
        self.as_postgres = os.geteuid() == 0
        if self.as_postgres:
            shutil.chown(self.root, "postgres", "postgres")

    def _run(self, *args: str) -> None:
        subprocess.run(_as_postgres(list(args)), check=True, capture_output=True, cwd=self.root)

    def start(self) -> None:
        self._run(str(self.bin_dir / "initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-locale")
        self.resume()

    def pause(self) -> None:
        """Stop the server and keep its data, as an operator's restart does: open sessions are terminated."""
        self._run(str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")

    def resume(self) -> None:
        """Start the server (again) on the same port with the same data."""
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=50"
        self._run(str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-o", options, "-l", str(self.root / "log"), "-w", "start")

    def stop(self) -> None:
        try:
            self._run(str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        name = f"t_{uuid.uuid4().hex[:12]}"
        engine = sqlalchemy.create_engine(self.url(), isolation_level="AUTOCOMMIT")
        with engine.connect() as connection:
            connection.execute(sqlalchemy.text(f'CREATE DATABASE "{name}"'))
        engine.dispose()
        return self.url(name)


def _prefill_font_cache(folder: Path) -> None:
    """Put the prefilled (GB 2312) subset in the shared cache, as an installation has it after its
    first diverse night: each test's first PDF then loads it (≈0.2 s) instead of making a small
    subset of its own (≈0.3–0.5 s, about a third of a typical test). One xdist worker makes it (≈5 s),
    the others wait for it and load it."""
    from pipeline.config import load_config
    from pipeline.outputs.pdf.fonts import FontFileCache
    from pipeline.outputs.pdf.render import PdfRenderer

    with (folder / ".prefill.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        with PdfRenderer(load_config(), prefill_after=0, font_cache=FontFileCache(folder)) as renderer:
            renderer.fonts.ensure("")


@pytest.fixture(scope="session", autouse=True)
def shared_font_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One font cache for the whole session, as one installation's runs share theirs.

    Each test's home is new, so each would make the GB 2312 font subset again (about 5 s, see
    README "Benchmark") the first time its run renders a third document with new characters; with
    the cache the subset is made once, before the first test (:func:`_prefill_font_cache`), and
    loaded after. Tests of the cache itself, and of a new installation's first documents, pass
    their own (``PdfRenderer(font_cache=…)`` or ``GJJ_FONT_CACHE`` in a subprocess).
    """
    base = tmp_path_factory.getbasetemp()
    folder = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "font-cache"
    folder.mkdir(mode=0o700, exist_ok=True)
    before = os.environ.get("GJJ_FONT_CACHE")
    os.environ["GJJ_FONT_CACHE"] = str(folder)
    _prefill_font_cache(folder)
    yield folder
    if before is None:
        os.environ.pop("GJJ_FONT_CACHE", None)
    else:
        os.environ["GJJ_FONT_CACHE"] = before


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    bin_dir = _pg_bin()
    if bin_dir is None:
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL binaries are missing in CI: .ci/run must install them")
        pytest.skip("PostgreSQL binaries (initdb) not installed")
    server = PostgresServer(bin_dir)
    server.start()
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Every database test runs on SQLite and on a real PostgreSQL server."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'gjj.db'}"
    return request.getfixturevalue("postgres_server").new_database()


class Centre:
    """A home with master data loaded: the fixture most tests start from."""

    def __init__(self, app: App, units: list[FakeUnit], members: list[FakeMember]):
        self.app = app
        self.units = units
        self.members = members

    @property
    def inbox(self) -> Path:
        return self.app.home.inbox

    def unit(self, index: int = 0) -> FakeUnit:
        return self.units[index]

    def members_of(self, index: int = 0) -> list[FakeMember]:
        account = self.units[index].unit_account
        return [member for member in self.members if member.unit_account == account]

    def run(self, business_date: date = BUSINESS_DATE):
        return self.app.run(business_date)

    def table_counts(self) -> dict[str, int]:
        """Rows per table; ``batch_rows`` counts the file rows kept in ``batch_row_parts``."""
        queries = {table: f"SELECT count(*) FROM {table}" for table in ("batches", "batch_issues", "backpay_records", "serial_counters", "members")}
        queries["batch_rows"] = "SELECT coalesce(sum(row_count), 0) FROM batch_row_parts"
        with self.app.engine.connect() as connection:
            return {name: connection.execute(sqlalchemy.text(query)).scalar_one() for name, query in queries.items()}


def make_centre(home: Path, db_url: str, master: tuple[list[FakeUnit], list[FakeMember]] | None = None, **overrides: object) -> Centre:
    """A home with master data (three fake units of ten members unless ``master`` is given); files
    count as complete at once (settle time 0) unless overridden."""
    app = open_app(home, db_url=db_url, **{"settle_seconds": 0, **overrides})
    units, members = master or fake_master_data(unit_count=3, members_per_unit=10)
    units_file, members_file = write_master_files(home / "master", units, members)
    with app.sessions() as session, session.begin():
        report = load_master_data(session, app.config, units_file, members_file)
        assert report.ok, report.issues
    return Centre(app, units, members)


@pytest.fixture
def centre(tmp_path: Path, db_url: str) -> Iterator[Centre]:
    centre = make_centre(tmp_path / "home", db_url)
    yield centre
    centre.app.close()


@pytest.fixture
def sqlite_centre(tmp_path: Path) -> Iterator[Centre]:
    """For tests about files and outputs, where the database engine does not matter."""
    centre = make_centre(tmp_path / "home", f"sqlite:///{tmp_path / 'gjj.db'}")
    yield centre
    centre.app.close()
