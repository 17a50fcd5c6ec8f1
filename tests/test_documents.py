"""Zip drops of 缴存人信息变更 (issue #19): the template with the scans of its 姓名 and 证件号码 rows,
checked by their bytes, kept content-addressed, never in an outbox; hostile zips refused with a
code and nothing written outside the private temporary folder. SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import json
import os
import stat
import tempfile
import zipfile
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.config import load_config
from pipeline.errors import Code
from pipeline.model import BatchStatus, RowStatus
from pipeline.read.bundle import read_bundle
from pipeline.services.documents import document_file, request_documents
from pipeline.services.fakes import FakeMember, fake_id, fake_scan, write_table
from pipeline.services.listings import list_requests
from pipeline.store.dbapi import session_reader
from schemas import TEMPLATES
from tests.conftest import Centre
from tests.factories import bundle_file, identity, kind_file, row_for, scans_for

KIND = "缴存人信息变更"
NEW_ID = fake_id(date(1990, 3, 7), 777)
runner = CliRunner()
TABLES = ("members", "member_changes", "review_requests", "review_decisions", "documents", "review_request_documents", "backpay_records")


def change_row(seq: Any, member: FakeMember, item: str, value: str, reason: str = "信息有误") -> list[Any]:
    return [seq, *identity(member), item, value, reason]


@pytest.fixture
def private_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Where ``tempfile`` makes its folders during the test, to see that nothing is left there."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def files_under(root: Path) -> set[Path]:
    return {path for path in root.rglob("*") if path.is_file() or path.is_symlink()}


def counts(centre: Centre) -> dict[str, int]:
    with centre.app.engine.connect() as connection:
        return {table: connection.execute(sqlalchemy.text(f"SELECT count(*) FROM {table}")).scalar_one() for table in TABLES}


def run_one(centre: Centre):
    outcomes = centre.run().outcomes
    assert len(outcomes) == 1
    return outcomes[0]


def test_a_good_zip_keeps_both_scans_content_addressed_and_none_in_the_outbox(centre: Centre, private_tmp: Path) -> None:
    member, other = centre.members_of()[:2]
    scans = scans_for(member.member_account) | {f"{other.member_account}_身份证.PNG": fake_scan("png"), f"{other.member_account}_证明.jpeg": fake_scan("jpeg")}
    rows = [change_row(1, member, "姓名", "王小明"), change_row(2, other, "证件号码", NEW_ID), change_row(3, member, "手机号码", "13912345678")]
    bundle_file(centre.inbox / centre.unit().unit_account, KIND, rows, scans)

    outcome = run_one(centre)

    result = outcome.result
    assert result.status is BatchStatus.ACCEPTED, result.all_issues
    assert [row.status for row in result.rows] == [RowStatus.PENDING_REVIEW, RowStatus.PENDING_REVIEW, RowStatus.ACCEPTED]
    assert {path.name for path in outcome.outputs.iterdir()} == {"result.json", "slip.pdf", "detail.csv", "receipt.pdf"}  # no scan among them
    assert outcome.moved_to.parent == centre.app.home.archive / centre.unit().unit_account
    root = centre.app.home.documents
    with centre.app.sessions() as session:
        first, second = list_requests(session_reader(session))
        kept = {request.id: request_documents(session, root, request.id) for request in (first, second)}
    assert [(d.kind, d.entry_name, d.content_type) for d in kept[first.id]] == [
        ("身份证", f"{member.member_account}_身份证.jpg", "image/jpeg"),
        ("证明", f"{member.member_account}_证明.pdf", "application/pdf"),
    ]
    assert [(d.kind, d.content_type) for d in kept[second.id]] == [("身份证", "image/png"), ("证明", "image/jpeg")]
    for documents in kept.values():
        for document in documents:
            data = scans[document.entry_name]
            assert document.sha256 == hashlib.sha256(data).hexdigest() and document.size == len(data)
            assert document.path == root / document.sha256[:2] / document.sha256
            assert document.path.read_bytes() == data and document_file(root, document.sha256) == document.path
    assert document_file(root, "../../etc/passwd") is None and document_file(root, "0" * 64) is None
    outbox_bytes = {path.read_bytes() for path in files_under(centre.app.home.outbox)}
    assert not outbox_bytes & set(scans.values())
    assert not list(private_tmp.glob("gjj-zip-*")), sorted(private_tmp.rglob("*"))


def test_the_same_scan_twice_is_kept_once(sqlite_centre: Centre) -> None:
    first, second = sqlite_centre.members_of()[:2]
    scans = scans_for(first.member_account, second.member_account)  # the same JPEG and the same PDF for both
    assert len(set(scans.values())) == 2
    rows = [change_row(1, first, "姓名", "王小明"), change_row(2, second, "姓名", "李小红")]
    bundle_file(sqlite_centre.inbox / sqlite_centre.unit().unit_account, KIND, rows, scans)

    assert run_one(sqlite_centre).result.status is BatchStatus.ACCEPTED
    assert counts(sqlite_centre)["documents"] == 2 and counts(sqlite_centre)["review_request_documents"] == 4
    assert len(files_under(sqlite_centre.app.home.documents)) == 2


@pytest.mark.parametrize(
    ("zipped", "kinds", "missing"),
    [
        (False, (), ["{account}_身份证.jpg", "{account}_证明.jpg"]),
        (True, ("身份证",), ["{account}_证明.jpg"]),
        (True, ("证明",), ["{account}_身份证.jpg"]),
        (True, (), ["{account}_身份证.jpg", "{account}_证明.jpg"]),
    ],
)
def test_a_row_needing_approval_without_both_scans_is_document_missing(centre: Centre, zipped: bool, kinds: tuple[str, ...], missing: list[str]) -> None:
    member = centre.members_of()[0]
    folder = centre.inbox / centre.unit().unit_account
    rows = [change_row(1, member, "手机号码", "13912345678"), change_row(2, member, "姓名", "王小明")]
    if zipped:
        bundle_file(folder, KIND, rows, scans_for(member.member_account, kinds=kinds))
    else:
        kind_file(folder, KIND, rows)
    before = counts(centre)

    result = run_one(centre).result

    assert result.status is BatchStatus.REJECTED
    assert [(i.code, i.row, i.column) for i in result.all_issues] == [(Code.DOCUMENT_MISSING, 4, "变更项目")]
    message = result.all_issues[0].message
    assert message.startswith("缺少材料：" + "、".join(name.format(account=member.member_account) for name in missing) + "（或 .pdf/.png）")
    assert counts(centre) == before


@pytest.mark.parametrize(
    ("kind", "scans", "expected"),
    [
        # A scan no 姓名 or 证件号码 row of the file claims (a typo in the account, or a phone change).
        (KIND, lambda m, o: scans_for(m.member_account) | scans_for(o.member_account, kinds=("证明",)), [(Code.DOCUMENT_INVALID, None, None)]),
        # Two scans of one kind for one member.
        (KIND, lambda m, o: scans_for(m.member_account) | {f"{m.member_account}_身份证.png": fake_scan("png")}, [(Code.DOCUMENT_INVALID, None, None)]),
        # A kind that takes no documents refuses scans; its template alone in a zip is fine.
        ("补缴", lambda m, o: scans_for(m.member_account), [(Code.DOCUMENT_INVALID, None, None)] * 2),
        ("补缴", lambda m, o: {}, []),
    ],
)
def test_scans_nobody_asked_for(sqlite_centre: Centre, kind: str, scans: Callable[[FakeMember, FakeMember], dict[str, bytes]], expected: list) -> None:
    member, other = sqlite_centre.members_of()[:2]
    rows = [change_row(1, member, "姓名", "王小明"), change_row(2, other, "手机号码", "13912345678")] if kind == KIND else [row_for(member)]
    bundle_file(sqlite_centre.inbox / sqlite_centre.unit().unit_account, kind, rows, scans(member, other))

    result = run_one(sqlite_centre).result

    assert [(i.code, i.row, i.column) for i in result.all_issues] == expected
    assert result.status is (BatchStatus.REJECTED if expected else BatchStatus.ACCEPTED)


BOMB_BYTES = 200 * 1024 * 1024


def _template(tmp: Path, member: FakeMember) -> bytes:
    path = write_table(tmp / "变更.xlsx", TEMPLATES[KIND].HEADER, [change_row(1, member, "姓名", "王小明")])
    return path.read_bytes()


def _entries(zip_path: Path, template: bytes, scans: list[tuple[zipfile.ZipInfo | str, bytes]]) -> None:
    with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("变更.xlsx", template)
        for name, data in scans:
            archive.writestr(name, data)


def _symlink(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.create_system = 3
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info


def _mark_encrypted(zip_path: Path, name: str) -> None:
    """Set the "encrypted" flag of entry ``name`` in its local and central headers (zipfile writes none)."""
    data, wanted = bytearray(zip_path.read_bytes()), name.encode()
    for signature, flag, length, start in ((b"PK\x03\x04", 6, 26, 30), (b"PK\x01\x02", 8, 28, 46)):
        at = data.find(signature)
        while at >= 0:
            size = int.from_bytes(data[at + length : at + length + 2], "little")
            if data[at + start : at + start + size] == wanted:
                data[at + flag] |= 0x1
            at = data.find(signature, at + 4)
    zip_path.write_bytes(bytes(data))


def _bomb(zip_path: Path, template: bytes, account: str) -> None:
    """200 MB of zeros deflated (about 200 KB), as a 身份证 scan."""
    with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("变更.xlsx", template)
        with archive.open(f"{account}_身份证.jpg", "w", force_zip64=True) as entry:
            block = b"\xff\xd8\xff" + bytes(1024 * 1024 - 3)
            for _ in range(BOMB_BYTES // len(block)):
                entry.write(block)
                block = bytes(len(block))
        archive.writestr(f"{account}_证明.pdf", fake_scan("pdf"))


HTML = b"<!DOCTYPE html><html><body><script>alert(1)</script></body></html>"


def hostile(case: str, zip_path: Path, template: bytes, account: str) -> None:
    good = [(name, data) for name, data in scans_for(account).items()]
    match case:
        case "traversal":
            _entries(zip_path, template, [("../x.jpg", fake_scan("jpg")), *good])
        case "backslash traversal":
            _entries(zip_path, template, [("..\\x.jpg", fake_scan("jpg")), *good])
        case "path":
            _entries(zip_path, template, [("a/b.jpg", fake_scan("jpg")), *good])
        case "long path":
            _entries(zip_path, template, [("a" * 100 + "/b.jpg", fake_scan("jpg")), *good])
        case "absolute":
            _entries(zip_path, template, [("/tmp/abs.jpg", fake_scan("jpg")), *good])
        case "symlink":
            _entries(zip_path, template, [(_symlink(f"{account}_身份证.jpg"), b"/etc/passwd"), (f"{account}_证明.pdf", fake_scan("pdf"))])
        case "encrypted":
            _entries(zip_path, template, good)
            _mark_encrypted(zip_path, f"{account}_身份证.jpg")
        case "zip bomb":
            _bomb(zip_path, template, account)
        case "html as jpg":
            _entries(zip_path, template, [(f"{account}_身份证.jpg", HTML), (f"{account}_证明.pdf", fake_scan("pdf"))])
        case "png as pdf":
            _entries(zip_path, template, [(f"{account}_身份证.jpg", fake_scan("jpg")), (f"{account}_证明.pdf", fake_scan("png"))])
        case "bad name":
            _entries(zip_path, template, [*good, ("扫描件.jpg", fake_scan("jpg"))])
        case "too big":
            _entries(zip_path, template, [(f"{account}_身份证.jpg", b"\xff\xd8\xff" + os.urandom(10 * 1024 * 1024)), (f"{account}_证明.pdf", fake_scan("pdf"))])
        case "51 scans":
            _entries(zip_path, template, [*good, *((f"{account}{n:02d}_证明.pdf", fake_scan("pdf")) for n in range(49))])
        case "two templates":
            _entries(zip_path, template, [("变更2.csv", "序号\n".encode()), *good])
        case "no template":
            with zipfile.ZipFile(zip_path, "w") as archive:
                for name, data in good:
                    archive.writestr(name, data)
        case "1001 entries":
            with zipfile.ZipFile(zip_path, "w") as archive:
                archive.writestr("变更.xlsx", template)
                for n in range(1000):
                    archive.writestr(f"{n}.txt", b"")
        case "not a zip":
            zip_path.write_bytes(b"PK\x03\x04 this is not a zip")


# (case, file issue codes, quarantined): unsafe zips are FILE_UNREADABLE and quarantined; bad scans
# are DOCUMENT_INVALID and the zip is archived with its report, as any rejected file.
HOSTILE = [
    ("traversal", [Code.FILE_UNREADABLE], True),
    ("backslash traversal", [Code.FILE_UNREADABLE], True),
    ("path", [Code.FILE_UNREADABLE], True),
    ("long path", [Code.FILE_UNREADABLE], True),
    ("absolute", [Code.FILE_UNREADABLE], True),
    ("symlink", [Code.FILE_UNREADABLE], True),
    ("encrypted", [Code.FILE_UNREADABLE], True),
    ("zip bomb", [Code.FILE_UNREADABLE], True),
    ("two templates", [Code.FILE_UNREADABLE], True),
    ("no template", [Code.FILE_UNREADABLE], True),
    ("1001 entries", [Code.FILE_UNREADABLE], True),
    ("not a zip", [Code.FILE_UNREADABLE], True),
    ("html as jpg", [Code.DOCUMENT_INVALID, Code.DOCUMENT_MISSING], False),
    ("png as pdf", [Code.DOCUMENT_INVALID, Code.DOCUMENT_MISSING], False),
    ("bad name", [Code.DOCUMENT_INVALID], False),
    ("too big", [Code.DOCUMENT_INVALID, Code.DOCUMENT_MISSING], False),
    ("51 scans", [Code.DOCUMENT_INVALID, Code.DOCUMENT_MISSING], False),
]


@pytest.mark.parametrize(("case", "codes", "quarantined"), HOSTILE, ids=[case for case, _, _ in HOSTILE])
def test_hostile_zips_are_refused_with_a_code_and_nothing_is_written_outside_the_temporary_folder(
    centre: Centre, private_tmp: Path, tmp_path: Path, case: str, codes: list[Code], quarantined: bool
) -> None:
    member = centre.members_of()[0]
    unit = centre.unit().unit_account
    template = _template(tmp_path, member)
    zip_path = centre.inbox / unit / "变更.zip"
    zip_path.parent.mkdir(parents=True, exist_ok=True)
    hostile(case, zip_path, template, member.member_account)
    (tmp_path / "变更.xlsx").unlink()
    before, rows_before = files_under(tmp_path), counts(centre)

    outcome = run_one(centre)

    result = outcome.result
    assert result.status is BatchStatus.REJECTED
    assert sorted(issue.code for issue in result.all_issues) == sorted(codes), result.all_issues
    if Code.DOCUMENT_MISSING in codes:  # the row whose scan was refused lacks it
        assert [(i.row, i.column) for i in result.all_issues if i.code is Code.DOCUMENT_MISSING] == [(2, "变更项目")]
    file_issue = next(issue for issue in result.file_issues if issue.code in (Code.FILE_UNREADABLE, Code.DOCUMENT_INVALID))
    assert file_issue.row is None and file_issue.message
    assert counts(centre) == rows_before
    home = centre.app.home
    assert outcome.moved_to.parent == (home.quarantine if quarantined else home.archive) / unit
    assert not list(private_tmp.glob("gjj-zip-*")), "the private temporary folder is removed"
    new = files_under(tmp_path) - before
    # The outputs, the staff summary (_centre), where the zip went, var/ (logs, locks), the temporary folder (PDF caches).
    expected_places = (outcome.outputs, home.outbox / "_centre", home.quarantine / unit, home.archive / unit, home.var, private_tmp)
    assert [path for path in new if not any(path.is_relative_to(place) for place in expected_places)] == []
    assert not [path for path in new if path.is_relative_to(home.documents)]
    assert not [path for path in files_under(tmp_path) if path.name in ("x.jpg", "b.jpg", "abs.jpg", "..\\x.jpg")]
    assert not Path("/tmp/abs.jpg").exists() and not Path("/tmp/x.jpg").exists()
    assert not [path for path in files_under(home.root) if path.is_symlink()]


def gjj(centre: Centre, *args: str):
    env = {"GJJ_HOME": str(centre.app.home.root), "GJJ_DB": centre.app.engine.url.render_as_string(hide_password=False), "COLUMNS": "250"}
    return runner.invoke(app, list(args), env=env)


def test_review_show_lists_and_exports_the_scans(sqlite_centre: Centre, tmp_path: Path) -> None:
    member = sqlite_centre.members_of()[0]
    scans = scans_for(member.member_account)
    bundle_file(sqlite_centre.inbox / sqlite_centre.unit().unit_account, KIND, [change_row(1, member, "姓名", "王小明")], scans)
    assert run_one(sqlite_centre).result.status is BatchStatus.ACCEPTED

    shown = gjj(sqlite_centre, "review", "show", "1", "--export", str(tmp_path / "材料"))
    as_json = gjj(sqlite_centre, "review", "show", "1", "--json")

    assert shown.exit_code == 0, shown.output
    jpg, pdf = scans[f"{member.member_account}_身份证.jpg"], scans[f"{member.member_account}_证明.pdf"]
    assert f"材料 身份证：{member.member_account}_身份证.jpg，image/jpeg，{len(jpg)} 字节，sha256 {hashlib.sha256(jpg).hexdigest()}" in shown.output
    assert f"材料 证明：{member.member_account}_证明.pdf，application/pdf" in shown.output
    assert (tmp_path / "材料" / "1_身份证.jpg").read_bytes() == jpg and (tmp_path / "材料" / "1_证明.pdf").read_bytes() == pdf
    documents = json.loads(as_json.output)["documents"]
    assert [(d["kind"], d["entry_name"], d["size"]) for d in documents] == [
        ("身份证", f"{member.member_account}_身份证.jpg", len(jpg)),
        ("证明", f"{member.member_account}_证明.pdf", len(pdf)),
    ]
    assert all(Path(d["path"]).read_bytes() in (jpg, pdf) for d in documents)
    # A request without scans (none exist before this slice) says so.
    with sqlite_centre.app.engine.begin() as connection:
        connection.execute(sqlalchemy.text("DELETE FROM review_request_documents"))
    assert "材料 无" in gjj(sqlite_centre, "review", "show", "1").output


def test_names_written_by_windows_in_the_local_code_page_are_read(tmp_path: Path) -> None:
    """Windows' 压缩(zipped)文件夹 writes Chinese names in GBK without the UTF-8 flag."""
    path = tmp_path / "变更.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("template.csv", "序号\n1\n".encode())
        archive.writestr("300000001_XXXXXX.jpg", fake_scan("jpg"))
    path.write_bytes(path.read_bytes().replace(b"XXXXXX", "身份证".encode("gbk")))  # same length: 6 bytes
    (tmp_path / "out").mkdir()

    template, bundle = read_bundle(path, load_config().limits, tmp_path / "out")

    assert template.read_bytes() == "序号\n1\n".encode() and bundle.issues == []
    assert [(d.entry, d.member_account, d.kind) for d in bundle.documents] == [("300000001_身份证.jpg", "300000001", "身份证")]
