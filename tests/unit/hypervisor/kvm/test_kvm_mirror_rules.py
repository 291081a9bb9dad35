"""Pure rules of the primary's mirror disks: which disks, and the URIs after a role swap."""

from __future__ import annotations

import uuid
from dataclasses import replace

import pytest

from corral.errors import HypervisorError
from corral.hypervisor.base import DiskSpec, InstanceSpec
from corral.hypervisor.kvm.mirror import mirror_disks, with_uris
from corral.objects.instance import DiskTemplate

OLD, NEW = "nbd+tls://192.0.2.2:11000/d0", "nbd+tls://192.0.2.1:11000/d0"


def _spec(*disks: DiskSpec) -> InstanceSpec:
    return InstanceSpec(name="i1", uuid=str(uuid.uuid4()), hvparams={}, memory_mib=64,
                        vcpus=1, disks=disks)


def test_mirror_disks_are_found_by_template() -> None:
    spec = _spec(DiskSpec(path="/a"), DiskSpec(path="/b", uri=OLD, dev_type=DiskTemplate.MIRROR))
    assert [index for index, _ in mirror_disks(spec)] == [1]


def test_a_mirror_disk_needs_its_export() -> None:
    with pytest.raises(HypervisorError, match="mirror disk 0 has no secondary export URI"):
        mirror_disks(_spec(DiskSpec(path="/a", dev_type=DiskTemplate.MIRROR)))


def test_role_swap_takes_the_new_export_and_keeps_local_paths() -> None:
    mine = _spec(DiskSpec(path="/local", uri=OLD, dev_type=DiskTemplate.MIRROR),
                 DiskSpec(path="/plain"))
    given = _spec(DiskSpec(path="", uri=NEW, dev_type=DiskTemplate.MIRROR),
                  DiskSpec(path="", uri="nbd://elsewhere"))
    swapped = with_uris(mine, given)
    assert [(d.path, d.uri) for d in swapped.disks] == [("/local", NEW), ("/plain", "")]
    assert with_uris(mine, replace(given, disks=given.disks[:1])) == mine
    assert with_uris(mine, replace(given, disks=(replace(given.disks[0], uri=""),
                                                 given.disks[1]))).disks[0].uri == OLD
