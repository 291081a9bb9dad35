"""``gnt-instance info``: Ganeti's layout of an ``OP_INSTANCE_QUERY_DATA`` result.

Each instance is a dict with Ganeti's keys (``name``, ``config_state``,
``run_state``, ``pnode``, ``snodes``, ``os``, ``hv_instance``/``hv_actual``,
``be_instance``/``be_actual``, ``os_instance``/``os_actual``, ``nics`` as
``[name, uuid, ip, mac, mode, link, vlan, network, network info]`` rows, ``disks``
as dicts with ``iv_name``, ``dev_type``, ``logical_id``, ``pstatus``, ``sstatus``,
``children``, ``mode``, ``size``, ``name``, ``uuid``, …).
"""

from __future__ import annotations

from corral.cli.info import format_params_info
from corral.cli.output import format_time, format_unit

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up time)
if TYPE_CHECKING:
    from typing import Any

VNC_BASE_PORT = 5900
IP4_ADDRESS_ANY = "0.0.0.0"
LDS_UNKNOWN = 3
LDS_FAULTY = 4
_DRBD = "drbd"
_SYNCED = (_DRBD, "mirror")
"""Templates whose device status carries a sync state."""
_PLAIN = "plain"


def _nodes_info(inst: dict[str, Any]) -> list[Any]:
    pgroup = f"{inst.get('pnode_group_name')} (UUID {inst.get('pnode_group_uuid')})"
    snodes = inst.get("snodes") or []
    groups = inst.get("snodes_group_names") or [None] * len(snodes)
    uuids = inst.get("snodes_group_uuids") or [None] * len(snodes)
    secs = ", ".join(f"{name} (group {group}, group UUID {uuid})"
                     for name, group, uuid in zip(snodes, groups, uuids, strict=False))
    return [[("primary", inst.get("pnode")), ("group", pgroup)], [("secondaries", secs)]]


def _vnc_console(inst: dict[str, Any]) -> str | None:
    address = (inst.get("hv_actual") or {}).get("vnc_bind_address")
    if not address:
        return None
    port = inst.get("network_port")
    display = int(port) - VNC_BASE_PORT if isinstance(port, int) else 0
    if display > 0 and address == IP4_ADDRESS_ANY:
        return f"vnc to {inst.get('pnode')}:{port} (display {display})"
    if display > 0 and _is_ipv4(address):
        return f"vnc to {address}:{port} (node {inst.get('pnode')}) (display {display})"
    return f"vnc to {inst.get('pnode')}:{address}"


def _is_ipv4(text: str) -> bool:
    parts = text.split(".")
    return len(parts) == 4 and all(p.isdigit() and int(p) < 256 for p in parts)


def nic_info(idx: int, nic: list[Any]) -> list[Any]:
    """One NIC row as Ganeti shows it."""
    name, uuid, ip, mac, mode, link, vlan, _network, netinfo = (list(nic) + [None] * 9)[:9]
    network_name = netinfo.get("name") if isinstance(netinfo, dict) else netinfo
    return [(f"nic/{idx}", ""), ("MAC", str(mac)), ("IP", str(ip)), ("mode", str(mode)),
            ("link", str(link)), ("vlan", str(vlan) if vlan is not None else ""),
            ("network", str(network_name)), ("UUID", str(uuid)), ("name", str(name))]


def _status_fields(status: Any) -> list[Any]:
    keys = ("dev_path", "major", "minor", "sync_percent", "estimated_time", "is_degraded",
            "ldisk_status")
    if isinstance(status, dict):
        return [status.get(key) for key in keys]
    return (list(status) + [None] * 7)[:7]


def _sync_text(syncp: Any, estt: Any, degraded: Any, ldisk: Any) -> str:
    if syncp is not None:
        text = f"*RECOVERING* {float(syncp):5.2f}%,"
        text += f" ETA {estt}s" if estt else " ETA unknown"
    else:
        text = "in sync"
    degr = "*DEGRADED*" if degraded else "ok"
    extra = {LDS_FAULTY: " *MISSING DISK*", LDS_UNKNOWN: " *UNCERTAIN STATE*"}.get(ldisk, "")
    return f" {text}, status {degr}{extra}"


