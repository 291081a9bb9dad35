"""Typed payloads of the node RPC answers (the ``returns`` of :mod:`corral.rpc.calls`).

Each struct encodes to exactly the JSON the node sends (Ganeti's shapes): keys that a
node omits when they do not apply are ``None`` by default in a struct with
``omit_defaults``; list-shaped answers are ``array_like``. Fields with a default that is
always sent (no ``omit_defaults``) only let a partial answer from an older node decode.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec
from msgspec import UNSET as UNSET
from msgspec import UnsetType as UnsetType

from corral.objects.node_disk import DrbdLink as DrbdLink
from corral.objects.node_disk import NodeDisk as NodeDisk


class Payload(msgspec.Struct, frozen=True):
    """Base of every RPC payload struct."""


class StorageSpace(Payload, frozen=True, omit_defaults=True):
    """One storage unit of ``node_info``: space in MiB, or why it is unknown."""

    type: str | None
    name: str | None
    storage_size: int | None = None
    storage_free: int | None = None
    error: str | None = None


class HvNodeSpace(Payload, frozen=True, omit_defaults=True):
    """The node as one hypervisor sees it (``node_info``'s ``hv`` entries); MiB."""

    memory_total: int | None = None
    memory_free: int | None = None
    memory_dom0: int | None = None
    cpu_total: int | None = None
    cpu_nodes: int | None = None
    cpu_sockets: int | None = None
    cpu_dom0: int | None = None
    hv_version: list[int] | None = None
    error: str | None = None


class NodeInfo(Payload, frozen=True):
    """``node_info``: host memory (MiB) and CPUs, storage units, hypervisors by name."""

    bootid: str = ""
    memory_total: int = 0
    memory_free: int = 0
    memory_dom0: int = 0
    cpu_total: int = 0
    cpu_nodes: int = 1
    cpu_sockets: int = 1
    storage: list[StorageSpace] = []
    hv: dict[str, HvNodeSpace] = {}


class SpaceReport(Payload, frozen=True, omit_defaults=True):
    """Size and free space (MiB) of a volume group or a filesystem, or why they are unknown."""

    size_mib: int | None = None
    free_mib: int | None = None
    error: str | None = None


class NodeVerifyResult(Payload, frozen=True, omit_defaults=True):
    """``node_verify``: one entry per requested check this node knows."""

    filelist: dict[str, str | None] | None = None
    """path → SHA-1 hex, None when unreadable."""
    nodelist: dict[str, str] | None = None
    """node → why its daemon port is unreachable."""
    hypervisor: dict[str, str | None] | None = None
    """hypervisor → problems, None when healthy."""
    version: tuple[int, str] | None = None
    """(protocol version, release)."""
    time: tuple[int, int] | None = None
    """(seconds, microseconds)."""
    node_setup: list[str] | None = msgspec.field(default=None, name="node-setup")
    nodesetup: list[str] | None = None
    master_ip: bool | None = msgspec.field(default=None, name="master-ip")
    vg_space: dict[str, SpaceReport] | None = msgspec.field(default=None, name="vg-space")
    """volume group → its size and free space."""
    disk_space: dict[str, SpaceReport] | None = msgspec.field(default=None, name="disk-space")
    """path (relative to the node root) → size and free space of its filesystem."""


class InstanceRuntime(Payload, frozen=True):
    """Runtime state of one instance (``instance_info``): MiB, CPUs, state, CPU seconds."""

    state: str
    memory: int = 0
    vcpus: int = 0
    time: float = 0.0


class RunningInstance(InstanceRuntime, frozen=True):
    """One entry of ``all_instances_info``: runtime state and its hypervisor."""

    hypervisor: str = ""


class MigrationEndpoint(Payload, frozen=True):
    """``accept_instance``: where the target receives the instance's memory and, for a
    live storage migration, one ``nbd://`` export per disk."""

    address: str
    port: int
    disk_exports: list[str] = []


class MigrationProgress(Payload, frozen=True):
    """``instance_get_migration_status``: Ganeti's status string and the progress.

    Sizes in MiB, ``rate`` in MiB/s, times in ms; ``phase`` is ``disks`` while disks
    are mirrored, ``memory`` afterwards; ``error`` explains a ``failed`` status.
    """

    status: str
    phase: str = "memory"
    transferred_ram: int = 0
    total_ram: int = 0
    remaining_ram: int = 0
    rate: float = 0.0
    expected_downtime: int = 0
    downtime: int = 0
    total_time: int = 0
    disk_transferred: int = 0
    disk_total: int = 0
    error: str = ""


class ConsolePayload(Payload, frozen=True):
    """``instance_console_info``: Ganeti's InstanceConsole."""

    instance: str
    kind: str
    message: str = ""
    host: str = ""
    port: int | None = None
    user: str = "root"
    command: list[str] = []
    display: int | None = None
    path: str = ""


class DeviceState(Payload, frozen=True):
    """A located block device (``blockdev_create``); size in MiB."""

    logical_id: list[str] = []
    path: str = ""
    size: int = 0
    active: bool = True
    uri: str | None = None


class AssembledDevice(DeviceState, frozen=True):
    """``blockdev_assemble``: the device and the instance's link to it (sent only when the
    device has a path)."""

    link: str | UnsetType = UNSET


class DeviceStatus(DeviceState, frozen=True):
    """``blockdev_find``: the device and its mirror state."""

    is_degraded: bool = False
    sync_percent: float | None = None
    estimated_time: int | None = None
    ldisk_status: int = 0


class DiskDimensions(Payload, frozen=True, array_like=True):
    """One entry of ``blockdev_getdimensions``: ``[size in bytes, spindles]``."""

    size_bytes: int
    spindles: int


class HookScriptResult(Payload, frozen=True, array_like=True):
    """One script of ``hooks_runner``: ``[name, status (0 skip, 1 fail, 2 ok), output]``."""

    script: str
    status: int
    output: str


class CommandOutput(Payload, frozen=True):
    """``run_oob``: exit code and stdout + stderr."""

    exit_code: int
    output: str


class Volume(Payload, frozen=True):
    """One LV of ``node_volumes``: name, volume group, size (MiB), first PV."""

    name: str
    vg: str
    size: int
    dev: str


StorageValue = str | int | float | bool | None
"""One field of a ``storage_list`` row."""


class OsDiagnosis(Payload, frozen=True):
    """One OS definition of ``os_diagnose``; for an invalid one, ``error`` says why."""

    name: str
    path: str
    valid: bool
    error: str | None = None
    variants: list[str] = []
    parameters: list[tuple[str, str]] = []
    api_versions: list[int] = []
    trusted: bool = True


class JoinCsr(Payload, frozen=True):
    """``node_join_begin``: the node's certificate request and its MAC."""

    csr: str
    mac: str


# --- import/export --------------------------------------------------------------

ImpExpMode = Literal["import", "export"]
ImpExpIoKind = Literal["raw-disk"]
"""What an import writes or an export reads (Ganeti's ``IEIO_*``): ``raw-disk`` is the
bytes of one disk, as its node assembles it."""


class ImpExpOptions(Payload, frozen=True):
    """Options of one import or export (Ganeti's ImportExportOptions).

    ``compress``: the stream's compression (``none``, ``gzip``, ``gzip-fast``,
    ``gzip-slow``); ``magic``: a token the exporter must present, so that it can only
    fill the import it was started for; ``connect_timeout``: seconds an import waits
    for its exporter (and an exporter for the connection).
    """

    compress: str = "none"
    magic: str = ""
    connect_timeout: float = 60.0


class ImpExpIo(Payload, frozen=True):
    """The destination of an import or the source of an export."""

    kind: ImpExpIoKind
    disk: NodeDisk
    """The disk as the node doing the import or export needs it."""


class ImpExpHandle(Payload, frozen=True):
    """``import_start``: the import's name and where its listener waits (an unspecified
    ``address``, such as ``0.0.0.0``, means every address of the node)."""

    name: str
    port: int
    address: str = ""


class ImpExpStatus(Payload, frozen=True):
    """One entry of ``impexp_status``: where an import or export stands.

    Bytes are of the disk (uncompressed); ``rate`` is MiB/s since the connection;
    ``success`` is meaningful once ``done``, ``error`` says why it failed.
    """

    name: str
    mode: ImpExpMode
    listen_port: int | None = None
    connected: bool = False
    done: bool = False
    success: bool = False
    bytes_done: int = 0
    bytes_total: int = 0
    rate: float = 0.0
    error: str = ""


def to_payload(value: Any, kind: Any) -> Any:
    """``value`` (plain JSON data) as ``kind``; raises msgspec.ValidationError."""
    return msgspec.convert(value, kind)


# --- mirrored disks (DRBD) ------------------------------------------------------------------
class MirrorStatus(Payload, frozen=True):
    """Ganeti's ``BlockDevStatus`` (``blockdev_getmirrorstatus``): ``sync_percent`` null
    when in sync, ``estimated_time`` in seconds, ``ldisk_status`` Ganeti's ``LDS_*``."""

    dev_path: str
    major: int | None
    minor: int | None
    sync_percent: float | None
    estimated_time: int | None
    is_degraded: bool
    ldisk_status: int


class MirrorStatusResult(Payload, frozen=True, array_like=True):
    """One disk of ``blockdev_getmirrorstatus_multi``: ``[true, status]`` or
    ``[false, error message]``."""

    ok: bool
    status: MirrorStatus | str


class DrbdSyncProgress(Payload, frozen=True, array_like=True):
    """``drbd_wait_sync``: ``[all done, lowest sync percentage]``."""

    all_done: bool
    min_resync: float


class DeviceRename(Payload, frozen=True, array_like=True):
    """One entry of ``blockdev_rename``: ``[disk, new logical id]`` (a volume: ``[vg, lv]``)."""

    disk: NodeDisk
    unique_id: tuple[str, ...]


class PauseResult(Payload, frozen=True, array_like=True):
    """One disk of ``blockdev_pause_resume_sync``: ``[success, error message or null]``."""

    ok: bool
    error: str | None
class MirrorExport(Payload, frozen=True):
    """``mirror_export_start``/``_status``: the secondary's NBD-over-TLS export of a
    ``mirror`` disk. ``uri`` (``nbd+tls://address:port/name``) is what the primary's
    hypervisor connects to; ``pid`` is the serving ``qemu-storage-daemon`` (0: stopped)."""

    name: str
    running: bool
    uri: str = ""
    path: str = ""
    client: str = ""
    """The node allowed to connect (the primary)."""
    pid: int = 0


class MirrorDiskSync(Payload, frozen=True):
    """``instance_mirror_status``: one mirror disk as the primary sees it. ``state`` is
    ``in_sync``, ``degraded`` or ``resyncing``; ``done``/``total`` in bytes."""

    index: int
    state: Literal["in_sync", "degraded", "resyncing"]
    done: int = 0
    total: int = 0
    error: str = ""


class ConfigCopy(Payload, frozen=True):
    """``config_fetch``: a candidate's whole configuration replica."""

    serial_no: int
    changes: list[Any]
    """``[[kind, uuid, object], ...]`` as in ``config_replicate``."""
    meta: dict[str, Any]


class QueueCopy(Payload, frozen=True):
    """``jobqueue_fetch``: a candidate's job queue replica files."""

    files: list[tuple[str, str]]
    """``[[name relative to the queue directory, JSON text], ...]`` (archived ones too)."""
    serial: int


class QueueReplicaState(Payload, frozen=True):
    """``jobqueue_replica_state``: a candidate's job queue replica, as verify compares it."""

    serial: int
    """The highest job id the replica holds (live, archived, or its ``serial`` file)."""
    missing: list[int] = []
    """The asked-for job ids of which it holds no file, live or archived."""
