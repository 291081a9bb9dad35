"""drbd instances on the virtual cluster: ``gnt-instance add -t drbd`` through the master
to two node daemons running DRBD through the simulator, shutdown and startup, removal."""

from __future__ import annotations

import re
from pathlib import Path

from corral.daemons.drbd_simulation import STATE_FILE
from corral.testing.drbd_model import PRIMARY, SECONDARY, DrbdState, locked_state
from corral.vcluster.cluster import drbd_simulation_dir
from tests.integration.conftest import LiveCluster

NAME = "d1"


def _sim_state(live: LiveCluster) -> DrbdState:
    """The simulator's shared state as its nodes see it."""
    path: Path = drbd_simulation_dir(live.vc.master) / STATE_FILE
    with locked_state(path) as state:
        return state


def _gnt(live: LiveCluster, tool: str, *args: str) -> str:
    result = live.gnt(tool, *args, timeout=120)
    assert result.code == 0, f"{tool} {args}\n{result.stdout}\n{result.stderr}"
    return result.stdout


def _status(live: LiveCluster) -> str:
    return _gnt(live, "gnt-instance", "list", "--no-headers", "-o", "status", NAME).strip()


def _drbd_rows(live: LiveCluster, node: str) -> list[list[str]]:
    out = _gnt(live, "gnt-node", "list-drbd", "--no-headers", "--separator=|", node)
    return [line.split("|") for line in out.splitlines() if line.split("|")[2] == NAME]


def _roles(live: LiveCluster, minors: dict[str, int]) -> dict[str, str]:
    state = _sim_state(live)
    return {node: state.minors(node)[minor].role for node, minor in minors.items()
            if minor in state.minors(node)}


def test_drbd_instance_add_restart_remove(live: LiveCluster) -> None:
    before = _sim_state(live)
    _gnt(live, "gnt-instance", "add", "-t", "drbd", "--disk", "0:size=64M", "-o", "noop",
         "-H", "fake", "--no-nics", "-n", "node2:node3", "--no-ip-check", "--no-name-check",
         NAME)
    try:
        assert _status(live) == "running"
        [primary_row] = _drbd_rows(live, "node2")
        [secondary_row] = _drbd_rows(live, "node3")
        assert primary_row[3:] == ["disk/0", "primary", "node3"]
        assert secondary_row[3:] == ["disk/0", "secondary", "node2"]
        minors = {"node2": int(primary_row[1]), "node3": int(secondary_row[1])}
        assert _roles(live, minors) == {"node2": PRIMARY, "node3": SECONDARY}
        info = _gnt(live, "gnt-instance", "info", NAME)
        assert re.search(r"primary: node2$", info, re.M), info
        assert re.search(r"secondaries: node3 \(group ", info), info
        for side, node in (("primary", "node2"), ("secondary", "node3")):
            assert re.search(rf"on {side}: \S+/drbd{minors[node]} ", info), info

        _gnt(live, "gnt-instance", "shutdown", NAME)
        assert _status(live) == "ADMIN_down"
        assert _roles(live, minors) == {}, "the minors stay configured after shutdown"
        _gnt(live, "gnt-instance", "startup", NAME)
        assert _status(live) == "running"
        assert _roles(live, minors) == {"node2": PRIMARY, "node3": SECONDARY}
        created = _sim_state(live)
    finally:
        removed = live.gnt("gnt-instance", "remove", "-f", NAME, timeout=120)
    assert removed.code == 0, removed.stderr
    assert _drbd_rows(live, "node2") == []
    assert _drbd_rows(live, "node3") == []
    after = _sim_state(live)
    for node, minor in minors.items():
        assert minor not in after.minors(node), (node, after.minors(node))
        assert after.resources.get(node, []) == before.resources.get(node, [])
    new_meta = set(created.meta) - set(before.meta)
    assert len(new_meta) == 2, "creation initialised DRBD metadata on both nodes"
    assert not new_meta & set(after.meta), sorted(new_meta & set(after.meta))
    assert not [path for path in new_meta if Path(path).exists()], "meta LVs removed"
