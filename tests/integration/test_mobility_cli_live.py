"""Corral's mobility commands against the live 3-node cluster, with fake-hypervisor instances.

Diskless instances are on shared storage (every node sees their disks): they migrate and
fail over to any node of their group, which is what these tests use.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from tests.integration.conftest import LiveCluster, RunResult

INSTANCE = "mob-fake"
TIMESTAMP = r"^\w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4} "


def gnt(live: LiveCluster, tool: str, *args: str, code: int = 0) -> RunResult:
    result = live.gnt(tool, *args, timeout=120)
    assert "Traceback" not in result.stdout + result.stderr, result.stderr
    assert result.code == code, result.stdout + result.stderr
    return result


def placement(live: LiveCluster, name: str) -> tuple[str, str]:
    """(primary node, status) of an instance."""
    out = gnt(live, "gnt-instance", "list", "--no-headers", "-o", "pnode,status", name).stdout
    pnode, status = out.split()
    return pnode, status


def add_fake(live: LiveCluster, name: str, node: str) -> None:
    gnt(live, "gnt-instance", "add", "-t", "diskless", "-o", "busybox+default", "-H", "fake",
        "-n", node, "--no-ip-check", "--no-name-check", name)


def role(live: LiveCluster, node: str) -> str:
    out = gnt(live, "gnt-node", "list", "--no-headers", "-o", "role", node).stdout
    return out.strip()


def undrain(live: LiveCluster, node: str) -> None:
    live.gnt("gnt-node", "modify", "--drained=no", node)
    if role(live, node) == "R":
        live.gnt("gnt-node", "modify", "--master-candidate=yes", node)


@pytest.fixture
def fake(live: LiveCluster) -> Iterator[str]:
    """A running fake, diskless instance on node1."""
    add_fake(live, INSTANCE, "node1")
    try:
        yield INSTANCE
    finally:
        live.gnt("gnt-instance", "remove", "-f", INSTANCE)


def test_migrate_and_failover(live: LiveCluster, fake: str) -> None:
    out = gnt(live, "gnt-instance", "migrate", "-f", "-n", "node2", fake).stdout
    assert re.search(TIMESTAMP, out, re.M), out  # the job's log, as it ran
    assert placement(live, fake) == ("node2", "running")
    gnt(live, "gnt-instance", "migrate", "-f", "--non-live", "-n", "node3", fake)
    assert placement(live, fake) == ("node3", "running")
    gnt(live, "gnt-instance", "failover", "-f", "-n", "node1", fake)
    assert placement(live, fake) == ("node1", "running")
    gnt(live, "gnt-instance", "migrate", "-f", "--cleanup", fake)
    assert placement(live, fake) == ("node1", "running")


def test_migrate_dry_run_and_submit(live: LiveCluster, fake: str) -> None:
    gnt(live, "gnt-instance", "migrate", "-f", "--dry-run", "-n", "node2", fake)
    assert placement(live, fake) == ("node1", "running")
    sent = gnt(live, "gnt-instance", "migrate", "-f", "--submit", "-n", "node2", fake)
    found = re.fullmatch(r"JobID: (\d+)\n", sent.stderr)
    assert found, sent.stderr
    gnt(live, "gnt-job", "wait", found.group(1))
    assert placement(live, fake) == ("node2", "running")


def test_migrate_errors(live: LiveCluster, fake: str) -> None:
    err = gnt(live, "gnt-instance", "migrate", "-f", "no-such-instance", code=1).stderr
    assert err.startswith("Failure: prerequisites not met for this operation:\n"
                          "error type: unknown_entity, error details:\n")
    err = gnt(live, "gnt-instance", "migrate", "-f", "-n", "node1", fake, code=1).stderr
    assert err.startswith("Failure: prerequisites not met for this operation:\n")
    err = gnt(live, "gnt-instance", "migrate", "-f", "--non-live", "--migration-mode=live",
              fake, code=1).stderr
    assert "Only one of the --non-live and --migration-mode options can be passed" in err
    assert placement(live, fake) == ("node1", "running")


def test_node_migrate_with_drain(live: LiveCluster) -> None:
    names = ["mob-fake2", "mob-fake3"]
    for name in names:
        add_fake(live, name, "node2")
    try:
        out = gnt(live, "gnt-node", "migrate", "-f", "--drain", "-n", "node3", "node2").stdout
        lines = out.splitlines()
        assert "Node node2 is now drained" in lines
        assert re.search(r"^Submitted jobs \d+, \d+$", out, re.M), out
        assert lines[-1] == "All instances migrated successfully."
        assert role(live, "node2") == "D"
        assert [placement(live, name) for name in names] == [("node3", "running")] * 2
        out = gnt(live, "gnt-node", "migrate", "-f", "node2").stdout
        assert out == "No primary instances on node node2, exiting.\n"
    finally:
        undrain(live, "node2")
        for name in names:
            live.gnt("gnt-instance", "remove", "-f", name)
    err = gnt(live, "gnt-node", "migrate", "-f", "--drain", "node1", code=1).stderr
    assert "The master role can be changed only via master-failover" in err


def test_node_failover_and_evacuate(live: LiveCluster, fake: str) -> None:
    result = gnt(live, "gnt-node", "failover", "-f", "node1")
    lines = result.stdout.splitlines()
    assert lines[-1] == "All 1 instance(s) failed over successfully.", result.stdout
    assert f"Waiting for job {lines[0].split()[-1]} for {fake} ..." in lines
    pnode, status = placement(live, fake)
    assert (pnode != "node1", status) == (True, "running")
    out = gnt(live, "gnt-node", "evacuate", "-f", "--primary-only", pnode).stdout
    assert out.splitlines()[-1] == "All instances evacuated successfully."
    assert placement(live, fake)[0] != pnode
    empty = gnt(live, "gnt-node", "evacuate", "-f", pnode)
    assert empty.stderr == f"No instances to evacuate on node(s) {pnode}, exiting.\n"


@pytest.fixture
def second_group(live: LiveCluster) -> Iterator[str]:
    """Group ``mob-g2`` holding node3 (node1 and node2 stay in ``default``)."""
    gnt(live, "gnt-group", "add", "mob-g2")
    try:
        gnt(live, "gnt-group", "assign-nodes", "mob-g2", "node3")
        yield "mob-g2"
    finally:
        live.gnt("gnt-group", "assign-nodes", "default", "node3")
        live.gnt("gnt-group", "remove", "mob-g2")


def test_change_group_and_group_evacuate(live: LiveCluster, fake: str,
                                         second_group: str) -> None:
    out = gnt(live, "gnt-instance", "change-group", "--to", second_group, fake).stdout
    lines = out.splitlines()
    assert re.search(r"^Submitted jobs \d+$", out, re.M), out
    assert lines[-1] == f"Instance '{fake}' changed group successfully."
    assert placement(live, fake) == ("node3", "running")
    out = gnt(live, "gnt-group", "evacuate", "--to", "default", second_group).stdout
    assert out.splitlines()[-1] == "All instances evacuated successfully."
    pnode, status = placement(live, fake)
    assert (pnode in ("node1", "node2"), status) == (True, "running")
    err = gnt(live, "gnt-group", "evacuate", "no-such-group", code=1).stderr
    assert err.startswith("Failure: prerequisites not met for this operation:\n")


def test_move_file_instance(live: LiveCluster) -> None:
    name = "mob-file"
    gnt(live, "gnt-instance", "add", "-t", "file", "--disk", "0:size=16M", "-o",
        "busybox+default", "-H", "fake", "-n", "node1", "--no-ip-check", "--no-name-check", name)
    try:
        out = gnt(live, "gnt-instance", "move", "-f", "-n", "node2", "--compress", "gzip",
                  name).stdout
        assert re.search(TIMESTAMP, out, re.M), out
        assert placement(live, name) == ("node2", "running")
        err = gnt(live, "gnt-instance", "move", "-f", "-n", "node2", name, code=1).stderr
        assert err.startswith("Failure: prerequisites not met for this operation:\n")
        err = gnt(live, "gnt-instance", "move", "-f", name, code=1).stderr
        assert "A target node must be given (-n/--node)" in err
    finally:
        live.gnt("gnt-instance", "remove", "-f", name)
