"""Typed values of the hypervisor contract (re-exported by :mod:`corral.hypervisor.base`).

Memory is in MiB, times in seconds. All records are frozen dataclasses.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Self

from corral.errors import HypervisorError
from corral.objects.instance import DiskMode, DiskTemplate, Instance, NicMode


class HvState(enum.StrEnum):
    """What the hypervisor says about a running (or just ended) instance."""

    RUNNING = "running"
    PAUSED = "paused"
    SHUTDOWN = "shutdown"
    """Stopped from inside the guest ("user down"); the hypervisor still lists it."""
    CRASHED = "crashed"
    BLOCKED = "blocked"


@dataclass(frozen=True, slots=True, kw_only=True)
class DiskSpec:
    """One disk as the node sees it: an attached block device or file.

    ``path`` is the device or file the hypervisor opens; ``uri`` an alternative
    user-space access (e.g. ``nbd://…``, ``""`` if none); ``size_mib`` its size.
    """

    path: str
    uri: str = ""
    mode: DiskMode = DiskMode.RW
    size_mib: int = 0
    dev_type: DiskTemplate = DiskTemplate.PLAIN
    name: str = ""
    uuid: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class NicSpec:
    """One NIC: MAC, optional IP, mode/link/vlan from its nicparams.

    ``tap`` is the host interface to use, ``""`` when the driver names it.
    """

    mac: str
    ip: str | None = None
    mode: NicMode = NicMode.BRIDGED
    link: str = ""
    vlan: str = ""
    name: str = ""
    uuid: str = ""
    tap: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class InstanceSpec:
    """Everything :meth:`Hypervisor.start` needs, built on the node.

    ``hvparams`` are filled (defaults < cluster < instance) and coerced.
    ``network_port`` is the port the master allocated (VNC/SPICE), if any.
    """

    name: str
    uuid: str
    hvparams: Mapping[str, Any]
    memory_mib: int
    vcpus: int
    disks: tuple[DiskSpec, ...] = ()
    nics: tuple[NicSpec, ...] = ()
    os: str = ""
    primary_node: str = ""
    hypervisor: str = ""
    beparams: Mapping[str, Any] = field(default_factory=dict)
    network_port: int | None = None

    @classmethod
    def from_objects(cls, instance: Instance, disks: Sequence[DiskSpec],
                     nics: Sequence[NicSpec], hvparams: Mapping[str, Any],
                     beparams: Mapping[str, Any], *, primary_node: str | None = None) -> Self:
        """Build from the config object plus the node-side disks, NICs and filled params.

        Memory is ``beparams["maxmem"]`` (legacy ``memory``), vCPUs ``beparams["vcpus"]``.
        ``primary_node`` is the primary node's *name*; without it the instance's
        ``primary_node`` field (a node UUID in Corral's config) is used.

        Raises:
            HypervisorError: beparams lack memory or vcpus.
        """
        memory = beparams.get("maxmem", beparams.get("memory"))
        vcpus = beparams.get("vcpus")
        if memory is None or vcpus is None:
            raise HypervisorError(f"instance {instance.name}: beparams lack maxmem or vcpus")
        return cls(name=instance.name, uuid=instance.uuid, hvparams=dict(hvparams),
                   memory_mib=int(memory), vcpus=int(vcpus), disks=tuple(disks),
                   nics=tuple(nics), os=instance.os,
                   primary_node=instance.primary_node if primary_node is None else primary_node,
                   hypervisor=instance.hypervisor, beparams=dict(beparams),
                   network_port=instance.network_port)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (for runtime files); inverse of :meth:`from_dict`."""
        data = asdict(self)
        data["hvparams"] = dict(self.hvparams)
        data["beparams"] = dict(self.beparams)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        """Rebuild from :meth:`to_dict` output."""
        fields = dict(data)
        fields["disks"] = tuple(_disk_from_dict(d) for d in data.get("disks", ()))
        fields["nics"] = tuple(_nic_from_dict(n) for n in data.get("nics", ()))
        return cls(**fields)


def _disk_from_dict(data: Mapping[str, Any]) -> DiskSpec:
    return DiskSpec(**{**data, "mode": DiskMode(data.get("mode", DiskMode.RW)),
                       "dev_type": DiskTemplate(data.get("dev_type", DiskTemplate.PLAIN))})


def _nic_from_dict(data: Mapping[str, Any]) -> NicSpec:
    return NicSpec(**{**data, "mode": NicMode(data.get("mode", NicMode.BRIDGED))})


@dataclass(frozen=True, slots=True, kw_only=True)
class InstanceInfo:
    """A running instance: hypervisor id, memory (MiB), vCPUs, state, CPU time (s)."""

    name: str
    id: int
    memory_mib: int
    vcpus: int
    state: HvState
    cpu_time_s: float


@dataclass(frozen=True, slots=True, kw_only=True)
class HvNodeInfo:
    """The node as a hypervisor sees it. Memory in MiB."""

    memory_total: int
    memory_free: int
    memory_dom0: int
    cpu_total: int
    cpu_nodes: int = 1
    cpu_sockets: int = 1
    cpu_dom0: int = 0
    hv_version: tuple[int, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """Ganeti's ``GetNodeInfo`` keys."""
        return asdict(self)


class ConsoleKind(enum.StrEnum):
    """How to reach a console; values are Ganeti's wire strings where Ganeti has one."""

    SSH = "ssh"
    """Run ``command`` on ``host`` over ssh (as ``user``)."""
    SOCKET = "socket"
    """Attach to the unix socket ``path`` on ``host`` (``command`` does it)."""
    VNC = "vnc"
    SPICE = "spice"
    MESSAGE = "msg"
    """No console: show ``message``."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ConsoleInfo:
    """Ganeti's InstanceConsole: what the master tells a client to run."""

    instance: str
    kind: ConsoleKind
    message: str = ""
    host: str = ""
    port: int | None = None
    user: str = "root"
    command: tuple[str, ...] = ()
    display: int | None = None
    path: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Ganeti's wire shape (only the fields that apply are meaningful)."""
        data = asdict(self)
        data["kind"] = self.kind.value
        data["command"] = list(self.command)
        return data


class MigrationState(enum.StrEnum):
    """Ganeti's migration status strings."""

    SETUP = "setup"
    ACTIVE = "active"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


class MigrationPhase(enum.StrEnum):
    """What an outgoing migration is copying now."""

    DISKS = "disks"
    """Live storage migration: the disks are mirrored to the target (before memory)."""
    MEMORY = "memory"


@dataclass(frozen=True, slots=True, kw_only=True)
class MigrationTarget:
    """Where the source sends an instance, as the target prepared it.

    ``address``/``port``: the target's endpoint for the memory stream.
    ``disk_exports``: for a live storage migration, one URI per disk
    (``nbd://host:port/export``) that the source mirrors the disk to; empty otherwise.
    """

    address: str
    port: int
    disk_exports: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class MigrationStatus:
    """Progress of an outgoing migration. Sizes in MiB, rates in MiB/s, times in ms.

    ``state`` is Ganeti's status; ``phase`` says whether disks or memory are being
    copied. ``error`` explains a FAILED state.
    """

    state: MigrationState
    phase: MigrationPhase = MigrationPhase.MEMORY
    transferred_ram_mib: int = 0
    total_ram_mib: int = 0
    remaining_ram_mib: int = 0
    rate_mib_s: float = 0.0
    expected_downtime_ms: int = 0
    downtime_ms: int = 0
    total_time_ms: int = 0
    disk_transferred_mib: int = 0
    disk_total_mib: int = 0
    error: str = ""

    @property
    def active(self) -> bool:
        """True while the migration is still going (neither finished nor failed)."""
        return self.state in (MigrationState.SETUP, MigrationState.ACTIVE)


class MirrorSync(enum.StrEnum):
    """The state of one ``mirror`` disk's two copies, as the primary's hypervisor sees it."""

    IN_SYNC = "in_sync"
    """Every write reaches both copies and nothing is left to copy."""
    DEGRADED = "degraded"
    """The secondary is unreachable: writes go to the local copy only (and are recorded)."""
    RESYNCING = "resyncing"
    """The secondary is reachable again: the regions it missed are being copied."""


@dataclass(frozen=True, slots=True, kw_only=True)
class MirrorDiskStatus:
    """One mirror disk of a running instance. ``done``/``total`` in bytes (resync progress)."""

    index: int
    state: MirrorSync
    done: int = 0
    total: int = 0
    error: str = ""

    @property
    def percent(self) -> float:
        return 100.0 if self.total <= 0 else 100.0 * self.done / self.total
