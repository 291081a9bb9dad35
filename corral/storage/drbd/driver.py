"""Template ``drbd``: a DRBD 8.4 network mirror over two LVM volumes on each of two nodes.

Logical id, as Ganeti's: ``(node_a, node_b, port, minor_a, minor_b, secret)``.
The reference's ``children`` are the data volume and the metadata volume
(``naming.DRBD_META_MIB``), plain LVs handled by the LVM driver; its ``link``
says which side this node is (its address and minor, the peer's address and
minor; Ganeti's dynamic parameters). Both sides use the same port.

The device is ``<dev_dir>/drbd<minor>``. ``/proc/drbd`` is read through an
injectable reader (the DRBD simulator's rendition in a virtual cluster). Disk
parameters (``diskparams`` of the drbd template) become command options in
``cmdgen``. Not done here (as in Ganeti, by the callers): choosing minors and
ports, waiting for a resync, making a side primary after creation (``open``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from corral.errors import BlockDeviceError
from corral.objects import DiskTemplate
from corral.process import CommandResult, CommandRunner
from corral.storage.base import (
    BlockDevice,
    DeviceCommandError,
    DeviceInfo,
    DiskCreateSpec,
    DiskRef,
    LDiskStatus,
    MirrorLink,
    StorageSpace,
    SyncStatus,
)
from corral.storage.drbd import cmdgen
from corral.storage.drbd.cmdgen import DrbdParams
from corral.storage.drbd.parse import MinorStatus, ProcInfo, parse_proc, parse_show
from corral.storage.lvm.driver import LvmDriver
from corral.storage.naming import DRBD_META_MIB

DRBD_TIMEOUT = 60.0
PROC_DRBD = Path("/proc/drbd")
DISCONNECT_TIMEOUT = 60.0


def read_proc_drbd() -> str:
    """The kernel's ``/proc/drbd``.

    Raises:
        BlockDeviceError: the module is not loaded.
    """
    try:
        return PROC_DRBD.read_text()
    except OSError as err:
        raise BlockDeviceError(f"The file {PROC_DRBD} cannot be opened, check if the module "
                               f"is loaded ({err})") from err


@dataclass(frozen=True, slots=True)
class DrbdId:
    """A parsed drbd logical id plus this node's side."""

    port: int
    secret: str
    link: MirrorLink

    @property
    def minor(self) -> int:
        return self.link.local_minor

    @property
    def local(self) -> tuple[str, int]:
        return self.link.local_ip, self.port

    @property
    def remote(self) -> tuple[str, int]:
        return self.link.remote_ip, self.port


def parse_id(dev: DiskRef) -> DrbdId:
    """Check the logical id and the link of a drbd reference.

    Raises:
        BlockDeviceError: malformed id, missing link, or a link that is not one of its sides.
    """
    if len(dev.logical_id) != 6:
        raise BlockDeviceError(f"Invalid drbd logical id {dev.logical_id!r}")
    _, _, port, minor_a, minor_b, secret = dev.logical_id
    if not (str(port).isdigit() and str(minor_a).isdigit() and str(minor_b).isdigit()):
        raise BlockDeviceError(f"Invalid drbd logical id {dev.logical_id!r}: port and minors "
                               "must be numbers")
    link = dev.link
    if link is None:
        raise BlockDeviceError(f"Disk {dev.uuid}: no mirror link (this node's address and "
                               "minor) given")
    minors = {int(minor_a), int(minor_b)}
    if link.local_minor not in minors or link.remote_minor not in minors:
        raise BlockDeviceError(f"Disk {dev.uuid}: minors {link.local_minor}/"
                               f"{link.remote_minor} are not those of {dev.logical_id!r}")
    if link.local_ip == link.remote_ip:
        raise BlockDeviceError(f"Disk {dev.uuid}: local and remote address are both "
                               f"{link.local_ip}")
    return DrbdId(int(port), str(secret), link)


