"""The ``gjj`` surface: every command has help and is in the README, and each does its job."""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
from datetime import date
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest
from typer.core import TyperGroup
from typer.main import get_command
from typer.testing import CliRunner

from pipeline.app import open_app
from pipeline.cli import app
from pipeline.rules import backpay as backpay_rules
from pipeline.rules.common import month_before
from pipeline.services import demo
from pipeline.services.fakes import fake_master_data, write_master_files, write_table
from pipeline.services.load import load_master_data
from schemas import TEMPLATES, backpay
from schemas.masterdata import MEMBER_HEADER, UNIT_HEADER
from tests.factories import aged, backpay_file, row_for

README_PATH = Path(__file__).resolve().parent.parent / "README.md"
README = README_PATH.read_text(encoding="utf-8")
runner = CliRunner()


def _commands(group: TyperGroup, prefix: str = "") -> list[str]:
    names = []
    for name, command in group.commands.items():
        if isinstance(command, TyperGroup):
            names += _commands(command, f"{prefix}{name} ")
        else:
            names.append(f"{prefix}{name}")
    return names


COMMANDS = _commands(get_command(app))


def test_all_commands_found() -> None:
    assert {"init", "load", "run", "template", "demo", "backpay list", "backpay delete", "remit list", "remit delete"} <= set(COMMANDS)


@pytest.mark.parametrize("command", COMMANDS)
def test_command_has_help_and_is_documented(command: str) -> None:
    result = runner.invoke(app, [*command.split(), "--help"])
    assert result.exit_code == 0
    assert "Usage" in result.output
    assert f"`gjj {command}" in README


def _env(home: Path) -> dict[str, str]:
    return {"GJJ_HOME": str(home), "COLUMNS": "200"}


def _load_demo_master(home: Path) -> tuple[list, list]:
    units, members = fake_master_data(unit_count=2, members_per_unit=4)
    units_file, members_file = write_master_files(home.parent / "master", units, members)
    result = runner.invoke(app, ["load", "--units", str(units_file), "--members", str(members_file)], env=_env(home))
    assert result.exit_code == 0, result.output
    assert "已导入 3 个单位、8 个缴存人" in result.output
    return units, members


def test_load_with_errors_loads_nothing(tmp_path: Path) -> None:
    home = tmp_path / "home"
    units, members = fake_master_data(unit_count=1, members_per_unit=2)
    units_file, members_file = write_master_files(tmp_path, units, members)
    rows = [m.row() for m in members]
    rows[1][4] = "123"
    write_table(members_file, MEMBER_HEADER, rows)

    result = runner.invoke(app, ["load", "--units", str(units_file), "--members", str(members_file)], env=_env(home))

    assert result.exit_code == 1
    assert "ID_FORMAT" in result.output and "未导入任何数据" in result.output
    listing = runner.invoke(app, ["backpay", "list", "--unit", units[0].unit_account, "--json"], env=_env(home))
    assert json.loads(listing.output)["records"] == []


def test_load_skip_invalid_loads_the_good_rows_and_writes_the_refused(tmp_path: Path) -> None:
    home = tmp_path / "home"
    units, members = fake_master_data(unit_count=1, members_per_unit=3)
    units_file, members_file = write_master_files(tmp_path, units, members)
    rows = [m.row() for m in members]
    rows[1][4] = "123"  # row 3
    rows[2][6] = "三千"  # row 4
    write_table(members_file, MEMBER_HEADER, rows)
    command = ["load", "--units", str(units_file), "--members", str(members_file)]

    refused = runner.invoke(app, command, env=_env(home))  # by default one bad row loads nothing

    assert refused.exit_code == 1 and "未导入任何数据" in refused.output
    assert not (home / "var" / "load").exists()
    exported = tmp_path / "none.csv"
    assert runner.invoke(app, ["export", "members", "-o", str(exported)], env=_env(home)).exit_code == 0
    assert len(exported.read_text(encoding="utf-8-sig").splitlines()) == 1  # the header alone

    skipped = runner.invoke(app, [*command, "--skip-invalid"], env=_env(home))

    assert skipped.exit_code == 0, skipped.output
    assert "已导入 2 个单位、1 个缴存人" in skipped.output and "警告" in skipped.output
    [report] = (home / "var" / "load").glob("*_refused.csv")
    assert re.fullmatch(r"\d{8}-\d{6}_refused\.csv", report.name) and str(report) in skipped.output.replace("\n", "")
    with report.open(encoding="utf-8-sig", newline="") as handle:
        lines = list(csv.reader(handle))
    assert lines[0] == ["文件", "行", "列", "代码", "说明"]
    assert [line[:4] for line in lines[1:]] == [["members.csv", "3", "证件号码", "ID_FORMAT"], ["members.csv", "4", "个人缴存基数", "NUMBER_FORMAT"]]
    assert "三千" in lines[2][4]
    exported = tmp_path / "loaded.csv"
    assert runner.invoke(app, ["export", "members", "-o", str(exported)], env=_env(home)).exit_code == 0
    assert [line.split(",")[0] for line in exported.read_text(encoding="utf-8-sig").splitlines()[1:]] == [members[0].member_account]


