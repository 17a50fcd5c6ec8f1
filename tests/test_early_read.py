"""The early read: ``gjj run`` parses its first waiting workbook in a thread while it starts.

What was parsed early is used by the read of that file only, and only while the file holds the
bytes that were parsed; a bad file parsed early is judged by the read as any other.
"""

from __future__ import annotations

import hashlib
import threading
import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.config import load_config
from pipeline.errors import Code, ReadFailure
from pipeline.read import workbook
from pipeline.read.header import detect, holds_header
from pipeline.read.workbook import finish_early_read, read_raw, start_early_read
from schemas import TEMPLATES
from tests.conftest import BUSINESS_DATE, Centre
from tests.factories import backpay_file, row_for

CONFIG = load_config()
HEADERS = {kind: module.HEADER for kind, module in TEMPLATES.items()}
FIRST = ["1", "300000001", "张三", "11010519491231002X", "漏缴", "2024-03", "2024-05", "1000"]
SECOND = ["1", "300000002", "李四", "110105194912310021", "漏缴", "2024-03", "2024-05", "2000"]


@pytest.fixture
def parses(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The files the read parses itself (``CalamineWorkbook.from_path``), from now on."""
    real = workbook.CalamineWorkbook
    opened: list[str] = []

    class Counted:
        @staticmethod
        def from_path(name: str) -> object:
            opened.append(Path(name).name)
            return real.from_path(name)

        from_filelike = staticmethod(real.from_filelike)

    monkeypatch.setattr(workbook, "CalamineWorkbook", Counted)
    return opened


@pytest.fixture(autouse=True)
def no_early_read_left() -> None:
    yield
    finish_early_read()
    workbook._early_read = None


def _rows(path: Path, sha256: str | None = None) -> list[list[str]]:
    return detect(read_raw(path, CONFIG.limits, holds_header(HEADERS), sha256=sha256), HEADERS).sheet.rows


def _early(path: Path) -> None:
    start_early_read(path)
    finish_early_read()


def test_the_early_parse_is_the_read_s_parse(tmp_path: Path, parses: list[str]) -> None:
    path = backpay_file(tmp_path, [FIRST, SECOND])
    _early(path)

    assert _rows(path) == [FIRST, SECOND]
    assert parses == []  # nothing parsed again
    assert _rows(path) == [FIRST, SECOND]
    assert parses == [path.name]  # used once: the next read parses the file itself


def test_a_file_changed_since_its_early_parse_is_read_anew(tmp_path: Path, parses: list[str]) -> None:
    path = backpay_file(tmp_path, [FIRST])
    _early(path)
    backpay_file(tmp_path, [SECOND])  # the same name, other bytes

    assert _rows(path) == [SECOND]
    assert parses == [path.name]


def test_a_read_given_the_files_sha256_trusts_it_instead_of_hashing_again(tmp_path: Path, parses: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """The processor hashed the file (the batch records that hash): the early parse is used if it parsed those bytes."""
    path = backpay_file(tmp_path, [FIRST])
    recorded = hashlib.sha256(path.read_bytes()).hexdigest()
    monkeypatch.setattr(hashlib, "file_digest", None)  # a second hash of the file would fail
    _early(path)
    assert _rows(path, recorded) == [FIRST]
    assert parses == []

    _early(path)
    assert _rows(path, "0" * 64) == [FIRST]  # other bytes were recorded: parsed anew
    assert parses == [path.name]


@pytest.mark.parametrize("other_name", ["二.xlsx", "二.csv"])
def test_a_read_of_another_file_drops_the_early_parse(tmp_path: Path, parses: list[str], other_name: str) -> None:
    first = backpay_file(tmp_path, [FIRST], name="一.xlsx")
    if other_name.endswith(".csv"):
        second = tmp_path / other_name
        second.write_text("\n".join(",".join(row) for row in [list(HEADERS["补缴"]), SECOND]) + "\n", encoding="utf-8")
    else:
        second = backpay_file(tmp_path, [SECOND], name=other_name)
    _early(first)

    assert _rows(second) == [SECOND]
    assert workbook._early_read is None
    assert _rows(first) == [FIRST]
    assert parses == [name for name in ("二.xlsx", "一.xlsx") if name != "二.xlsx" or other_name == "二.xlsx"]


def _bomb(path: Path) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("xl/worksheets/sheet1.xml", b"<" + b" " * 20_000_000 + b">")
    return path


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda path: path.write_bytes(b"PK\x03\x04 not really a zip") and path, id="broken"),
        pytest.param(_bomb, id="zip-bomb"),
        pytest.param(lambda path: path.write_bytes(bytes.fromhex("d0cf11e0a1b11ae1") + bytes(600)) and path, id="encrypted"),
    ],
)
def test_a_bad_file_is_not_parsed_early_and_the_read_judges_it(tmp_path: Path, make, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "f.xlsx"
    make(path)
    real = workbook.CalamineWorkbook
    parsed_early: list[object] = []
    raised: list[object] = []

    class Watched:
        from_path = staticmethod(real.from_path)

        @staticmethod
        def from_filelike(filelike: object) -> object:
            parsed_early.append(filelike)
            return real.from_filelike(filelike)

    monkeypatch.setattr(workbook, "CalamineWorkbook", Watched)
    monkeypatch.setattr(threading, "excepthook", raised.append)
    _early(path)

    assert parsed_early == [] and raised == []  # refused before the parser saw it, nothing raised in the thread
    assert workbook._early_read.workbook is None
    with pytest.raises(ReadFailure) as failure:
        read_raw(path, CONFIG.limits)
    assert failure.value.issue.code is Code.FILE_UNREADABLE
    assert not failure.value.issue.message.isascii()


def test_gjj_run_reads_its_first_file_early(sqlite_centre: Centre, parses: list[str]) -> None:
    """End to end: the run's one file is parsed by the early read, taken, checked and filed as usual."""
    own = sqlite_centre.members_of(0)
    folder = sqlite_centre.inbox / sqlite_centre.unit().unit_account
    folder.mkdir(parents=True)
    backpay_file(folder, [row_for(own[0], 1), row_for(own[1], 2)])
    started: list[Path] = []
    real_start = workbook.EarlyRead.__init__

    def start(self: workbook.EarlyRead, path: Path) -> None:
        started.append(path)
        real_start(self, path)

    workbook.EarlyRead.__init__ = start  # type: ignore[method-assign]
    try:
        env = {"GJJ_HOME": str(sqlite_centre.app.home.root), "GJJ_DB": sqlite_centre.app.engine.url.render_as_string(hide_password=False)}
        result = CliRunner().invoke(app, ["run", "--json", "--business-date", BUSINESS_DATE.isoformat()], env=env)
    finally:
        workbook.EarlyRead.__init__ = real_start  # type: ignore[method-assign]

    assert result.exit_code == 0, result.output
    assert [path.name for path in started] == ["补缴.xlsx"]
    assert parses == []  # the read took the early parse
    assert '"status":"accepted"' in result.output
    assert sqlite_centre.run().outcomes == []  # taken once: nothing waits


def test_an_early_parse_no_read_took_is_let_go_after_its_file(sqlite_centre: Centre) -> None:
    """The first file's unit is unknown: the file is quarantined unread, and its early parse is not kept for the night."""
    folder = sqlite_centre.inbox / "9999999"
    folder.mkdir(parents=True)
    path = backpay_file(folder, [FIRST])
    _early(path)
    assert workbook._early_read is not None and workbook._early_read.parsed

    outcomes = sqlite_centre.run().outcomes

    assert [outcome.result.file_issues[0].code for outcome in outcomes] == [Code.UNIT_UNKNOWN]
    assert workbook._early_read is None