def device_status(dev_type: Any, status: Any) -> str:
    """``path (major:minor)`` plus sync state (drbd, mirror) or failure (plain)."""
    if not status:
        return "not active"
    path, major, minor, syncp, estt, degraded, ldisk = _status_fields(status)
    text = (f"{path} ({'N/A' if major is None else major}:"
            f"{'N/A' if minor is None else minor})")
    if dev_type in _SYNCED:
        text += _sync_text(syncp, estt, degraded, ldisk)
    elif dev_type == _PLAIN and ldisk == LDS_FAULTY:
        text += " *FAILED* (failed drive?)"
    return text


def _logical_id(dev: dict[str, Any]) -> list[Any]:
    dev_type, logical_id = dev.get("dev_type"), dev.get("logical_id")
    drbd = dev.get("drbd_info")
    if dev_type == _DRBD and isinstance(drbd, dict):
        return [("nodeA", f"{drbd.get('primary_node')}, minor={drbd.get('primary_minor')}"),
                ("nodeB", f"{drbd.get('secondary_node')}, minor={drbd.get('secondary_minor')}"),
                ("port", str(drbd.get("port"))), ("auth key", str(drbd.get("secret")))]
    if dev_type == _PLAIN and isinstance(logical_id, list | tuple) and len(logical_id) == 2:
        return [("logical_id", f"{logical_id[0]}/{logical_id[1]}")]
    return [("logical_id", str(logical_id))]


def _size_text(size: Any) -> str:
    if isinstance(size, int) and not isinstance(size, bool):
        return format_unit(size, "h")
    return str(size)


def disk_info(idx: int, top_level: bool, dev: dict[str, Any]) -> list[Any]:
    """One disk (and its children) as Ganeti shows it."""
    title = (dev.get("iv_name") or f"disk {idx}") if top_level else f"child {idx}"
    data: list[Any] = [(title, f"{dev.get('dev_type')}, size {_size_text(dev.get('size'))}")]
    if top_level:
        if dev.get("spindles") is not None:
            data.append(("spindles", dev["spindles"]))
        data.append(("access mode", dev.get("mode")))
    if dev.get("logical_id") is not None:
        data.extend(_logical_id(dev))
    for key, title_ in (("pstatus", "on primary"), ("sstatus", "on secondary")):
        if dev.get(key):
            data.append((title_, device_status(dev.get("dev_type"), dev[key])))
    data.extend([("name", dev.get("name")), ("UUID", dev.get("uuid"))])
    children = dev.get("children") or []
    if children:
        data.append(("child devices", [disk_info(c_idx, False, child)
                                       for c_idx, child in enumerate(children)]))
    return data


def _state(inst: dict[str, Any]) -> str:
    state = f"configured to be {inst.get('config_state')}"
    if inst.get("run_state"):
        state += f", actual state is {inst['run_state']}"
    return state


def instance_info(inst: dict[str, Any]) -> list[Any]:
    """The ordered ``info`` block of one instance (Ganeti's _FormatInstanceInfo)."""
    info: list[Any] = [
        ("Instance name", inst.get("name")), ("UUID", inst.get("uuid")),
        ("Serial number", str(inst.get("serial_no"))),
        ("Creation time", format_time(inst.get("ctime"))),
        ("Modification time", format_time(inst.get("mtime"))),
        ("State", _state(inst)), ("Nodes", _nodes_info(inst)),
        ("Operating system", inst.get("os")),
        ("Operating system parameters",
         format_params_info(inst.get("os_instance") or {}, inst.get("os_actual") or {})),
    ]
    if "network_port" in inst:
        info.append(("Allocated network port", str(inst["network_port"])))
    info.append(("Hypervisor", inst.get("hypervisor")))
    console = _vnc_console(inst)
    if console:
        info.append(("console connection", console))
    be_actual = dict(inst.get("be_actual") or {})
    if "maxmem" in be_actual:
        be_actual["memory"] = be_actual["maxmem"]
    info.extend([
        ("Hypervisor parameters",
         format_params_info(inst.get("hv_instance") or {}, inst.get("hv_actual") or {})),
        ("Back-end parameters", format_params_info(inst.get("be_instance") or {}, be_actual)),
        ("NICs", [nic_info(idx, nic) for idx, nic in enumerate(inst.get("nics") or [])]),
        ("Disk template", inst.get("disk_template")),
        ("Disks", [disk_info(idx, True, dev) for idx, dev in enumerate(inst.get("disks") or [])]),
    ])
    return info
