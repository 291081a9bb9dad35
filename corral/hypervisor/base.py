"""The hypervisor contract: the :class:`Hypervisor` base class and the typed values it uses.

Drivers are mechanism only (STYLE 7): each method performs one action and
returns or raises; retry and timeout policy (repeat a soft stop, then force it)
lives in the backend. Methods are async; blocking work goes to a thread
(``asyncio.to_thread``) or to the injected :class:`~corral.process.CommandRunner`.
Memory is in MiB, times in seconds. Every failure is a
:class:`~corral.errors.HypervisorError` (``ParameterError`` for bad parameters).

A driver subclass sets ``KIND``, ``PARAMETERS`` (its table from
:mod:`corral.hypervisor.params`), ``CAN_MIGRATE`` and ``CAN_BALLOON`` and
implements the abstract methods. The base class supplies "not supported"
defaults for balloon, powercycle and the migration steps, a Linux ``node_info``
and the table-driven parameter checks. Drivers are built by
:func:`corral.hypervisor.registry.get_driver` with ``(layout, runner, clock)``.
"""

from __future__ import annotations

import abc
import asyncio
import enum
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar, Self

from corral.clock import Clock
from corral.errors import HypervisorError
from corral.hypervisor import linux
from corral.hypervisor.params import HvKind, ParamSpec, check_node, check_syntax
from corral.layout import NodeLayout
from corral.objects.instance import DiskMode, DiskTemplate, Instance, NicMode
from corral.process import CommandResult, CommandRunner


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
                     beparams: Mapping[str, Any]) -> Self:
        """Build from the config object plus the node-side disks, NICs and filled params.

        Memory is ``beparams["maxmem"]`` (legacy ``memory``), vCPUs ``beparams["vcpus"]``.

        Raises:
            HypervisorError: beparams lack memory or vcpus.
        """
        memory = beparams.get("maxmem", beparams.get("memory"))
        vcpus = beparams.get("vcpus")
        if memory is None or vcpus is None:
            raise HypervisorError(f"instance {instance.name}: beparams lack maxmem or vcpus")
        return cls(name=instance.name, uuid=instance.uuid, hvparams=dict(hvparams),
                   memory_mib=int(memory), vcpus=int(vcpus), disks=tuple(disks),
                   nics=tuple(nics), os=instance.os, primary_node=instance.primary_node,
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


@dataclass(frozen=True, slots=True, kw_only=True)
class MigrationStatus:
    """Progress of an outgoing migration. RAM figures in MiB."""

    state: MigrationState
    transferred_ram_mib: int = 0
    total_ram_mib: int = 0
    info: Mapping[str, Any] = field(default_factory=dict)


class Hypervisor(abc.ABC):
    """The contract every hypervisor driver implements (see the module docstring)."""

    KIND: ClassVar[HvKind]
    PARAMETERS: ClassVar[Mapping[str, ParamSpec]]
    CAN_MIGRATE: ClassVar[bool] = False
    CAN_BALLOON: ClassVar[bool] = False

    def __init__(self, layout: NodeLayout, runner: CommandRunner, clock: Clock) -> None:
        self.layout = layout
        self.runner = runner
        self.clock = clock

    # --- life cycle ------------------------------------------------------------------

    @abc.abstractmethod
    async def start(self, instance: InstanceSpec, *, paused: bool = False) -> None:
        """Start ``instance`` (CPUs stopped if ``paused``).

        Raises:
            HypervisorError: already running, or the start failed (nothing left behind).
        """

    @abc.abstractmethod
    async def stop(self, name: str, *, force: bool, timeout: float) -> None:
        """One stop attempt: soft (ACPI, stop script) unless ``force`` (kill, destroy).

        A soft stop asks and may wait up to ``timeout`` seconds; the caller checks
        the outcome with :meth:`instance_info` and escalates. A forced stop of an
        instance that is not running succeeds.

        Raises:
            HypervisorError: soft stop of an unknown instance, or the action failed.
        """

    @abc.abstractmethod
    async def reboot(self, name: str) -> None:
        """Reboot a running instance (hypervisor-level reset or guest reboot).

        Raises:
            HypervisorError: not running or the reboot failed.
        """

    async def balloon(self, name: str, memory_mib: int) -> None:
        """Set a running instance's memory to ``memory_mib``.

        Raises:
            HypervisorError: unsupported (``CAN_BALLOON`` is False), not running, or failed.
        """
        raise HypervisorError(f"{self.KIND} does not support memory ballooning")

    @abc.abstractmethod
    async def cleanup(self, name: str) -> None:
        """Remove leftovers of a stopped instance (mounts, sockets, runtime files).

        Raises:
            HypervisorError: the leftovers could not be removed.
        """

    async def powercycle(self) -> None:
        """Hard-reset the node itself.

        Raises:
            HypervisorError: unsupported by this hypervisor.
        """
        raise HypervisorError(f"{self.KIND} does not support node powercycle")

    # --- inventory -------------------------------------------------------------------

    @abc.abstractmethod
    async def list_instances(self) -> list[str]:
        """Names of the instances this hypervisor runs on the node."""

    @abc.abstractmethod
    async def instance_info(self, name: str) -> InstanceInfo | None:
        """Info about one instance, ``None`` when it is not running."""

    async def all_instances_info(self) -> dict[str, InstanceInfo]:
        """Info about every listed instance, keyed by name."""
        infos = await asyncio.gather(*(self.instance_info(n) for n in await self.list_instances()))
        return {info.name: info for info in infos if info is not None}

    # --- node ------------------------------------------------------------------------

    async def node_info(self) -> HvNodeInfo:
        """Memory and CPU figures of the node (Linux ``/proc`` by default)."""
        host = await asyncio.to_thread(linux.read_host)
        return HvNodeInfo(memory_total=host.memory_total, memory_free=host.memory_free,
                          memory_dom0=host.memory_total - host.memory_free,
                          cpu_total=host.cpu_total, cpu_nodes=host.cpu_nodes,
                          cpu_sockets=host.cpu_sockets)

    async def verify(self, hvparams: Mapping[str, Any] | None = None) -> list[str]:
        """Problems of this hypervisor on the node (empty list: healthy).

        ``hvparams`` are the cluster's filled params for this hypervisor, if known.
        """
        return []

    # --- console ---------------------------------------------------------------------

    @abc.abstractmethod
    def console(self, instance: InstanceSpec) -> ConsoleInfo:
        """How to reach the instance's console (computed, no I/O)."""

    # --- migration -------------------------------------------------------------------

    def _no_migration(self) -> HypervisorError:
        return HypervisorError(f"{self.KIND} does not support migration")

    async def migration_info(self, instance: InstanceSpec) -> str:
        """Source side: opaque data the target needs to accept the instance."""
        raise self._no_migration()

    async def accept_instance(self, instance: InstanceSpec, info: str, target: str) -> None:
        """Target side: prepare to receive ``instance`` (``target`` is this node's address)."""
        raise self._no_migration()

    async def finalize_migration_dst(self, instance: InstanceSpec, info: str,
                                     success: bool) -> None:
        """Target side: adopt the instance, or clean up if ``success`` is False."""
        raise self._no_migration()

    async def migrate_instance(self, cluster_name: str, instance: InstanceSpec, target: str,
                               live: bool) -> None:
        """Source side: send the instance to ``target`` (returns once started)."""
        raise self._no_migration()

    async def finalize_migration_src(self, instance: InstanceSpec, success: bool,
                                     live: bool) -> None:
        """Source side: stop the local copy after success, or resume it after failure."""
        raise self._no_migration()

    async def migration_status(self, instance: InstanceSpec) -> MigrationStatus:
        """Source side: progress of the outgoing migration."""
        raise self._no_migration()

    # --- parameters ------------------------------------------------------------------

    @classmethod
    def check_parameter_syntax(cls, hvparams: Mapping[str, Any]) -> None:
        """Master side, no I/O: check filled hvparams (override for cross-field rules).

        Raises:
            ParameterError: names the bad parameter.
        """
        check_syntax(cls.KIND, hvparams, complete=True)

    async def validate_parameters(self, hvparams: Mapping[str, Any]) -> None:
        """Node side: check filled hvparams against the node (files exist, …).

        Raises:
            HypervisorError: names the bad parameter.
        """
        await asyncio.to_thread(check_node, self.KIND, hvparams)

    def ancillary_files(self) -> list[tuple[str, bool]]:
        """Files the cluster copies to every node: ``(path, optional)``."""
        return []

    # --- helpers for drivers -----------------------------------------------------------

    async def run_checked(self, argv: Sequence[str], *, timeout: float | None = None,
                          what: str = "") -> CommandResult:
        """Run ``argv`` through the runner; a failure becomes HypervisorError."""
        result = await self.runner.run(argv, timeout=timeout)
        if result.failed:
            detail = result.output.strip()
            raise HypervisorError(f"{what or argv[0]} failed: {result.fail_reason}"
                                  + (f": {detail}" if detail else ""))
        return result
