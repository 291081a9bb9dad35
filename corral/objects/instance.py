"""Instances and their disks and NICs."""

from __future__ import annotations

import enum
from typing import Any

import msgspec

from corral.objects.base import ConfigObject, NamedObject


class AdminState(enum.StrEnum):
    UP = "up"
    DOWN = "down"
    OFFLINE = "offline"


class AdminStateSource(enum.StrEnum):
    ADMIN = "admin"
    USER = "user"


class DiskTemplate(enum.StrEnum):
    DISKLESS = "diskless"
    FILE = "file"
    SHAREDFILE = "sharedfile"
    PLAIN = "plain"
    DRBD = "drbd"
    BLOCKDEV = "blockdev"
    RBD = "rbd"
    EXT = "ext"
    GLUSTER = "gluster"
    MIRROR = "mirror"
    """Corral's own: network RAID1 in user space (QEMU writes to a local file and an
    NBD-over-TLS export of the secondary's file)."""


class DiskMode(enum.StrEnum):
    RW = "rw"
    RO = "ro"


class Disk(ConfigObject, kw_only=True, frozen=True):
    """A virtual disk. ``size`` in MiB."""

    name: str = ""
    dev_type: DiskTemplate
    size: int
    mode: DiskMode = DiskMode.RW
    logical_id: tuple[Any, ...] = ()
    children: tuple[str, ...] = ()
    iv_name: str = ""
    nodes: tuple[str, ...] = ()
    params: dict[str, Any] = msgspec.field(default_factory=dict)
    spindles: int | None = None


class NicMode(enum.StrEnum):
    BRIDGED = "bridged"
    ROUTED = "routed"
    OVS = "openvswitch"


class Nic(ConfigObject, kw_only=True, frozen=True):
    """A virtual network card, stored inside its instance."""

    name: str = ""
    mac: str
    ip: str | None = None
    network: str | None = None
    nicparams: dict[str, Any] = msgspec.field(default_factory=dict)


class Instance(NamedObject, kw_only=True, frozen=True):
    """A virtual machine."""

    primary_node: str
    os: str = ""
    hypervisor: str
    hvparams: dict[str, Any] = msgspec.field(default_factory=dict)
    beparams: dict[str, Any] = msgspec.field(default_factory=dict)
    osparams: dict[str, Any] = msgspec.field(default_factory=dict)
    osparams_private: dict[str, Any] = msgspec.field(default_factory=dict)
    admin_state: AdminState = AdminState.DOWN
    admin_state_source: AdminStateSource = AdminStateSource.ADMIN
    disk_template: DiskTemplate = DiskTemplate.DISKLESS
    disks: tuple[str, ...] = ()
    nics: tuple[Nic, ...] = ()
    network_port: int | None = None
    disks_active: bool = False
