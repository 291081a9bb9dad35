"""Fixtures of the real-QEMU guest tests: a KVM driver on a short-path node root."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from corral.clock import SystemClock
from corral.hypervisor.kvm.driver import KvmHypervisor
from corral.layout import NodeLayout
from corral.process import SubprocessRunner
from tests.guest.kit import require_qemu, short_root, stop_everything


@pytest.fixture
def kvm() -> Iterator[KvmHypervisor]:
    """A KVM driver whose guests are all force-stopped (by pid) in teardown."""
    require_qemu()
    with short_root() as root:
        driver = KvmHypervisor(NodeLayout(root), SubprocessRunner(), SystemClock())
        try:
            yield driver
        finally:
            asyncio.run(stop_everything(driver))


@pytest.fixture
def kvm_pair() -> Iterator[tuple[KvmHypervisor, KvmHypervisor]]:
    """Two KVM drivers on two node roots of this host: a migration's source and target."""
    require_qemu()
    with short_root() as source_root, short_root() as target_root:
        drivers = tuple(KvmHypervisor(NodeLayout(root), SubprocessRunner(), SystemClock())
                        for root in (source_root, target_root))
        try:
            yield drivers[0], drivers[1]
        finally:
            for driver in drivers:
                asyncio.run(stop_everything(driver))
