"""Instance fields about disks and network interfaces, aggregate and per index."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from corral.objects import Disk, DiskTemplate, Instance, Nic
from corral.query.fields import (
    NODATA,
    UNAVAIL,
    FieldDef,
    FieldKind,
    Getter,
    ItemGetter,
    ordinal,
    parts,
)
from corral.query.instance_data import (
    NIC_BRIDGE,
    NIC_LINK,
    NIC_MODE,
    NIC_VLAN,
    InstanceShared,
)

K = FieldKind
MAX_DISKS = 16
MAX_NICS = 8
DRBD_META_SIZE = 128
"""MiB of DRBD metadata added to each DRBD disk's usage."""

DiskFn = Callable[[Disk], Any]
NicFn = Callable[[InstanceShared, Nic], Any]


def _or_none(text: str) -> str | None:
    return text or None


# --- disks ---------------------------------------------------------------


_DRBD = DiskTemplate.DRBD.value
_NO_USAGE = frozenset({DiskTemplate.DISKLESS.value, DiskTemplate.BLOCKDEV.value})


def _disk_usage(disk: Disk) -> int:
    if disk.dev_type == _DRBD:
        return disk.size + DRBD_META_SIZE
    return 0 if disk.dev_type in _NO_USAGE else disk.size


_NO_DISK_DATA = (NODATA,) * 5


def _disk_lists(sh: InstanceShared, inst: Instance) -> tuple[Any, ...]:
    """The disks' sizes, spindles, names and UUIDs, and their total usage, in one
    pass (all NODATA when the configuration lacks one of the disks)."""
    disks = sh.disks(inst)
    if disks is None:
        return _NO_DISK_DATA
    sizes: list[int] = []
    spindles: list[int | None] = []
    names: list[str | None] = []
    uuids: list[str] = []
    usage = 0
    for disk in disks:
        sizes.append(disk.size)
        spindles.append(disk.spindles)
        names.append(disk.name or None)
        uuids.append(disk.uuid)
        usage += _disk_usage(disk)
    return sizes, spindles, names, uuids, usage


_SIZES, _SPINDLES, _NAMES, _UUIDS, _USAGE = parts(_disk_lists, len(_NO_DISK_DATA))


def _nth_disk(index: int, fn: DiskFn) -> Getter:
    def get(sh: InstanceShared, inst: Instance) -> Any:
        disks = sh.disks(inst)
        if disks is None:
            return NODATA
        if index >= len(disks):
            return UNAVAIL
        value = fn(disks[index])
        return UNAVAIL if value is None else value

    return get


def disk_fields() -> list[FieldDef]:
    fields = [
        FieldDef("disk_usage", "DiskUsage", K.UNIT,
                 "Total disk space used by instance on each of its nodes; this is not the"
                 " disk size visible to the instance, but the usage on the node",
                 _USAGE),
        FieldDef("disk.count", "Disks", K.NUMBER, "Number of disks",
                 ItemGetter(lambda i: len(i.disks))),
        FieldDef("disk.sizes", "Disk_sizes", K.OTHER, "List of disk sizes", _SIZES),
        FieldDef("disk.spindles", "Disk_spindles", K.OTHER, "List of disk spindles", _SPINDLES),
        FieldDef("disk.names", "Disk_names", K.OTHER, "List of disk names", _NAMES),
        FieldDef("disk.uuids", "Disk_UUIDs", K.OTHER, "List of disk UUIDs", _UUIDS),
    ]
    for i in range(MAX_DISKS):
        nth = ordinal(i + 1)
        fields += [
            FieldDef(f"disk.size/{i}", f"Disk/{i}", K.UNIT, f"Disk size of {nth} disk",
                     _nth_disk(i, lambda d: d.size)),
            FieldDef(f"disk.spindles/{i}", f"DiskSpindles/{i}", K.NUMBER,
                     f"Spindles of {nth} disk", _nth_disk(i, lambda d: d.spindles)),
            FieldDef(f"disk.name/{i}", f"DiskName/{i}", K.TEXT, f"Name of {nth} disk",
                     _nth_disk(i, lambda d: _or_none(d.name))),
            FieldDef(f"disk.uuid/{i}", f"DiskUUID/{i}", K.TEXT, f"UUID of {nth} disk",
                     _nth_disk(i, lambda d: d.uuid)),
        ]
    return fields


# --- NICs ----------------------------------------------------------------


def _setting(index: int) -> NicFn:
    return lambda sh, nic: sh.nic_settings(nic)[index]


