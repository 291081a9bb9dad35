"""A real 3-node virtual cluster (real daemons, real TLS on loopback) shared by the tests."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from corral.luxi.client import Client
from corral.vcluster import cluster
from corral.vcluster.cluster import VCluster
from tests.integration.ganeti_cli import GanetiCli, build_root, ganeti_installed

VENV_BIN = Path(sys.executable).parent
SHARED_PORT = 18110
"""Ports away from the default 1811, so tests never meet a cluster started by ``make demo``."""
OWN_CLUSTER_PORT = 18120


@dataclass
class RunResult:
    code: int
    stdout: str
    stderr: str


@dataclass
class LiveCluster:
    vc: VCluster

    @property
    def master_root(self) -> Path:
        return Path(self.vc.master.root)

    def client(self) -> Client:
        return Client(str(self.vc.luxi_socket))

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "CORRAL_ROOT": self.vc.master.root,
            "CORRAL_LUXI": str(self.vc.luxi_socket),
        }

    def gnt(self, tool: str, *args: str, timeout: float = 60) -> RunResult:
        proc = subprocess.run(
            [str(VENV_BIN / tool), *args],
            capture_output=True,
            text=True,
            env=self.env(),
            timeout=timeout,
            check=False,
        )
        return RunResult(proc.returncode, proc.stdout, proc.stderr)


def _can_bind_loopback_range() -> bool:
    import socket

    try:
        with socket.socket() as sock:
            sock.bind(("127.0.0.13", 0))
        return True
    except OSError:
        return False


@pytest.fixture(scope="session")
def live() -> Iterator[LiveCluster]:
    if not _can_bind_loopback_range():
        pytest.skip("cannot bind addresses in 127.0.0.0/8 beyond 127.0.0.1 here")
    directory = Path(tempfile.mkdtemp(prefix="corral-it-")) / "vc"
    try:
        vc = cluster.up(directory, 3, feedback=lambda _msg: None, port=SHARED_PORT)
        yield LiveCluster(vc)
    finally:
        cluster.down(directory, feedback=lambda _msg: None)
        directory.parent.rmdir()


@pytest.fixture(scope="session")
def ganeti(live: LiveCluster) -> Iterator[GanetiCli]:
    """Debian's ganeti-3.0 ``gnt-*`` commands pointed at the live cluster's master."""
    if not ganeti_installed():
        pytest.skip("Debian's ganeti-3.0 package is not installed")
    directory = Path(tempfile.mkdtemp(prefix="corral-ganeti-root-"))
    try:
        yield build_root(directory, live.vc.master.name, live.master_root, live.vc.luxi_socket)
    finally:
        shutil.rmtree(directory, ignore_errors=True)
