"""The fake hypervisor passes the conformance kit."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from corral.clock import SystemClock
from corral.hypervisor.base import Hypervisor, InstanceSpec
from corral.hypervisor.params import defaults
from corral.hypervisor.registry import get_driver
from corral.layout import NodeLayout
from corral.process import SubprocessRunner
from tests.contract.hypervisor_kit import HypervisorContract, SpecFactory


@pytest.fixture
def driver(tmp_path: Path) -> Hypervisor:
    return get_driver("fake", NodeLayout(tmp_path), SubprocessRunner(), SystemClock())


@pytest.fixture
def make_spec() -> SpecFactory:
    def make(name: str) -> InstanceSpec:
        return InstanceSpec(name=name, uuid=str(uuid.uuid4()), hvparams=defaults("fake"),
                            memory_mib=256, vcpus=2)

    return make


class TestFakeHypervisor(HypervisorContract):
    """Every kit check, against state files in a temporary node root."""
