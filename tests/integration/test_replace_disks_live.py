"""replace-disks and ``gnt-node evacuate -s`` of drbd instances on the virtual cluster
(DRBD and LVM simulators, fake hypervisor): the secondary half moves to a new node
(``-n``), is rebuilt in place (``-s``, also with Ganeti's own client), the primary's
half too (``-p``, the instance running); the data reaches each new copy, and the old
volumes are gone."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from corral.daemons.drbd_simulation import STATE_FILE
from corral.testing.drbd_model import (
    CONNECTED,
    UP_TO_DATE,
    DrbdState,
    disk_state,
    locked_state,
    settle,
)
from corral.vcluster.cluster import drbd_simulation_dir
from tests.integration.conftest import LiveCluster
from tests.integration.ganeti_cli import GanetiCli

MARKER = b"acknowledged-before-replace-disks"
OFFSET = 3 * 1024 * 1024


def _state(live: LiveCluster) -> DrbdState:
    """The simulator's shared state, brought to now (as every node's reads do)."""
    path: Path = drbd_simulation_dir(live.vc.master) / STATE_FILE
    with locked_state(path) as state:
        settle(state, time.time())
        return state


def _gnt(live: LiveCluster, tool: str, *args: str) -> str:
    result = live.gnt(tool, *args, timeout=180)
    assert result.code == 0, f"{tool} {args}\n{result.stdout}\n{result.stderr}"
    return result.stdout


def _minors(live: LiveCluster, name: str) -> dict[str, tuple[int, str, str]]:
    """node → (minor, role, peer) of the instance's disk/0, from ``gnt-node list-drbd``."""
    found = {}
    for node in ("node1", "node2", "node3"):
        out = _gnt(live, "gnt-node", "list-drbd", "--no-headers", "--separator=|", node)
        for row in (line.split("|") for line in out.splitlines()):
            if row[2] == name and row[3] == "disk/0":
                found[node] = (int(row[1]), row[4], row[5])
    return found


def _check_in_sync(live: LiveCluster, name: str, primary: str, secondary: str) -> None:
    """Both sides connected and UpToDate, and the secondary's copy holds the marker."""
    minors = _minors(live, name)
    assert minors.keys() == {primary, secondary}, minors
    assert minors[secondary][1:] == ("secondary", primary)
    state = _state(live)
    sides = [state.minors(node)[minors[node][0]] for node in (primary, secondary)]
    assert [(m.conn, disk_state(state, m)) for m in sides] == [(CONNECTED, UP_TO_DATE)] * 2
    copy = sides[1].disk
    assert copy is not None
    with open(copy, "rb") as handle:
        handle.seek(OFFSET)
        assert handle.read(len(MARKER)) == MARKER


def _wait_in_sync(live: LiveCluster, name: str, timeout: float = 60.0) -> None:
    """Until the initial resync of a new instance is over (both sides UpToDate)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        minors = _minors(live, name)
        state = _state(live)
        sides = [state.minors(node).get(minor) for node, (minor, _, _) in minors.items()]
        if all(m is not None and disk_state(state, m) == UP_TO_DATE for m in sides):
            return
        time.sleep(0.5)
    raise AssertionError(f"{name}: disks still resyncing after {timeout} s")


def _write_marker(live: LiveCluster, name: str, node: str) -> None:
    minor = _minors(live, name)[node][0]
    disk = _state(live).minors(node)[minor].disk
    assert disk is not None
    with open(disk, "r+b") as handle:
        handle.seek(OFFSET)
        handle.write(MARKER)


def _volumes(live: LiveCluster, node: str) -> list[str]:
    out = _gnt(live, "gnt-node", "volumes", "--no-headers", "--separator=|", "-o", "name",
               node)
    return out.split()


@pytest.fixture
def drbd_instance(live: LiveCluster) -> Iterator[str]:
    """A running drbd instance on node1:node2 with a marker written on its primary."""
    name = "rd1"
    _gnt(live, "gnt-instance", "add", "-t", "drbd", "--disk", "0:size=256M", "-o", "noop",
         "-H", "fake", "--no-nics", "-n", "node1:node2", "--no-ip-check", "--no-name-check",
         name)
    try:
        _write_marker(live, name, "node1")
        yield name
    finally:
        removed = live.gnt("gnt-instance", "remove", "-f", name, timeout=180)
        assert removed.code == 0, removed.stderr


def test_new_secondary_then_rebuild_in_place(live: LiveCluster, drbd_instance: str) -> None:
    name = drbd_instance
    old_lvs = [v for v in _volumes(live, "node2") if ".disk0_" in v]
    assert len(old_lvs) == 2
    out = _gnt(live, "gnt-instance", "replace-disks", "-n", "node3", name)
    assert "STEP 3/6 Allocate new storage" in out
    assert re.search(r"- device disk/0: +\d+\.\d\d% done, ", out), out
    assert "STEP 6/6 Removing old storage" in out
    _check_in_sync(live, name, "node1", "node3")
    assert [v for v in _volumes(live, "node2") if v in old_lvs] == []
    assert sorted(v for v in _volumes(live, "node3") if ".disk0_" in v) == sorted(old_lvs)
    info = _gnt(live, "gnt-instance", "info", name)
    assert re.search(r"secondaries: node3 \(group ", info), info

    out = _gnt(live, "gnt-instance", "replace-disks", "-s", name)
    assert "Renaming the new LVs on the target node" in out
    _check_in_sync(live, name, "node1", "node3")
    volumes = _volumes(live, "node3")
    assert [v for v in volumes if "_replaced-" in v] == []
    assert sorted(v for v in volumes if ".disk0_" in v) == sorted(old_lvs)

    out = _gnt(live, "gnt-instance", "replace-disks", "-p", name)
    assert "Adding new mirror component on node1" in out
    _check_in_sync(live, name, "node1", "node3")
    state = _state(live)
    primary = state.minors("node1")[_minors(live, name)["node1"][0]].disk
    assert primary is not None
    with open(primary, "rb") as handle:
        handle.seek(OFFSET)
        assert handle.read(len(MARKER)) == MARKER, "the primary's new copy came from node3"
    assert [v for v in _volumes(live, "node1") if "_replaced-" in v] == []


def test_evacuate_secondaries_of_a_node(live: LiveCluster, drbd_instance: str) -> None:
    name = drbd_instance
    out = live.gnt("gnt-node", "evacuate", "-f", "-s", "node2", timeout=180)
    assert out.code == 0, out.stdout + out.stderr
    _check_in_sync(live, name, "node1", "node3")
    assert "node2" not in _minors(live, name)


def test_ganetis_client_replaces_disks(live: LiveCluster, ganeti: GanetiCli,
                                       drbd_instance: str) -> None:
    _wait_in_sync(live, drbd_instance)
    result = ganeti.run("gnt-instance", "replace-disks", "-s", drbd_instance)
    assert "Traceback" not in result.output, result.output
    assert result.code == 0, result.output
    assert "STEP 6/6 Removing old storage" in result.output
    _check_in_sync(live, drbd_instance, "node1", "node2")
