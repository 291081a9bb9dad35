"""A 3-node virtual cluster seen through the CLI and LUXI."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

from corral.config.store import ConfigStore
from corral.layout import NodeLayout
from tests.integration.conftest import LiveCluster


def test_node_list_shows_three_nodes_with_roles(live: LiveCluster) -> None:
    result = live.gnt("gnt-node", "list", "--no-headers", "-o", "name,role,pip", "--separator=|")
    assert result.code == 0, result.stderr
    rows = [line.split("|") for line in result.stdout.splitlines()]
    assert rows == [
        ["node1", "M", "127.0.0.11"],
        ["node2", "C", "127.0.0.12"],
        ["node3", "C", "127.0.0.13"],
    ]


def test_default_node_list_has_live_memory(live: LiveCluster) -> None:
    result = live.gnt("gnt-node", "list", "--units=m", "--separator=|")
    assert result.code == 0, result.stderr
    header, *rows = result.stdout.splitlines()
    assert header.split("|") == [
        "Node",
        "DTotal",
        "DFree",
        "MTotal",
        "MNode",
        "MFree",
        "Pinst",
        "Sinst",
    ]
    for row in rows:
        mtotal = row.split("|")[3]
        assert int(mtotal) > 0


def test_cluster_verify_passes(live: LiveCluster) -> None:
    result = live.gnt("gnt-cluster", "verify")
    assert result.code == 0, result.stdout + result.stderr
    assert "ERROR" not in result.stdout


def test_getmaster_and_info(live: LiveCluster) -> None:
    assert live.gnt("gnt-cluster", "getmaster").stdout.strip() == "node1"
    info = live.gnt("gnt-cluster", "info")
    assert info.code == 0
    assert "Cluster name: cluster.vcluster" in info.stdout


def test_config_and_ssconf_replicated_to_candidates(live: LiveCluster) -> None:
    assert live.gnt("gnt-cluster", "add-tags", "replicated-tag").code == 0
    serials = []
    for node in live.vc.nodes:
        store = ConfigStore(NodeLayout(Path(node.root)).config_db)
        data = store.load()
        store.close()
        assert data is not None
        assert "replicated-tag" in data.cluster.tags
        serials.append(data.serial_no)
    assert len(set(serials)) == 1
    node3 = NodeLayout(Path(live.vc.nodes[2].root))
    assert node3.ssconf_file("master_node").read_text() == "node1"
    # ssconf follows configuration commits in the background
    assert _eventually(lambda: node3.ssconf_file("cluster_tags").read_text() == "replicated-tag")
    assert node3.ssconf_file("node_list").read_text().splitlines() == ["node1", "node2", "node3"]
    assert live.gnt("gnt-cluster", "remove-tags", "replicated-tag").code == 0


def _eventually(predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


def test_job_files_replicated_in_ganeti_shape(live: LiveCluster) -> None:
    with live.client() as client:
        job_id = client.SubmitJob([{"OP_ID": "OP_TEST_DELAY", "duration": 0.01, "on_master": True}])
    result = live.gnt("gnt-job", "wait", str(job_id))
    assert result.code == 0
    replica = NodeLayout(Path(live.vc.nodes[1].root)).queue_dir / f"job-{job_id}"
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        data = json.loads(replica.read_text())
        if data["ops"][0]["status"] == "success":
            break
        time.sleep(0.05)
    assert data["id"] == job_id
    assert data["ops"][0]["input"]["OP_ID"] == "OP_TEST_DELAY"
    assert data["ops"][0]["status"] == "success"


def test_group_lifecycle(live: LiveCluster) -> None:
    assert live.gnt("gnt-group", "add", "rack2").code == 0
    assert live.gnt("gnt-group", "assign-nodes", "rack2", "node3").code == 0
    listing = live.gnt("gnt-node", "list", "--no-headers", "-o", "name,group", "--separator=|")
    assert "node3|rack2" in listing.stdout.splitlines()
    refused = live.gnt("gnt-group", "remove", "rack2")
    assert refused.code != 0
    assert live.gnt("gnt-group", "assign-nodes", "default", "node3").code == 0
    assert live.gnt("gnt-group", "rename", "rack2", "rack3").code == 0
    assert live.gnt("gnt-group", "remove", "rack3").code == 0
    groups = live.gnt("gnt-group", "list", "--no-headers", "-o", "name")
    assert groups.stdout.split() == ["default"]


def test_drain_flag_refuses_jobs(live: LiveCluster) -> None:
    assert live.gnt("gnt-cluster", "queue", "drain").code == 0
    try:
        refused = live.gnt("gnt-debug", "delay", "0.01")
        assert refused.code != 0
        assert "drain" in refused.stderr.lower()
        assert "drain flag is set" in live.gnt("gnt-cluster", "queue", "info").stdout
    finally:
        assert live.gnt("gnt-cluster", "queue", "undrain").code == 0
    assert live.gnt("gnt-debug", "delay", "0.01").code == 0
