"""A drbd instance moving between its two nodes on the virtual cluster (node daemons
running DRBD through the simulator, fake hypervisor): live migration to the secondary,
failover back, failover after its primary node died, and ``gnt-node migrate``."""

from __future__ import annotations

import time
from pathlib import Path

from corral.daemon_control import NODED_MATCH, daemon_pid
from corral.daemons.drbd_simulation import STATE_FILE
from corral.testing.drbd_model import PRIMARY, SECONDARY, crash, locked_state, settle
from corral.vcluster.cluster import drbd_simulation_dir
from tests.integration.conftest import LiveCluster
from tests.integration.test_migration_live import (
    NODED,
    _kill_noded,
    _layout,
    _restart_noded,
    _running_on,
    _state_file,
)

NAME = "dmob1"


def _gnt(live: LiveCluster, tool: str, *args: str) -> str:
    result = live.gnt(tool, *args, timeout=180)
    assert result.code == 0, f"{tool} {args}\n{result.stdout}\n{result.stderr}"
    return result.stdout


def _state_path(live: LiveCluster) -> Path:
    return drbd_simulation_dir(live.vc.master) / STATE_FILE


def _placement(live: LiveCluster) -> tuple[str, str, str]:
    out = _gnt(live, "gnt-instance", "list", "--no-headers", "--separator=|", "-o",
               "pnode,snodes,status", NAME)
    pnode, snodes, status = out.strip().split("|")
    return pnode, snodes, status


def _drbd_rows(live: LiveCluster, node: str) -> list[list[str]]:
    out = _gnt(live, "gnt-node", "list-drbd", "--no-headers", "--separator=|", node)
    return [line.split("|") for line in out.splitlines() if line.split("|")[2] == NAME]


def _minors(live: LiveCluster) -> dict[str, int]:
    """Node → the instance's minor there, from ``gnt-node list-drbd``."""
    return {node: int(rows[0][1]) for node in ("node2", "node3")
            if (rows := _drbd_rows(live, node))}


def _sides(live: LiveCluster) -> dict[str, tuple[str, str, bool]]:
    """Node → (role, connection state, split brain) of the instance's minors, settled."""
    minors = _minors(live)
    with locked_state(_state_path(live)) as state:
        settle(state, time.time())
        return {node: (m.role, m.conn, m.split_brain) for node, minor in minors.items()
                if (m := state.minors(node).get(minor)) is not None}


def _wait_in_sync(live: LiveCluster, timeout: float = 60) -> dict[str, tuple[str, str, bool]]:
    deadline = time.monotonic() + timeout
    while True:
        sides = _sides(live)
        if [conn for _, conn, _ in sides.values()] == ["Connected"] * 2:
            return sides
        assert time.monotonic() < deadline, sides
        time.sleep(0.2)


def _roles(sides: dict[str, tuple[str, str, bool]]) -> dict[str, str]:
    assert not any(split for _, _, split in sides.values()), sides
    return {node: role for node, (role, _, _) in sides.items()}


def _check_rows(live: LiveCluster, primary: str, secondary: str) -> None:
    [prow] = _drbd_rows(live, primary)
    [srow] = _drbd_rows(live, secondary)
    assert prow[3:] == ["disk/0", "primary", secondary]
    assert srow[3:] == ["disk/0", "secondary", primary]


def _node_died(live: LiveCluster, node: str) -> None:
    """``node`` crashes: its daemon killed by PID, its DRBD and its guest gone with it."""
    pid = _kill_noded(live, node)
    deadline = time.monotonic() + 15
    while daemon_pid(_layout(live, node).pid_file(NODED), NODED_MATCH) == pid:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    with locked_state(_state_path(live)) as state:
        crash(state, node)
    _state_file(live, node, NAME).unlink(missing_ok=True)


def test_drbd_instance_migrates_and_fails_over(live: LiveCluster) -> None:
    _gnt(live, "gnt-instance", "add", "-t", "drbd", "--disk", "0:size=64M", "-o", "noop",
         "-H", "fake", "--no-nics", "-n", "node2:node3", "--no-ip-check", "--no-name-check",
         NAME)
    dead = False
    try:
        assert _roles(_wait_in_sync(live)) == {"node2": PRIMARY, "node3": SECONDARY}

        out = _gnt(live, "gnt-instance", "migrate", "-f", NAME)
        for line in ("* changing disks into dual-master mode", "* memory transfer complete",
                     "* closing instance disks on node node2",
                     "* changing disks into single-master mode"):
            assert line in out, out
        assert _placement(live) == ("node3", "node2", "running")
        assert _running_on(live, NAME) == ["node3"]
        _check_rows(live, "node3", "node2")
        assert _roles(_wait_in_sync(live)) == {"node3": PRIMARY, "node2": SECONDARY}
        with locked_state(_state_path(live)) as state:
            nets = [m.net for node, minor in _minors(live).items()
                    if (m := state.minors(node).get(minor)) is not None]
        assert [net.get("allow-two-primaries") for net in nets] == [None, None], nets

        out = _gnt(live, "gnt-instance", "failover", "-f", NAME)
        assert "* checking disk consistency between source and target" in out, out
        assert _placement(live) == ("node2", "node3", "running")
        assert _running_on(live, NAME) == ["node2"]
        _check_rows(live, "node2", "node3")
        assert _roles(_wait_in_sync(live)) == {"node2": PRIMARY, "node3": SECONDARY}

        _node_died(live, "node2")
        dead = True
        _gnt(live, "gnt-node", "modify", "-O", "yes", "--auto-promote", "node2")
        out = _gnt(live, "gnt-instance", "failover", "-f", "--ignore-consistency", NAME)
        assert "Node node2 is offline, ignoring degraded disk 0 on target node node3" in out
        assert _placement(live) == ("node3", "node2", "running")
        assert _running_on(live, NAME) == ["node3"]
        _check_rows(live, "node3", "node2")
        sides = _sides(live)
        assert sides == {"node3": (PRIMARY, "WFConnection", False)}, sides

        _restart_noded(live, "node2")
        _gnt(live, "gnt-node", "modify", "-O", "no", "--force", "node2")
        dead = False
        _restart_noded(live, "node2")
        _gnt(live, "gnt-instance", "activate-disks", NAME)
        assert _roles(_wait_in_sync(live)) == {"node3": PRIMARY, "node2": SECONDARY}

        out = _gnt(live, "gnt-node", "migrate", "-f", "node3")
        assert out.splitlines()[-1] == "All instances migrated successfully.", out
        assert _placement(live) == ("node2", "node3", "running")
        assert _roles(_wait_in_sync(live)) == {"node2": PRIMARY, "node3": SECONDARY}
    finally:
        if dead:
            _restart_noded(live, "node2")
            live.gnt("gnt-node", "modify", "-O", "no", "--force", "node2", timeout=120)
            _restart_noded(live, "node2")
        removed = live.gnt("gnt-instance", "remove", "-f", NAME, timeout=180)
    assert removed.code == 0, removed.stderr
    assert _minors(live) == {}