def test_load_skip_invalid_still_refuses_a_file_it_cannot_read(tmp_path: Path) -> None:
    home = tmp_path / "home"
    units, members = fake_master_data(unit_count=1, members_per_unit=2)
    units_file, _ = write_master_files(tmp_path, units, members)
    members_file = write_table(tmp_path / "members.csv", ["个人账号", "姓名"], [[m.member_account, m.name] for m in members])

    result = runner.invoke(app, ["load", "--units", str(units_file), "--members", str(members_file), "--skip-invalid"], env=_env(home))

    assert result.exit_code == 1
    assert "不能跳过整个文件" in result.output and "未导入任何数据" in result.output
    assert not (home / "var" / "load").exists()


def test_run_list_and_delete_backpay(tmp_path: Path) -> None:
    home = tmp_path / "home"
    units, members = _load_demo_master(home)
    aged(backpay_file(home / "inbox" / units[0].unit_account, [row_for(members[0], amount="1,000.00"), row_for(members[1], 2, amount="212.5")]))

    ran = runner.invoke(app, ["run", "--business-date", "2024-08-05", "--json"], env=_env(home))
    assert ran.exit_code == 0, ran.output
    files = json.loads(ran.output)["files"]
    serial = files[0]["serial_number"]
    assert files[0]["status"] == "accepted" and serial == "124080501_0000000001"
    assert files[0]["totals"]["accepted"] == 2 and "rows" not in files[0]  # the rows are in result.json
    assert len(json.loads((Path(files[0]["outputs"]) / "result.json").read_text(encoding="utf-8"))["rows"]) == 2

    listed = runner.invoke(app, ["backpay", "list", "--unit", units[0].unit_account, "--json"], env=_env(home))
    data = json.loads(listed.output)
    assert data["未分配金额"] == "1213.00" and len(data["records"]) == 2
    assert listed.output.count("\n") == 1  # one line, as gjj remit list --json: appended listings stay JSON Lines

    table = runner.invoke(app, ["backpay", "list", "--unit", units[0].unit_account], env=_env(home))
    assert "1213.00" in table.output and members[0].name in table.output

    wrong_unit = runner.invoke(app, ["backpay", "delete", "--unit", units[1].unit_account, "--serial", serial], env=_env(home))
    assert wrong_unit.exit_code == 1
    deleted = runner.invoke(app, ["backpay", "delete", "--unit", units[0].unit_account, "--serial", serial], env=_env(home))
    assert deleted.exit_code == 0 and "已删除 2 条" in deleted.output
    after = json.loads(runner.invoke(app, ["backpay", "list", "--unit", units[0].unit_account, "--json"], env=_env(home)).output)
    assert after == {"unit": units[0].unit_account, "未分配金额": "0.00", "records": []}


def test_run_rejects_bad_business_date(tmp_path: Path) -> None:
    result = runner.invoke(app, ["run", "--business-date", "2024-13-01"], env=_env(tmp_path))
    assert result.exit_code == 2


