"""The ``blockdev_rename`` handler (replace-disks swaps a drbd disk's volumes) against the
LVM simulator: renames done, failures of every entry reported together."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from corral.backend.context import NodeContext, NodeServices
from corral.backend.handlers import HANDLERS
from corral.backend.mirror_rpc import blockdev_rename
from corral.errors import BlockDeviceError
from corral.layout import NodeLayout
from corral.objects.instance import DiskTemplate
from corral.objects.node_disk import NodeDisk
from corral.rpc.payloads import DeviceRename
from corral.testing.lvm import LvmSimulator


@pytest.fixture
def sim(tmp_path: Path) -> LvmSimulator:
    sim = LvmSimulator(tmp_path / "dev", vg="xenvg", pvs=[("/dev/sdb", 1024)])
    for name in ("a.disk0_data", "a.disk0_meta"):
        assert not sim.execute(["lvcreate", "--yes", "-L", "8m", "-n", name, "xenvg"]).failed
    return sim


def _ctx(tmp_path: Path, sim: LvmSimulator) -> NodeContext:
    services = NodeServices(lvm_runner=sim, storage_dev_dir=sim.dev_dir)
    return NodeContext(layout=NodeLayout(tmp_path / "root"), node_name="node1",
                       services=services)


def _lv(name: str) -> NodeDisk:
    return NodeDisk(uuid=name, dev_type=DiskTemplate.PLAIN, size=8, logical_id=("xenvg", name))


def _names(sim: LvmSimulator) -> list[str]:
    return sorted(lv.name for lv in sim.state.vgs["xenvg"].lvs)


def test_registered() -> None:
    assert HANDLERS["blockdev_rename"] is blockdev_rename


def test_volumes_are_renamed(tmp_path: Path, sim: LvmSimulator) -> None:
    asyncio.run(blockdev_rename(_ctx(tmp_path, sim), [
        DeviceRename(_lv("a.disk0_data"), ("xenvg", "a.disk0_data_replaced-1")),
        DeviceRename(_lv("a.disk0_meta"), ("xenvg", "a.disk0_meta_replaced-1"))]))
    assert _names(sim) == ["a.disk0_data_replaced-1", "a.disk0_meta_replaced-1"]


def test_every_failure_is_reported_after_trying_all(tmp_path: Path,
                                                   sim: LvmSimulator) -> None:
    drbd = NodeDisk(uuid="d", dev_type=DiskTemplate.DRBD, size=8,
                    logical_id=("n1", "n2", 11000, 0, 0, "s"))
    with pytest.raises(BlockDeviceError) as caught:
        asyncio.run(blockdev_rename(_ctx(tmp_path, sim), [
            DeviceRename(_lv("gone"), ("xenvg", "x")),
            DeviceRename(drbd, ("xenvg", "y")),
            DeviceRename(_lv("a.disk0_meta"), ("xenvg", "a.disk0_data")),
            DeviceRename(_lv("a.disk0_data"), ("xenvg", "b.disk0_data"))]))
    message = str(caught.value)
    assert "Can't find device xenvg/gone in rename" in message
    assert "Rename is not supported for drbd storage" in message
    assert "Can't rename device 'xenvg/a.disk0_meta' to 'xenvg/a.disk0_data'" in message
    assert _names(sim) == ["a.disk0_meta", "b.disk0_data"]
