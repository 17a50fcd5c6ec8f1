"""SFTP intake end to end: a real OpenSSH server, the deployment in ``deploy/sftp/``, real units.

The test starts ``/usr/sbin/sshd`` on a free 127.0.0.1 port with a generated host key and the
deployment's ``sshd_config`` snippet, creates two unit accounts with ``deploy/sftp/add-unit.sh``
and, logged in as a unit with paramiko, shows that

- a file uploaded slowly, chunk by chunk, is taken only once complete (never half-written);
- an upload that stalls longer than the settle time is not taken while the SFTP server still has
  it open for writing, and is taken complete once the client finishes;
- a 启封 saved before the 封存 it follows, uploaded after it with its timestamp preserved (as
  WinSCP does: ``put`` then ``utime``), is processed after the 封存;
- a file uploaded under a ``.part`` name is left alone until renamed, then taken;
- the unit reads its own outbox, cannot write into it, and cannot see or read another unit's
  inbox or outbox.

It runs for both chroot layouts of ``add-unit.sh``: ``bind`` (a per-unit chroot with bind mounts,
the recommended one; skipped where mounting is not permitted) and ``home`` (the chroot is
``GJJ_HOME`` itself, locked down by ownership and modes). It needs root (accounts, chroot,
mounts) and sshd: without them it is skipped locally and fails in CI.
"""

from __future__ import annotations

import grp
import json
import math
import os
import pwd
import re
import secrets
import shutil
import socket
import stat
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import paramiko
import pytest
from sqlalchemy import select

from pipeline.errors import Code
from pipeline.intake.scan import Arrival
from pipeline.model import BatchStatus
from pipeline.run.processor import FileOutcome, Processor
from pipeline.run.watch import Watcher
from pipeline.store.tables import Batch, Member
from tests.ci_skips import skip_even_in_ci
from tests.conftest import BUSINESS_DATE, Centre, make_centre, wait_until
from tests.factories import backpay_file, identity, kind_file, row_for
from tests.run_as import gjj_as

REPO = Path(__file__).resolve().parent.parent
DEPLOY = REPO / "deploy" / "sftp"
SSHD = Path("/usr/sbin/sshd")
SETTLE_SECONDS = 1.0
CHUNKS = 6
CHUNK_PAUSE = 0.4


def _unavailable(reason: str) -> None:
    """Skip on a developer machine; in CI a missing prerequisite is a failure."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason}: CI must provide it (.ci/install-system-deps installs openssh-server)")
    pytest.skip(reason)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _mounts_under(root: Path) -> list[str]:
    prefix = f"{root}/"
    with open("/proc/self/mounts", encoding="utf-8") as mounts:
        return [line.split()[1] for line in mounts if line.split()[1].startswith(prefix)]


def _bind_mount_allowed(scratch: Path) -> bool:
    source, target = scratch / "probe-source", scratch / "probe-target"
    source.mkdir()
    target.mkdir()
    try:
        if subprocess.run(["mount", "--bind", str(source), str(target)], check=False, capture_output=True).returncode != 0:
            return False
        subprocess.run(["umount", str(target)], check=True, capture_output=True)
        return True
    finally:
        target.rmdir()
        source.rmdir()


def _wait_for_banner(port: int, process: subprocess.Popen[bytes], log: Path, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"sshd exited with {process.returncode}:\n{log.read_text(errors='replace')}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as conn:
                if conn.recv(64).startswith(b"SSH-2.0-"):
                    return
        except OSError:
            time.sleep(0.05)
    pytest.fail(f"sshd did not answer on port {port}:\n{log.read_text(errors='replace')}")


@dataclass
class Site:
    """sshd, two unit accounts and a centre whose inbox/outbox they reach over SFTP."""

    centre: Centre
    layout: str
    port: int
    host_key: paramiko.PKey
    client_keys: dict[str, Path]
    users: dict[str, str]
    log: Path
    clients: list[paramiko.SSHClient] = field(default_factory=list)

    @property
    def home(self) -> Path:
        return self.centre.app.home.root

    def inbox(self, unit: str) -> str:
        """The unit's inbox as the unit sees it over SFTP."""
        return "/inbox" if self.layout == "bind" else f"/inbox/{unit}"

    def outbox(self, unit: str) -> str:
        return "/outbox" if self.layout == "bind" else f"/outbox/{unit}"

    def sftp(self, unit: str) -> paramiko.SFTPClient:
        client = paramiko.SSHClient()
        # The host key is the one generated for this server: verified, never auto-accepted.
        client.get_host_keys().add(f"[127.0.0.1]:{self.port}", self.host_key.get_name(), self.host_key)
        client.set_missing_host_key_policy(paramiko.RejectPolicy())
        self.clients.append(client)
        client.connect(
            "127.0.0.1",
            port=self.port,
            username=self.users[unit],
            key_filename=str(self.client_keys[unit]),
            allow_agent=False,
            look_for_keys=False,
            timeout=10,
        )
        return client.open_sftp()

    def close_clients(self) -> None:
        for client in self.clients:
            client.close()
        self.clients.clear()


