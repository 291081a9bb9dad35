"""Cluster verify's space checks: the volume group on vm_capable nodes, and the filesystems
of the configuration and the job queue on the master and the candidates."""

from __future__ import annotations

from typing import Any

import pytest

from corral.cmdlib.common.verification.space import DISK_ERROR, DISK_WARNING, VG_WARNING
from corral.objects import Node
from corral.opcodes.cluster import OpClusterVerifyGroup
from tests.support.config import standard_cluster
from tests.support.fake_rpc import verify_answer
from tests.support.lu_harness import LuHarness, MakeHarness

QUEUE = "var/lib/corral/queue"
CONFIG = "var/lib/corral"
LVM: dict[str, Any] = {"enabled_disk_templates": ("plain", "file"),
                       "volume_group_name": "xenvg"}


def problems(h: LuHarness) -> list[str]:
    return [line for line in h.feedback if line.startswith("  - ")]


def answer(h: LuHarness, **space: Any) -> Any:
    def fn(node: Node, args: tuple[Any, ...]) -> dict[str, Any]:
        return {**verify_answer(args[0], h.clock.now(), candidate=node.master_candidate),
                **space}
    return fn


def run(h: LuHarness, **kw: Any) -> Any:
    return h.run_sync(OpClusterVerifyGroup(group_name="default", error_codes=True, **kw))


def test_lvm_cluster_asks_for_its_volume_group(make_harness: MakeHarness) -> None:
    h = make_harness(standard_cluster(nodes=2, **LVM))
    assert run(h, verbose=True) is True
    checks = h.rpc.calls_of("node_verify")[0].args[0]
    assert checks["vg-space"] == ["xenvg"]
    assert checks["disk-space"] == [CONFIG, QUEUE]
    assert problems(h) == [line for line in problems(h) if "INFO" in line]
    assert "  - INFO: node node2: volume group xenvg: 51200 MiB free of 102400 MiB" in h.feedback


def test_no_volume_group_check_without_lvm(make_harness: MakeHarness) -> None:
    h = make_harness(standard_cluster(nodes=1, volume_group_name="xenvg"))
    assert run(h) is True
    assert "vg-space" not in h.rpc.calls_of("node_verify")[0].args[0]


def test_missing_and_nearly_full_volume_groups(make_harness: MakeHarness) -> None:
    b = standard_cluster(nodes=3, **LVM)
    b.node("store", vm_capable=False, master_candidate=False)
    h = make_harness(b)
    missing = {"vg-space": {"xenvg": {"error": "Volume group xenvg not found"}}}
    h.rpc.script("node_verify", "node2", fn=answer(h, **missing))
    h.rpc.script("node_verify", "node3", fn=answer(
        h, **{"vg-space": {"xenvg": {"size_mib": 102400, "free_mib": 900}}}))
    h.rpc.script("node_verify", "store", fn=answer(h, **missing))
    assert run(h) is False
    assert problems(h) == [
        "  - ERROR:ENODELVM:node:node2:volume group 'xenvg' missing: Volume group xenvg not"
        " found",
        "  - WARNING:ENODELVM:node:node3:volume group 'xenvg' is nearly full: 900 MiB free of"
        f" 102400 MiB (0.9%), below {VG_WARNING}",
    ]


@pytest.mark.parametrize(
    ("free", "level"),
    [(50, "ERROR"), (900, "ERROR"), (4000, "WARNING"), (60000, None)],
    ids=["below-100MiB", "below-1%", "below-5%", "plenty"],
)
def test_configuration_and_queue_filesystems(make_harness: MakeHarness, free: int,
                                             level: str | None) -> None:
    h = make_harness(standard_cluster(nodes=2))
    space = {"size_mib": 102400, "free_mib": free}
    h.rpc.script("node_verify", "node1", fn=answer(
        h, **{"disk-space": {CONFIG: space, QUEUE: {"size_mib": 102400, "free_mib": 60000}}}))
    assert run(h) is (level != "ERROR")
    found = problems(h)
    if level is None:
        assert found == []
        return
    threshold = DISK_ERROR if level == "ERROR" else DISK_WARNING
    state = "is nearly full" if level == "ERROR" else "is getting full"
    assert found == [f"  - {level}:ENODEDISKSPACE:node:node1:filesystem of /{CONFIG}"
                     f" (configuration) {state}: {free} MiB free of 102400 MiB"
                     f" ({free / 1024:.1f}%), below {threshold}"]


def test_filesystems_checked_on_master_and_candidates_only(make_harness: MakeHarness) -> None:
    h = make_harness(standard_cluster(nodes=3, pool_size=2))
    full = {"disk-space": {path: {"size_mib": 102400, "free_mib": 10} for path in
                           (CONFIG, QUEUE)}}
    h.rpc.script("node_verify", "node3", fn=answer(h, **full))
    h.rpc.script("node_verify", "node2", fn=answer(
        h, **{"disk-space": {CONFIG: {"error": "cannot read the filesystem of x: gone"}}}))
    assert run(h) is False
    assert problems(h) == [
        f"  - ERROR:ENODEDISKSPACE:node:node2:unable to check free space of /{CONFIG}"
        " (configuration): cannot read the filesystem of x: gone",
        f"  - ERROR:ENODEDISKSPACE:node:node2:unable to check free space of /{QUEUE}"
        " (job queue): no data returned",
    ]
