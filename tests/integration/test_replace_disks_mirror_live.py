"""replace-disks of a KVM guest on ``mirror`` disks on the virtual cluster: the secondary
half moves to a new node while the guest runs (``-n``: new file and export there, the
primary's QEMU switched to it with a whole-disk copy), then is rebuilt in place (``-s``);
what the guest wrote before is in each new copy, and the old half is gone."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from corral.guestkit import READY_MARKER
from corral.hypervisor.kvm.paths import instance_paths
from corral.vcluster.cluster import FILE_STORAGE_DIR
from tests.integration.conftest import LiveCluster
from tests.integration.test_migration_live import _guest_answers, _layout, _node, _wait_for_text

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="KVM guests need root")
NAME = "mr1"
MARKER = "CORRAL-REPLACE-MIRROR-MARKER"


def _gnt(live: LiveCluster, tool: str, *args: str) -> str:
    result = live.gnt(tool, *args, timeout=300)
    assert result.code == 0, f"{tool} {args}\n{result.stdout}\n{result.stderr}"
    return result.stdout


def _half(live: LiveCluster, node: str) -> Path | None:
    """The instance's disk file on ``node`` (None: none there)."""
    directory = Path(_node(live, node).root) / FILE_STORAGE_DIR.lstrip("/") / NAME
    found = sorted(directory.glob("*")) if directory.is_dir() else []
    return found[0] if found else None


def _holds_marker(live: LiveCluster, node: str) -> bool:
    half = _half(live, node)
    return half is not None and MARKER.encode() in half.read_bytes()


@pytest.fixture
def mirror_guest(live: LiveCluster) -> Iterator[str]:
    """A booted KVM guest on mirror disks, node1:node2, that wrote the marker."""
    _gnt(live, "gnt-instance", "add", "-t", "mirror", "--disk", "0:size=64M",
         "-o", "busybox+default", "-H", "kvm", "-B", "maxmem=128,minmem=128", "--no-nics",
         "-n", "node1:node2", "--no-ip-check", "--no-name-check", NAME)
    try:
        serial_log = instance_paths(_layout(live, "node1"), NAME).serial_log
        assert _wait_for_text(serial_log, f"{READY_MARKER} {NAME}", 120), serial_log
        _guest_answers(live, "node1", NAME, f"echo {MARKER} > /marker; sync")
        yield NAME
    finally:
        live.gnt("gnt-instance", "remove", "-f", "--ignore-failures", NAME, timeout=180)


def test_mirror_secondary_moves_then_is_rebuilt(live: LiveCluster, mirror_guest: str) -> None:
    out = _gnt(live, "gnt-instance", "replace-disks", "-n", "node3", mirror_guest)
    assert "STEP 4/4 Removing old storage" in out, out
    assert re.search(r"Instance mr1's disks are in sync", out), out
    info = _gnt(live, "gnt-instance", "info", mirror_guest)
    assert re.search(r"secondaries: node3 \(group ", info), info
    assert _half(live, "node2") is None
    assert _holds_marker(live, "node3")
    status = _gnt(live, "gnt-instance", "list", "--no-headers", "-o", "status", mirror_guest)
    assert status.strip() == "running"

    half = _half(live, "node3")
    assert half is not None
    half.write_bytes(bytes(half.stat().st_size))  # the secondary's copy is lost
    out = _gnt(live, "gnt-instance", "replace-disks", "-s", mirror_guest)
    assert "STEP 3/4 Start the exports" in out, out
    assert _holds_marker(live, "node3")
    answer = _guest_answers(live, "node1", mirror_guest, "cat /marker")
    assert MARKER in answer.split("cat /marker", 1)[-1], answer
