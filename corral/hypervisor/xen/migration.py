"""The migration phases of the Xen drivers over ``xl migrate``.

xl's migration is one blocking command on the source, ``xl migrate -C CFG NAME
HOST``, that streams the domain to the target's ``xl migrate-receive`` and lets
the target start it once the source has stopped its copy. Two transports:

* **port** (Ganeti's, used when ``socat`` is installed on the target): the
  target's ``accept_instance`` starts ``socat TCP-LISTEN:<migration_port>`` running
  ``xl migrate-receive`` for one connection, and the source sends with
  ``-s "socat -b524288 - TCP:<target>:<port> #"``;
* **ssh** (xl's default, when the target has no socat: ``MigrationTarget.port``
  is 0): xl runs ``ssh HOST xl migrate-receive`` itself (root ssh between nodes).

``migrate_instance`` runs the command in a background task and
``migration_status`` reports its outcome. After a failure the source renames a
domain left as ``NAME--migratedaway`` back, and the target destroys a received
domain that never ran and stops its receiver.
"""

from __future__ import annotations

import asyncio
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from corral.daemon_control import daemon_pid, spawn_daemon, stop_daemon
from corral.errors import CommandError, HypervisorError
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
SOCAT_SEND = "socat -b524288 - TCP:{address}:{port} #"
"""The sender's transport in port mode (Ganeti's ``XL_SOCAT_CMD``)."""
RECEIVER_MATCH = "migrate-receive"
RECEIVER_SETTLE = 0.5
"""Seconds a started receiver must survive (a socat that cannot listen exits at once)."""


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
    port = await start_receiver(hv, instance, address)
    return MigrationTarget(address=address, port=port)


def receiver_pid_file(hv: XenHypervisor, name: str) -> Path:
    return hv.layout.run_dir / "xen" / f"{name}.migrate-receive.pid"


async def start_receiver(hv: XenHypervisor, instance: InstanceSpec, address: str) -> int:
    """Port mode: a socat listening on ``migration_port`` for ``xl migrate-receive``.

    Returns the port, or 0 (ssh transport) when socat is not installed.

    Raises:
        HypervisorError: socat could not listen (port in use, bad address).
    """
    if shutil.which(hv.MIGRATION_RECEIVER) is None:
        return 0
    port = int(instance.hvparams.get("migration_port", 8002))
    pid_file = receiver_pid_file(hv, instance.name)
    await asyncio.to_thread(stop_daemon, pid_file, RECEIVER_MATCH)
    argv = [hv.MIGRATION_RECEIVER, "-b524288", f"TCP-LISTEN:{port},bind={address},reuseaddr",
            f"SYSTEM:{hv.command_of(instance.name)} {RECEIVER_MATCH}"]
    log = hv.log_dir / f"{instance.name}-migrate-receive.log"
    try:
        await asyncio.to_thread(spawn_daemon, argv, pid_file, log)
    except CommandError as err:
        raise HypervisorError(f"cannot start the migration receiver: {err}") from err
    await asyncio.sleep(RECEIVER_SETTLE)
    if daemon_pid(pid_file, RECEIVER_MATCH) is None:
        pid_file.unlink(missing_ok=True)
        raise HypervisorError(f"could not start the receiving socat on {address}:{port}:"
                              f" check that the port is free (log: {log})")
    return port


async def stop_receiver(hv: XenHypervisor, name: str) -> None:
    await asyncio.to_thread(stop_daemon, receiver_pid_file(hv, name), RECEIVER_MATCH)


async def finalize_dst(hv: XenHypervisor, instance: InstanceSpec, info: str,
                       success: bool) -> None:
    """Keep the config file of a domain that runs here; destroy one that never ran."""
    await stop_receiver(hv, instance.name)
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
    if hv.command_of(instance.name) != "xl":
        raise HypervisorError(f"instance {instance.name} runs under xm: Corral migrates"
                              " Xen domains with xl only")
    transport = (["-s", SOCAT_SEND.format(address=target.address, port=target.port)]
                 if target.port else [])
    argv = [hv.command_of(instance.name), "migrate", *transport, "-C",
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