def test_template_has_exact_header(tmp_path: Path) -> None:
    output = tmp_path / "补缴模板.xlsx"
    result = runner.invoke(app, ["template", "补缴", "-o", str(output)], env=_env(tmp_path / "home"))
    assert result.exit_code == 0, result.output
    sheet = openpyxl.load_workbook(output).worksheets[0]
    rows = [[c for c in row if c is not None] for row in sheet.iter_rows(max_row=5, values_only=True)]
    assert list(backpay.HEADER) in rows
    assert rows.index(list(backpay.HEADER)) <= 4


def test_run_exits_1_and_names_a_file_that_failed_unexpectedly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    units, members = _load_demo_master(home)
    aged(backpay_file(home / "inbox" / units[0].unit_account, [row_for(members[0])]))

    id_number = members[0].id_number

    def broken(*args: object) -> None:
        raise RuntimeError(f"出错的行：{id_number}")  # a bug's message may carry a cell value

    monkeypatch.setattr(backpay_rules, "apply", broken)
    ran = runner.invoke(app, ["run", "--business-date", "2024-08-05", "--json"], env=_env(home))

    assert ran.exit_code == 1
    report = json.loads(ran.stdout)
    masked = f"{id_number[:6]}********{id_number[-4:]}"
    assert report["files"] == []
    assert report["failed"] == [{"unit": units[0].unit_account, "source_file": "补缴.xlsx", "error": f"RuntimeError: 出错的行：{masked}"}]
    assert (home / "inbox" / units[0].unit_account / "补缴.xlsx").exists()
    log = (home / "var" / "log" / "gjj.log").read_text(encoding="utf-8")
    assert "Traceback" in log and masked in log and id_number not in log


def test_template_unknown_kind(tmp_path: Path) -> None:
    result = runner.invoke(app, ["template", "缴存", "-o", str(tmp_path / "x.xlsx")], env=_env(tmp_path))
    assert result.exit_code == 2 and "补缴" in result.output


def test_demo_from_the_console_script(tmp_path: Path) -> None:
    """What `make demo` runs: a real process, real files, outputs listed."""
    home = tmp_path / "demo"
    gjj = Path(sys.executable).parent / "gjj"
    temp = tmp_path / "tmp"
    temp.mkdir()
    completed = subprocess.run([str(gjj), "demo"], env={**os.environ, **_env(home), "TMPDIR": str(temp)}, capture_output=True, text=True, timeout=300)

    assert completed.returncode == 0, completed.stderr
    assert not list(temp.iterdir())  # the PDF renderer's font folder went at exit: its finalizer ran (cli.leave)
    results = [json.loads(p.read_text(encoding="utf-8")) for p in (home / "outbox").rglob("result.json")]
    by_kind = {kind: sorted(r["status"] for r in results if r["kind"] == kind) for kind in TEMPLATES}
    assert all({"accepted", "rejected"} <= set(statuses) for statuses in by_kind.values()), by_kind
    rejected = next(r for r in results if r["status"] == "rejected" and r["kind"] == "补缴")
    codes = {e["code"] for row in rejected["rows"] for e in row["errors"]}
    assert {"ID_CHECKSUM", "NAME_MISMATCH", "ENUM_VALUE", "MONTH_FORMAT", "NUMBER_FORMAT", "MEMBER_NOT_FOUND"} <= codes
    counter_codes = {e["code"] for r in results for row in r["rows"] if row["status"] == "counter" for e in row["errors"]}
    assert counter_codes == {"COUNTER_CROSS_YEAR", "COUNTER_BASE_CHANGE"}
    assert "slip.pdf" in completed.stdout and "report.xlsx" in completed.stdout
    assert not [p for p in (home / "inbox").rglob("*") if p.is_file()]
    # The second step: the first unit's pre-filled 汇缴清册 for the month it owes, then the next month.
    remits = sorted((r for r in results if r["kind"] == "汇缴" and r["unit"] == "0100001" and r["status"] == "accepted"), key=lambda r: r["batch_id"])
    owed, following = (r["assessments"] for r in remits)
    assert [owed[0]["month"], following[0]["month"]] == [month_before(f"{date.today():%Y-%m}"), f"{date.today():%Y-%m}"]
    assert (owed[0]["increase"]["count"], owed[0]["decrease"]["count"]) == (2, 2)  # two registered, two sealed
    assert following[0]["previous"] == owed[0]["current"] and following[0]["increase"]["count"] == following[0]["decrease"]["count"] == 0
    total = sum(Decimal(r["assessments"][0]["current"]["amount"]) for r in remits)
    assert f"汇缴核定：1 个单位 2 个月，核定金额 {total:.2f} 元" in completed.stdout

    again = subprocess.run([str(gjj), "demo"], env={**os.environ, **_env(home)}, capture_output=True, text=True, timeout=120)
    assert again.returncode == 2 and re.search("已有数据", again.stderr)