_mode, _link, _vlan, _bridge = (_setting(i) for i in (NIC_MODE, NIC_LINK, NIC_VLAN, NIC_BRIDGE))


def _network_name(sh: InstanceShared, nic: Nic) -> Any:
    if nic.network is None:
        return None
    net = sh.networks.get(nic.network)
    return nic.network if net is None else net.name


def _nth_nic(index: int, fn: NicFn) -> Getter:
    def get(sh: InstanceShared, inst: Instance) -> Any:
        if index >= len(inst.nics):
            return UNAVAIL
        value = fn(sh, inst.nics[index])
        return UNAVAIL if value is None else value

    return get


_AGG = "List containing each network interface's "
_NIC_PARTS: list[tuple[str, str, str, str, NicFn]] = [
    # (field part, aggregate title, per-index title, description, value)
    ("mac", "NIC_MACs", "NicMAC", "MAC address", lambda _s, n: n.mac),
    ("ip", "NIC_IPs", "NicIP", "IP address", lambda _s, n: n.ip),
    ("name", "NIC_Names", "NicName", "name", lambda _s, n: _or_none(n.name)),
    ("uuid", "NIC_UUIDs", "NicUUID", "UUID", lambda _s, n: n.uuid),
    ("mode", "NIC_modes", "NicMode", "mode", _mode),
    ("link", "NIC_links", "NicLink", "link", _link),
    ("vlan", "NIC_VLANs", "NicVLAN", "VLAN", _vlan),
    ("bridge", "NIC_bridges", "NicBridge", "bridge", _bridge),
    ("network", "NIC_networks", "NicNetwork", "network", lambda _s, n: n.network),
]


def _nic_lists(sh: InstanceShared, inst: Instance) -> tuple[list[Any], ...]:
    """Every per-NIC list of the instance in one pass: the parts of :data:`_NIC_PARTS`
    in order, then the network names and the custom NIC parameters."""
    lists: tuple[list[Any], ...] = ([], [], [], [], [], [], [], [], [], [], [])
    macs, ips, names, uuids, modes, links, vlans, bridges, nets, net_names, params = lists
    settings = sh.nic_settings
    for nic in inst.nics:
        macs.append(nic.mac)
        ips.append(nic.ip)
        names.append(nic.name or None)
        uuids.append(nic.uuid)
        mode, link, vlan, bridge = settings(nic)
        modes.append(mode)
        links.append(link)
        vlans.append(vlan)
        bridges.append(bridge)
        nets.append(nic.network)
        net_names.append(_network_name(sh, nic))
        params.append(dict(nic.nicparams))
    return lists


_NIC_LISTS = parts(_nic_lists, len(_NIC_PARTS) + 2)
NETWORK_NAMES, CUSTOM_NICPARAMS = _NIC_LISTS[-2:]
"""Getters of ``nic.networks.names`` and ``custom_nicparams``."""


def nic_fields() -> list[FieldDef]:
    fields = [
        FieldDef("nic.count", "NICs", K.NUMBER, "Number of network interfaces",
                 ItemGetter(lambda i: len(i.nics))),
        *(
            FieldDef(f"nic.{part}s", agg, K.OTHER, _AGG + desc, getter)
            for (part, agg, _t, desc, _fn), getter in zip(_NIC_PARTS, _NIC_LISTS[:-2], strict=True)
        ),
        FieldDef("nic.networks.names", "NIC_networks_names", K.OTHER,
                 "List containing the name of each interface's network", NETWORK_NAMES),
    ]
    for i in range(MAX_NICS):
        nth = ordinal(i + 1)
        fields += [
            FieldDef(f"nic.{part}/{i}", f"{title}/{i}", K.TEXT,
                     f"{desc[0].upper()}{desc[1:]} of {nth} network interface",
                     _nth_nic(i, fn))
            for part, _a, title, desc, fn in _NIC_PARTS
        ]
        fields.append(
            FieldDef(f"nic.network.name/{i}", f"NicNetworkName/{i}", K.TEXT,
                     f"Network name of {nth} network interface", _nth_nic(i, _network_name))
        )
    return fields


DEVICE_ALIASES = [
    ("sda_size", "disk.size/0"),
    ("sdb_size", "disk.size/1"),
    ("ip", "nic.ip/0"),
    ("mac", "nic.mac/0"),
    ("bridge", "nic.bridge/0"),
    ("nic_mode", "nic.mode/0"),
    ("nic_link", "nic.link/0"),
    ("nic_network", "nic.network/0"),
]
