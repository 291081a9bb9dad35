"""A cluster's whole life: nodes join and leave, roles change, the cluster is destroyed."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from corral.daemon_control import MASTERD_MATCH, NODED_MATCH, daemon_pid
from corral.layout import NodeLayout
from corral.vcluster import cluster
from tests.integration.conftest import OWN_CLUSTER_PORT, LiveCluster


def _wait_until_stopped(pid_file: Path, match: Sequence[str], timeout: float = 15) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if daemon_pid(pid_file, match) is None:
            return True
        time.sleep(0.05)
    return False


def test_remove_nodes_then_destroy() -> None:
    directory = Path(tempfile.mkdtemp(prefix="corral-life-")) / "vc"
    try:
        vc = cluster.up(directory, 3, feedback=lambda _msg: None, port=OWN_CLUSTER_PORT)
        live = LiveCluster(vc)
        offline = live.gnt("gnt-node", "modify", "-O", "yes", "--auto-promote", "node3")
        assert offline.code == 0, offline.stderr
        roles = live.gnt("gnt-node", "list", "--no-headers", "-o", "name,role", "--separator=|")
        assert roles.stdout.splitlines() == ["node1|M", "node2|C", "node3|O"]
        refused = live.gnt("gnt-cluster", "destroy", "--yes-do-it")
        assert refused.code != 0
        assert "still" in refused.stderr
        for name in ("node3", "node2"):
            removed = live.gnt("gnt-node", "remove", name)
            assert removed.code == 0, removed.stderr
        node2 = NodeLayout(Path(vc.nodes[1].root))
        assert _wait_until_stopped(node2.pid_file("corral-noded"), NODED_MATCH)
        assert not node2.node_cert.exists()
        destroyed = live.gnt("gnt-cluster", "destroy", "--yes-do-it")
        assert destroyed.code == 0, destroyed.stderr
        master = NodeLayout(Path(vc.master.root))
        assert _wait_until_stopped(master.pid_file("corral-masterd"), MASTERD_MATCH)
        assert _wait_until_stopped(master.pid_file("corral-noded"), NODED_MATCH)
        assert not master.config_db.exists()
    finally:
        cluster.down(directory, feedback=lambda _msg: None)
        directory.parent.rmdir()
