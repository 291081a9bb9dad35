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
