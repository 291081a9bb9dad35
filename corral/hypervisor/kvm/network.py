"""Host side of KVM NICs: one tap per NIC, on a bridge or with host routes."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from corral.errors import HypervisorError
from corral.hypervisor.base import NicSpec
from corral.hypervisor.kvm.cmdline import hv_value
from corral.objects.instance import NicMode
from corral.process import CommandRunner

_TIMEOUT = 10.0


async def _ip(runner: CommandRunner, *args: str) -> None:
    result = await runner.run(["ip", *args], timeout=_TIMEOUT)
    if result.failed:
        raise HypervisorError(f"ip {' '.join(args)}: {result.fail_reason}: "
                              f"{result.stderr.strip()}")


def _multi_queue(hv: Mapping[str, Any]) -> bool:
    return hv_value(hv, "nic_type") == "paravirtual" and int(
        hv_value(hv, "virtio_net_queues")) > 1


async def create_tap(runner: CommandRunner, tap: str, nic: NicSpec,
                     hv: Mapping[str, Any], *, routes: bool = True) -> None:
    """Create ``tap`` and attach it as ``nic`` says (bridge, or routes unless ``routes``
    is False: a migration target routes to its tap only once the guest runs there).

    Raises:
        HypervisorError: the mode is unsupported or an ``ip`` command failed (the tap
            is removed again).
    """
    if nic.mode == NicMode.BRIDGED and not nic.link:
        raise HypervisorError(f"NIC {nic.mac}: bridged mode needs a bridge (link)")
    if nic.mode not in (NicMode.BRIDGED, NicMode.ROUTED):
        raise HypervisorError(f"NIC {nic.mac}: mode {nic.mode} is not supported by kvm")
    await _ip(runner, "tuntap", "add", "dev", tap, "mode", "tap",
              *(["multi_queue"] if _multi_queue(hv) else []))
    try:
        await _attach(runner, tap, nic, routes)
    except HypervisorError:
        await remove_tap(runner, tap)
        raise


async def _attach(runner: CommandRunner, tap: str, nic: NicSpec, routes: bool) -> None:
    if nic.mode == NicMode.BRIDGED:
        await _ip(runner, "link", "set", tap, "master", nic.link, "up")
        return
    await _ip(runner, "link", "set", tap, "up")
    if routes:
        await add_route(runner, tap, nic)


async def add_route(runner: CommandRunner, tap: str, nic: NicSpec) -> None:
    """Route a routed NIC's IP (if any) to ``tap``; other NICs need nothing."""
    if nic.mode == NicMode.ROUTED and nic.ip:
        table = ["table", nic.link] if nic.link else []
        await _ip(runner, "route", "replace", f"{nic.ip}/32", "dev", tap, *table)


async def create_taps(runner: CommandRunner, taps: Sequence[str], nics: Sequence[NicSpec],
                      hv: Mapping[str, Any], *, routes: bool = True) -> None:
    """Create every tap, removing the ones already made if one fails."""
    made: list[str] = []
    try:
        for tap, nic in zip(taps, nics, strict=True):
            await create_tap(runner, tap, nic, hv, routes=routes)
            made.append(tap)
    except HypervisorError:
        await remove_taps(runner, made)
        raise


async def remove_tap(runner: CommandRunner, tap: str) -> None:
    """Delete ``tap`` (its routes go with it); a missing tap is fine."""
    await runner.run(["ip", "link", "del", "dev", tap], timeout=_TIMEOUT)


async def remove_taps(runner: CommandRunner, taps: Sequence[str]) -> None:
    for tap in taps:
        await remove_tap(runner, tap)


def tap_exists(tap: str, sys_net: Path = Path("/sys/class/net")) -> bool:
    return (sys_net / tap).exists()


def unused_taps(choices: Sequence[tuple[str, ...]],
                exists: Callable[[str], bool] = tap_exists) -> tuple[str, ...]:
    """Per NIC, the first name among ``choices`` (variants of the whole set, in order of
    preference) that no interface has yet (blocking).

    Raises:
        HypervisorError: every variant of some NIC's name is taken.
    """
    picked: list[str] = []
    for index, names in enumerate(zip(*choices, strict=True)):
        free = [name for name in names if not exists(name) and name not in picked]
        if not free:
            raise HypervisorError(f"NIC {index}: tap names {', '.join(names)} are all in use")
        picked.append(free[0])
    return tuple(picked)
