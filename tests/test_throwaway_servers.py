"""The tests' own PostgreSQL clusters: a killed run's cluster is removed by the next, a live one's kept."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys

import pytest

from tests.conftest import PostgresServer, _pg_bin, remove_orphan_servers


def _accepts(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


@pytest.fixture
def bin_dir():
    found = _pg_bin()
    assert found is not None, "PostgreSQL's binaries are missing (.ci/install-system-deps --tests installs them)"
    return found


def test_the_cluster_of_a_killed_run_is_stopped_and_removed_and_a_live_ones_is_kept(bin_dir) -> None:
    orphan, live = PostgresServer(bin_dir), PostgresServer(bin_dir)
    orphan.start()
    try:
        (orphan.root / "owner").write_text(str(_dead_pid()))  # as a run killed with SIGKILL leaves it
        assert _accepts(orphan.port)

        removed = remove_orphan_servers(bin_dir)

        assert orphan.root in removed and not orphan.root.exists()
        assert not _accepts(orphan.port)
        assert live.root.is_dir() and (live.root / "owner").read_text() == str(os.getpid())
    finally:
        for server in (orphan, live):
            if (server.data / "postmaster.pid").exists():
                server.stop()
            else:
                shutil.rmtree(server.root, ignore_errors=True)
