"""The driver registry: lazy imports, unknown and unavailable hypervisors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from corral.clock import FakeClock
from corral.errors import HypervisorError, ParameterError
from corral.hypervisor.base import Hypervisor
from corral.hypervisor.chroot import ChrootHypervisor
from corral.hypervisor.fake import FakeHypervisor
from corral.hypervisor.params import HvKind
from corral.hypervisor.registry import DRIVERS, driver_class, get_driver
from corral.layout import NodeLayout
from corral.process import SubprocessRunner


def test_builds_fake_and_chroot(tmp_path: Path) -> None:
    layout, runner, clock = NodeLayout(tmp_path), SubprocessRunner(), FakeClock()
    fake = get_driver("fake", layout, runner, clock)
    assert isinstance(fake, FakeHypervisor)
    assert fake.layout is layout
    assert isinstance(get_driver(HvKind.CHROOT, layout, runner, clock), ChrootHypervisor)


def test_every_kind_has_an_entry() -> None:
    assert set(DRIVERS) == set(HvKind)


def test_unknown_kind_is_a_parameter_error() -> None:
    with pytest.raises(ParameterError, match="unknown hypervisor 'bhyve'"):
        driver_class("bhyve")


def test_missing_driver_module_is_a_hypervisor_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(DRIVERS, HvKind.LXC, "corral.hypervisor.no_such_driver:Nothing")
    with pytest.raises(HypervisorError, match="lxc is not available"):
        driver_class("lxc")


def test_driver_classes_declare_their_kind() -> None:
    for kind in (HvKind.FAKE, HvKind.CHROOT, HvKind.LXC):
        cls = driver_class(kind)
        assert issubclass(cls, Hypervisor)
        assert kind == cls.KIND


def test_params_and_registry_import_no_driver() -> None:
    code = ("import sys, corral.hypervisor.params, corral.hypervisor.registry; "
            "print(sorted(m for m in sys.modules if m.startswith('corral.hypervisor')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=Path(__file__).resolve().parents[3]).stdout
    for module in ("corral.hypervisor.fake", "corral.hypervisor.chroot",
                   "corral.hypervisor.kvm", "corral.hypervisor.lxc"):
        assert module not in out


def test_master_side_params_do_not_load_the_contract() -> None:
    code = ("import sys, corral.hypervisor.params; "
            "print('corral.hypervisor.base' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=Path(__file__).resolve().parents[3]).stdout
    assert out.strip() == "False"
