"""The Xen hypervisors: ``xen-pvm`` and ``xen-hvm``, driven through ``xl``.

Each started instance has a domain config file (Ganeti's ``/etc/xen/<name>``,
here ``<etc>/xen/<name>`` of the node's layout) written by
:mod:`corral.hypervisor.xen.config`; ``xl create`` starts it. A failed start
moves the file to ``<log>/xen/<name>-<timestamp>`` for inspection. The
toolstack is the ``xen_cmd`` hvparam: ``xl``, or the legacy ``xm`` which is
refused clearly when it is not installed. A domain's state comes from
``xl list``, the node's figures from ``xl info``. Migration runs ``xl migrate``
over a socat port as Ganeti does, or xl's ssh transport
(:mod:`corral.hypervisor.xen.migration`).
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from corral.clock import Clock
from corral.errors import HypervisorError, ParameterError
from corral.hypervisor.base import (
    ConsoleInfo,
    ConsoleKind,
    HvNodeInfo,
    Hypervisor,
    InstanceInfo,
    InstanceSpec,
    MigrationStatus,
    MigrationTarget,
)
from corral.hypervisor.params import TABLES, HvKind
from corral.hypervisor.values import HvState
from corral.hypervisor.xen import migration, xl_info, xl_list
from corral.hypervisor.xen.config import check_files, read_vnc_password, render_domain_config
from corral.hypervisor.xen.spec import XenDomainSpec
from corral.layout import NodeLayout
from corral.process import CommandResult, CommandRunner

KNOWN_COMMANDS = ("xl", "xm")
_MEMORY_LINE = re.compile(r"^memory\s*=.*$", re.MULTILINE)


class XenHypervisor(Hypervisor):
    """What ``xen-pvm`` and ``xen-hvm`` share (everything but the kind)."""

    CAN_MIGRATE = True
    CAN_BALLOON = True
    REBOOT_TIMEOUT: ClassVar[float] = 60.0
    """Seconds a rebooting domain has to come back with a new domain id."""
    POLL_INTERVAL: ClassVar[float] = 0.2
    MIGRATION_RECEIVER: ClassVar[str] = "socat"
    """The target's listener in port mode (absent: xl's ssh transport)."""

    def __init__(self, layout: NodeLayout, runner: CommandRunner, clock: Clock) -> None:
        super().__init__(layout, runner, clock)
        self._outgoing = migration.Outgoing()

    # --- paths and the toolstack ----------------------------------------------------------

    @property
    def config_dir(self) -> Path:
        return self.layout.etc_dir / "xen"

    @property
    def log_dir(self) -> Path:
        return self.layout.log_dir / "xen"

    def config_file(self, name: str) -> Path:
        return self.config_dir / name

    def _command_file(self, name: str) -> Path:
        return self.layout.run_dir / "xen" / f"{name}.cmd"

    def command_of(self, name: str) -> str:
        """The toolstack an instance was started with (``xl`` when unknown)."""
        try:
            return self._command_file(name).read_text().strip() or "xl"
        except OSError:
            return "xl"

    async def _toolstack(self, hvparams: Mapping[str, Any]) -> str:
        """The ``xen_cmd`` to run, checked.

        Raises:
            HypervisorError: unknown command, or ``xm`` that is not installed.
        """
        cmd = str(hvparams.get("xen_cmd", "xl"))
        if cmd not in KNOWN_COMMANDS:
            raise HypervisorError(f"xen_cmd {cmd!r} is not a Xen toolstack (xl or xm)")
        if cmd == "xm" and (await self.runner.run(["which", "xm"])).failed:
            raise HypervisorError("xen_cmd is 'xm' but the xm toolstack is not installed on"
                                  " this node (Xen removed it in 4.5): set xen_cmd=xl")
        return cmd

    async def _xen(self, cmd: str, *args: str, timeout: float | None = None) -> CommandResult:
        return await self.runner.run([cmd, *args], timeout=timeout)

    # --- inventory -------------------------------------------------------------------------

    async def _domains(self, cmd: str = "xl", *, include_dom0: bool = False
                       ) -> list[xl_list.XlDomain]:
        result = await self._xen(cmd, "list")
        if result.failed:
            raise HypervisorError(f"listing Xen domains failed: {result.fail_reason}:"
                                  f" {result.output.strip()}")
        return xl_list.parse_list(result.stdout, include_dom0=include_dom0)

    async def domain(self, name: str) -> xl_list.XlDomain | None:
        return next((d for d in await self._domains(self.command_of(name)) if d.name == name),
                    None)

    async def list_instances(self) -> list[str]:
        return [d.name for d in await self._domains() if d.state != HvState.SHUTDOWN]

    async def instance_info(self, name: str) -> InstanceInfo | None:
        domain = await self.domain(name)
        return None if domain is None else domain.info()

    async def all_instances_info(self) -> dict[str, InstanceInfo]:
        return {d.name: d.info() for d in await self._domains() if d.state != HvState.SHUTDOWN}

    # --- life cycle ------------------------------------------------------------------------

    def domain_spec(self, instance: InstanceSpec, startup_memory: int | None = None
                    ) -> XenDomainSpec:
        """What the config file is written from (HVM NICs get ``nic_type`` as model)."""
        model = ""
        if self.KIND == HvKind.XEN_HVM:
            nic_type = str(instance.hvparams.get("nic_type", ""))
            model = "" if nic_type == "paravirtual" else nic_type
        return XenDomainSpec.from_instance(instance, nic_model=model,
                                           startup_memory=startup_memory)

    async def startup_memory(self, instance: InstanceSpec) -> int:
        """Ganeti's rule: the maximum memory if the host has it free, else what is free,
        but never less than ``minmem``."""
        free = (await self.node_info()).memory_free
        minimum = int(instance.beparams.get("minmem", instance.memory_mib))
        return max(min(instance.memory_mib, free), min(minimum, instance.memory_mib))

    async def start(self, instance: InstanceSpec, *, paused: bool = False) -> None:
        cmd = await self._toolstack(instance.hvparams)
        if await self.instance_info(instance.name) is not None:
            raise HypervisorError(f"instance {instance.name} is already running")
        spec = self.domain_spec(instance, await self.startup_memory(instance))
        problems = await asyncio.to_thread(check_files, self.KIND, spec)
        if problems:
            raise HypervisorError(f"cannot start instance {instance.name}: "
                                  + "; ".join(problems))
        password = (await asyncio.to_thread(read_vnc_password, instance.hvparams)
                    if self.KIND == HvKind.XEN_HVM else "")
        text = render_domain_config(self.KIND, spec, vnc_password=password)
        path = await self.write_config(instance.name, text)
        await asyncio.to_thread(_write, self._command_file(instance.name), cmd + "\n")
        result = await self._xen(cmd, "create", *(["-p"] if paused else []), str(path))
        if result.failed:
            stashed = await asyncio.to_thread(self._stash_config, instance.name)
            raise HypervisorError(
                f"failed to start instance {instance.name}: {result.fail_reason}"
                f" ({result.output.strip()}); moved its config file to {stashed}")

    async def write_config(self, name: str, text: str) -> Path:
        """Write the domain config file of ``name``; its path."""
        path = self.config_file(name)
        await asyncio.to_thread(_write, path, text)
        return path

    def _stash_config(self, name: str) -> Path:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%Y-%m-%d_%H_%M_%S", time.gmtime(self.clock.now()))
        target = self.log_dir / f"{name}-{stamp}"
        self.config_file(name).replace(target)
        self._command_file(name).unlink(missing_ok=True)
        return target

    async def stop(self, name: str, *, force: bool, timeout: float) -> None:
        cmd = self.command_of(name)
        domain = await self.domain(name)
        if domain is None:
            if force:
                return
            raise HypervisorError(f"cannot shut down instance {name}: it is not running")
        if not force:
            if domain.state != HvState.SHUTDOWN:
                result = await self._xen(cmd, "shutdown", "-w", name, timeout=timeout)
                if result.failed and not result.timed_out and await self.domain(name):
                    raise HypervisorError(f"soft stop of {name} failed: "
                                          f"{result.fail_reason}: {result.output.strip()}")
            domain = await self.domain(name)
            if domain is None or domain.state != HvState.SHUTDOWN:
                return  # gone, or still running: the caller escalates after its timeout
            # on_poweroff = 'preserve' keeps the shut-down domain: destroy what remains
        result = await self._xen(cmd, "destroy", name)
        if result.failed and await self.domain(name) is not None:
            raise HypervisorError(f"failed to stop instance {name}: {result.fail_reason}:"
                                  f" {result.output.strip()}")

    async def cleanup(self, name: str) -> None:
        if await self.domain(name) is not None:
            return
        try:
            await asyncio.to_thread(self.config_file(name).unlink, missing_ok=True)
            await asyncio.to_thread(self._command_file(name).unlink, missing_ok=True)
        except OSError as err:
            raise HypervisorError(f"cannot remove the Xen files of {name}: {err}") from err

    async def reboot(self, name: str) -> None:
        before = await self.domain(name)
        if before is None:
            raise HypervisorError(f"cannot reboot instance {name}: it is not running")
        result = await self._xen(self.command_of(name), "reboot", name)
        if result.failed:
            raise HypervisorError(f"failed to reboot instance {name}: {result.fail_reason}:"
                                  f" {result.output.strip()}")
        deadline = self.clock.monotonic() + self.REBOOT_TIMEOUT
        while self.clock.monotonic() < deadline:
            now = await self.domain(name)
            if now is not None and (now.domid != before.domid
                                    or now.cpu_time_s < before.cpu_time_s):
                return
            await self.clock.sleep(self.POLL_INTERVAL)
        raise HypervisorError(f"failed to reboot instance {name}: it did not come back"
                              f" (new domain id) within {self.REBOOT_TIMEOUT:.0f} s")

    async def balloon(self, name: str, memory_mib: int) -> None:
        if await self.domain(name) is None:
            raise HypervisorError(f"cannot balloon instance {name}: it is not running")
        result = await self._xen(self.command_of(name), "mem-set", name, str(memory_mib))
        if result.failed:
            raise HypervisorError(f"failed to balloon instance {name}: {result.fail_reason}"
                                  f" ({result.output.strip()})")
        await asyncio.to_thread(_set_memory_line, self.config_file(name), memory_mib)

    async def powercycle(self) -> None:
        """Reset the host through Xen (``xl debug-keys R``)."""
        result = await self._xen("xl", "debug-keys", "R")
        if result.failed:
            raise HypervisorError(f"xl debug-keys R failed: {result.output.strip()}")

    # --- migration (see corral.hypervisor.xen.migration) -----------------------------------

    async def migration_info(self, instance: InstanceSpec) -> str:
        return await migration.migration_info(self, instance)

    async def accept_instance(self, instance: InstanceSpec, info: str, address: str,
                              *, copy_disks: bool = False) -> MigrationTarget:
        return await migration.accept_instance(self, instance, info, address, copy_disks)

    async def finalize_migration_dst(self, instance: InstanceSpec, info: str,
                                     success: bool) -> None:
        await migration.finalize_dst(self, instance, info, success)

    async def migrate_instance(self, cluster_name: str, instance: InstanceSpec,
                               target: MigrationTarget, live: bool) -> None:
        await self.check_migratable(instance)
        migration.start_migration(self, self._outgoing, instance, target)

    async def migration_status(self, instance: InstanceSpec) -> MigrationStatus:
        return migration.status(self._outgoing, instance)

    async def finalize_migration_src(self, instance: InstanceSpec, success: bool,
                                     live: bool) -> None:
        await migration.finalize_src(self, self._outgoing, instance, success)

    # --- node ------------------------------------------------------------------------------

    async def node_info(self) -> HvNodeInfo:
        result = await self._xen("xl", "info")
        if result.failed:
            raise HypervisorError(f"xl info failed: {result.fail_reason}:"
                                  f" {result.output.strip()}")
        return xl_info.node_info(result.stdout, await self._domains(include_dom0=True))

    async def verify(self, hvparams: Mapping[str, Any] | None = None) -> list[str]:
        try:
            cmd = await self._toolstack(hvparams or {})
        except HypervisorError as err:
            return [f"{self.KIND}: {err}"]
        result = await self._xen(cmd, "info")
        if result.failed:
            return [f"{self.KIND}: retrieving information from Xen ({cmd} info) failed:"
                    f" {result.fail_reason}: {result.output.strip()}"]
        return []

    def console(self, instance: InstanceSpec) -> ConsoleInfo:
        cmd = str(instance.hvparams.get("xen_cmd", "xl"))
        return ConsoleInfo(instance=instance.name, kind=ConsoleKind.SSH,
                           host=instance.primary_node, user="root",
                           command=(cmd, "console", instance.name))


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".new")
    tmp.write_text(text)
    tmp.replace(path)


def _set_memory_line(path: Path, memory_mib: int) -> None:
    """Record ballooned memory in the config file (a later start uses it)."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return
    _write(path, _MEMORY_LINE.sub(f"memory = {memory_mib}", text, count=1))


class XenPvmHypervisor(XenHypervisor):
    """Paravirtualised Xen guests (``xen-pvm``)."""

    KIND = HvKind.XEN_PVM
    PARAMETERS = TABLES[HvKind.XEN_PVM]

    @classmethod
    def check_parameter_syntax(cls, hvparams: Mapping[str, Any]) -> None:
        """The table's checks, and a bootloader path when booting through one."""
        super().check_parameter_syntax(hvparams)
        if hvparams.get("use_bootloader") and not hvparams.get("bootloader_path"):
            raise ParameterError("bootloader_path: use_bootloader is set but no"
                                 " bootloader is given")


class XenHvmHypervisor(XenHypervisor):
    """Fully virtualised Xen guests (``xen-hvm``)."""

    KIND = HvKind.XEN_HVM
    PARAMETERS = TABLES[HvKind.XEN_HVM]
