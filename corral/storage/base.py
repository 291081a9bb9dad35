"""The node-side block device contract: one driver per disk template.

A driver performs single actions on one device (create, remove, assemble,
shutdown, grow, find); retries and rollback policy live above it (see
``corral.storage.rollback``). Every external program runs through the
injected ``CommandRunner``. Sizes are MiB throughout.

Errors: every failure is a ``BlockDeviceError``; failures of an external
program are the ``DeviceCommandError`` subclass, which carries the argument
vector, the exit code and an ``ErrorCode`` (``insufficient_resources`` when a
volume group or file system lacks space) and travels under Ganeti's name.
"""

from __future__ import annotations

import abc
import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from corral.errors import BlockDeviceError, ErrorCode
from corral.objects import Disk, DiskMode, DiskTemplate
from corral.process import CommandResult

MIB = 1024 * 1024

INSUFFICIENT_SPACE = "Not enough free space"
"""Start of the message of every out-of-space failure (Ganeti's wording)."""


class DiskFormat(enum.StrEnum):
    """On-disk format of a file-based disk."""

    RAW = "raw"
    QCOW2 = "qcow2"


class LDiskStatus(enum.IntEnum):
    """Local disk health, with Ganeti's wire values (``LDS_*``)."""

    OKAY = 1
    SYNC = 2
    UNKNOWN = 3
    FAULTY = 4


@dataclass(frozen=True, slots=True, kw_only=True)
class MirrorLink:
    """This node's side of a network mirror (Ganeti's DRBD dynamic parameters):
    the addresses of both ends and the minor used on each."""

    local_ip: str
    remote_ip: str
    local_minor: int
    remote_minor: int