LEAVING = """
import atexit, threading, time
from pipeline.cli import leave
atexit.register(lambda: print("atexit ran"))  # left in the buffer: leave() must flush it
threading.Thread(target=lambda: (time.sleep(0.3), print("thread done", flush=True))).start()
leave({code})
"""


@pytest.mark.parametrize(
    "code, status, stderr",
    [("None", 0, ""), ("0", 0, ""), ("2", 2, ""), ("'单位数据有错误'", 1, "单位数据有错误\n")],
)
def test_the_console_script_leaves_after_what_the_interpreter_would_do_at_exit(code: str, status: int, stderr: str) -> None:
    """``gjj`` skips unloading its modules (cli.leave), not its threads, atexit handlers or buffered output."""
    done = subprocess.run([sys.executable, "-c", LEAVING.format(code=code)], capture_output=True, text=True, timeout=120)
    assert (done.returncode, done.stderr) == (status, stderr)
    assert done.stdout == "thread done\natexit ran\n"


#: The business date of the README's tour (its batch ids, serial number and months follow from it).
README_DATE = date(2026, 11, 24)
README_RESULT = re.compile(r"(`result.json` of a file with one row sent to the counter.*?\n\n```json\n)(.*?)(\n```\n)", re.DOTALL)
PROCESSED_AT = re.compile(r'^  "processed_at": "(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)",$', re.MULTILINE)


def test_readme_result_json_is_the_demos_own(tmp_path: Path) -> None:
    """The README's result.json is the demo's ``0100002/补缴.csv`` processed on README_DATE, byte for byte.

    The demo is set up and run as ``gjj demo`` does it (``init --demo``, then ``run``), on README_DATE
    instead of today; only ``processed_at``, the clock time of the run, may differ from the README's.
    ``GJJ_UPDATE_README=1`` rewrites the README's block from this run.
    """
    home = tmp_path / "demo"
    app_ = open_app(home, db_url=f"sqlite:///{tmp_path / 'gjj.db'}")
    try:
        units, members, units_file, members_file = demo.demo_master_data(app_.home.var / "demo", README_DATE)
        with app_.sessions() as session, session.begin():
            assert load_master_data(session, app_.config, units_file, members_file).ok
        assert len(demo.drop_demo_files(app_.home.inbox, units, members, README_DATE)) == 17
        summary = app_.run(README_DATE)
    finally:
        app_.close()
    assert len(summary.outcomes) == 17 and not summary.failed
    (outcome,) = [o for o in summary.outcomes if (o.unit_account, o.source) == ("0100002", "补缴.csv")]
    real = (outcome.outputs / "result.json").read_text(encoding="utf-8").rstrip("\n")
    assert PROCESSED_AT.search(real), "result.json has no processed_at time"

    readme = README_PATH.read_text(encoding="utf-8")
    block = README_RESULT.search(readme)
    assert block, "README: the result.json example block is missing"
    if os.environ.get("GJJ_UPDATE_README") == "1":
        readme = readme[: block.start(2)] + real + readme[block.end(2) :]
        README_PATH.write_text(readme, encoding="utf-8")
        block = README_RESULT.search(readme)
        assert block
    shown = block.group(2)
    shown_time = PROCESSED_AT.search(shown)
    assert shown_time, "README: the example must show processed_at as a time (yyyy-mm-ddThh:mm:ss)"
    assert PROCESSED_AT.sub(f'  "processed_at": "{shown_time.group(1)}",', real) == shown, "README's result.json differs from the demo's: run with GJJ_UPDATE_README=1"
    assert json.loads(shown)["batch_id"] == f"{README_DATE:%Y%m%d}-000003"  # the third file of the demo, as the tour says


