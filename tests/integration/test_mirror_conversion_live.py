"""A KVM instance converted from ``file`` to ``mirror`` and back on the virtual cluster:
the next start copies the disks to the secondary, ``gnt-instance info`` shows the
mirror in sync, and the conversion back to ``file`` keeps the primary's data."""

from __future__ import annotations

import os
import re
import shutil
import time
from pathlib import Path

import pytest

from tests.integration.conftest import LiveCluster

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


def _paths(live: LiveCluster) -> list[str]:
    """The cluster paths of the instance's disk files, in order."""
    info = _gnt(live, "gnt-instance", "info", "--static", NAME)
    return re.findall(r"'(/[^']+\.disk\d)'", info)


def _host_file(live: LiveCluster, node: str, path: str) -> Path:
    return _node_root(live, node) / path.lstrip("/")


def _disk_states(live: LiveCluster) -> list[str]:
    info = _gnt(live, "gnt-instance", "info", NAME)
    return re.findall(r"on primary: \S+ \(N/A:N/A\) (.*)$", info, re.M)


def _wait_states(live: LiveCluster, wanted: str, timeout: float = 90) -> None:
    """Until every disk is in state ``wanted``."""
    deadline = time.monotonic() + timeout
    while True:
        states = _disk_states(live)
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
