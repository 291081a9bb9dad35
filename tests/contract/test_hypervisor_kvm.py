"""The KVM driver passes the conformance kit with real QEMU guests (TCG).

The kit's soft stop presses the ACPI button once; a guest that is still booting
has no ``acpid`` yet and would miss it (the backend's policy repeats the press).
So the driver under test waits for the guest's console marker before a soft
stop, which is what a booted guest looks like to the kit.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest

from corral.clock import SystemClock
from corral.errors import HypervisorError
from corral.guestkit import READY_MARKER
from corral.hypervisor.base import Hypervisor, InstanceSpec
from corral.hypervisor.kvm.driver import KvmHypervisor
from corral.hypervisor.registry import driver_class
from corral.layout import NodeLayout
from corral.process import SubprocessRunner
from tests.contract.hypervisor_kit import HypervisorContract, KitOptions, SpecFactory
from tests.guest.kit import (
    BOOT_TIMEOUT,
    guest_hvparams,
    guest_spec,
    require_qemu,
    short_root,
    stop_everything,
)


class BootedKvmHypervisor(KvmHypervisor):
    """The real driver; a soft stop or a balloon request first waits until the guest
    finished booting (its ACPI daemon and balloon driver run from then on)."""

    async def stop(self, name: str, *, force: bool, timeout: float) -> None:
        if not force:
            await self._wait_booted(name)
        await super().stop(name, force=force, timeout=timeout)

    async def balloon(self, name: str, memory_mib: int) -> None:
        await self._wait_booted(name)
        await super().balloon(name, memory_mib)

    async def _wait_booted(self, name: str) -> None:
        log = self.paths(name).serial_log
        deadline = time.monotonic() + BOOT_TIMEOUT
        while READY_MARKER not in await asyncio.to_thread(_read, log):
            if time.monotonic() > deadline:
                raise HypervisorError(f"{name} did not boot")
            await asyncio.sleep(0.1)


def _read(path: Any) -> str:
    try:
        return str(path.read_text(errors="replace"))
    except OSError:
        return ""


@pytest.fixture
def driver() -> Iterator[Hypervisor]:
    require_qemu()
    assert driver_class("kvm") is KvmHypervisor
    with short_root() as root:
        kvm = BootedKvmHypervisor(NodeLayout(root), SubprocessRunner(), SystemClock())
        try:
            yield kvm
        finally:
            asyncio.run(stop_everything(kvm))


@pytest.fixture
def make_spec() -> SpecFactory:
    hvparams = guest_hvparams()

    def make(name: str) -> InstanceSpec:
        return guest_spec(name, hvparams, memory_mib=128)

    return make


class TestKvmHypervisor(HypervisorContract):
    """Every kit check against QEMU guests booting the guest kit's kernel and initramfs."""

    kit_options = KitOptions(stop_timeout=15.0, settle_timeout=30.0, poll_interval=0.1)