class DrbdDriver(BlockDevice):
    """DRBD 8.4 minors of this node, over LVs of the LVM driver."""

    template: ClassVar[DiskTemplate] = DiskTemplate.DRBD

    def __init__(
        self,
        runner: CommandRunner,
        lvm: LvmDriver,
        *,
        dev_dir: Path = Path("/dev"),
        proc_reader: Callable[[], str] = read_proc_drbd,
        poll_interval: float = 0.1,
    ) -> None:
        self._runner = runner
        self._lvm = lvm
        self._dev_dir = dev_dir
        self._proc_reader = proc_reader
        self._poll = poll_interval

    # --- helpers -------------------------------------------------------------------
    async def _run(self, argv: Sequence[str]) -> CommandResult:
        return await self._runner.run(list(argv), timeout=DRBD_TIMEOUT)

    async def _checked(self, argv: Sequence[str], message: str) -> CommandResult:
        result = await self._run(argv)
        if result.failed:
            raise DeviceCommandError.from_result(message, result)
        return result

    def _check(self, dev: DiskRef) -> DrbdId:
        if dev.template is not self.template:
            raise self.wrong_template(dev)
        return parse_id(dev)

    def _children(self, dev: DiskRef) -> tuple[DiskRef, DiskRef]:
        if len(dev.children) != 2:
            raise BlockDeviceError(f"Disk {dev.uuid}: a drbd disk needs its data and metadata "
                                   f"volumes as children, got {len(dev.children)}")
        return dev.children[0], dev.children[1]

    def device_path(self, minor: int) -> str:
        return str(self._dev_dir / f"drbd{minor}")

    async def proc(self) -> ProcInfo:
        """This node's parsed ``/proc/drbd``."""
        return parse_proc(await asyncio.to_thread(self._proc_reader))

    async def minor_status(self, dev: DiskRef) -> MinorStatus | None:
        """The minor's ``/proc/drbd`` status, ``None`` when it is not configured."""
        ids = self._check(dev)
        status = (await self.proc()).minors.get(ids.minor)
        return status if status is not None and status.is_in_use else None

    async def _configured(self, dev: DiskRef) -> tuple[DrbdId, MinorStatus]:
        ids = self._check(dev)
        status = await self.minor_status(dev)
        if status is None:
            raise BlockDeviceError(f"drbd{ids.minor}: device not configured")
        return ids, status

    def _info(self, dev: DiskRef, ids: DrbdId, active: bool) -> DeviceInfo:
        return DeviceInfo(logical_id=dev.logical_id, path=self.device_path(ids.minor),
                          size_mib=dev.size_mib, active=active)

    # --- contract ------------------------------------------------------------------
    def logical_id_for(self, spec: DiskCreateSpec) -> tuple[str, ...]:
        if spec.template is not self.template:
            raise BlockDeviceError(f"Cannot create a {spec.template} disk with {self.template}")
        self._check(spec.ref())
        return spec.logical_id

    async def create(self, spec: DiskCreateSpec) -> DeviceInfo:
        """Create the volumes (unless they exist: Ganeti's master creates them first),
        initialise the metadata, and assemble (not primary). On failure, the volumes this
        call created are removed."""
        ref = spec.ref()
        ids = self._check(ref)
        data, meta = self._children(ref)
        DrbdParams.from_params(spec.params)
        if await self.minor_status(ref) is not None:
            raise BlockDeviceError(f"drbd{ids.minor}: minor is already in use at create time")
        made: list[DiskRef] = []
        try:
            for child, size in ((data, spec.size_mib), (meta, DRBD_META_MIB)):
                if await self._lvm.find(child) is None:
                    await self._lvm.create(_child_spec(spec, child, size))
                    made.append(child)
            meta_info = await self._lvm.assemble(meta)
            await self._checked(cmdgen.init_meta(ids.minor, meta_info.path),
                                f"drbd{ids.minor}: cannot initialise the meta device")
            return await self.assemble(ref)
        except BaseException:
            await self._undo_create(ids, made)
            raise

    async def _undo_create(self, ids: DrbdId, made: list[DiskRef]) -> None:
        await self._run(cmdgen.down(ids.minor))
        for child in made:
            try:
                await self._lvm.remove(child)
            except BlockDeviceError:
                pass

    async def remove(self, dev: DiskRef) -> None:
        await self.shutdown(dev)
        for child in dev.children:
            await self._lvm.remove(child)

    async def assemble(self, dev: DiskRef) -> DeviceInfo:
        """Attach the local volumes and connect to the peer, fixing a partial configuration."""
        ids = self._check(dev)
        data, meta = self._children(dev)
        params = DrbdParams.from_params(dev.params)
        paths = [(await self._lvm.assemble(child)).path for child in (data, meta)]
        if await self.minor_status(dev) is None:
            await self._assemble_local(ids, paths[0], paths[1], dev.size_mib, params)
            await self._assemble_net(ids, params)
            return self._info(dev, ids, True)
        show = parse_show((await self._checked(cmdgen.simple("show", ids.minor),
                                               f"drbd{ids.minor}: cannot show")).stdout)
        if show.local_dev is None:
            await self._assemble_local(ids, paths[0], paths[1], dev.size_mib, params)
        elif show.local_dev != paths[0] or show.meta_dev != paths[1]:
            raise BlockDeviceError(f"drbd{ids.minor}: attached to {show.local_dev}, not to "
                                   f"{paths[0]}: the minor is used by another disk")
        if show.local_addr != ids.local or show.remote_addr != ids.remote:
            if show.local_addr is not None:
                await self.disconnect_net(dev)
            await self._assemble_net(ids, params)
        return self._info(dev, ids, True)

    async def _assemble_local(self, ids: DrbdId, data: str, meta: str, size_mib: int,
                              params: DrbdParams) -> None:
        for argv in cmdgen.local_init(ids.minor, data, meta, size_mib, params):
            await self._checked(argv, f"drbd{ids.minor}: cannot attach the local disk")
        await self._checked(cmdgen.sync_params(ids.minor, params),
                            f"drbd{ids.minor}: cannot set the resync parameters")

    async def _assemble_net(self, ids: DrbdId, params: DrbdParams, dual: bool = False) -> None:
        for argv in cmdgen.net_init(ids.minor, ids.local, ids.remote, params, ids.secret, dual):
            await self._checked(argv, f"drbd{ids.minor}: cannot connect to the peer")

    async def shutdown(self, dev: DiskRef) -> None:
        """``down`` the minor (if configured), then deactivate the volumes."""
        ids = self._check(dev)
        if await self.minor_status(dev) is not None:
            await self._checked(cmdgen.down(ids.minor), f"drbd{ids.minor}: cannot shut down")
        for child in dev.children:
            await self._lvm.shutdown(child)

    async def grow(self, dev: DiskRef, amount_mib: int, dryrun: bool) -> None:
        """Grow the data volume, then the device (the peer must have grown its volume)."""
        await self.grow_layer(dev, amount_mib, dryrun, True)
        await self.grow_layer(dev, amount_mib, dryrun, False)

    async def grow_layer(self, dev: DiskRef, amount_mib: int, dryrun: bool,
                         backingstore: bool) -> None:
        ids = self._check(dev)
        data, _ = self._children(dev)
        if amount_mib < 0:
            raise BlockDeviceError(f"Cannot shrink a disk (amount {amount_mib} MiB)")
        if backingstore:
            await self._lvm.grow(data, amount_mib, dryrun)
            return
        await self._configured(dev)
        if not dryrun and amount_mib:
            await self._checked(cmdgen.resize(ids.minor, dev.size_mib + amount_mib),
                                f"drbd{ids.minor}: resize failed")

    async def find(self, dev: DiskRef) -> DeviceInfo | None:
        """The device while its minor is configured (as Ganeti, ``None`` otherwise)."""
        ids = self._check(dev)
        if await self.minor_status(dev) is None:
            return None
        return self._info(dev, ids, True)

    async def get_size(self, dev: DiskRef) -> int:
        found = await self.find(dev)
        if found is None:
            raise BlockDeviceError(f"drbd disk {dev.uuid} not found (not assembled)")
        size = await asyncio.to_thread(_size_mib, found.path)
        return size if size is not None else await self._lvm.get_size(self._children(dev)[0])

    async def storage_info(self, unit: str) -> StorageSpace:
        return await self._lvm.storage_info(unit)

    async def sync_status(self, dev: DiskRef) -> SyncStatus:
        """Ganeti's rule: degraded unless connected with an UpToDate local disk."""
        ids = self._check(dev)
        status = await self.minor_status(dev)
        if status is None:
            raise BlockDeviceError(f"drbd{ids.minor}: device not configured")
        return status_of(status)

    # --- mirror operations -------------------------------------------------------------
    async def open(self, dev: DiskRef, force: bool = False) -> None:
        ids, _ = await self._configured(dev)
        await self._checked(cmdgen.primary(ids.minor, force),
                            f"drbd{ids.minor}: can't make drbd device primary")

    async def close(self, dev: DiskRef) -> None:
        ids, _ = await self._configured(dev)
        await self._checked(cmdgen.simple("secondary", ids.minor),
                            f"drbd{ids.minor}: can't switch drbd device to secondary")

    async def pause_resume_sync(self, dev: DiskRef, pause: bool) -> bool:
        ids, _ = await self._configured(dev)
        result = await self._run(cmdgen.simple("pause-sync" if pause else "resume-sync",
                                               ids.minor))
        return not result.failed

    async def disconnect_net(self, dev: DiskRef) -> None:
        """Go StandAlone: disconnect, and again until ``/proc/drbd`` says so.

        Raises:
            BlockDeviceError: still connected after ``DISCONNECT_TIMEOUT`` seconds.
        """
        ids, _ = await self._configured(dev)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + DISCONNECT_TIMEOUT
        while True:
            await self._run(cmdgen.disconnect(ids.local, ids.remote))
            status = await self.minor_status(dev)
            if status is None or status.is_standalone:
                return
            if loop.time() > deadline:
                raise BlockDeviceError(f"drbd{ids.minor}: device did not react to the "
                                       "'disconnect' command in a timely manner")
            await asyncio.sleep(self._poll)

    async def attach_net(self, dev: DiskRef, multimaster: bool) -> None:
        """Connect a StandAlone device to its peer (dual-primary with ``multimaster``)."""
        ids, status = await self._configured(dev)
        if not status.is_standalone:
            raise BlockDeviceError(f"drbd{ids.minor}: device is not standalone in AttachNet")
        await self._assemble_net(ids, DrbdParams.from_params(dev.params), multimaster)

    async def add_children(self, dev: DiskRef, children: Sequence[DiskRef]) -> None:
        """Attach new volumes (data, metadata; created) to a diskless device: their metadata
        is initialised, so the peer resyncs them completely."""
        ids, status = await self._configured(dev)
        if not status.is_diskless:
            raise BlockDeviceError(f"drbd{ids.minor}: cannot add children to a device that "
                                   "has local storage")
        data, meta = self._children(dataclasses.replace(dev, children=tuple(children)))
        paths = [(await self._lvm.assemble(child)).path for child in (data, meta)]
        await self._checked(cmdgen.init_meta(ids.minor, paths[1]),
                            f"drbd{ids.minor}: cannot initialise the meta device")
        await self._assemble_local(ids, paths[0], paths[1], dev.size_mib,
                                   DrbdParams.from_params(dev.params))

    async def remove_children(self, dev: DiskRef, children: Sequence[DiskRef]) -> None:
        """Detach the local volumes, which must be ``children`` (the device keeps serving
        from the peer); a diskless device has nothing to detach."""
        ids, status = await self._configured(dev)
        if status.is_diskless:
            return
        show = parse_show((await self._checked(cmdgen.simple("show", ids.minor),
                                               f"drbd{ids.minor}: cannot show")).stdout)
        wanted = {str(self._lvm.device_path(*child.logical_id)) for child in children}
        if {show.local_dev, show.meta_dev} != wanted:
            raise BlockDeviceError(f"drbd{ids.minor}: mismatch in local storage "
                                   f"({show.local_dev}, {show.meta_dev}) and requested "
                                   f"children ({', '.join(sorted(wanted))})")
        await self._checked(cmdgen.simple("detach", ids.minor),
                            f"drbd{ids.minor}: can't detach local disk")


def status_of(status: MinorStatus) -> SyncStatus:
    """The contract's sync status of a minor's ``/proc/drbd`` status (Ganeti's mapping)."""
    if status.is_disk_uptodate:
        ldisk = LDiskStatus.OKAY
    elif status.is_diskless:
        ldisk = LDiskStatus.FAULTY
    elif status.is_in_resync:
        ldisk = LDiskStatus.SYNC
    else:
        ldisk = LDiskStatus.UNKNOWN
    return SyncStatus(is_degraded=not status.is_connected or not status.is_disk_uptodate,
                      sync_percent=status.sync_percent, estimated_time=status.est_time,
                      ldisk_status=ldisk)


def _child_spec(spec: DiskCreateSpec, child: DiskRef, default_mib: int) -> DiskCreateSpec:
    return DiskCreateSpec(uuid=child.uuid, instance=spec.instance, index=spec.index,
                          size_mib=child.size_mib or default_mib, template=child.template,
                          logical_id=child.logical_id, params=child.params)


def _size_mib(path: str) -> int | None:
    try:
        with open(path, "rb") as handle:
            return handle.seek(0, os.SEEK_END) // (1024 * 1024)
    except OSError:
        return None
