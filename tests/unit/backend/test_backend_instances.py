"""Node-side instance handlers over the real fake hypervisor, file storage and OS scripts."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from corral.backend import blockdev, instances, os_defs
from corral.backend.context import NodeContext
from corral.backend.instances import stop_instance
from corral.backend.ssconf import write_ssconf
from corral.clock import FakeClock
from corral.hypervisor.base import HvState, InstanceInfo
from corral.layout import NodeLayout
from corral.objects import DiskTemplate, Instance, Nic
from corral.objects.bundle import InstanceBundle
from corral.objects.node_disk import NodeDisk
from corral.storage.naming import file_disk_path
from tests.support.fake_rpc import wire

SOURCE = Path(__file__).resolve().parents[3]
STORAGE = "/srv/file-storage"


def _ctx(tmp_path: Path) -> NodeContext:
    layout = NodeLayout(tmp_path)
    layout.ensure_dirs()
    (tmp_path / STORAGE.lstrip("/")).mkdir(parents=True)
    write_ssconf(layout, {"file_storage_dir": STORAGE})
    return NodeContext(layout=layout, node_name="node1")


def _bundle(name: str = "inst1", os_name: str = "busybox", size: int = 32) -> InstanceBundle:
    disk = NodeDisk(
        uuid="d1",
        dev_type=DiskTemplate.FILE,
        size=size,
        iv_name="disk/0",
        logical_id=("loop", file_disk_path(STORAGE, name, "d1", 0)),
    )
    nic = Nic(uuid="n1", mac="aa:00:00:00:00:01")
    instance = Instance(
        uuid="i1", name=name, primary_node="node-uuid", hypervisor="fake", os=os_name,
        disk_template=DiskTemplate.FILE, disks=("d1",), nics=(nic,),
    )
    return InstanceBundle(
        instance=instance,
        disks=(disk,),
        beparams={"maxmem": 128, "minmem": 128, "vcpus": 1},
        nicparams=({"mode": "bridged", "link": "br0", "vlan": ""},),
        primary_node_name="node1",
    )


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_disk_and_instance_life_cycle(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path)
    bundle = _bundle()
    disk = bundle.disks[0]

    async def scenario() -> None:
        created = wire(await blockdev.blockdev_create(ctx, disk, 32, "inst1", True, "", False))
        image = Path(created["path"])
        assert image.stat().st_size == 32 * 1024 * 1024
        assembled = wire(await blockdev.blockdev_assemble(ctx, disk, "inst1", True, 0))
        assert Path(assembled["link"]).resolve() == image.resolve()
        await instances.instance_start(ctx, bundle, False, [])
        assert await instances.instance_list(ctx, ["fake"], {}) == ["inst1"]
        info = wire(await instances.instance_info(ctx, "inst1", "fake", {}))
        assert info is not None
        assert info["state"] == "running"
        everything = wire(await instances.all_instances_info(ctx, ["fake"], {}))
        assert everything["inst1"]["memory"] == 128
        await instances.instance_start(ctx, bundle, False, [])  # idempotent
        await instances.instance_shutdown(ctx, bundle, 5.0, [])
        assert await instances.instance_list(ctx, ["fake"], {}) == []
        await blockdev.blockdev_remove(ctx, disk)
        await blockdev.blockdev_remove(ctx, disk)  # idempotent
        assert not image.exists()
        assert await blockdev.blockdev_find(ctx, disk) is None

    run(scenario())


class _Stubborn:
    """A driver whose guest ignores soft stops."""

    def __init__(self) -> None:
        self.running = True
        self.calls: list[tuple[str, bool]] = []

    async def instance_info(self, name: str) -> InstanceInfo | None:
        if not self.running:
            return None
        return InstanceInfo(name=name, id=1, memory_mib=1, vcpus=1, state=HvState.RUNNING,
                            cpu_time_s=0.0)

    async def stop(self, name: str, *, force: bool, timeout: float) -> None:
        self.calls.append(("stop", force))
        if force:
            self.running = False

    async def cleanup(self, name: str) -> None:
        self.calls.append(("cleanup", False))


def test_stop_policy_repeats_soft_stops_then_forces() -> None:
    driver = _Stubborn()
    clock = FakeClock()
    run(stop_instance(driver, "x", 12.0, clock))  # type: ignore[arg-type]
    soft = [c for c in driver.calls if c == ("stop", False)]
    assert len(soft) == 3  # at 0, 5 and 10 seconds
    assert driver.calls[-2:] == [("stop", True), ("cleanup", False)]
    assert clock.monotonic() >= 12.0


def _install_busybox(ctx: NodeContext) -> None:
    target = ctx.layout.root / "srv" / "corral" / "os" / "busybox"
    shutil.copytree(SOURCE / "os" / "busybox", target, symlinks=True)


def test_os_diagnose_finds_the_shipped_busybox_os(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path)
    _install_busybox(ctx)
    found = {os["name"]: os for os in wire(run(os_defs.os_diagnose(ctx)))}
    assert found["busybox"]["valid"] is True
    assert 20 in found["busybox"]["api_versions"]
    assert run(os_defs.os_validate(ctx, True, "busybox+default", ["parameters"], {}, False))
    assert run(os_defs.os_validate(ctx, False, "no-such-os", [], {}, False)) is False


@pytest.mark.skipif(
    not Path("/bin/busybox").exists() or shutil.which("debugfs") is None,
    reason="needs busybox-static and e2fsprogs",
)
def test_os_add_installs_busybox_on_the_disk(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path)
    _install_busybox(ctx)
    bundle = _bundle(size=64)

    async def scenario() -> str:
        created = await blockdev.blockdev_create(ctx, bundle.disks[0], 64, "inst1", True, "", False)
        await os_defs.instance_os_add(ctx, bundle, False, 0)
        return created.path

    image = run(scenario())
    listing = subprocess.run(
        ["debugfs", "-R", "ls -l /sbin", image], capture_output=True, text=True, check=True
    )
    assert "init" in listing.stdout
    logs = list(ctx.layout.os_log_dir.glob("add-busybox-inst1-*.log"))
    assert len(logs) == 1
