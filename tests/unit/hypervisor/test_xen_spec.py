"""XenDomainSpec: what a start hands to the domain config writer."""

from __future__ import annotations

import pytest

from corral.errors import HypervisorError
from corral.hypervisor.base import DiskSpec, InstanceSpec, NicSpec
from corral.hypervisor.xen.spec import XenDomainSpec
from corral.objects.instance import DiskMode, DiskTemplate, NicMode


def _instance(disks: int = 2, **hvparams: object) -> InstanceSpec:
    return InstanceSpec(
        name="web1", uuid="u-1", hvparams={"blockdev_prefix": "xvd", **hvparams},
        memory_mib=512, vcpus=2, primary_node="node1", network_port=11000,
        disks=tuple(DiskSpec(path=f"/dev/d{i}", mode=DiskMode.RO if i else DiskMode.RW,
                             dev_type=DiskTemplate.FILE if i else DiskTemplate.PLAIN)
                    for i in range(disks)),
        nics=(NicSpec(mac="aa:00:00:00:00:01", ip="192.0.2.9", mode=NicMode.ROUTED,
                      link="rt1"),))


def test_disks_get_prefix_letters_access_and_backend() -> None:
    spec = XenDomainSpec.from_instance(_instance(), nic_model="e1000")
    assert [(d.path, d.vdev, d.access, d.backend) for d in spec.disks] == [
        ("/dev/d0", "xvda", "w", "phy"), ("/dev/d1", "xvdb", "r", "file")]
    nic = spec.nics[0]
    assert (nic.mac, nic.ip, nic.mode, nic.link, nic.model) == (
        "aa:00:00:00:00:01", "192.0.2.9", NicMode.ROUTED, "rt1", "e1000")
    assert (spec.memory_mib, spec.max_memory_mib, spec.vcpus, spec.network_port) == (
        512, 512, 2, 11000)


def test_startup_memory_below_the_maximum() -> None:
    spec = XenDomainSpec.from_instance(_instance(), startup_memory=256)
    assert (spec.memory_mib, spec.max_memory_mib) == (256, 512)


def test_more_disks_than_letters_are_refused() -> None:
    with pytest.raises(HypervisorError, match="too many disks"):
        XenDomainSpec.from_instance(_instance(disks=27))
