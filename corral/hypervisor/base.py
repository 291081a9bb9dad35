"""The hypervisor contract: the :class:`Hypervisor` base class.

The typed values it takes and returns live in :mod:`corral.hypervisor.values` and
are re-exported here, so drivers import everything from this module.

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
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from corral.clock import Clock
from corral.errors import HypervisorError
from corral.hypervisor import linux
from corral.hypervisor.params import HvKind, ParamSpec, check_node, check_syntax
from corral.hypervisor.values import (
    ConsoleInfo,
    ConsoleKind,
    DiskSpec,
    HvNodeInfo,
    HvState,
    InstanceInfo,
    InstanceSpec,
    MigrationPhase,
    MigrationState,
    MigrationStatus,
    MigrationTarget,
    MirrorDiskStatus,
    MirrorSync,
    NicSpec,
)
from corral.layout import NodeLayout
from corral.process import CommandResult, CommandRunner

__all__ = [
    "ConsoleInfo", "ConsoleKind", "DiskSpec", "HvNodeInfo", "HvState", "Hypervisor",
    "InstanceInfo", "InstanceSpec", "MigrationPhase", "MigrationState", "MigrationStatus",
    "MigrationTarget", "MirrorDiskStatus", "MirrorSync", "NicSpec",
]


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

        Succeeds when there is nothing to remove (unknown or already clean instance).

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
    #
    # The phases, in the order the master runs them (Ganeti's):
    #   source  migration_info          -> opaque info for the target
    #   target  accept_instance         -> MigrationTarget (start the receiving side)
    #   source  migrate_instance        (starts the transfer; returns at once)
    #   source  migration_status        (polled until not active)
    #   source  finalize_migration_src  (success: stop the local copy; else resume it)
    #   target  finalize_migration_dst  (success: run the instance; else discard it)
    # At no time does the instance run on both nodes: the target keeps its vCPUs
    # stopped until finalize_migration_dst(success=True).

    def _no_migration(self) -> HypervisorError:
        return HypervisorError(f"the {self.KIND} hypervisor does not support migration;"
                               " use failover or move instead")

    async def check_migratable(self, instance: InstanceSpec) -> None:
        """Source side: raise unless ``instance`` runs here and can be migrated."""
        if not self.CAN_MIGRATE:
            raise self._no_migration()
        if await self.instance_info(instance.name) is None:
            raise HypervisorError(f"instance {instance.name} is not running")

    async def migration_info(self, instance: InstanceSpec) -> str:
        """Source side: opaque data the target needs to accept the instance."""
        raise self._no_migration()

    async def accept_instance(self, instance: InstanceSpec, info: str, address: str,
                              *, copy_disks: bool = False) -> MigrationTarget:
        """Target side: prepare to receive ``instance`` on this node's ``address``.

        With ``copy_disks`` the target also exports the instance's (fresh, empty)
        disks so the source can mirror them while the guest runs.

        Raises:
            HypervisorError: the instance already runs here, no port is free, or the
                receiving side could not be started (nothing is left behind).
        """
        raise self._no_migration()

    async def finalize_migration_dst(self, instance: InstanceSpec, info: str,
                                     success: bool) -> None:
        """Target side: run the received instance, or discard it if ``success`` is False."""
        raise self._no_migration()

    async def migrate_instance(self, cluster_name: str, instance: InstanceSpec,
                               target: MigrationTarget, live: bool) -> None:
        """Source side: start sending the instance to ``target`` (returns once started)."""
        raise self._no_migration()

    async def finalize_migration_src(self, instance: InstanceSpec, success: bool,
                                     live: bool) -> None:
        """Source side: after success stop the local copy; after failure cancel what
        is still running (memory transfer, disk mirrors) and resume the guest."""
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