@pytest.mark.parametrize("kind", sorted(TEMPLATES))
def test_template_for_every_kind(tmp_path: Path, kind: str) -> None:
    output = tmp_path / f"{kind}.xlsx"
    result = runner.invoke(app, ["template", kind, "-o", str(output)], env=_env(tmp_path / "home"))
    assert result.exit_code == 0, result.output
    rows = [[c for c in row if c is not None] for row in openpyxl.load_workbook(output).worksheets[0].iter_rows(max_row=5, values_only=True)]
    assert list(TEMPLATES[kind].HEADER) in rows


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_export_members_round_trips_through_load(tmp_path: Path, suffix: str) -> None:
    home = tmp_path / "home"
    units, members = _load_demo_master(home)
    leaver = members[0]
    aged(write_table(home / "inbox" / units[0].unit_account / "封存.xlsx", TEMPLATES["封存"].HEADER, [[1, leaver.member_account, leaver.name, leaver.id_number, "离职封存", "2024-07"]]))
    assert runner.invoke(app, ["run", "--business-date", "2024-08-05"], env=_env(home)).exit_code == 0
    first = tmp_path / f"members{suffix}"
    second = tmp_path / f"again{suffix}"

    exported = runner.invoke(app, ["export", "members", "-o", str(first)], env=_env(home))
    reloaded = runner.invoke(app, ["load", "--members", str(first)], env=_env(home))
    runner.invoke(app, ["export", "members", "-o", str(second)], env=_env(home))

    assert exported.exit_code == 0 and "已导出 8 个缴存人" in exported.output
    assert reloaded.exit_code == 0, reloaded.output
    assert _table(first) == _table(second)
    moved = next(row for row in _table(first) if row[0] == leaver.member_account)
    assert moved[1] == "0000010" and moved[5] == "封存" and moved[9] == "离职封存"


def _table(path: Path) -> list[list[str]]:
    if path.suffix == ".csv":
        import csv

        with path.open(encoding="utf-8-sig", newline="") as handle:
            return list(csv.reader(handle))[1:]
    return [[str(c) for c in row] for row in openpyxl.load_workbook(path).worksheets[0].iter_rows(min_row=2, values_only=True)]


