"""The storage kit against the drbd driver on two simulated nodes.

The kit drives one driver; a drbd disk lives on two nodes, so the kit gets
``MirroredPair``: each operation runs on both nodes as Ganeti's master runs it
(secondary first on create, node1 made primary with ``--force``; the volumes
grown on both, then the device; the grown size is remembered, as the master
records it in the configuration), and simulated time passes before each status
so the initial resync has finished.
"""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path
from typing import ClassVar

from corral.objects import DiskTemplate
from corral.storage.base import (
    BlockDevice,
    DeviceInfo,
    DiskCreateSpec,
    DiskRef,
    StorageSpace,
    SyncStatus,
)
from corral.storage.drbd.driver import DrbdDriver
from tests.contract.storage_kit import check_storage
from tests.support.drbd import DrbdNodes


def _other(dev: DiskRef) -> DiskRef:
    assert dev.link is not None
    link = type(dev.link)(local_ip=dev.link.remote_ip, remote_ip=dev.link.local_ip,
                          local_minor=dev.link.remote_minor, remote_minor=dev.link.local_minor)
    return DiskRef(uuid=dev.uuid, template=dev.template, logical_id=dev.logical_id,
                   size_mib=dev.size_mib, params=dev.params, children=dev.children, link=link)


class MirroredPair(BlockDevice):
    template: ClassVar[DiskTemplate] = DiskTemplate.DRBD

    def __init__(self, nodes: DrbdNodes) -> None:
        self.nodes = nodes
        self.a: DrbdDriver = nodes.driver("node1")
        self.b: DrbdDriver = nodes.driver("node2")
        self.sizes: dict[str, int] = {}

    def _sized(self, dev: DiskRef) -> DiskRef:
        return dataclasses.replace(dev, size_mib=self.sizes.get(dev.uuid, dev.size_mib))

    async def create(self, spec: DiskCreateSpec) -> DeviceInfo:
        b_spec = self.nodes.spec(spec.index, spec.size_mib, "node2")
        await self.b.create(b_spec)
        try:
            info = await self.a.create(spec)
        except BaseException:
            await self.b.remove(b_spec.ref())
            raise
        await self.a.open(spec.ref(), force=True)
        return info

    async def remove(self, dev: DiskRef) -> None:
        dev = self._sized(dev)
        await self.a.remove(dev)
        await self.b.remove(_other(dev))

    async def assemble(self, dev: DiskRef) -> DeviceInfo:
        dev = self._sized(dev)
        await self.b.assemble(_other(dev))
        info = await self.a.assemble(dev)
        await self.a.open(dev)
        return info

    async def shutdown(self, dev: DiskRef) -> None:
        dev = self._sized(dev)
        await self.a.shutdown(dev)
        await self.b.shutdown(_other(dev))

    async def grow(self, dev: DiskRef, amount_mib: int, dryrun: bool) -> None:
        dev = self._sized(dev)
        for driver, ref in ((self.a, dev), (self.b, _other(dev))):
            await driver.grow_layer(ref, amount_mib, dryrun, True)
        await self.a.grow_layer(dev, amount_mib, dryrun, False)
        if not dryrun:
            self.sizes[dev.uuid] = dev.size_mib + amount_mib

    async def find(self, dev: DiskRef) -> DeviceInfo | None:
        return await self.a.find(self._sized(dev))

    async def get_size(self, dev: DiskRef) -> int:
        return await self.a.get_size(self._sized(dev))

    async def storage_info(self, unit: str) -> StorageSpace:
        return await self.a.storage_info(unit)

    async def sync_status(self, dev: DiskRef) -> SyncStatus:
        self.nodes.settle()
        return await self.a.sync_status(self._sized(dev))

    def logical_id_for(self, spec: DiskCreateSpec) -> tuple[str, ...]:
        return self.a.logical_id_for(spec)


def test_drbd_driver_passes_the_kit(tmp_path: Path) -> None:
    nodes = DrbdNodes(tmp_path)
    pair = MirroredPair(nodes)
    asyncio.run(check_storage(lambda: pair, nodes.spec, unit="xenvg"))
    for name in ("node1", "node2"):
        node = nodes.nodes[name]
        assert node.lvm.state.vgs["xenvg"].lvs == [], f"the kit left volumes on {name}"
        assert "cs:" not in node.drbd.proc_text(), f"the kit left minors on {name}"
    commands = {call[1] for node in nodes.nodes.values() for call in node.drbd.calls}
    assert {"new-resource", "new-minor", "attach", "disk-options", "connect", "primary",
            "down", "resize", "show"} <= commands
