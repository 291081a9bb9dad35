"""HvKind → driver class, imported lazily so that unused drivers cost nothing."""

from __future__ import annotations

import importlib

from corral.clock import Clock
from corral.errors import HypervisorError
from corral.hypervisor.base import Hypervisor
from corral.hypervisor.params import HvKind, hv_kind
from corral.layout import NodeLayout
from corral.process import CommandRunner

DRIVERS: dict[HvKind, str] = {
    HvKind.FAKE: "corral.hypervisor.fake:FakeHypervisor",
    HvKind.CHROOT: "corral.hypervisor.chroot:ChrootHypervisor",
    HvKind.KVM: "corral.hypervisor.kvm.driver:KvmHypervisor",
    HvKind.XEN_PVM: "corral.hypervisor.xen.driver:XenPvmHypervisor",
    HvKind.XEN_HVM: "corral.hypervisor.xen.driver:XenHvmHypervisor",
    HvKind.LXC: "corral.hypervisor.lxc.driver:LxcHypervisor",
}
"""Where each driver class lives, as ``module:Class``."""


def driver_class(kind: str) -> type[Hypervisor]:
    """The driver class for ``kind``.

    Raises:
        ParameterError: unknown hypervisor name.
        HypervisorError: Corral has no driver for it (module missing).
    """
    module_name, _, class_name = DRIVERS[hv_kind(kind)].partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as err:
        if err.name is None or not module_name.startswith(err.name):
            raise
        raise HypervisorError(f"hypervisor {kind} is not available in this Corral") from err
    cls = getattr(module, class_name)
    if not (isinstance(cls, type) and issubclass(cls, Hypervisor)):
        raise HypervisorError(f"{module_name}.{class_name} is not a Hypervisor")
    return cls


def get_driver(kind: str, layout: NodeLayout, runner: CommandRunner,
               clock: Clock) -> Hypervisor:
    """A driver instance for ``kind`` on the node described by ``layout``.

    Raises:
        ParameterError: unknown hypervisor name.
        HypervisorError: Corral has no driver for it.
    """
    return driver_class(kind)(layout, runner, clock)
