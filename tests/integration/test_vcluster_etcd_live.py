"""`corral vcluster up --auto-failover` runs 3 etcd members; `down` stops them."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from corral.master.etcd_gateway import EtcdGateway
from corral.master.lease import MasterLease
from corral.testing.etcd_cluster import EtcdCluster, member_healthy
from corral.vcluster import cluster
from corral.vcluster.etcd import ETCD_DIR
from tests.integration.test_rapi_ganeti_client import loopback_missing

PORT = 18240
VENV_BIN = Path(sys.executable).parent


def _endpoints(directory: Path) -> list[str]:
    env = subprocess.run([str(VENV_BIN / "corral"), "vcluster", "env", "--dir", str(directory)],
                         capture_output=True, text=True, check=True).stdout
    line = next(x for x in env.splitlines() if x.startswith("export CORRAL_ETCD_ENDPOINTS="))
    return line.split("=", 1)[1].split(",")


async def _campaign(endpoints: list[str]) -> tuple[bool, str]:
    """Whether a campaign of another node wins, and the holder it meets."""
    gateway = EtcdGateway(endpoints)
    try:
        lease = MasterLease(gateway, "cluster.vcluster", "intruder")
        outcome = await lease.campaign(1, 1)
        if outcome.won:
            await lease.resign()
        return outcome.won, outcome.holder.record.node
    finally:
        await gateway.close()


def test_auto_failover_vcluster_runs_and_stops_its_etcd() -> None:
    reason = loopback_missing()
    if reason:
        pytest.skip(reason)
    directory = Path(tempfile.mkdtemp(prefix="corral-vc-etcd-")) / "vc"
    up = [str(VENV_BIN / "corral"), "vcluster", "up", "--nodes", "1", "--dir", str(directory),
          "--port", str(PORT), "--auto-failover"]
    try:
        result = subprocess.run(up, capture_output=True, text=True, timeout=180, check=False)
        assert result.returncode == 0, result.stderr
        assert "Started 3 etcd members" in result.stdout
        etcd = EtcdCluster.load(directory / ETCD_DIR)
        assert etcd is not None
        endpoints = _endpoints(directory)
        assert endpoints == etcd.endpoints
        assert all(member_healthy(url) for url in endpoints)
        # the master daemon holds the master lease: another campaign loses to it
        assert asyncio.run(_campaign(endpoints)) == (False, "node1")
    finally:
        cluster.down(directory, feedback=lambda _msg: None)
        directory.parent.rmdir()
    assert not any(member.running for member in etcd.members)