@pytest.fixture(params=["bind", "home"])
def site(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Site]:
    layout: str = request.param
    if not SSHD.exists():
        _unavailable("OpenSSH server (/usr/sbin/sshd) is not installed")
    if os.geteuid() != 0:
        _unavailable("the SFTP test creates system accounts and a chroot: it must run as root")

    root, _, env = _sftp_site_root(layout)
    home = tmp_path / "home" if layout == "bind" else root / "home"
    centre = make_centre(home, f"sqlite:///{tmp_path / 'gjj.db'}", settle_seconds=SETTLE_SECONDS)
    units = [centre.unit(0).unit_account, centre.unit(1).unit_account]
    users = {unit: f"{env['GJJ_SFTP_USER_PREFIX']}{unit}" for unit in units}
    process: subprocess.Popen[bytes] | None = None
    site: Site | None = None
    try:
        client_keys: dict[str, Path] = {}
        for unit in units:
            key = root / f"client-{unit}"
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"unit {unit}", "-f", str(key)], check=True)
            client_keys[unit] = key
            added = subprocess.run(
                ["bash", str(DEPLOY / "add-unit.sh"), unit, f"{key}.pub", str(home)], check=False, env=env, capture_output=True, text=True
            )
            assert added.returncode == 0, added.stderr

        process, port, host_key, log = _start_sshd(root, env)
        site = Site(centre, layout, port, host_key, client_keys, users, log)
        yield site
    finally:
        if site is not None:
            site.close_clients()
        if process is not None:
            process.terminate()
            process.wait(timeout=10)
        failures = []
        for unit in units:
            removed = subprocess.run(["bash", str(DEPLOY / "remove-unit.sh"), unit], check=False, env=env, capture_output=True, text=True)
            if removed.returncode != 0:
                failures.append(removed.stderr)
        subprocess.run(["groupdel", env["GJJ_SFTP_GROUP"]], check=False, capture_output=True)
        centre.app.close()
        left = _mounts_under(root)
        if not left:  # never delete through a mount that is still there
            shutil.rmtree(root, ignore_errors=True)
        assert not failures and not left, (failures, left)


class Recorder:
    """Processors that note when each file was taken and how big it was at that moment."""

    def __init__(self, centre: Centre):
        self.centre = centre
        self.taken: list[tuple[float, str, int]] = []

    def factory(self) -> Processor:
        app, taken = self.centre.app, self.taken

        class RecordingProcessor(Processor):
            def process(self, arrival: Arrival) -> FileOutcome | None:
                try:
                    size = arrival.path.lstat().st_size
                except FileNotFoundError:
                    size = -1
                taken.append((time.monotonic(), arrival.name, size))
                return super().process(arrival)

        return RecordingProcessor(app.home, app.config, app.engine, BUSINESS_DATE)


def _wait_for(predicate: Callable[[], FileOutcome | None], timeout: float = 20.0) -> FileOutcome:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = predicate()
        if found is not None:
            return found
        time.sleep(0.05)
    pytest.fail("the watcher did not process the file in time")


def _upload_slowly(sftp: paramiko.SFTPClient, data: bytes, remote: str) -> float:
    """Write ``data`` in CHUNKS pieces, CHUNK_PAUSE apart; each piece is on disk when write returns."""
    size = math.ceil(len(data) / CHUNKS)
    with sftp.open(remote, "wb") as handle:
        for index in range(CHUNKS):
            handle.write(data[index * size : (index + 1) * size])
            handle.flush()
            if index < CHUNKS - 1:
                time.sleep(CHUNK_PAUSE)
    return time.monotonic()


