"""Mirrored disks on the virtual cluster (LVM and DRBD simulators): a plain instance
becomes drbd and plain again with its data, ``gnt-instance info`` shows the drbd disk
in sync, ``gnt-cluster verify-disks`` finds it degraded once the secondary's device is
disconnected, and the watcher brings a rebooted secondary's device back."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

from corral.daemons.drbd_simulation import STATE_FILE
from corral.layout import NodeLayout
from corral.storage.drbd import cmdgen
from corral.testing.drbd import DrbdSimulator
from corral.testing.drbd_model import STANDALONE, locked_state
from corral.vcluster.cluster import drbd_simulation_dir, lvm_simulation_dir
from tests.integration.conftest import VENV_BIN, LiveCluster

NAME = "conv1"
MARKER = b"corral conversion marker\n"
OFFSET = 5 * 1024 * 1024


def _gnt(live: LiveCluster, tool: str, *args: str) -> str:
    result = live.gnt(tool, *args, timeout=180)
    assert result.code == 0, f"{tool} {args}\n{result.stdout}\n{result.stderr}"
    return result.stdout


def _lv_file(live: LiveCluster, node: str, lv: str) -> Path:
    """The simulated LV's data file on ``node`` (what ``/dev/xenvg/<lv>`` holds)."""
    vnode = next(v for v in live.vc.nodes if v.name == node)
    return lvm_simulation_dir(vnode) / "dev" / ".lvm-simulator" / "xenvg" / lv


def _read(path: Path) -> bytes:
    with path.open("rb") as handle:
        handle.seek(OFFSET)
        return handle.read(len(MARKER))


def _plain_lv(live: LiveCluster) -> str:
    info = _gnt(live, "gnt-instance", "info", "--static", NAME)
    found = re.search(r"logical_id: xenvg/(\S+)", info)
    assert found, info
    return found.group(1)


def _state_path(live: LiveCluster) -> Path:
    return drbd_simulation_dir(live.vc.master) / STATE_FILE


def _drbd(live: LiveCluster, node: str, argv: list[str]) -> None:
    """One DRBD command on ``node``, answered by the simulator the node daemons share."""
    path = _state_path(live)
    result = DrbdSimulator(node, path, path.parent / "unused-dev").execute(argv)
    assert result.exit_code == 0, result


def _disconnect_secondary(live: LiveCluster, node: str) -> None:
    """``drbdsetup disconnect`` of every minor on ``node`` (it goes StandAlone)."""
    with locked_state(_state_path(live)) as state:
        links = [(m.local, m.remote) for m in state.minors(node).values() if m.local]
    assert links, f"no connected drbd minor on {node}"
    for local, remote in links:
        _drbd(live, node, ["drbdsetup", "disconnect", f"ipv4:{local}", f"ipv4:{remote}"])


def _watcher(live: LiveCluster) -> str:
    argv = [str(VENV_BIN / "corral-watcher"), "--debug", "--no-verify-disks", "--root",
            str(live.master_root)]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=180, check=False)
    assert proc.returncode == 0, proc.stderr
    return proc.stderr


def test_plain_to_drbd_and_back_keeps_the_data(live: LiveCluster) -> None:
    _gnt(live, "gnt-instance", "add", "-t", "plain", "--disk", "0:size=16M", "-o", "noop",
         "-H", "fake", "--no-nics", "-n", "node1", "--no-ip-check", "--no-name-check",
         "--no-start", NAME)
    try:
        lv = _plain_lv(live)
        with _lv_file(live, "node1", lv).open("r+b") as handle:
            handle.seek(OFFSET)
            handle.write(MARKER)
        out = _gnt(live, "gnt-instance", "modify", "-t", "drbd", "-n", "node2", NAME)
        assert "disk_template -> drbd" in out, out
        assert _read(_lv_file(live, "node1", lv)) == MARKER
        assert _read(_lv_file(live, "node2", lv)) == MARKER, "resynced to the secondary"

        _gnt(live, "gnt-instance", "activate-disks", NAME)
        info = _gnt(live, "gnt-instance", "info", NAME)
        for side in ("primary", "secondary"):
            assert re.search(rf"on {side}: \S+/drbd(\d+) \(147:\1\) in sync, status ok$",
                             info, re.M), info
        assert "No disks need to be activated." in _gnt(live, "gnt-cluster", "verify-disks")

        _disconnect_secondary(live, "node2")
        report = _gnt(live, "gnt-cluster", "verify-disks")
        assert f"Instance {NAME} has degraded disks" in report, report
        assert f"Activating disks for instance '{NAME}'" in report, report
        _gnt(live, "gnt-instance", "deactivate-disks", NAME)

        out = _gnt(live, "gnt-instance", "modify", "-t", "plain", NAME)
        assert "disk_template -> plain" in out, out
        assert _plain_lv(live) == lv, "the data LV is the plain disk again"
        assert _read(_lv_file(live, "node1", lv)) == MARKER
        assert not _lv_file(live, "node2", lv).exists(), "secondary's volumes removed"
        assert _gnt(live, "gnt-node", "list-drbd", "--no-headers", "node2").strip() == ""
    finally:
        removed = live.gnt("gnt-instance", "remove", "-f", NAME, timeout=120)
    assert removed.code == 0, removed.stderr


def test_watcher_reactivates_the_disks_of_a_rebooted_secondary(live: LiveCluster) -> None:
    name = "wdrbd"
    _gnt(live, "gnt-instance", "add", "-t", "drbd", "--disk", "0:size=16M", "-o", "noop",
         "-H", "fake", "--no-nics", "-n", "node1:node3", "--no-ip-check", "--no-name-check",
         name)
    try:
        _watcher(live)  # records the boot ids
        rows = _gnt(live, "gnt-node", "list-drbd", "--no-headers", "--separator=|", "node3")
        [minor] = [int(r.split("|")[1]) for r in rows.splitlines() if r.split("|")[2] == name]
        # a reboot loses the device: the secondary's minor is gone
        _drbd(live, "node3", cmdgen.down(minor))
        with locked_state(_state_path(live)) as state:
            assert minor not in state.minors("node3")
        path = NodeLayout(live.master_root).watcher_state_file
        data = json.loads(path.read_text())
        data["node"]["node3"]["bootid"] = "before-the-reboot"
        path.write_text(json.dumps(data))

        log = _watcher(live)
        assert "Node node3 rebooted (boot id changed)" in log, log
        with locked_state(_state_path(live)) as state:
            back = state.minors("node3").get(minor)
            assert back is not None, "the watcher activated the disks again"
            assert back.conn != STANDALONE
            assert back.attached
        info = _gnt(live, "gnt-instance", "info", name)
        assert re.search(r"on secondary: \S+/drbd\d+ \(147:\d+\) ", info), info
    finally:
        removed = live.gnt("gnt-instance", "remove", "-f", name, timeout=120)
    assert removed.code == 0, removed.stderr
