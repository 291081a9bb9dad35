"""gnt-cluster master-failover on a fresh 3-node virtual cluster, with real daemons.

The tests run in order on one cluster: node1 -> node2 with every node up; the old master's
master daemon refuses to start (exit 11); node2 dies and node1 takes over by vote; a stale
candidate is refused; node1 dies and node2 takes over with --no-voting --yes-do-it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from corral import serde
from corral.daemon_control import MASTERD_MATCH, daemon_pid, read_pid_file
from corral.layout import NodeLayout
from corral.luxi.client import Client, wait_for_job
from corral.vcluster import cluster
from corral.vcluster.cluster import VCluster, VNode
from tests.integration.conftest import VENV_BIN, RunResult

PORT = 18130
DELAY = {"OP_ID": "OP_TEST_DELAY", "on_master": True, "on_nodes": []}


@pytest.fixture(scope="module")
def vc() -> Iterator[VCluster]:
    directory = Path(tempfile.mkdtemp(prefix="corral-failover-")) / "vc"
    try:
        yield cluster.up(directory, 3, feedback=lambda _msg: None, port=PORT)
    finally:
        cluster.down(directory, feedback=lambda _msg: None)
        directory.parent.rmdir()


def _env(node: VNode) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "CORRAL_LUXI"}
    return {**env, "CORRAL_ROOT": node.root}


def gnt(node: VNode, tool: str, *args: str, timeout: float = 120) -> RunResult:
    """Run a gnt-* command on ``node`` (its root, its LUXI socket)."""
    proc = subprocess.run([str(VENV_BIN / tool), *args], capture_output=True, text=True,
                          env=_env(node), timeout=timeout, check=False)
    return RunResult(proc.returncode, proc.stdout, proc.stderr)


def client(node: VNode) -> Client:
    return Client(str(NodeLayout(Path(node.root)).luxi_socket))


def masterd_pid(node: VNode) -> int | None:
    return daemon_pid(NodeLayout(Path(node.root)).pid_file("corral-masterd"), MASTERD_MATCH)


def kill_node(node: VNode) -> None:
    """SIGKILL every daemon of ``node`` (as a node that dies)."""
    layout = NodeLayout(Path(node.root))
    for daemon in ("corral-masterd", "corral-noded"):
        pid = read_pid_file(layout.pid_file(daemon))
        if pid is not None:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def revive_node(node: VNode) -> None:
    cluster.start_noded(node)
    cluster.wait_until_listening(node)


def run_masterd(node: VNode) -> subprocess.CompletedProcess[str]:
    """The master daemon of ``node`` in the foreground, as an administrator would start it."""
    argv = [sys.executable, "-m", "corral.daemons.masterd", "--root", node.root, "-f",
            "--no-rapi", "--vote-interval", "0.2", "--vote-retries", "2"]
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)


def submit(node: VNode, *ops: dict[str, Any]) -> int:
    with client(node) as c:
        return int(c.SubmitJob([dict(op) for op in ops]))


def finished(node: VNode, job_id: int) -> tuple[str, Any]:
    with client(node) as c:
        status, _, result = wait_for_job(c, job_id)
    return status, result


def replica_job(node: VNode, job_id: int) -> dict[str, Any] | None:
    path = NodeLayout(Path(node.root)).queue_dir / f"job-{job_id}"
    try:
        doc: dict[str, Any] = serde.loads(path.read_bytes())
    except (OSError, ValueError):
        return None
    return doc


def wait_replica_status(node: VNode, job_id: int, status: str) -> None:
    deadline = time.monotonic() + 30
    while (doc := replica_job(node, job_id)) is None or doc["ops"][0]["status"] != status:
        assert time.monotonic() < deadline, f"job {job_id} never {status} on {node.name}"
        time.sleep(0.05)


def assert_master_everywhere(nodes: list[VNode], master: str) -> None:
    for node in nodes:
        shown = gnt(node, "gnt-cluster", "getmaster")
        assert (shown.code, shown.stdout.strip()) == (0, master), (node.name, shown)


def test_failover_with_all_nodes_up(vc: VCluster) -> None:
    node1, node2, _ = vc.nodes
    done = submit(node1, {**DELAY, "duration": 0.01})
    assert finished(node1, done)[0] == "success"
    assert gnt(node1, "gnt-cluster", "add-tags", "before-failover").code == 0
    assert gnt(node1, "gnt-cluster", "modify", "--max-running-jobs", "1").code == 0
    running = submit(node1, {**DELAY, "duration": 60.0})
    queued = submit(node1, {**DELAY, "duration": 0.01})
    wait_replica_status(node2, running, "running")
    wait_replica_status(node2, queued, "queued")

    result = gnt(node2, "gnt-cluster", "master-failover")
    assert result.code == 0, result.stderr
    assert_master_everywhere(vc.nodes, "node2")
    assert masterd_pid(node1) is None
    assert gnt(node2, "gnt-cluster", "master-ping").code == 0
    assert gnt(node1, "gnt-cluster", "master-ping").code == 1
    status, _ = finished(node2, done)
    assert status == "success"
    assert finished(node2, queued)[0] == "success"
    status, result_of_running = finished(node2, running)
    assert status == "error"
    assert "outcome is unknown" in str(result_of_running)
    tags = gnt(node2, "gnt-cluster", "list-tags")
    assert "before-failover" in tags.stdout.split()
    env = subprocess.run([str(VENV_BIN / "corral"), "vcluster", "env", "--dir", vc.directory],
                         capture_output=True, text=True, check=True).stdout
    assert f"export CORRAL_ROOT={node2.root}" in env.splitlines()


def test_old_master_restarted_exits_11(vc: VCluster) -> None:
    started = run_masterd(vc.nodes[0])
    assert started.returncode == 11, started.stderr
    assert "not the master" in started.stderr


def test_failover_by_vote_with_the_old_master_dead(vc: VCluster) -> None:
    node1, node2, node3 = vc.nodes
    kill_node(node2)
    result = gnt(node1, "gnt-cluster", "master-failover")
    assert result.code == 0, result.stderr
    assert "Could not disable the master role on the old master node2" in result.stderr
    assert_master_everywhere([node1, node3], "node1")
    assert "before-failover" in gnt(node1, "gnt-cluster", "list-tags").stdout.split()
    revive_node(node2)
    again = run_masterd(node2)
    assert again.returncode == 11, again.stderr
    assert "Not master" in again.stderr or "not the master" in again.stderr


def test_stale_candidate_refused(vc: VCluster) -> None:
    node1, _, node3 = vc.nodes
    kill_node(node3)
    tagged = gnt(node1, "gnt-cluster", "add-tags", "node3-misses-this")
    assert tagged.code == 0, tagged.stderr
    kill_node(node1)
    revive_node(node3)
    refused = gnt(node3, "gnt-cluster", "master-failover", "--no-voting", "--yes-do-it")
    assert refused.code != 0
    assert "is older than the one of node2" in refused.stderr
    assert masterd_pid(node3) is None


def test_no_voting_failover_with_the_master_dead(vc: VCluster) -> None:
    _, node2, node3 = vc.nodes
    result = gnt(node2, "gnt-cluster", "master-failover", "--no-voting", "--yes-do-it")
    assert result.code == 0, result.stderr
    assert_master_everywhere([node2, node3], "node2")
    assert "node3-misses-this" in gnt(node2, "gnt-cluster", "list-tags").stdout.split()
    job = submit(node2, {**DELAY, "duration": 0.01})
    assert finished(node2, job)[0] == "success"
