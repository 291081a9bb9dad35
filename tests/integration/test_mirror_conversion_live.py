"""KVM instances on ``mirror`` in the virtual cluster: converted from ``file`` and back
(the next start copies the disks to the secondary, ``gnt-instance info`` shows the
mirror in sync, the primary's data stays), and a secondary's lost exports found by
``verify-disks`` and by the watcher after its reboot, then resynced."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from corral.layout import NodeLayout
from corral.storage.mirror.export import mirror_run_dir, read_record
from tests.integration.conftest import VENV_BIN, LiveCluster

NAME = "mconv"
MARKER = b"corral mirror conversion marker\n"

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(os.geteuid() != 0, reason="KVM instances need root"),
    pytest.mark.skipif(shutil.which("qemu-system-x86_64") is None
                       or shutil.which("qemu-storage-daemon") is None,
                       reason="mirror instances need qemu-system-x86_64 and"
                              " qemu-storage-daemon"),
]


def _gnt(live: LiveCluster, tool: str, *args: str) -> str:
    result = live.gnt(tool, *args, timeout=240)
    assert result.code == 0, f"{tool} {args}\n{result.stdout}\n{result.stderr}"
    return result.stdout


def _node_root(live: LiveCluster, node: str) -> Path:
    return Path(next(v.root for v in live.vc.nodes if v.name == node))


def _paths(live: LiveCluster, name: str = NAME) -> list[str]:
    """The cluster paths of the instance's disk files, in order."""
    info = _gnt(live, "gnt-instance", "info", "--static", name)
    return re.findall(r"'(/[^']+\.disk\d)'", info)


def _host_file(live: LiveCluster, node: str, path: str) -> Path:
    return _node_root(live, node) / path.lstrip("/")


def _disk_states(live: LiveCluster, name: str = NAME) -> list[str]:
    info = _gnt(live, "gnt-instance", "info", name)
    return re.findall(r"on primary: \S+ \(N/A:N/A\) (.*)$", info, re.M)


def _wait_states(live: LiveCluster, wanted: str, timeout: float = 90,
                 name: str = NAME) -> None:
    """Until every disk is in state ``wanted``."""
    deadline = time.monotonic() + timeout
    while True:
        states = _disk_states(live, name)
        if states and all(s == wanted for s in states):
            return
        if time.monotonic() > deadline:
            report = live.gnt("gnt-cluster", "verify-disks").stdout
            raise AssertionError(f"disk states {states}, not all {wanted!r}\n{report}")
        time.sleep(1)


def test_file_to_mirror_and_back(live: LiveCluster) -> None:
    _gnt(live, "gnt-instance", "add", "-t", "file", "--disk", "0:size=64M", "--disk",
         "1:size=8M", "-o", "busybox+default", "-H", "kvm", "-B", "maxmem=128,minmem=128",
         "--no-nics", "-n", "node1", "--no-ip-check", "--no-name-check", "--no-start", NAME)
    try:
        data = _paths(live)[1]
        with _host_file(live, "node1", data).open("r+b") as handle:
            handle.write(MARKER)
        out = _gnt(live, "gnt-instance", "modify", "-t", "mirror", "-n", "node2", NAME)
        assert "disk_template -> mirror" in out, out
        assert _paths(live)[1] == data, "the file path stays"
        assert _host_file(live, "node2", data).exists(), "the secondary half exists"
        assert _disk_states(live) == [], "no mirror runs while the instance is stopped"

        _gnt(live, "gnt-instance", "startup", NAME)
        _wait_states(live, "in sync, status ok")
        with _host_file(live, "node2", data).open("rb") as handle:
            assert handle.read(len(MARKER)) == MARKER, "the start copied the disk"
        assert "No disks need to be activated." in _gnt(live, "gnt-cluster", "verify-disks")

        _gnt(live, "gnt-instance", "shutdown", NAME)
        out = _gnt(live, "gnt-instance", "modify", "-t", "file", NAME)
        assert "disk_template -> file" in out, out
        assert not _host_file(live, "node2", data).exists(), "secondary half removed"
        with _host_file(live, "node1", data).open("rb") as handle:
            assert handle.read(len(MARKER)) == MARKER
    finally:
        removed = live.gnt("gnt-instance", "remove", "-f", NAME, timeout=240)
    assert removed.code == 0, removed.stderr


def _kill_exports(live: LiveCluster, node: str) -> int:
    """SIGKILL every mirror export ``node`` serves (what its reboot does to them)."""
    layout = NodeLayout(_node_root(live, node))
    killed = 0
    for path in sorted(mirror_run_dir(layout).glob("*.export")):
        record = read_record(layout, path.stem)
        if record is not None and record.pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(record.pid, signal.SIGKILL)
                killed += 1
    return killed


def _watcher(live: LiveCluster) -> str:
    argv = [str(VENV_BIN / "corral-watcher"), "--debug", "--no-verify-disks", "--root",
            str(live.master_root)]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=240, check=False)
    assert proc.returncode == 0, proc.stderr
    return proc.stderr


def _degraded(live: LiveCluster, name: str) -> bool:
    return "in sync, status *DEGRADED*" in _disk_states(live, name)


def test_lost_secondary_exports_come_back(live: LiveCluster) -> None:
    """verify-disks, then the watcher (the secondary "rebooted"), serve and resync them."""
    name = "mlost"
    _gnt(live, "gnt-instance", "add", "-t", "mirror", "--disk", "0:size=64M", "-o",
         "busybox+default", "-H", "kvm", "-B", "maxmem=128,minmem=128", "--no-nics", "-n",
         "node1:node2", "--no-ip-check", "--no-name-check", name)
    try:
        _wait_states(live, "in sync, status ok", name=name)
        assert _kill_exports(live, "node2") == 1
        deadline = time.monotonic() + 60
        while not _degraded(live, name):
            assert time.monotonic() < deadline, _disk_states(live, name)
            time.sleep(1)
        report = _gnt(live, "gnt-cluster", "verify-disks")
        assert f"Instance {name} has degraded disks: disk/0 on node1: *DEGRADED*" in report
        assert f"Activating disks for instance '{name}'" in report, report
        _wait_states(live, "in sync, status ok", name=name)

        _watcher(live)  # records the boot ids
        assert _kill_exports(live, "node2") == 1
        path = NodeLayout(live.master_root).watcher_state_file
        data = json.loads(path.read_text())
        data["node"]["node2"]["bootid"] = "before-the-reboot"
        path.write_text(json.dumps(data))
        log = _watcher(live)
        assert "Node node2 rebooted (boot id changed)" in log, log
        _wait_states(live, "in sync, status ok", name=name)
    finally:
        removed = live.gnt("gnt-instance", "remove", "-f", name, timeout=240)
    assert removed.code == 0, removed.stderr
