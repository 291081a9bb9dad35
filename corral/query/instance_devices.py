"""Instance fields about disks and network interfaces, aggregate and per index."""

from __future__ import annotations

from collections.abc import Callable
from operator import attrgetter
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


def _disk_name(disk: Disk) -> str | None:
    return disk.name or None


def _all_disks(fn: DiskFn) -> Getter:
    def get(sh: InstanceShared, inst: Instance) -> Any:
        disks = sh.disks(inst)
        return NODATA if disks is None else list(map(fn, disks))

    return get


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


def _total_usage(sh: InstanceShared, inst: Instance) -> Any:
    disks = sh.disks(inst)
    if disks is None:
        return NODATA
    total = 0
    for disk in disks:
        total += _disk_usage(disk)
    return total


def disk_fields() -> list[FieldDef]:
    fields = [
        FieldDef("disk_usage", "DiskUsage", K.UNIT,
                 "Total disk space used by instance on each of its nodes; this is not the"
                 " disk size visible to the instance, but the usage on the node",
                 _total_usage),
        FieldDef("disk.count", "Disks", K.NUMBER, "Number of disks",
                 ItemGetter(lambda i: len(i.disks))),
        FieldDef("disk.sizes", "Disk_sizes", K.OTHER, "List of disk sizes",
                 _all_disks(attrgetter("size"))),
        FieldDef("disk.spindles", "Disk_spindles", K.OTHER, "List of disk spindles",
                 _all_disks(attrgetter("spindles"))),
        FieldDef("disk.names", "Disk_names", K.OTHER, "List of disk names",
                 _all_disks(_disk_name)),
        FieldDef("disk.uuids", "Disk_UUIDs", K.OTHER, "List of disk UUIDs",
                 _all_disks(attrgetter("uuid"))),
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


def _all_settings(index: int) -> Getter:
    """The aggregate of one NIC setting (mode, link, VLAN or bridge)."""

    def get(sh: InstanceShared, inst: Instance) -> Any:
        settings = sh.nic_settings
        return [settings(nic)[index] for nic in inst.nics]

    return get


def _network_name(sh: InstanceShared, nic: Nic) -> Any:
    if nic.network is None:
        return None
    net = sh.networks.get(nic.network)
    return nic.network if net is None else net.name


def _all_nics(fn: NicFn) -> Getter:
    return lambda sh, inst: [fn(sh, nic) for nic in inst.nics]


def _all_nic_values(fn: Callable[[Nic], Any]) -> Getter:
    """Like :func:`_all_nics` for values of the NIC alone (C-level ``map``)."""
    return ItemGetter(lambda inst: list(map(fn, inst.nics)))


def _nth_nic(index: int, fn: NicFn) -> Getter:
    def get(sh: InstanceShared, inst: Instance) -> Any:
        if index >= len(inst.nics):
            return UNAVAIL
        value = fn(sh, inst.nics[index])
        return UNAVAIL if value is None else value

    return get


def _nic_name(nic: Nic) -> str | None:
    return nic.name or None


_NIC_OWN: dict[str, Callable[[Nic], Any]] = {
    "mac": attrgetter("mac"),
    "ip": attrgetter("ip"),
    "name": _nic_name,
    "uuid": attrgetter("uuid"),
    "network": attrgetter("network"),
}
"""Parts that depend on the NIC alone (no cluster defaults)."""

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


_SETTING_INDEX = {"mode": NIC_MODE, "link": NIC_LINK, "vlan": NIC_VLAN, "bridge": NIC_BRIDGE}


def _nic_aggregate(part: str, fn: NicFn) -> Getter:
    if part in _NIC_OWN:
        return _all_nic_values(_NIC_OWN[part])
    if part in _SETTING_INDEX:
        return _all_settings(_SETTING_INDEX[part])
    return _all_nics(fn)


def nic_fields() -> list[FieldDef]:
    fields = [
        FieldDef("nic.count", "NICs", K.NUMBER, "Number of network interfaces",
                 ItemGetter(lambda i: len(i.nics))),
        *(
            FieldDef(f"nic.{part}s", agg, K.OTHER, _AGG + desc,
                     _nic_aggregate(part, fn))
            for part, agg, _t, desc, fn in _NIC_PARTS
        ),
        FieldDef("nic.networks.names", "NIC_networks_names", K.OTHER,
                 "List containing the name of each interface's network",
                 _all_nics(_network_name)),
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
