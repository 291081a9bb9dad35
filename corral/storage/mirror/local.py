"""The local half of a ``mirror`` disk: a file under the node's file storage directory.

Both nodes of a mirror disk hold one such file at the same cluster path. The
logical id is ``(driver, path, secondary export URI)``: the file template's two
fields plus ``nbd+tls://<secondary address>:<port>/<disk uuid>``, the export the
primary's hypervisor writes to (the master rewrites it when the roles swap).
:meth:`MirrorStorage.assemble` returns that URI as the device's ``uri``; the
``path`` is the local file on whichever node assembles it.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import ClassVar

from corral.errors import BlockDeviceError
from corral.objects.instance import DiskTemplate
from corral.storage.base import DeviceInfo, DiskCreateSpec, DiskRef
from corral.storage.file import FileStorage
from corral.storage.mirror.export import parse_export_uri


class MirrorStorage(FileStorage):
    """One half of a mirror disk, as a local file (read as zeros when new)."""

    template: ClassVar[DiskTemplate] = DiskTemplate.MIRROR
    growable: ClassVar[bool] = False

    @staticmethod
    def export_of(logical_id: tuple[str, ...]) -> str:
        """The secondary's export URI in a mirror logical id.

        Raises:
            BlockDeviceError: the id is not ``(driver, path, nbd+tls URI)``.
        """
        if len(logical_id) != 3:
            raise BlockDeviceError(f"Invalid mirror logical id {logical_id!r}: expected "
                                   "(driver, path, secondary export URI)")
        parse_export_uri(logical_id[2])
        return logical_id[2]

    def _ref_path(self, dev: DiskRef) -> Path:
        if dev.template is not self.template:
            raise self.wrong_template(dev)
        self.export_of(dev.logical_id)
        return self._checked(dev.logical_id[1])

    async def create(self, spec: DiskCreateSpec) -> DeviceInfo:
        uri = self.export_of(spec.logical_id)
        info = await super().create(dataclasses.replace(spec, logical_id=spec.logical_id[:2]))
        return dataclasses.replace(info, logical_id=(*info.logical_id, uri), uri=uri)

    async def find(self, dev: DiskRef) -> DeviceInfo | None:
        uri = self.export_of(dev.logical_id)
        info = await super().find(dev)
        return None if info is None else dataclasses.replace(info, uri=uri)
