"""The contract's typed values: building an InstanceSpec, round trips, wire shapes."""

from __future__ import annotations

import json

import pytest

from corral.errors import HypervisorError
from corral.hypervisor.base import (
    ConsoleInfo,
    ConsoleKind,
    DiskSpec,
    HvNodeInfo,
    InstanceSpec,
    NicSpec,
)
from corral.hypervisor.params import defaults
from corral.objects.instance import DiskMode, DiskTemplate, Instance, Nic, NicMode


def _instance() -> Instance:
    return Instance(uuid="inst-uuid", name="web1.example.com", primary_node="node-uuid-1",
                    hypervisor="kvm", os="busybox+default",
                    nics=(Nic(uuid="nic-1", mac="aa:00:00:00:00:01"),), network_port=11000)


def _spec() -> InstanceSpec:
    disks = [DiskSpec(path="/var/lib/corral/file/web1/disk0", mode=DiskMode.RO, size_mib=1024,
                      dev_type=DiskTemplate.FILE, uuid="disk-1")]
    nics = [NicSpec(mac="aa:00:00:00:00:01", mode=NicMode.ROUTED, link="br0", tap="tap0")]
    return InstanceSpec.from_objects(_instance(), disks, nics, defaults("kvm"),
                                     {"maxmem": 512, "minmem": 256, "vcpus": 2},
                                     primary_node="node1.example.com")


def test_from_objects_takes_memory_vcpus_and_names() -> None:
    spec = _spec()
    assert (spec.name, spec.uuid, spec.memory_mib, spec.vcpus) == (
        "web1.example.com", "inst-uuid", 512, 2)
    assert spec.primary_node == "node1.example.com"
    assert spec.os == "busybox+default"
    assert spec.hypervisor == "kvm"
    assert spec.network_port == 11000
    assert spec.disks[0].mode == DiskMode.RO
    assert spec.hvparams["acpi"] is True


def test_from_objects_legacy_memory_and_default_node() -> None:
    spec = InstanceSpec.from_objects(_instance(), [], [], {}, {"memory": 128, "vcpus": 1})
    assert spec.memory_mib == 128
    assert spec.primary_node == "node-uuid-1"


def test_from_objects_without_memory_fails() -> None:
    with pytest.raises(HypervisorError, match="maxmem"):
        InstanceSpec.from_objects(_instance(), [], [], {}, {"vcpus": 1})


def test_spec_round_trips_through_json() -> None:
    spec = _spec()
    back = InstanceSpec.from_dict(json.loads(json.dumps(spec.to_dict())))
    assert back == spec
    assert isinstance(back.disks[0].mode, DiskMode)
    assert isinstance(back.nics[0].mode, NicMode)


def test_console_wire_shape() -> None:
    info = ConsoleInfo(instance="web1", kind=ConsoleKind.MESSAGE, message="no console")
    assert info.to_dict()["kind"] == "msg"
    ssh = ConsoleInfo(instance="web1", kind=ConsoleKind.SSH, host="node1",
                      command=("chroot", "/x", "/bin/sh"))
    assert ssh.to_dict()["command"] == ["chroot", "/x", "/bin/sh"]


def test_node_info_keys() -> None:
    info = HvNodeInfo(memory_total=100, memory_free=40, memory_dom0=60, cpu_total=2)
    assert {"memory_total", "memory_free", "memory_dom0", "cpu_total", "cpu_nodes",
            "cpu_sockets"} <= set(info.to_dict())