@dataclass(frozen=True, slots=True, kw_only=True)
class DiskRef:
    """What a driver needs to find one existing device.

    ``logical_id`` is Ganeti's: ``(driver, path)`` for file, sharedfile and
    blockdev, ``(vg, lv)`` for plain; ``()`` for diskless; for drbd
    ``(node_a, node_b, port, minor_a, minor_b, secret)``, with the data and
    metadata volumes as ``children`` and this node's side in ``link``.
    """

    uuid: str
    template: DiskTemplate
    logical_id: tuple[str, ...]
    size_mib: int = 0
    fmt: DiskFormat = DiskFormat.RAW
    params: Mapping[str, Any] = field(default_factory=dict)
    children: tuple[DiskRef, ...] = ()
    link: MirrorLink | None = None

    @classmethod
    def from_disk(cls, disk: Disk) -> DiskRef:
        """The reference to a configured disk (its format from ``params["format"]``).

        Raises:
            BlockDeviceError: the format is unknown.
        """
        try:
            fmt = DiskFormat(disk.params.get("format", DiskFormat.RAW))
        except ValueError as err:
            raise BlockDeviceError(f"Unknown disk format of disk {disk.uuid}: {err}") from err
        return cls(
            uuid=disk.uuid,
            template=disk.dev_type,
            logical_id=tuple(str(part) for part in disk.logical_id),
            size_mib=disk.size,
            fmt=fmt,
            params=dict(disk.params),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class DiskCreateSpec:
    """A disk to create (or adopt).

    An empty ``logical_id`` lets the driver choose Ganeti's default name
    (``<uuid>.disk<index>`` in the default VG, or
    ``<dir>/<instance>/<uuid>.file.disk<index>``); the chosen id comes back in
    ``DeviceInfo.logical_id`` for the configuration.
    """

    uuid: str
    instance: str
    index: int
    size_mib: int
    template: DiskTemplate
    logical_id: tuple[str, ...] = ()
    params: Mapping[str, Any] = field(default_factory=dict)
    mode: DiskMode = DiskMode.RW
    wipe: bool = False
    """Zero the new device (ignored where a new device already reads as zeros)."""
    fmt: DiskFormat = DiskFormat.RAW
    sparse: bool = True
    """File template: allocate blocks lazily (raw) / no preallocation (qcow2)."""
    children: tuple[DiskRef, ...] = ()
    """Devices below this one (drbd: the data and metadata volumes, created with it)."""
    link: MirrorLink | None = None

    def ref(self, logical_id: tuple[str, ...] | None = None) -> DiskRef:
        """The reference to the disk this spec creates."""
        return DiskRef(
            uuid=self.uuid,
            template=self.template,
            logical_id=self.logical_id if logical_id is None else logical_id,
            size_mib=self.size_mib,
            fmt=self.fmt,
            params=self.params,
            children=self.children,
            link=self.link,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceInfo:
    """A located device. ``path`` is what the hypervisor opens on this node."""

    logical_id: tuple[str, ...]
    path: str
    size_mib: int
    active: bool = True
    uri: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class SyncStatus:
    """Mirror state. ``sync_percent is None`` means fully in sync."""

    is_degraded: bool = False
    sync_percent: float | None = None
    estimated_time: int | None = None
    """Seconds until in sync, when known."""
    ldisk_status: LDiskStatus = LDiskStatus.OKAY


IN_SYNC = SyncStatus()


@dataclass(frozen=True, slots=True)
class StorageSpace:
    """Capacity of one storage unit (a VG, a file storage directory), MiB."""

    size_mib: int
    free_mib: int


class DeviceCommandError(BlockDeviceError):
    """A storage failure with its structured details; on the wire a ``BlockDeviceError``."""

    def __init__(
        self,
        message: str,
        *,
        command: Sequence[str] = (),
        exit_code: int | None = None,
        code: ErrorCode = ErrorCode.FAULT,
    ) -> None:
        super().__init__(message)
        self.command = tuple(command)
        self.exit_code = exit_code
        self.code = code

    @classmethod
    def from_result(
        cls, message: str, result: CommandResult, code: ErrorCode = ErrorCode.FAULT
    ) -> DeviceCommandError:
        """``message`` plus the command's own error output."""
        detail = (result.stderr.strip() or result.stdout.strip()).replace("\n", "; ")
        text = f"{message}: {result.fail_reason}" + (f": {detail}" if detail else "")
        return cls(text, command=result.argv, exit_code=result.exit_code, code=code)

    def encode(self) -> list[Any]:
        return ["BlockDeviceError", self.wire_args()]


def insufficient_space(required_mib: int, available_mib: int) -> DeviceCommandError:
    """Ganeti's out-of-space error, coded ``insufficient_resources``."""
    return DeviceCommandError(
        f"{INSUFFICIENT_SPACE}: required {required_mib}, available {available_mib}",
        code=ErrorCode.NORES,
    )


def is_insufficient_space(err: BaseException | str) -> bool:
    """Whether an error (or an RPC failure message) reports missing space."""
    if isinstance(err, DeviceCommandError) and err.code is ErrorCode.NORES:
        return True
    return INSUFFICIENT_SPACE in str(err)


class BlockDevice(abc.ABC):
    """One disk template's driver. Methods act on one device; sizes in MiB.

    Class flags tell callers (and the conformance kit) what the template can do.
    """

    template: ClassVar[DiskTemplate]
    growable: ClassVar[bool] = True
    adopts: ClassVar[bool] = False
    """``create`` takes over an existing device instead of allocating one."""
    zero_on_create: ClassVar[bool] = False
    """A new device already reads as zeros, so wiping it is skipped."""

    @abc.abstractmethod
    async def create(self, spec: DiskCreateSpec) -> DeviceInfo:
        """Create (or adopt) the device; on failure nothing is left behind.

        Raises:
            BlockDeviceError: the device exists already, space is missing
                (``is_insufficient_space``), or a command failed.
        """

    @abc.abstractmethod
    async def remove(self, dev: DiskRef) -> None:
        """Destroy the device's storage. Removing a missing device succeeds.

        Raises:
            BlockDeviceError: the device exists and could not be removed.
        """

    @abc.abstractmethod
    async def assemble(self, dev: DiskRef) -> DeviceInfo:
        """Make the device usable and return where it is.

        Raises:
            BlockDeviceError: the device is missing or cannot be activated.
        """

    @abc.abstractmethod
    async def shutdown(self, dev: DiskRef) -> None:
        """Deactivate the device; a missing device is already shut down."""

    @abc.abstractmethod
    async def grow(self, dev: DiskRef, amount_mib: int, dryrun: bool) -> None:
        """Grow by ``amount_mib``; ``dryrun`` only checks that it would work.

        Raises:
            BlockDeviceError: not growable, missing device, or not enough space.
        """

    @abc.abstractmethod
    async def find(self, dev: DiskRef) -> DeviceInfo | None:
        """The device if it exists (not activating it), else ``None``."""

    @abc.abstractmethod
    async def get_size(self, dev: DiskRef) -> int:
        """Current size in MiB (rounded down).

        Raises:
            BlockDeviceError: the device is missing.
        """

    @abc.abstractmethod
    async def storage_info(self, unit: str) -> StorageSpace:
        """Size and free space of a storage unit (VG name, directory).

        Raises:
            BlockDeviceError: the unit does not exist.
        """

    def logical_id_for(self, spec: DiskCreateSpec) -> tuple[str, ...]:
        """The logical id ``create`` will use: the spec's, or the template's default name.

        Raises:
            BlockDeviceError: the spec's logical id is malformed for this template.
        """
        return spec.logical_id

    async def sync_status(self, dev: DiskRef) -> SyncStatus:
        """Mirror state; templates without mirroring are always in sync."""
        return IN_SYNC

    async def grow_layer(
        self, dev: DiskRef, amount_mib: int, dryrun: bool, backingstore: bool
    ) -> None:
        """Ganeti's two-phase grow: the backing storage (``backingstore``), then the
        layers above it (a mirror's device). Devices without layers grow in the first."""
        if backingstore:
            await self.grow(dev, amount_mib, dryrun)

    async def open(self, dev: DiskRef, force: bool = False) -> None:
        """Make the device writable on this node (a mirror's primary side); ``force``
        makes this side's data the good copy (a new mirror). Nothing for the others."""
        return None

    async def close(self, dev: DiskRef) -> None:
        """Undo ``open`` (a mirror's secondary side). Nothing for the others."""
        return None

    async def pause_resume_sync(self, dev: DiskRef, pause: bool) -> bool:
        """Pause or resume a mirror's resync; whether it worked (always, without one)."""
        return True

    async def add_children(self, dev: DiskRef, children: Sequence[DiskRef]) -> None:
        """Give a mirror new local storage (``children``, already created).

        Raises:
            BlockDeviceError: the template has no children, or the device has storage.
        """
        raise BlockDeviceError(f"Disks of template {self.template} have no children to add")

    async def remove_children(self, dev: DiskRef, children: Sequence[DiskRef]) -> None:
        """Detach a mirror's local storage (``children``: the attached ones).

        Raises:
            BlockDeviceError: the template has no children, or they are not attached.
        """
        raise BlockDeviceError(f"Disks of template {self.template} have no children to remove")

    async def snapshot(self, dev: DiskRef, snap_name: str) -> DeviceInfo:
        """Snapshot the device (export). Not supported by any driver yet.

        Raises:
            BlockDeviceError: always, for now.
        """
        raise BlockDeviceError(f"Snapshots are not supported for {self.template} disks")

    def wrong_template(self, dev: DiskRef) -> BlockDeviceError:
        """The error for a reference handed to the wrong driver."""
        return BlockDeviceError(
            f"Disk {dev.uuid} has template {dev.template}, not {self.template}"
        )
