"""Master candidates and fencing on a real cluster: candidates hold the CA key and the
RAPI certificate (secrets 0600) and verify says when one is behind; once the nodes
have seen a later master term, the old master can neither start, stop nor write
anything anywhere, and still reads."""

from __future__ import annotations

import asyncio
import os
import signal
import stat
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from corral.daemon_control import NODED_MATCH, daemon_pid
from corral.layout import NodeLayout
from corral.rpc import tls
from corral.rpc.client import NodeTarget, RpcClient
from corral.vcluster import cluster
from tests.integration.conftest import OWN_CLUSTER_PORT, LiveCluster, RunResult

FENCED = "fenced: master epoch 1 is older than 2"


@pytest.fixture(scope="module")
def own() -> Iterator[LiveCluster]:
    directory = Path(tempfile.mkdtemp(prefix="corral-fence-")) / "vc"
    try:
        yield LiveCluster(cluster.up(directory, 3, feedback=lambda _msg: None,
                                     port=OWN_CLUSTER_PORT))
    finally:
        cluster.down(directory, feedback=lambda _msg: None)
        directory.parent.rmdir()


def _ok(live: LiveCluster, tool: str, *args: str) -> str:
    result = live.gnt(tool, *args)
    assert result.code == 0, result.stderr
    return result.stdout


def _fenced(result: RunResult) -> bool:
    return result.code != 0 and FENCED in result.stdout + result.stderr


def _targets(live: LiveCluster) -> list[NodeTarget]:
    return [NodeTarget(n.name, n.address, n.port) for n in live.vc.nodes]


def _call(live: LiveCluster, name: str, *args: object) -> dict[str, object]:
    """``name`` on every node with the cluster certificate (and no epoch header)."""
    async def run() -> dict[str, object]:
        async with RpcClient(tls.client_ssl_context(NodeLayout(live.master_root))) as rpc:
            results = await rpc.call(name, _targets(live), *args)
        assert all(r.ok for r in results.values()), results
        return {node: r.payload for node, r in results.items()}

    return asyncio.run(run())


def _oper_states(live: LiveCluster) -> list[str]:
    return _ok(live, "gnt-instance", "list", "--no-headers", "--separator=|",
               "-o", "name,oper_state").split()


def _layout(live: LiveCluster, name: str) -> NodeLayout:
    return NodeLayout(Path(next(n.root for n in live.vc.nodes if n.name == name)))


def test_candidates_hold_what_a_new_master_needs(own: LiveCluster) -> None:
    master = NodeLayout(own.master_root)
    for name in ("node2", "node3"):
        layout = _layout(own, name)
        for path, mine in zip((*layout.candidate_files, layout.rapi_users_file),
                              (*master.candidate_files, master.rapi_users_file), strict=True):
            assert path.read_bytes() == mine.read_bytes(), path
        for path in layout.secret_files:
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    _ok(own, "gnt-cluster", "verify")
    _layout(own, "node3").ca_key.unlink()
    stale = own.gnt("gnt-cluster", "verify")
    assert stale.code != 0
    assert "File /var/lib/corral/crypto/ca-key.pem is missing from node(s) node3" in stale.stdout
    _ok(own, "gnt-cluster", "redist-conf")
    _ok(own, "gnt-cluster", "verify")
    _ok(own, "gnt-node", "modify", "-C", "no", "node3")
    assert [p for p in _layout(own, "node3").candidate_files if p.exists()] == []
    _ok(own, "gnt-node", "modify", "-C", "yes", "node3")
    assert stat.S_IMODE(_layout(own, "node3").ca_key.stat().st_mode) == 0o600
    _ok(own, "gnt-cluster", "verify")


def test_old_master_cannot_act_after_a_new_term(own: LiveCluster) -> None:
    add = ("-t", "diskless", "-o", "busybox+default", "-H", "fake", "--no-ip-check",
           "--no-name-check")
    _ok(own, "gnt-instance", "add", *add, "-n", "node2", "fence1")
    _ok(own, "gnt-instance", "add", *add, "--no-start", "-n", "node3", "fence2")
    serials = _call(own, "config_serial")
    assert _call(own, "master_epoch_announce", 2) == dict.fromkeys(["node1", "node2", "node3"], 2)

    for action in (("gnt-instance", "shutdown", "fence1"), ("gnt-instance", "startup", "fence2"),
                   ("gnt-cluster", "add-tags", "fenced-tag"),
                   ("gnt-instance", "reboot", "fence1")):
        result = own.gnt(*action)
        assert _fenced(result), (action, result)

    assert _oper_states(own) == ["fence1|Y", "fence2|N"]
    assert "node2" in _ok(own, "gnt-node", "list", "-o", "name,mfree")
    assert _call(own, "config_serial") == serials
    assert "fenced-tag" not in _ok(own, "gnt-cluster", "list-tags")
    for node in own.vc.nodes:
        assert (NodeLayout(Path(node.root)).data_dir / "master-epoch").read_text() == "2\n"


def test_a_restarted_node_still_knows_the_epoch(own: LiveCluster) -> None:
    node2 = own.vc.nodes[1]
    pid_file = NodeLayout(Path(node2.root)).pid_file("corral-noded")
    pid = daemon_pid(pid_file, NODED_MATCH)
    assert pid is not None
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 15
    while daemon_pid(pid_file, NODED_MATCH) is not None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert daemon_pid(pid_file, NODED_MATCH) is None, "node2's daemon did not stop"
    assert cluster.start_noded(node2) != pid
    cluster.wait_until_listening(node2)
    assert _call(own, "master_epoch") == dict.fromkeys(["node1", "node2", "node3"], 2)