def _gjj_piped(args: list[str], home: Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """``gjj`` as cron runs it: stdout and stderr are pipes, and no COLUMNS says how wide a screen is."""
    env = {key: value for key, value in os.environ.items() if key not in ("COLUMNS", "LINES", "GJJ_DB")}
    gjj = Path(sys.executable).parent / "gjj"
    return subprocess.run([str(gjj), *args], env={**env, "GJJ_HOME": str(home)}, cwd=cwd, capture_output=True, text=True, timeout=300)


def test_piped_output_is_not_cut_at_80_columns(tmp_path: Path) -> None:
    """Piped (cron mails it, a log keeps it), an error table keeps its allowed values and a path stays on one line."""
    home = tmp_path / ("a-home-whose-path-is-longer-than-eighty-columns-" * 2) / "home"
    units, members = fake_master_data(unit_count=1, members_per_unit=2)
    units_file, members_file = write_master_files(tmp_path / "master", units, members)
    bad_units = tmp_path / "units.csv"
    rows = [unit.row() for unit in units]
    status = UNIT_HEADER.index("单位账户状态")
    rows[0][status] = "停用"
    rows[1][UNIT_HEADER.index("单位名称")] = "[/b]方括号[bold]单位"  # unit data is never taken for Rich markup
    rows[1][status] = "[/x]"
    write_table(bad_units, UNIT_HEADER, rows)

    loaded = _gjj_piped(["load", "--units", str(bad_units)], home)

    assert loaded.returncode == 1, loaded.stderr
    lines = loaded.stderr.splitlines()
    for value in ("停用", "[/x]"):
        line = next(line for line in lines if f"「{value}」" in line)  # one table row, one line
        assert "ENUM_VALUE" in line and "只能填：正常、封存、销户" in line, loaded.stderr
    assert "…" not in loaded.stderr

    assert _gjj_piped(["load", "--units", str(units_file), "--members", str(members_file)], home).returncode == 0
    aged(backpay_file(home / "inbox" / units[0].unit_account, [row_for(members[0])]))
    ran = _gjj_piped(["run", "--business-date", "2024-08-05"], home)

    assert ran.returncode == 0, ran.stderr
    summaries = list((home / "outbox" / "_centre" / "days").glob("*/summary.html"))
    assert len(summaries) == 1 and len(str(summaries[0])) > 200
    assert f"中心工作人员汇总：{summaries[0]}\n" in ran.stdout  # the whole path on one line
    assert f"各业务日索引：{home / 'outbox' / '_centre' / 'index.html'}\n" in ran.stdout
    assert "━" not in ran.stderr  # no progress bar in a log


def test_run_json_is_one_line_a_run(tmp_path: Path) -> None:
    """`gjj run --json >> runs.jsonl`: each run appends one line, and each line is one JSON document."""
    home = tmp_path / "home"
    units, members = _load_demo_master(home)
    log = tmp_path / "runs.jsonl"
    for member in members[:2]:
        aged(backpay_file(home / "inbox" / units[0].unit_account, [row_for(member)], name=f"{member.member_account}.xlsx"))
        ran = _gjj_piped(["run", "--business-date", "2024-08-05", "--json"], home)
        assert ran.returncode == 0, ran.stderr
        assert ran.stdout.count("\n") == 1 and ran.stdout.endswith("\n")
        with log.open("a", encoding="utf-8") as handle:
            handle.write(ran.stdout)

    runs = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
    assert len(runs) == 2 and runs[0]["run_id"] != runs[1]["run_id"]
    assert [[f["source_file"] for f in run["files"]] for run in runs] == [[f"{m.member_account}.xlsx"] for m in members[:2]]


def test_template_needs_no_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`gjj template` reads the configuration only: no folders, no database, wherever it runs."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    made = runner.invoke(app, ["template", "补缴", "-o", "补缴.xlsx"], env={"GJJ_HOME": None, "GJJ_DB": None})
    assert made.exit_code == 0, made.output
    assert [path.name for path in elsewhere.iterdir()] == ["补缴.xlsx"]  # no inbox/, outbox/, var/gjj.db …

    # GJJ_HOME set: its config/centre.yaml is read, and still nothing is made in it.
    home = tmp_path / "home"
    (home / "config").mkdir(parents=True)
    default = (Path(__file__).resolve().parent.parent / "pipeline" / "centre.yaml").read_text(encoding="utf-8")
    configured = default.replace("补缴: [漏缴, 少缴, 补差]", "补缴: [漏缴, 少缴, 补差, 本中心另定原因]")
    assert configured != default
    (home / "config" / "centre.yaml").write_text(configured, encoding="utf-8")
    output = tmp_path / "configured.xlsx"
    made = runner.invoke(app, ["template", "补缴", "-o", str(output)], env={"GJJ_HOME": str(home)})
    assert made.exit_code == 0, made.output
    assert sorted(path.name for path in home.iterdir()) == ["config"]
    assert "本中心另定原因" in _template_text(output)
    assert "本中心另定原因" not in _template_text(elsewhere / "补缴.xlsx")

    # --config wins; a broken one is a configuration error (exit 2), not a traceback.
    broken = tmp_path / "broken.yaml"
    broken.write_text("reasons: [\n", encoding="utf-8")
    refused = runner.invoke(app, ["template", "补缴", "-o", str(tmp_path / "x.xlsx"), "--config", str(broken)], env={"GJJ_HOME": None})
    assert refused.exit_code == 2 and "配置" in refused.output
    assert not (tmp_path / "x.xlsx").exists()


def _template_text(path: Path) -> str:
    """Every cell and every dropdown's list of a template, as one text."""
    sheet = openpyxl.load_workbook(path).worksheets[0]
    cells = [str(cell) for row in sheet.iter_rows(values_only=True) for cell in row if cell is not None]
    dropdowns = [str(validation.formula1) for validation in sheet.data_validations.dataValidation]
    return "\n".join(cells + dropdowns)