def test_a_unit_uploads_over_sftp_and_reads_only_its_own_outbox(site: Site, tmp_path: Path) -> None:
    centre = site.centre
    unit_a, unit_b = centre.unit(0).unit_account, centre.unit(1).unit_account
    members = centre.members_of(0)
    first = backpay_file(tmp_path / "local", [row_for(members[0], 1), row_for(members[1], 2)], name="补缴清册.xlsx").read_bytes()
    second = backpay_file(tmp_path / "local", [row_for(members[2], 1)], name="second.xlsx").read_bytes()
    control = backpay_file(tmp_path / "local", [row_for(members[3], 1)], name="control.xlsx").read_bytes()
    # Unit B's file arrives through the shared folder, so that B has an outbox worth attacking.
    backpay_file(centre.inbox / unit_b, [row_for(centre.members_of(1)[0], 1)], name="b.xlsx")

    recorder = Recorder(centre)
    watcher = Watcher(recorder.factory, centre.inbox, settle_seconds=SETTLE_SECONDS, rescan_seconds=0.2)
    thread = threading.Thread(target=watcher.run, name="watcher", daemon=True)
    thread.start()

    def outcome_for(unit: str, name: str) -> Callable[[], FileOutcome | None]:
        return lambda: next((o for o in list(watcher.stats.outcomes) if o.unit_account == unit and o.source == name), None)

    try:
        sftp_a = site.sftp(unit_a)
        inbox_a, outbox_a = site.inbox(unit_a), site.outbox(unit_a)

        # 1. A slow upload, chunk by chunk: taken only once complete, and then at its full size.
        upload_end = _upload_slowly(sftp_a, first, f"{inbox_a}/补缴清册.xlsx")
        done = _wait_for(outcome_for(unit_a, "补缴清册.xlsx"))
        taken = [entry for entry in recorder.taken if entry[1] == "补缴清册.xlsx"]
        assert len(taken) == 1
        assert taken[0][0] >= upload_end, "the file was taken while it was still being uploaded"
        assert taken[0][2] == len(first)
        assert done.result.status is BatchStatus.ACCEPTED, done.result.file_issues
        assert all(issue.code is not Code.FILE_UNREADABLE for issue in done.result.file_issues)
        assert len(done.result.rows) == 2

        # 2. Uploaded as .part, complete and stable for longer than the settle time, then renamed.
        # A control file uploaded after it is taken once it has been stable for the settle time: by
        # then the watcher has looked at the inbox with the .part file as settled as the control.
        _upload_slowly(sftp_a, second, f"{inbox_a}/x.xlsx.part")
        with sftp_a.open(f"{inbox_a}/control.xlsx", "wb") as handle:
            handle.write(control)
        _wait_for(outcome_for(unit_a, "control.xlsx"))
        assert "x.xlsx.part" in sftp_a.listdir(inbox_a)
        assert not [entry for entry in recorder.taken if entry[1].endswith(".part")]
        sftp_a.rename(f"{inbox_a}/x.xlsx.part", f"{inbox_a}/x.xlsx")
        renamed = _wait_for(outcome_for(unit_a, "x.xlsx"))
        assert renamed.result.status is BatchStatus.ACCEPTED, renamed.result.file_issues
        assert not [entry for entry in recorder.taken if entry[1].endswith(".part")]
        assert [entry[1] for entry in recorder.taken if entry[1].startswith("x.")] == ["x.xlsx"]
        assert sftp_a.listdir(inbox_a) == []  # both files archived
        of_b = _wait_for(outcome_for(unit_b, "b.xlsx"))
    finally:
        watcher.stop()
        thread.join(timeout=20)
    assert not thread.is_alive()

    # 3a. A's own outbox: listed and read over SFTP.
    batches = sorted(sftp_a.listdir(outbox_a))
    assert len(batches) == 3 and {done.result.batch_id, renamed.result.batch_id} < set(batches)  # and the control's
    with sftp_a.open(f"{outbox_a}/{done.result.batch_id}/result.json") as handle:
        result = json.loads(handle.read().decode("utf-8"))
    assert (result["batch_id"], result["unit"], result["status"]) == (done.result.batch_id, unit_a, "accepted")
    with sftp_a.open(f"{outbox_a}/{done.result.batch_id}/slip.pdf") as handle:
        assert handle.read(5) == b"%PDF-"

    # 3b. ... but never written to: no new file, no overwrite, no delete, no rename, no folder.
    batch_a = f"{outbox_a}/{done.result.batch_id}"
    refused: list[Callable[[], object]] = [
        lambda: sftp_a.open(f"{outbox_a}/note.txt", "wb").close(),
        lambda: sftp_a.open(f"{batch_a}/result.json", "r+b").close(),
        lambda: sftp_a.remove(f"{batch_a}/result.json"),
        lambda: sftp_a.rename(f"{batch_a}/result.json", f"{inbox_a}/result.json"),
        lambda: sftp_a.mkdir(f"{outbox_a}/mine"),
        lambda: sftp_a.chmod(f"{batch_a}/result.json", 0o666),
        lambda: sftp_a.symlink(f"{outbox_a}", f"{inbox_a}/link"),  # links are refused outright
    ]
    for attempt in refused:
        with pytest.raises(OSError):
            attempt()
    outbox_on_disk = site.home / "outbox" / unit_a
    assert sorted(path.name for path in outbox_on_disk.iterdir()) == batches
    assert json.loads((outbox_on_disk / done.result.batch_id / "result.json").read_text(encoding="utf-8")) == result
    assert not (site.home / "inbox" / unit_a / "link").exists()

    # 3c. Unit B's folders: not visible (bind layout) or not readable (home layout) for A.
    batch_b = of_b.result.batch_id
    forbidden: list[Callable[[], object]] = [
        lambda: sftp_a.listdir(f"/inbox/{unit_b}"),
        lambda: sftp_a.listdir(f"/outbox/{unit_b}"),
        lambda: sftp_a.open(f"/outbox/{unit_b}/{batch_b}/result.json").read(),
        lambda: sftp_a.open(f"{site.home}/outbox/{unit_b}/{batch_b}/result.json").read(),
        lambda: sftp_a.open(f"/../../outbox/{unit_b}/{batch_b}/result.json").read(),
        lambda: sftp_a.listdir("/archive"),
        lambda: sftp_a.listdir("/var"),
    ]
    for attempt in forbidden:
        with pytest.raises(OSError):
            attempt()
    if site.layout == "bind":
        assert sorted(sftp_a.listdir("/")) == ["inbox", "outbox"]  # nothing else exists for A
    else:
        with pytest.raises(PermissionError):
            sftp_a.listdir("/")  # the home is 0711: A cannot even list which units exist
        with pytest.raises(PermissionError):
            sftp_a.listdir("/inbox")

    # B, logged in, sees its own batch and nothing of A's.
    sftp_b = site.sftp(unit_b)
    assert sftp_b.listdir(site.outbox(unit_b)) == [batch_b]
    with pytest.raises(OSError):
        sftp_b.open(f"/outbox/{unit_a}/{done.result.batch_id}/result.json").read()

    # 3d. On disk, what the processor wrote belongs to the unit's group, closed to everyone else:
    # even a shell as B on this host could not read A's results.
    group_a = site.users[unit_a]
    for path in [outbox_on_disk, outbox_on_disk / done.result.batch_id, *(outbox_on_disk / done.result.batch_id).iterdir()]:
        info = path.stat()
        assert Path(path).group() == group_a, path
        assert not info.st_mode & stat.S_IWGRP, path  # the unit may read, never write
    assert stat.S_IMODE(outbox_on_disk.stat().st_mode) == 0o2750
    as_b = subprocess.run(
        ["runuser", "-u", site.users[unit_b], "--", "cat", str(outbox_on_disk / done.result.batch_id / "result.json")],
        check=False,
        capture_output=True,
    )
    assert as_b.returncode != 0 and not as_b.stdout


