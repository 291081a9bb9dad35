"""Instances on a real virtual cluster: fake, chroot and KVM guests, and refused bad input."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from corral.hypervisor import linux
from corral.layout import NodeLayout
from corral.luxi.client import wait_for_job
from corral.vcluster.cluster import FILE_STORAGE_DIR
from tests.integration.conftest import LiveCluster


def _status(live: LiveCluster, name: str) -> str:
    result = live.gnt("gnt-instance", "list", "--no-headers", "-o", "status", name)
    assert result.code == 0, result.stderr
    return result.stdout.strip()


def _node_root(live: LiveCluster, node: str) -> Path:
    return Path(next(n.root for n in live.vc.nodes if n.name == node))


def test_fake_instance_life_cycle(live: LiveCluster) -> None:
    added = live.gnt(
        "gnt-instance",
        "add",
        "-t",
        "diskless",
        "-o",
        "noop",
        "-H",
        "fake",
        "--no-nics",
        "-n",
        "node1",
        "--no-ip-check",
        "--no-name-check",
        "fake1",
    )
    assert added.code == 0, added.stderr
    assert _status(live, "fake1") == "running"
    assert live.gnt("gnt-instance", "shutdown", "fake1").code == 0
    assert _status(live, "fake1") == "ADMIN_down"
    assert live.gnt("gnt-instance", "modify", "-B", "maxmem=256,minmem=256", "fake1").code == 0
    assert live.gnt("gnt-instance", "startup", "fake1").code == 0
    assert live.gnt("gnt-instance", "reboot", "fake1").code == 0
    oper = live.gnt(
        "gnt-instance", "list", "--no-headers", "--units=m", "-o", "status,oper_ram", "fake1"
    )
    assert oper.stdout.split() == ["running", "256"]
    assert live.gnt("gnt-instance", "shutdown", "fake1").code == 0
    assert live.gnt("gnt-instance", "rename", "fake1", "fake2").code == 0
    assert live.gnt("gnt-instance", "remove", "-f", "fake2").code == 0
    listing = live.gnt("gnt-instance", "list", "--no-headers", "-o", "name")
    assert "fake" not in listing.stdout


def _chroot_processes(chroot_dir: Path) -> list[int]:
    return [pid for pid, _root in linux.processes_below(str(chroot_dir))]


def _mounts_below(path: Path) -> list[str]:
    lines = Path("/proc/self/mountinfo").read_text().splitlines()
    return [line for line in lines if f" {path}" in line]


@pytest.mark.skipif(os.geteuid() != 0, reason="chroot instances need root (mounts)")
def test_chroot_instance_runs_a_process_and_leaves_no_mount(live: LiveCluster) -> None:
    added = live.gnt(
        "gnt-instance",
        "add",
        "-t",
        "file",
        "--disk",
        "0:size=64M",
        "-o",
        "busybox+default",
        "-H",
        "chroot",
        "-n",
        "node2",
        "chr1",
    )
    assert added.code == 0, added.stderr
    layout = NodeLayout(_node_root(live, "node2"))
    chroot_dir = layout.run_dir / "chroot" / "chr1"
    try:
        assert _status(live, "chr1") == "running"
        assert _chroot_processes(chroot_dir), "no process runs inside the chroot"
        assert live.gnt("gnt-instance", "shutdown", "chr1").code == 0
        assert _chroot_processes(chroot_dir) == []
        assert _mounts_below(chroot_dir) == []
        assert _status(live, "chr1") == "ADMIN_down"
    finally:
        assert live.gnt("gnt-instance", "remove", "-f", "chr1").code == 0
    storage = layout.root / FILE_STORAGE_DIR.lstrip("/") / "chr1"
    assert not storage.exists()


def _wait_for_text(path: Path, text: str, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and text in path.read_text(errors="replace"):
            return True
        time.sleep(0.1)
    return False


@pytest.mark.skipif(os.geteuid() != 0, reason="KVM guests need root (taps on the bridge)")
def test_kvm_instance_boots_to_its_console(live: LiveCluster) -> None:
    added = live.gnt(
        "gnt-instance",
        "add",
        "-t",
        "file",
        "--disk",
        "0:size=128M",
        "-o",
        "busybox+default",
        "-H",
        "kvm",
        "-B",
        "maxmem=256,minmem=256",
        "-n",
        "node3",
        "vm1",
    )
    assert added.code == 0, added.stderr
    layout = NodeLayout(_node_root(live, "node3"))
    serial_log = layout.log_dir / "kvm" / "vm1.serial.log"
    try:
        assert _wait_for_text(serial_log, "CORRAL-GUEST-READY vm1", 60), serial_log.read_text()
        shown = live.gnt("gnt-instance", "console", "--show-cmd", "vm1")
        assert "vm1.serial" in shown.stdout
        info = live.gnt("gnt-instance", "info", "vm1")
        assert "actual state is up" in info.stdout
        assert live.gnt("gnt-instance", "shutdown", "--timeout", "30", "vm1").code == 0
        assert _status(live, "vm1") == "ADMIN_down"
    finally:
        assert live.gnt("gnt-instance", "remove", "-f", "vm1").code == 0


def _create_op(name: str, **fields: object) -> dict[str, object]:
    op: dict[str, object] = {
        "OP_ID": "OP_INSTANCE_CREATE",
        "instance_name": name,
        "mode": "create",
        "disk_template": "file",
        "disks": [{"size": 64}],
        "nics": [],
        "os_type": "busybox+default",
        "hypervisor": "fake",
        "pnode": "node1",
        "ip_check": False,
        "name_check": False,
    }
    op.update(fields)
    return op


BAD_CREATES = [
    ("unknown-os", {"os_type": "no-such-os"}, "wrong_input"),
    ("unknown-node", {"pnode": "node99"}, "unknown_entity"),
    ("too-big-disk", {"disks": [{"size": 50 * 1024 * 1024}]}, "insufficient_resources"),
    ("bad-hvparam", {"hvparams": {"no_such_param": "1"}}, "wrong_input"),
]


@pytest.mark.parametrize(("case", "fields", "code"), BAD_CREATES, ids=[c[0] for c in BAD_CREATES])
def test_bad_create_is_refused_and_leaves_nothing(
    live: LiveCluster, case: str, fields: dict[str, object], code: str
) -> None:
    name = f"bad-{case}"
    with live.client() as client:
        job_id = client.SubmitJob([_create_op(name, **fields)])
        status, _, result = wait_for_job(client, job_id)
    assert status == "error"
    error_class, args = result[0]
    assert error_class in {"OpPrereqError", "ParameterError"}, result
    if error_class == "OpPrereqError":
        assert args[1] == code, args
    assert name not in live.gnt("gnt-instance", "list", "--no-headers", "-o", "name").stdout
    leftovers = _node_root(live, "node1") / FILE_STORAGE_DIR.lstrip("/") / name
    assert not leftovers.exists()


def test_duplicate_name_is_refused(live: LiveCluster) -> None:
    with live.client() as client:
        first = client.SubmitJob(
            [_create_op("dup1", disk_template="diskless", disks=[], os_type="noop")]
        )
        assert wait_for_job(client, first)[0] == "success"
        second = client.SubmitJob(
            [_create_op("dup1", disk_template="diskless", disks=[], os_type="noop")]
        )
        status, _, result = wait_for_job(client, second)
    assert status == "error"
    assert result[0][0] == "OpPrereqError"
    assert result[0][1][1] == "already_exists"
    assert live.gnt("gnt-instance", "remove", "-f", "dup1").code == 0


def test_instance_query_reports_live_status(live: LiveCluster) -> None:
    with live.client() as client:
        job = client.SubmitJob(
            [_create_op("live1", disk_template="diskless", disks=[], os_type="noop")]
        )
        assert wait_for_job(client, job)[0] == "success"
        answer = client.Query(
            "instance", ["name", "status", "oper_state", "pnode"], ["=", "name", "live1"]
        )
    values = [cell[1] for cell in answer["data"][0]]
    assert values == ["live1", "running", True, "node1"]
    assert json.dumps(answer)  # plain JSON all the way
    assert live.gnt("gnt-instance", "remove", "-f", "live1").code == 0


def test_plain_instance_on_simulated_lvm(live: LiveCluster) -> None:
    """The plain template runs the real LVM commands, answered by the nodes' simulator."""
    added = live.gnt(
        "gnt-instance", "add", "-t", "plain", "--disk", "0:size=64M", "-o", "busybox+default",
        "-H", "fake", "-n", "node2", "lv1",
    )
    assert added.code == 0, added.stderr
    try:
        volumes = live.gnt("gnt-node", "volumes", "--no-headers", "-o", "node,vg,size,instance",
                           "--units=m", "--separator=|")
        assert "node2|xenvg|64|lv1" in volumes.stdout.splitlines()
    finally:
        assert live.gnt("gnt-instance", "remove", "-f", "lv1").code == 0
    after = live.gnt("gnt-node", "volumes", "--no-headers", "-o", "instance")
    assert "lv1" not in after.stdout
