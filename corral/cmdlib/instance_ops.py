"""Starting, stopping and rebooting instances (``gnt-instance startup|shutdown|reboot``).

Locks, as Ganeti: the instance exclusively; startup also the primary node's
node-res lock (its memory is checked); the cluster lock shared.
"""

from __future__ import annotations

from typing import Any

from corral.cmdlib.base import implements
from corral.cmdlib.common.allocation import check_free_memory
from corral.cmdlib.common.instances.base_lu import InstanceLU
from corral.cmdlib.common.instances.bundle import filled_beparams
from corral.cmdlib.common.instances.disks import assemble_disks, shutdown_disks
from corral.cmdlib.common.instances.mirror import serve_mirrors
from corral.cmdlib.common.instances.status import (
    INSTANCE_ONLINE,
    USER_SHUTDOWN,
    check_node_online,
    check_state,
    live_info,
)
from corral.cmdlib.common.parameters import checks as params
from corral.errors import ErrorCode, OpExecError, OpPrereqError, ParameterError
from corral.hypervisor.params import check_syntax
from corral.objects.instance import AdminState, AdminStateSource
from corral.opcodes.instance import OpInstanceReboot, OpInstanceShutdown, OpInstanceStartup


def check_hv_overrides(hypervisor: str, hvparams: dict[str, Any]) -> dict[str, Any]:
    """One-off (or stored) instance hvparams, converted.

    Raises:
        OpPrereqError: (INVAL) a bad name or value; the message names the parameter.
    """
    try:
        return check_syntax(hypervisor, hvparams, instance_level=True)
    except ParameterError as err:
        raise OpPrereqError(str(err), ErrorCode.INVAL) from None


def check_be_overrides(beparams: dict[str, Any]) -> dict[str, Any]:
    """Backend parameters with the legacy ``memory`` upgraded and values typed."""
    upgraded = params.upgrade_beparams(beparams)
    return params.check_types(upgraded, params.BE_TYPES, "backend")


@implements(OpInstanceStartup)
class LUInstanceStartup(InstanceLU[OpInstanceStartup]):
    """Start an instance; one-off hv/be overrides are not stored."""

    HPATH = "instance-start"
    LOCK_NODES = False
    LOCK_NODE_RES = "primary"

    primary_offline = False
    already_running = False
    hv_overrides: dict[str, Any]
    be_overrides: dict[str, Any]

    def check_arguments(self) -> None:
        self.be_overrides = check_be_overrides(self.op.beparams)
        self.hv_overrides = {}

    async def check_prereq(self) -> None:
        await super().check_prereq()
        inst = self.inst
        self.hv_overrides = check_hv_overrides(inst.hypervisor, self.op.hvparams)
        await check_state(self, inst, INSTANCE_ONLINE)
        self.primary_offline = self.primary().offline
        if self.primary_offline and self.op.ignore_offline_nodes:
            self.log_warning("Ignoring offline primary node")
            if self.op.hvparams or self.op.beparams:
                self.log_warning("Overridden parameters are ignored")
            return
        check_node_online(self.primary())
        info = await live_info(self, inst)
        if info is not None and info.state == USER_SHUTDOWN:
            raise OpPrereqError(
                f"Instance '{inst.name}' was shutdown by the user, please shutdown the"
                " instance before starting it again", ErrorCode.INVAL,
            )
        self.already_running = info is not None
        if not self.already_running:
            bep = {**filled_beparams(self.cfg.cluster, inst.beparams), **self.be_overrides}
            await check_free_memory(self, self.primary(), f"starting instance {inst.name}",
                                    int(bep["minmem"]), inst.hypervisor)

    def hooks_env(self) -> dict[str, Any]:
        return {"FORCE": self.op.force, **super().hooks_env()}

    async def exec(self) -> Any:
        inst = self.inst
        changes: dict[str, Any] = {}
        if not self.op.no_remember:
            changes.update(admin_state=AdminState.UP, admin_state_source=AdminStateSource.ADMIN)
        if self.primary_offline:
            await self._remember(changes)
            self.log_info("Primary node offline, marked instance as started")
            return None
        if self.already_running:
            await self._remember(changes)
            self.log_info(f"Instance {inst.name} is already running")
            return None
        await assemble_disks(self, inst, self.disks(), error="Disk consistency error")
        await self._remember({**changes, "disks_active": True})
        bundle = self.bundle(hvparams=self.hv_overrides, beparams=self.be_overrides)
        result = await self.ctx.rpc.instance_start(self.primary(), bundle,
                                              self.op.startup_paused, self.op.reason)
        if not result.ok:
            await shutdown_disks(self, inst, self.disks())
            raise OpExecError(f"Could not start instance: {result.fail_msg}")
        return None

    async def _remember(self, changes: dict[str, Any]) -> None:
        current = self.current()
        if any(getattr(current, key) != value for key, value in changes.items()):
            self.instance = current.evolve(self.now(), **changes)
            await self.commit(self.instance)


