"""The migration phases of the Xen drivers over ``xl migrate``.

xl's migration is one blocking command on the source, ``xl migrate -C CFG NAME
HOST``: it reaches the target's ``xl migrate-receive`` through xl's ssh transport
(root ssh between the nodes, as a Ganeti cluster has), copies the memory, and
lets the target start the domain once the source has stopped it. So the
target's ``accept_instance`` only writes the domain config file it received,
``migrate_instance`` runs the command in a background task, and
``migration_status`` reports the task's outcome. After a failure the source
renames a domain left as ``NAME--migratedaway`` back, and the target destroys
a received domain that never ran.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from corral.errors import HypervisorError
from corral.hypervisor.values import (
    HvState,
    InstanceSpec,
    MigrationState,
    MigrationStatus,
    MigrationTarget,
)
from corral.process import CommandResult

if TYPE_CHECKING:
    from corral.hypervisor.xen.driver import XenHypervisor

MIGRATED_AWAY = "{}--migratedaway"
"""What xl calls the source's copy while it is being sent."""


@dataclass
class Outgoing:
    """The source side's running ``xl migrate``, by instance name."""

    tasks: dict[str, asyncio.Task[CommandResult]] = field(default_factory=dict)


async def migration_info(hv: XenHypervisor, instance: InstanceSpec) -> str:
    """The instance's domain config file, for the target."""
    try:
        return await asyncio.to_thread(hv.config_file(instance.name).read_text)
    except OSError as err:
        raise HypervisorError(f"cannot read the Xen config file of {instance.name}: {err}"
                              ) from err


async def accept_instance(hv: XenHypervisor, instance: InstanceSpec, info: str,
                          address: str, copy_disks: bool) -> MigrationTarget:
    if copy_disks:
        raise HypervisorError("xl cannot copy disks during a migration: live storage"
                              " migration is not supported by the Xen hypervisors")
    if await hv.instance_info(instance.name) is not None:
        raise HypervisorError(f"instance {instance.name} already runs on this node")
    await hv.write_config(instance.name, info)
    return MigrationTarget(address=address,
                           port=int(instance.hvparams.get("migration_port", 8002)))


async def finalize_dst(hv: XenHypervisor, instance: InstanceSpec, info: str,
                       success: bool) -> None:
    """Keep the config file of a domain that runs here; destroy one that never ran."""
    domain = await hv.domain(instance.name)
    if domain is not None:
        await hv.write_config(instance.name, info)
    if success:
        if domain is None:
            raise HypervisorError(f"instance {instance.name} did not arrive on this node")
        return
    if domain is not None and domain.cpu_time_s == 0:
        await hv.stop(instance.name, force=True, timeout=30.0)
    await hv.cleanup(instance.name)


def start_migration(hv: XenHypervisor, outgoing: Outgoing, instance: InstanceSpec,
                    target: MigrationTarget) -> None:
    """Start ``xl migrate`` in the background (``migration_status`` follows it)."""
    running = outgoing.tasks.get(instance.name)
    if running is not None and not running.done():
        raise HypervisorError(f"instance {instance.name} is already being migrated")
    argv = [hv.command_of(instance.name), "migrate", "-C",
            str(hv.config_file(instance.name)), instance.name, target.address]
    outgoing.tasks[instance.name] = asyncio.ensure_future(hv.runner.run(argv))


def status(outgoing: Outgoing, instance: InstanceSpec) -> MigrationStatus:
    task = outgoing.tasks.get(instance.name)
    if task is None:
        return MigrationStatus(state=MigrationState.FAILED,
                               error=f"no migration of {instance.name} was started here")
    if not task.done():
        return MigrationStatus(state=MigrationState.ACTIVE)
    if task.cancelled():
        return MigrationStatus(state=MigrationState.CANCELLED)
    result = task.result()
    if result.failed:
        return MigrationStatus(state=MigrationState.FAILED,
                               error=f"xl migrate failed: {result.output.strip()}")
    return MigrationStatus(state=MigrationState.COMPLETED)


async def finalize_src(hv: XenHypervisor, outgoing: Outgoing, instance: InstanceSpec,
                       success: bool) -> None:
    task = outgoing.tasks.pop(instance.name, None)
    if success:
        await hv.cleanup(instance.name)
        return
    if task is not None and not task.done():
        task.cancel()
    away = MIGRATED_AWAY.format(instance.name)
    if await hv.domain(away) is not None:
        result = await hv.runner.run([hv.command_of(instance.name), "rename", away,
                                      instance.name])
        if result.failed:
            raise HypervisorError(f"cannot rename {away} back to {instance.name}:"
                                  f" {result.output.strip()}")
    info = await hv.domain(instance.name)
    if info is not None and info.state == HvState.PAUSED:
        await hv.runner.run([hv.command_of(instance.name), "unpause", instance.name])
