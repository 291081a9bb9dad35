"""Automatic master failover through the etcd lease, with real daemons and etcd members.

One 3-node virtual cluster started with ``--auto-failover`` (3 etcd members on loopback,
a standby master daemon on each candidate). In order: manual master-failover moves the
lease to the candidate it runs on; a killed master node is replaced; ten kills at random
moments under 4 clients lose nothing acknowledged; one etcd member lost changes nothing, two
make the master step down with nobody taking its place.
"""

from __future__ import annotations

import os
import random
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from corral.luxi.client import LuxiRemoteError, wait_for_job
from corral.testing.etcd_cluster import EtcdCluster, etcd_available
from corral.vcluster import cluster
from corral.vcluster.cluster import VCluster, VNode
from corral.vcluster.etcd import ETCD_DIR
from tests.integration.conftest import VENV_BIN
from tests.integration.test_rapi_ganeti_client import loopback_missing
from tests.support.auto_failover import (
    NOOP,
    Clients,
    answering_master,
    client,
    kill_node,
    layout,
    masterd_running,
    missing_on,
    revive_node,
    wait_for_master,
)

PORT = 18300
TTL = 5
TAKEOVER_BOUND = 4 * TTL
"""Seconds within which a new master must answer: the lease TTL, the ranked campaigns
(a second per rank) and the take-over, with a wide margin for a loaded machine."""
ROUNDS = 10


@pytest.fixture(scope="module")
def vc() -> Iterator[VCluster]:
    reason = loopback_missing() or ("" if etcd_available() else "etcd is not installed")
    if reason:
        pytest.skip(reason)
    directory = Path(tempfile.mkdtemp(prefix="corral-auto-failover-")) / "vc"
    try:
        yield cluster.up(directory, 3, feedback=lambda _msg: None, port=PORT,
                         auto_failover=True)
    finally:
        cluster.down(directory, feedback=lambda _msg: None)
        directory.parent.rmdir()


def gnt(node: VNode, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "CORRAL_LUXI"}
    return subprocess.run([str(VENV_BIN / "gnt-cluster"), *args], capture_output=True,
                          text=True, env={**env, "CORRAL_ROOT": node.root}, timeout=120,
                          check=False)


def run_job(node: VNode, op: dict[str, object]) -> str:
    with client(node, timeout=60.0) as c:
        job_id = c.SubmitJob([dict(op)])
        status, _, _ = wait_for_job(c, job_id)
    return str(status)


def test_manual_master_failover_moves_the_lease(vc: VCluster) -> None:
    old = wait_for_master(vc, TAKEOVER_BOUND)
    info = gnt(old, "info").stdout
    assert "automatic master failover: True" in info
    assert "master lease TTL: 5" in info
    assert gnt(old, "add-tags", "before-handover").returncode == 0
    # the standby that would campaign last: the hand-over, not the ranking, picks it
    target = max((n for n in vc.nodes if n.name != old.name), key=lambda n: n.name)
    result = gnt(target, "master-failover")
    assert result.returncode == 0, result.stderr
    assert answering_master(vc) == target
    assert gnt(target, "getmaster").stdout.strip() == target.name
    assert "before-handover" in gnt(target, "list-tags").stdout.split()
    assert run_job(target, NOOP) == "success"
    assert masterd_running(old), "the old master's daemon runs again, in standby"
    again = gnt(target, "master-failover")
    assert again.returncode != 0
    assert "already holds the master lease" in again.stderr


def test_killed_master_node_is_replaced(vc: VCluster) -> None:
    old = wait_for_master(vc, TAKEOVER_BOUND)
    assert gnt(old, "add-tags", "before-kill").returncode == 0
    kill_node(old)
    new = wait_for_master(vc, TAKEOVER_BOUND, other_than=old.name)
    assert new.name != old.name
    assert "before-kill" in gnt(new, "list-tags").stdout.split()
    assert run_job(new, NOOP) == "success"
    assert gnt(new, "getmaster").stdout.strip() == new.name
    env = subprocess.run([str(VENV_BIN / "corral"), "vcluster", "env", "--dir", vc.directory],
                         capture_output=True, text=True, check=True).stdout
    assert f"export CORRAL_ROOT={new.root}" in env.splitlines()
    revive_node(old)
    assert masterd_running(old)
    assert answering_master(vc) == new


def test_nothing_acknowledged_is_lost_over_ten_failovers(vc: VCluster) -> None:
    rng = random.Random(int(os.environ.get("CORRAL_FAILOVER_SEED", time.time())))
    masters = []
    with Clients(vc, 4) as clients:
        for _ in range(ROUNDS):
            old = wait_for_master(vc, TAKEOVER_BOUND)
            time.sleep(rng.uniform(0.2, 2.0))
            kill_node(old)
            new = wait_for_master(vc, TAKEOVER_BOUND, other_than=old.name)
            masters.append(new.name)
            revive_node(old)
        time.sleep(1.0)
    master = wait_for_master(vc, TAKEOVER_BOUND)
    assert len(clients.acked.jobs) > ROUNDS
    assert len(clients.acked.tags) > ROUNDS
    assert missing_on(master, clients.acked) == ([], [])
    assert len(set(masters)) >= 2


def wait_until_serving(vc: VCluster, seconds: float) -> VNode:
    """The master, once it runs jobs (a new master's candidates may still be catching up
    with its job queue, and it refuses jobs a majority does not hold until then)."""
    deadline = time.monotonic() + seconds
    while True:
        master = wait_for_master(vc, TAKEOVER_BOUND)
        try:
            if run_job(master, NOOP) == "success":
                return master
        except LuxiRemoteError:
            if time.monotonic() > deadline:
                raise
        time.sleep(0.5)


def test_etcd_member_loss(vc: VCluster) -> None:
    master = wait_until_serving(vc, 60.0)
    etcd = EtcdCluster.load(Path(vc.directory) / ETCD_DIR)
    assert etcd is not None
    leader = etcd.leader_index()
    first = leader if leader is not None else 0
    etcd.kill_member(first)
    deadline = time.monotonic() + 2 * TTL  # past a whole lease TTL: the master keeps serving
    while time.monotonic() < deadline:
        assert run_job(master, NOOP) == "success"
    assert answering_master(vc) == master
    etcd.kill_member(next(i for i in range(3) if i != first))
    deadline = time.monotonic() + TAKEOVER_BOUND
    while masterd_running(master):
        assert time.monotonic() < deadline, "the master did not step down"
        time.sleep(0.1)
    log = layout(master).log_file("corral-masterd").read_text()
    assert "master lease lost" in log
    deadline = time.monotonic() + 3 * TTL  # several TTLs: nobody else becomes master
    while time.monotonic() < deadline:
        assert answering_master(vc) is None
        time.sleep(0.2)
    assert all(masterd_running(n) for n in vc.nodes if n.name != master.name)
