"""The storage kit against the plain (LVM) driver, driving the LVM simulator."""

from __future__ import annotations

import asyncio
from pathlib import Path

from corral.objects import DiskTemplate
from corral.storage.base import DiskCreateSpec
from corral.storage.lvm.driver import LvmDriver
from corral.testing.lvm import LvmSimulator
from tests.contract.storage_kit import check_storage


def _spec(index: int, size_mib: int) -> DiskCreateSpec:
    return DiskCreateSpec(uuid=f"0c6ecb1e-0000-4000-8000-{index:012d}", instance="inst1",
                          index=index, size_mib=size_mib, template=DiskTemplate.PLAIN)


def test_lvm_driver_passes_the_kit(tmp_path: Path) -> None:
    dev_dir = tmp_path / "dev"
    sim = LvmSimulator(dev_dir, vg="xenvg", pvs=[("/dev/sdb", 1024)])
    asyncio.run(check_storage(lambda: LvmDriver(sim, dev_dir=dev_dir), _spec, unit="xenvg"))
    assert sim.state.vgs["xenvg"].lvs == [], "the kit left logical volumes behind"
    assert not (dev_dir / "xenvg").exists()
    tools = {call[0] for call in sim.calls}
    assert {"lvcreate", "lvremove", "lvchange", "lvextend", "lvs", "vgs"} <= tools


def test_lvm_driver_passes_the_kit_with_two_pvs(tmp_path: Path) -> None:
    dev_dir = tmp_path / "dev"
    sim = LvmSimulator(dev_dir, vg="data", pvs=[("/dev/sdb", 64), ("/dev/sdc", 64)])
    driver = LvmDriver(sim, default_vg="data", dev_dir=dev_dir)
    asyncio.run(check_storage(lambda: driver, _spec, unit="data", size_mib=40))
    assert sim.state.vgs["data"].lvs == []
