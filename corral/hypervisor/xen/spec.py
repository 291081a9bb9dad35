"""What the Xen driver hands to the config-file writer: :class:`XenDomainSpec`.

The driver builds one from the :class:`~corral.hypervisor.values.InstanceSpec`
it is asked to start (:meth:`XenDomainSpec.from_instance`); the pure module
:mod:`corral.hypervisor.xen.config` turns it into the text of an xl domain
config file. Memory in MiB.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Self

from corral.errors import HypervisorError
from corral.hypervisor.values import InstanceSpec
from corral.objects.instance import DiskMode, DiskTemplate, NicMode

DISK_LETTERS = string.ascii_lowercase
"""Guest disk name suffixes, in order (``sda``, ``sdb``, …): at most 26 disks."""

_FILE_BASED = frozenset({DiskTemplate.FILE, DiskTemplate.SHAREDFILE, DiskTemplate.GLUSTER})


@dataclass(frozen=True, slots=True, kw_only=True)
class XenDisk:
    """One disk line: ``'<backend>:<path>,<vdev>,<access>'``.

    ``backend`` is ``phy`` for block devices, ``file`` for file-based disks;
    ``vdev`` the guest device name (``blockdev_prefix`` + letter); ``access``
    ``w`` (read-write) or ``r`` (read-only).
    """

    path: str
    vdev: str
    access: str = "w"
    backend: str = "phy"
    mode: DiskMode = DiskMode.RW
    dev_type: DiskTemplate = DiskTemplate.PLAIN


@dataclass(frozen=True, slots=True, kw_only=True)
class XenNic:
    """One vif: MAC, optional IP, how it is connected.

    ``mode`` bridged/routed/openvswitch; ``link`` the bridge (bridged, ovs) or the
    routing table (routed); ``vlan`` for openvswitch; ``model`` the emulated card
    for HVM (``nic_type``), ``""`` for PV.
    """

    mac: str
    ip: str | None = None
    mode: NicMode = NicMode.BRIDGED
    link: str = ""
    vlan: str = ""
    model: str = ""
    name: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class XenDomainSpec:
    """Everything a domain config file says about one instance.

    ``memory_mib`` is the startup memory, ``max_memory_mib`` the ceiling
    (``maxmem``); ``hvparams`` are filled and coerced; ``network_port`` is the
    VNC port the master allocated (HVM), if any; ``beparams`` as the instance has them.
    """

    name: str
    uuid: str
    memory_mib: int
    max_memory_mib: int
    vcpus: int
    hvparams: Mapping[str, Any]
    disks: tuple[XenDisk, ...] = ()
    nics: tuple[XenNic, ...] = ()
    os: str = ""
    primary_node: str = ""
    network_port: int | None = None
    beparams: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_instance(cls, instance: InstanceSpec, *, startup_memory: int | None = None,
                      nic_model: str = "") -> Self:
        """Build from the start request; disk names from ``hvparams["blockdev_prefix"]``.

        Raises:
            HypervisorError: more disks than letters.
        """
        if len(instance.disks) > len(DISK_LETTERS):
            raise HypervisorError(f"instance {instance.name}: too many disks"
                                  f" ({len(instance.disks)}, at most {len(DISK_LETTERS)})")
        prefix = str(instance.hvparams.get("blockdev_prefix", "sd"))
        disks = tuple(
            XenDisk(path=disk.path, vdev=prefix + letter,
                    access="w" if disk.mode == DiskMode.RW else "r",
                    backend="file" if disk.dev_type in _FILE_BASED else "phy",
                    mode=disk.mode, dev_type=disk.dev_type)
            for letter, disk in zip(DISK_LETTERS, instance.disks, strict=False))
        nics = tuple(XenNic(mac=nic.mac, ip=nic.ip, mode=nic.mode, link=nic.link,
                            vlan=nic.vlan, model=nic_model, name=nic.name)
                     for nic in instance.nics)
        memory = instance.memory_mib if startup_memory is None else startup_memory
        return cls(name=instance.name, uuid=instance.uuid, memory_mib=memory,
                   max_memory_mib=max(memory, instance.memory_mib), vcpus=instance.vcpus,
                   hvparams=dict(instance.hvparams), disks=disks, nics=nics, os=instance.os,
                   primary_node=instance.primary_node, network_port=instance.network_port,
                   beparams=dict(instance.beparams))
