"""Template ``diskless``: instances without disks."""

from __future__ import annotations

from typing import ClassVar

from corral.errors import BlockDeviceError
from corral.objects import DiskTemplate
from corral.storage.base import BlockDevice, DeviceInfo, DiskCreateSpec, DiskRef, StorageSpace


class Diskless(BlockDevice):
    """Refuses to make disks; everything else finds nothing to do."""

    template: ClassVar[DiskTemplate] = DiskTemplate.DISKLESS
    growable: ClassVar[bool] = False

    @staticmethod
    def _none() -> BlockDeviceError:
        return BlockDeviceError("Diskless instances have no disks")

    async def create(self, spec: DiskCreateSpec) -> DeviceInfo:
        raise BlockDeviceError("Cannot create a disk for a diskless instance")

    async def remove(self, dev: DiskRef) -> None:
        return None

    async def assemble(self, dev: DiskRef) -> DeviceInfo:
        raise self._none()

    async def shutdown(self, dev: DiskRef) -> None:
        return None

    async def grow(self, dev: DiskRef, amount_mib: int, dryrun: bool) -> None:
        raise self._none()

    async def find(self, dev: DiskRef) -> DeviceInfo | None:
        return None

    async def get_size(self, dev: DiskRef) -> int:
        raise self._none()

    async def storage_info(self, unit: str) -> StorageSpace:
        return StorageSpace(0, 0)
