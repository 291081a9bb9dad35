"""The node's side of cluster verify's space checks: volume groups and filesystems."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from corral.backend.context import NodeContext, NodeServices
from corral.backend.verify import node_verify
from corral.layout import NodeLayout
from corral.testing.lvm import LvmSimulator
from tests.support.fake_rpc import wire


def _ctx(tmp_path: Path) -> NodeContext:
    sim = LvmSimulator(tmp_path / "dev", vg="xenvg", pvs=[("/dev/sdb", 1024)])
    assert not sim.execute(["lvcreate", "--yes", "-L", "100m", "-n", "disk0", "xenvg"]).failed
    services = NodeServices(lvm_runner=sim, storage_dev_dir=sim.dev_dir)
    return NodeContext(layout=NodeLayout(tmp_path / "root"), node_name="node1", services=services)


def _verify(ctx: NodeContext, checks: dict[str, object]) -> dict[str, object]:
    return wire(asyncio.run(node_verify(ctx, checks, "cluster", {})))  # type: ignore[no-any-return]


def test_volume_group_space_or_why_not(tmp_path: Path) -> None:
    answer = _verify(_ctx(tmp_path), {"vg-space": ["xenvg", "nosuchvg"]})
    vgs = answer["vg-space"]
    assert isinstance(vgs, dict)
    assert vgs["xenvg"] == {"size_mib": 1020, "free_mib": 920}
    assert set(vgs["nosuchvg"]) == {"error"}


def test_filesystem_space_relative_to_the_node_root(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path)
    ctx.layout.queue_dir.mkdir(parents=True)
    answer = _verify(ctx, {"disk-space": ["var/lib/corral/queue", "missing/dir"]})
    space = answer["disk-space"]
    assert isinstance(space, dict)
    stats = os.statvfs(ctx.layout.queue_dir)
    assert space["var/lib/corral/queue"]["size_mib"] == stats.f_blocks * stats.f_frsize >> 20
    assert 0 <= space["var/lib/corral/queue"]["free_mib"] <= space["var/lib/corral/queue"][
        "size_mib"]
    assert space["missing/dir"]["error"].startswith("cannot read the filesystem of ")
