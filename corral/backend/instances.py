"""Instance RPC handlers: start, stop (with the soft-then-forced policy), reboot, inventory."""

from __future__ import annotations

import logging
from typing import Any

import msgspec

from corral.backend.bundle_views import assembled_instance, hypervisor_instance
from corral.backend.context import NodeContext
from corral.backend.handlers import handles
from corral.backend.services import hypervisor
from corral.clock import Clock
from corral.errors import HypervisorError
from corral.hypervisor.base import Hypervisor, InstanceInfo
from corral.objects.bundle import InstanceBundle
from corral.rpc.payloads import ConsolePayload, InstanceRuntime, RunningInstance

log = logging.getLogger(__name__)

POLL_INTERVAL = 0.2
FIRST_POLL = 0.01
FORCED_STOP_TIMEOUT = 30.0
SOFT_STOP_INTERVAL = 5.0
"""Seconds between soft stop attempts (ACPI presses) while waiting."""


def runtime_of(info: InstanceInfo) -> InstanceRuntime:
    """Ganeti's per-instance runtime keys."""
    return InstanceRuntime(
        state=info.state.value, memory=info.memory_mib, vcpus=info.vcpus, time=info.cpu_time_s
    )


def running_of(info: InstanceInfo, kind: str) -> RunningInstance:
    """One ``all_instances_info`` entry."""
    return RunningInstance(
        state=info.state.value,
        memory=info.memory_mib,
        vcpus=info.vcpus,
        time=info.cpu_time_s,
        hypervisor=kind,
    )


@handles("instance_start")
async def instance_start(
    ctx: NodeContext, instance: InstanceBundle, startup_paused: bool, reason: list[Any]
) -> None:
    driver = hypervisor(ctx, instance.instance.hypervisor)
    if await driver.instance_info(instance.name) is not None:
        return  # already running: starting is idempotent, as in Ganeti
    await driver.cleanup(instance.name)  # leftovers of a guest that stopped by itself
    await driver.start(await assembled_instance(ctx, instance), paused=startup_paused)


async def stop_instance(driver: Hypervisor, name: str, timeout: float, clock: Clock) -> None:
    """Soft stops (repeated, as a booting guest may miss one) for up to ``timeout``
    seconds, then a forced stop; finally clean up.

    The policy lives here, not in the drivers: a driver performs single actions.
    """
    deadline = clock.monotonic() + timeout
    next_soft = clock.monotonic()
    pause = FIRST_POLL
    while await driver.instance_info(name) is not None:
        now = clock.monotonic()
        if now >= deadline:
            log.info("instance %s ignored soft stops for %.0f s: forcing it", name, timeout)
            await driver.stop(name, force=True, timeout=FORCED_STOP_TIMEOUT)
            break
        if now >= next_soft:
            await _soft_stop(driver, name, deadline - now)
            next_soft = now + SOFT_STOP_INTERVAL
            if await driver.instance_info(name) is None:
                break  # stopped at once (fake, chroot): no need to wait
        await clock.sleep(min(pause, max(deadline - now, 0.0)))
        pause = min(pause * 2, POLL_INTERVAL)
    await driver.cleanup(name)


async def _soft_stop(driver: Hypervisor, name: str, timeout: float) -> None:
    try:
        await driver.stop(name, force=False, timeout=timeout)
    except HypervisorError as err:
        log.warning("soft stop of %s failed: %s", name, err)


@handles("instance_shutdown")
async def instance_shutdown(
    ctx: NodeContext, instance: InstanceBundle, timeout: float, reason: list[Any]
) -> None:
    driver = hypervisor(ctx, instance.instance.hypervisor)
    await stop_instance(driver, instance.name, timeout, ctx.clock)


@handles("instance_reboot")
async def instance_reboot(
    ctx: NodeContext,
    instance: InstanceBundle,
    reboot_type: str,
    shutdown_timeout: float,
    reason: list[Any],
) -> None:
    driver = hypervisor(ctx, instance.instance.hypervisor)
    if await driver.instance_info(instance.name) is None:
        raise HypervisorError(f"Cannot reboot instance {instance.name}: it is not running")
    if reboot_type == "soft":
        await driver.reboot(instance.name)
    elif reboot_type == "hard":
        await stop_instance(driver, instance.name, shutdown_timeout, ctx.clock)
        await driver.start(await assembled_instance(ctx, instance))
    else:
        raise HypervisorError(f"Invalid reboot type {reboot_type!r} for a node")


@handles("instance_balloon_memory")
async def instance_balloon_memory(ctx: NodeContext, instance: InstanceBundle, memory: int) -> None:
    await hypervisor(ctx, instance.instance.hypervisor).balloon(instance.name, memory)


@handles("instance_info")
async def instance_info(
    ctx: NodeContext, instance: str, hname: str, hvparams: dict[str, Any]
) -> InstanceRuntime | None:
    info = await hypervisor(ctx, hname).instance_info(instance)
    return None if info is None else runtime_of(info)


@handles("all_instances_info")
async def all_instances_info(
    ctx: NodeContext, hypervisor_list: list[str], all_hvparams: dict[str, Any]
) -> dict[str, RunningInstance]:
    answer: dict[str, RunningInstance] = {}
    for kind in hypervisor_list:
        for name, info in (await hypervisor(ctx, kind).all_instances_info()).items():
            answer[name] = running_of(info, kind)
    return answer


@handles("instance_list")
async def instance_list(
    ctx: NodeContext, hypervisor_list: list[str], all_hvparams: dict[str, Any]
) -> list[str]:
    names: list[str] = []
    for kind in hypervisor_list:
        names.extend(await hypervisor(ctx, kind).list_instances())
    return sorted(names)


@handles("instance_console_info")
async def instance_console_info(ctx: NodeContext, instance: InstanceBundle) -> ConsolePayload:
    driver = hypervisor(ctx, instance.instance.hypervisor)
    return msgspec.convert(driver.console(hypervisor_instance(instance)).to_dict(), ConsolePayload)