def _next_tick(path: Path) -> None:
    """Let the clock pass the file's change time (file times move by the kernel's tick, a few ms)."""
    later = path.lstat().st_ctime_ns + 30_000_000
    while time.time_ns() < later:
        time.sleep(0.005)


def test_a_stalled_upload_is_not_taken_while_the_server_holds_it_open(site: Site, tmp_path: Path) -> None:
    centre = site.centre
    unit = centre.unit(0).unit_account
    members = centre.members_of(0)
    data = backpay_file(tmp_path / "local", [row_for(members[0], 1), row_for(members[1], 2)]).read_bytes()
    on_disk = site.home / "inbox" / unit / "补缴.xlsx"
    sftp = site.sftp(unit)
    handle = sftp.open(f"{site.inbox(unit)}/补缴.xlsx", "wb")
    try:
        handle.write(data[: len(data) // 2])
        handle.flush()
        time.sleep(SETTLE_SECONDS * 2.5)  # the client stalls longer than the settle time: what is tested
        assert on_disk.stat().st_size == len(data) // 2

        held = centre.run()

        assert held.outcomes == [] and held.failed == []
        assert on_disk.stat().st_size == len(data) // 2  # left in the inbox, untouched
        handle.write(data[len(data) // 2 :])
    finally:
        handle.close()

    done = centre.run()

    assert [(o.source, o.result.status, len(o.result.rows)) for o in done.outcomes] == [("补缴.xlsx", BatchStatus.ACCEPTED, 2)]
    assert done.outcomes[0].moved_to.read_bytes() == data


def test_uploads_with_preserved_timestamps_are_taken_in_the_order_they_arrived(site: Site, tmp_path: Path) -> None:
    centre = site.centre
    unit = centre.unit(0).unit_account
    person = centre.members_of(0)[0]
    seal = kind_file(tmp_path / "local", "封存", [[1, *identity(person), "其他封存", "2024-06"]])
    unseal = kind_file(tmp_path / "local", "启封", [[1, *identity(person), "正常上班启封", "2024-08", "4070"]])
    sftp = site.sftp(unit)
    inbox, on_disk = site.inbox(unit), site.home / "inbox" / unit
    now = time.time()
    # WinSCP with "preserve timestamp": upload, then set the time the unit saved the file.
    sftp.put(str(seal), f"{inbox}/封存.xlsx")
    sftp.utime(f"{inbox}/封存.xlsx", (now - 3600, now - 3600))
    _next_tick(on_disk / "封存.xlsx")
    sftp.put(str(unseal), f"{inbox}/启封.xlsx")
    sftp.utime(f"{inbox}/启封.xlsx", (now - 7200, now - 7200))  # saved before the 封存, uploaded after it
    first, second = (on_disk / name for name in ("封存.xlsx", "启封.xlsx"))
    assert first.lstat().st_mtime_ns > second.lstat().st_mtime_ns and first.lstat().st_ctime_ns < second.lstat().st_ctime_ns

    summary = centre.run()

    assert [(o.source, o.result.status) for o in summary.outcomes] == [("封存.xlsx", BatchStatus.ACCEPTED), ("启封.xlsx", BatchStatus.ACCEPTED)]
    with centre.app.sessions() as session:
        assert [batch.source_name for batch in session.scalars(select(Batch).order_by(Batch.id))] == ["封存.xlsx", "启封.xlsx"]
        assert session.get(Member, person.member_account).status == "正常"


# --- The processor as a service user: units added and removed while it runs ----------------------
#
# `gjj watch` and `gjj run` run here as a service user of their own (made by the test, as in the
# README's "Install and deploy"), with the supplementary groups it had when it started — so a unit
# added later is served only if add-unit.sh needs no new membership of it.


def _sftp_site_root(layout: str) -> tuple[Path, str, dict[str, str]]:
    """A fresh root for one SFTP site, a tag naming its accounts, and the deploy scripts' environment.

    Everything sshd checks (chroots, authorised keys) must sit under root-owned directories that
    nobody else can write to: /tmp (1777) would be refused, so use /run.
    """
    root = Path(tempfile.mkdtemp(prefix="gjj-sftp-test-", dir="/run"))
    root.chmod(0o755)
    if layout == "bind" and not _bind_mount_allowed(root):
        root.rmdir()
        skip_even_in_ci("mount --bind is not permitted here (a CI runner in a container may not allow it); the 'home' layout covers SFTP")
    tag = secrets.token_hex(3)
    env = {
        **os.environ,
        "GJJ_SFTP_LAYOUT": layout,
        "GJJ_SFTP_ROOT": str(root / "chroots"),
        "GJJ_SFTP_GROUP": f"gjjt{tag}",
        "GJJ_SFTP_USER_PREFIX": f"t{tag}u",
        "GJJ_SFTP_KEYS_DIR": str(root / "authorized-keys"),
        "GJJ_SFTP_FSTAB": "",  # never touch the machine's /etc/fstab
    }
    return root, tag, env


def _start_sshd(root: Path, env: dict[str, str]) -> tuple[subprocess.Popen[bytes], int, paramiko.PKey, Path]:
    """sshd on a free 127.0.0.1 port with the deployment's snippet (this test's group and keys folder)."""
    sshd_dir = root / "sshd"
    sshd_dir.mkdir()
    host_key_file = sshd_dir / "ssh_host_ed25519_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(host_key_file)], check=True)
    snippet = (
        (DEPLOY / "sshd_config")
        .read_text(encoding="utf-8")
        .replace("Match Group gjj-units", f"Match Group {env['GJJ_SFTP_GROUP']}")
        .replace("/etc/ssh/gjj-authorized-keys", env["GJJ_SFTP_KEYS_DIR"])
    )
    port = _free_port()
    config = sshd_dir / "sshd_config"
    config.write_text(
        f"ListenAddress 127.0.0.1\nPort {port}\nHostKey {host_key_file}\nPidFile {sshd_dir / 'sshd.pid'}\n"
        "UsePAM no\nStrictModes yes\nPermitRootLogin no\nPasswordAuthentication no\n"
        "KbdInteractiveAuthentication no\nSubsystem sftp internal-sftp\nLogLevel VERBOSE\n"
        f"AllowGroups {env['GJJ_SFTP_GROUP']}\n\n{snippet}",
        encoding="utf-8",
    )
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
    checked = subprocess.run([str(SSHD), "-t", "-f", str(config)], check=False, capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr
    log = sshd_dir / "sshd.log"
    with log.open("wb") as log_file:
        process = subprocess.Popen([str(SSHD), "-D", "-e", "-f", str(config)], stdout=log_file, stderr=log_file)
    _wait_for_banner(port, process, log)
    return process, port, paramiko.Ed25519Key.from_private_key_file(str(host_key_file)), log


@dataclass
class ServiceSite:
    """sshd, a centre whose home belongs to a service user, and no unit account yet: the test adds them."""

    site: Site
    root: Path
    env: dict[str, str]
    service_user: str
    gjj: list[str]
    gjj_env: dict[str, str]
    added: list[str] = field(default_factory=list)
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def home(self) -> Path:
        return self.site.home

    def add_unit(self, unit: str, key_file: Path | None = None) -> subprocess.CompletedProcess[str]:
        """add-unit.sh as the README says, with a new key (or ``key_file``, whose first key is the unit's)."""
        key = self.root / f"client-{unit}-{secrets.token_hex(2)}"
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"unit {unit}", "-f", str(key)], check=True)
        self.site.client_keys[unit] = key
        self.site.users[unit] = f"{self.env['GJJ_SFTP_USER_PREFIX']}{unit}"
        self.added.append(unit)
        env = {**self.env, "GJJ_SERVICE_USER": self.service_user}
        added = subprocess.run(
            ["bash", str(DEPLOY / "add-unit.sh"), unit, str(key_file or f"{key}.pub"), str(self.home)], env=env, capture_output=True, text=True, check=False
        )
        assert added.returncode == 0, added.stderr
        return added

    def remove_unit(self, unit: str, *home: str) -> subprocess.CompletedProcess[str]:
        removed = subprocess.run(["bash", str(DEPLOY / "remove-unit.sh"), unit, *home], env=self.env, capture_output=True, text=True, check=False)
        assert removed.returncode == 0, removed.stderr
        return removed

    def run_gjj(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*self.gjj, *args], env=self.gjj_env, capture_output=True, text=True, check=False, cwd="/", timeout=300)

    def start_watch(self, log: Path) -> subprocess.Popen[bytes]:
        with log.open("wb") as output:
            process = subprocess.Popen([*self.gjj, "watch", "--rescan-seconds", "0.3"], env=self.gjj_env, stdout=output, stderr=output, cwd="/")
        self.processes.append(process)
        return process

    def owned_by(self, uid: int, gid: int) -> list[Path]:
        """Everything in the home whose owner is ``uid`` or whose group is ``gid``."""
        found = []
        for folder, dirs, files in os.walk(self.home):
            for name in [*dirs, *files]:
                info = os.lstat(Path(folder) / name)
                if info.st_uid == uid or info.st_gid == gid:
                    found.append(Path(folder) / name)
        return found


@pytest.fixture(params=["bind", "home"])
def service_site(request: pytest.FixtureRequest) -> Iterator[ServiceSite]:
    layout: str = request.param
    if not SSHD.exists():
        _unavailable("OpenSSH server (/usr/sbin/sshd) is not installed")
    if os.geteuid() != 0:
        _unavailable("the SFTP test creates system accounts and a chroot: it must run as root")
    if not shutil.which("setpriv"):
        _unavailable("setpriv (util-linux) is missing")
    root, tag, env = _sftp_site_root(layout)
    env.pop("GJJ_HOME", None)
    service_user = f"t{tag}svc"
    # Both layouts keep the home under root-owned folders the service user may pass (not /tmp/pytest-of-root, 0700).
    home = root / "home"
    process: subprocess.Popen[bytes] | None = None
    service: ServiceSite | None = None
    try:
        subprocess.run(["useradd", "--system", "--user-group", "--no-create-home", "--home-dir", str(home), "--shell", "/usr/sbin/nologin", service_user], check=True)
        # What `gjj init` and `gjj load` as the service user would leave: its home, master data, a
        # configuration with a short settle time.
        centre = make_centre(home, f"sqlite:///{home / 'var' / 'gjj.db'}")
        centre.app.close()
        configured, count = re.subn(r"(?m)^settle_seconds: .*$", f"settle_seconds: {SETTLE_SECONDS:g}", (REPO / "pipeline" / "centre.yaml").read_text(encoding="utf-8"))
        assert count == 1
        (home / "config").mkdir()
        (home / "config" / "centre.yaml").write_text(configured, encoding="utf-8")
        subprocess.run(["chown", "-R", f"{service_user}:{service_user}", str(home)], check=True)
        subprocess.run(["chmod", "-R", "o-rwx", str(home)], check=True)
        gjj, gjj_env = gjj_as(service_user, home)
        process, port, host_key, log = _start_sshd(root, env)
        service = ServiceSite(Site(centre, layout, port, host_key, {}, {}, log), root, env, service_user, gjj, gjj_env)
        yield service
    finally:
        failures = []
        if service is not None:
            service.site.close_clients()
            for started in service.processes:
                started.terminate()
                started.wait(timeout=30)
            for unit in service.added:
                removed = subprocess.run(["bash", str(DEPLOY / "remove-unit.sh"), unit, str(home)], env=env, capture_output=True, text=True, check=False)
                if removed.returncode != 0:
                    failures.append(removed.stderr)
        if process is not None:
            process.terminate()
            process.wait(timeout=10)
        subprocess.run(["userdel", service_user], check=False, capture_output=True)
        subprocess.run(["groupdel", service_user], check=False, capture_output=True)
        subprocess.run(["groupdel", env["GJJ_SFTP_GROUP"]], check=False, capture_output=True)
        left = _mounts_under(root)
        if not left:
            shutil.rmtree(root, ignore_errors=True)
        assert not failures and not left, (failures, left)


def _put(sftp: paramiko.SFTPClient, remote: str, data: bytes) -> None:
    with sftp.open(remote, "wb") as handle:
        handle.write(data)


def _results(outbox: Path) -> list[dict[str, object]]:
    return [json.loads(path.read_text(encoding="utf-8")) for path in sorted(outbox.glob("*/result.json"))]


def _wait_for_results(outbox: Path, count: int, log: Path, timeout: float = 90.0) -> list[dict[str, object]]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if outbox.is_dir() and len(found := _results(outbox)) >= count:
            return found
        time.sleep(0.1)
    pytest.fail(f"no result in {outbox} after {timeout:g} s; gjj watch said:\n{log.read_text(errors='replace')}")


def test_a_unit_added_while_gjj_watch_runs_is_served_without_a_restart(service_site: ServiceSite, tmp_path: Path) -> None:
    service = service_site
    centre = service.site.centre
    unit = centre.unit(0).unit_account
    members = centre.members_of(0)
    first = backpay_file(tmp_path / "local", [row_for(members[0])], name="补缴.xlsx").read_bytes()

    log = service.root / "watch.log"
    watch = service.start_watch(log)
    wait_until(lambda: "正在监视" in log.read_text(errors="replace") or watch.poll() is not None, "gjj watch to start")
    assert watch.poll() is None, log.read_text(errors="replace")

    # The unit gets its account only now, while the service runs with the groups it started with.
    service.add_unit(unit)

    sftp = service.site.sftp(unit)
    inbox = service.site.inbox(unit)
    _put(sftp, f"{inbox}/补缴.xlsx.part", first)
    sftp.rename(f"{inbox}/补缴.xlsx.part", f"{inbox}/补缴.xlsx")
    outbox = service.home / "outbox" / unit
    (result,) = _wait_for_results(outbox, 1, log)
    assert (result["unit"], result["source_file"], result["status"]) == (unit, "补缴.xlsx", "accepted"), result
    wait_until(lambda: not sftp.listdir(inbox), "the upload to be archived")
    assert "PermissionError" not in log.read_text(errors="replace")
    assert watch.poll() is None  # the same process, never restarted
    groups = subprocess.run(["id", "-Gn", service.service_user], capture_output=True, text=True, check=True).stdout.split()
    assert service.site.users[unit] not in groups  # nor made a member of the unit's group since
    with sftp.open(f"{service.site.outbox(unit)}/{result['batch_id']}/slip.pdf") as handle:
        assert handle.read(5) == b"%PDF-"

    # What it wrote is the service user's (the unit's group on the unit's results), never "other"'s.
    centre_folder = service.home / "outbox" / "_centre"
    wait_until(lambda: (centre_folder / "index.html").is_file(), "the watcher's staff summary")
    for path in [centre_folder, *centre_folder.rglob("*"), *outbox.rglob("*")]:
        assert path.owner() == service.service_user, path
        assert not path.stat().st_mode & 0o007, path

    watch.terminate()
    assert watch.wait(timeout=60) == 0, log.read_text(errors="replace")

    # The nightly run as the service user: it writes the staff pages too (GJJ_SFTP_LAYOUT=home made
    # outbox/_centre/ root's, so every `gjj run` failed there).
    _put(sftp, f"{inbox}/second.xlsx", backpay_file(tmp_path / "local", [row_for(members[1])], name="second.xlsx").read_bytes())
    time.sleep(SETTLE_SECONDS + 0.2)
    ran = service.run_gjj("run", "--json")
    assert ran.returncode == 0, ran.stderr
    report = json.loads(ran.stdout)
    assert [(f["source_file"], f["status"]) for f in report["files"]] == [("second.xlsx", "accepted")]
    staff_page = Path(report["staff_summary"])
    assert staff_page.is_file() and staff_page.owner() == service.service_user
    assert f"days/{staff_page.parent.name}/summary.html" in (centre_folder / "index.html").read_text(encoding="utf-8")


def test_a_removed_units_data_is_out_of_reach_of_the_account_that_gets_its_ids(service_site: ServiceSite, tmp_path: Path) -> None:
    service = service_site
    centre = service.site.centre
    unit_a, unit_c = centre.unit(0).unit_account, centre.unit(2).unit_account
    service.add_unit(unit_a)
    user_a = service.site.users[unit_a]
    old_uid, old_gid = pwd.getpwnam(user_a).pw_uid, grp.getgrnam(user_a).gr_gid

    sftp_a = service.site.sftp(unit_a)
    inbox_a, outbox_a = service.site.inbox(unit_a), service.site.outbox(unit_a)
    upload = backpay_file(tmp_path / "local", [row_for(centre.members_of(0)[0])], name="a.xlsx").read_bytes()
    _put(sftp_a, f"{inbox_a}/a.xlsx", upload)
    _put(sftp_a, f"{inbox_a}/later.xlsx.part", upload)  # still in the inbox when A is removed
    time.sleep(SETTLE_SECONDS + 0.2)
    ran = service.run_gjj("run", "--business-date", "2024-08-05", "--json")
    assert ran.returncode == 0, ran.stderr
    (batch,) = [f["batch_id"] for f in json.loads(ran.stdout)["files"]]
    assert sftp_a.listdir(outbox_a) == [batch]
    result_a = service.home / "outbox" / unit_a / batch / "result.json"

    # Removed while its session is open: the session ends, and the data stays, re-owned.
    home_argument = [str(service.home)] if service.site.layout == "bind" else []  # home layout: found from the account
    removed = service.remove_unit(unit_a, *home_argument)
    assert "GJJ_HOME not given" not in removed.stderr
    with pytest.raises((OSError, EOFError, paramiko.SSHException)):
        sftp_a.listdir(inbox_a)
    assert result_a.is_file() and (service.home / "inbox" / unit_a / "later.xlsx.part").is_file()
    assert service.owned_by(old_uid, old_gid) == []  # nothing left with A's numeric ids

    # The next account gets A's numeric user and group ids (as useradd/groupadd hand out a freed id
    # again); its key line has options of its own, and a second key is allowed from elsewhere only.
    user_c = f"{service.env['GJJ_SFTP_USER_PREFIX']}{unit_c}"
    subprocess.run(["groupadd", "--gid", str(old_gid), user_c], check=True)
    subprocess.run(["useradd", "--uid", str(old_uid), "--gid", str(old_gid), "--no-create-home", "--shell", "/usr/sbin/nologin", user_c], check=True)
    key_c, elsewhere = service.root / "key-c", service.root / "key-elsewhere"
    for key in (key_c, elsewhere):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    keys_file = service.root / "c.pub"
    keys_file.write_text(
        f'from="127.0.0.1",pty,no-agent-forwarding {Path(f"{key_c}.pub").read_text().strip()}\r\n'
        f'# a second key, for the unit\'s other office\nfrom="192.0.2.1" {Path(f"{elsewhere}.pub").read_text().strip()}\n',
        encoding="utf-8",
    )
    service.add_unit(unit_c, key_file=keys_file)
    service.site.client_keys[unit_c] = key_c
    assert (pwd.getpwnam(user_c).pw_uid, grp.getgrnam(user_c).gr_gid) == (old_uid, old_gid)
    installed = (Path(service.env["GJJ_SFTP_KEYS_DIR"]) / user_c).read_text(encoding="utf-8").splitlines()
    assert [line.split(" ")[0] for line in installed] == ['restrict,from="127.0.0.1",no-agent-forwarding', 'restrict,from="192.0.2.1"']
    client = paramiko.SSHClient()
    client.get_host_keys().add(f"[127.0.0.1]:{service.site.port}", service.site.host_key.get_name(), service.site.host_key)
    with pytest.raises(paramiko.AuthenticationException):  # that key's from= holds
        client.connect("127.0.0.1", port=service.site.port, username=user_c, key_filename=str(elsewhere), allow_agent=False, look_for_keys=False, timeout=10)
    client.close()

    # C sees nothing of A's: not over SFTP, not with a shell on this host.
    sftp_c = service.site.sftp(unit_c)
    attempts: list[Callable[[], object]] = [
        lambda: sftp_c.listdir(f"/outbox/{unit_a}"),
        lambda: sftp_c.open(f"/outbox/{unit_a}/{batch}/result.json").read(),
        lambda: sftp_c.listdir(f"/inbox/{unit_a}"),
        lambda: sftp_c.open(f"/inbox/{unit_a}/later.xlsx.part").read(),
        lambda: sftp_c.open(f"/archive/{unit_a}/{batch}_a.xlsx").read(),
        lambda: sftp_c.listdir("/archive"),
    ]
    for attempt in attempts:
        with pytest.raises(OSError):
            attempt()
    assert sftp_c.listdir(service.site.inbox(unit_c)) == [] and sftp_c.listdir(service.site.outbox(unit_c)) == []
    if service.site.layout == "bind":
        assert sorted(sftp_c.listdir("/")) == ["inbox", "outbox"]
    for path in (result_a, service.home / "inbox" / unit_a / "later.xlsx.part"):
        as_c = subprocess.run(["setpriv", f"--reuid={old_uid}", f"--regid={old_gid}", "--init-groups", "--", "cat", str(path)], capture_output=True, check=False)
        assert as_c.returncode != 0 and not as_c.stdout, path
    mine = {service.home / "inbox" / unit_c, service.home / "outbox" / unit_c}
    assert set(service.owned_by(old_uid, old_gid)) <= mine  # C's ids are on C's own folders only