@implements(OpInstanceShutdown)
class LUInstanceShutdown(InstanceLU[OpInstanceShutdown]):
    """Stop an instance: soft first, forced after ``timeout`` seconds."""

    HPATH = "instance-stop"
    LOCK_NODES = False
    LOCK_NODE_RES = "none"

    primary_offline = False

    async def check_prereq(self) -> None:
        await super().check_prereq()
        if self.op.force:
            self.log_warning("Ignoring offline instance check")
        else:
            await check_state(self, self.inst, INSTANCE_ONLINE)
        self.primary_offline = self.primary().offline
        if self.primary_offline and self.op.ignore_offline_nodes:
            self.log_warning("Ignoring offline primary node")
        else:
            check_node_online(self.primary())

    def hooks_env(self) -> dict[str, Any]:
        return {**super().hooks_env(), "TIMEOUT": self.op.timeout}

    async def exec(self) -> Any:
        inst = self.inst
        changes: dict[str, Any] = {"disks_active": False}
        if not self.op.no_remember and inst.admin_state in INSTANCE_ONLINE:
            source = AdminStateSource(self.op.admin_state_source or AdminStateSource.ADMIN)
            changes.update(admin_state=AdminState.DOWN, admin_state_source=source)
        if any(getattr(inst, key) != value for key, value in changes.items()):
            self.instance = inst.evolve(self.now(), **changes)
            await self.commit(self.instance)
        if self.primary_offline:
            self.log_info("Primary node offline, marked instance as stopped")
            return None
        bundle = self.bundle()
        result = await self.ctx.rpc.instance_shutdown(self.primary(), bundle,
                                              float(self.op.timeout), self.op.reason)
        if not result.ok:
            self.log_warning(f"Could not shutdown instance: {result.fail_msg}")
        await shutdown_disks(self, self.inst, self.disks())
        return None


@implements(OpInstanceReboot)
class LUInstanceReboot(InstanceLU[OpInstanceReboot]):
    """Reboot: soft and hard on the node; full (or a stopped instance) as stop + start."""

    HPATH = "instance-reboot"
    LOCK_NODES = False
    LOCK_NODE_RES = "none"

    async def check_prereq(self) -> None:
        await super().check_prereq()
        await check_state(self, self.inst, INSTANCE_ONLINE)
        check_node_online(self.primary())

    def hooks_env(self) -> dict[str, Any]:
        return {"IGNORE_SECONDARIES": self.op.ignore_secondaries,
                "REBOOT_TYPE": self.op.reboot_type,
                "SHUTDOWN_TIMEOUT": self.op.shutdown_timeout, **super().hooks_env()}

    async def exec(self) -> Any:
        inst, node = self.inst, self.primary()
        running = await live_info(self, inst, prereq=False) is not None
        timeout = float(self.op.shutdown_timeout)
        if running and self.op.reboot_type in ("soft", "hard"):
            await serve_mirrors(self, inst, self.disks())
            result = await self.ctx.rpc.instance_reboot(node, self.bundle(),
                                                  self.op.reboot_type, timeout, self.op.reason)
            if not result.ok:
                raise OpExecError(f"Could not reboot instance: {result.fail_msg}")
        else:
            await self._full_reboot(running, timeout)
        current = self.current()
        if current.admin_state is not AdminState.UP or not current.disks_active:
            self.instance = current.evolve(self.now(), admin_state=AdminState.UP,
                                           admin_state_source=AdminStateSource.ADMIN,
                                           disks_active=True)
            await self.commit(self.instance)
        return None

    async def _full_reboot(self, running: bool, timeout: float) -> None:
        inst, node = self.inst, self.primary()
        if running:
            result = await self.ctx.rpc.instance_shutdown(node, self.bundle(),
                                                  timeout, self.op.reason)
            if not result.ok:
                raise OpExecError(f"Could not shutdown instance for full reboot:"
                                  f" {result.fail_msg}")
            await shutdown_disks(self, inst, self.disks())
        else:
            self.log_info(f"Instance {inst.name} was already stopped, starting now")
        await assemble_disks(self, inst, self.disks(), error="Disk consistency error")
        result = await self.ctx.rpc.instance_start(node, self.bundle(), False,
                                              self.op.reason)
        if not result.ok:
            await shutdown_disks(self, inst, self.disks())
            raise OpExecError(f"Could not start instance for full reboot: {result.fail_msg}")
