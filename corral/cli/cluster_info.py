"""``gnt-cluster info`` and ``version`` texts, from QueryClusterInfo's answer.

Keys the master does not send are shown with an empty value (core keys) or
left out (optional keys, marked below), so older or newer masters both work.
"""

from __future__ import annotations

import os
import sys

from corral import __version__
from corral.cli.info import format_generic_info, format_grouped_params, format_policy_info
from corral.cli.output import format_time
from corral.luxi.protocol import LUXI_VERSION

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up time)
if TYPE_CHECKING:
    from typing import Any

OS_API_VERSION = 20
EXPORT_VERSION = 0
CONFIG_VERSION = 3000000

_MISSING = object()


def _join(value: Any) -> str:
    return ", ".join(str(v) for v in value or [])


def _uid_pool(value: Any) -> str:
    ranges = []
    for item in value or []:
        low, high = (item, item) if isinstance(item, int) else item
        ranges.append(str(low) if low == high else f"{low}-{high}")
    return ", ".join(ranges)


def _architecture(info: dict[str, Any]) -> str:
    arch = info.get("architecture")
    if isinstance(arch, list | tuple) and len(arch) == 2:
        return f"{arch[0]} ({arch[1]})"
    bits = "64bit" if sys.maxsize > 2**32 else "32bit"
    return f"{bits} ({os.uname().machine})"


# (label, key, formatter, optional): optional entries are shown only when sent.
_CLUSTER_PARAMETERS: list[tuple[str, str, Any, bool]] = [
    ("candidate pool size", "candidate_pool_size", str, False),
    ("maximal number of jobs running simultaneously", "max_running_jobs", str, False),
    ("maximal number of jobs simultaneously tracked by the scheduler", "max_tracked_jobs", str,
     False),
    ("mac prefix", "mac_prefix", str, False),
    ("master netdev", "master_netdev", str, False),
    ("master netmask", "master_netmask", str, False),
    ("use external master IP address setup script", "use_external_mip_script", str, False),
    ("lvm volume group", "volume_group_name", str, False),
    ("lvm reserved volumes", "reserved_lvs", lambda v: _join(v) or "(none)", True),
    ("drbd usermode helper", "drbd_usermode_helper", str, True),
    ("file storage path", "file_storage_dir", str, False),
    ("shared file storage path", "shared_file_storage_dir", str, False),
    ("gluster storage path", "gluster_storage_dir", str, True),
    ("maintenance of node health", "maintain_node_health", str, False),
    ("uid pool", "uid_pool", _uid_pool, False),
    ("default instance allocator", "default_iallocator", str, False),
    ("default instance allocator parameters", "default_iallocator_params", str, True),
    ("primary ip version", "primary_ip_version", str, True),
    ("preallocation wipe disks", "prealloc_wipe_disks", str, False),
    ("OS search path", "os_search_path", _join, True),
    ("ExtStorage Providers search path", "es_search_path", _join, True),
    ("enabled disk templates", "enabled_disk_templates", _join, False),
    ("install image", "install_image", str, True),
    ("instance communication network", "instance_communication_network", str, True),
    ("zeroing image", "zeroing_image", str, True),
    ("compression tools", "compression_tools", list, True),
    ("enabled user shutdown", "enabled_user_shutdown", str, False),
    ("modify ssh setup", "modify_ssh_setup", str, True),
    ("ssh_key_type", "ssh_key_type", str, True),
    ("ssh_key_bits", "ssh_key_bits", str, True),
    ("automatic master failover", "auto_failover", str, True),
    ("etcd endpoints", "etcd_endpoints", lambda v: _join(v) or "(none)", True),
    ("master lease TTL", "master_lease_ttl", str, True),
]


def _cluster_parameters(info: dict[str, Any]) -> list[tuple[str, Any]]:
    entries = []
    for label, key, fmt, optional in _CLUSTER_PARAMETERS:
        value = info.get(key, _MISSING)
        if value is _MISSING and optional:
            continue
        entries.append((label, fmt("" if value is _MISSING else value)))
    return entries


def _data_collectors(info: dict[str, Any]) -> dict[str, Any]:
    enabled = info.get("enabled_data_collectors") or {}
    intervals = info.get("data_collector_interval") or {}
    return {name: {"active": str(active), "interval": f"{intervals.get(name, 0) / 1e6:.3f}s"}
            for name, active in enabled.items()}


def cluster_info_entries(info: dict[str, Any]) -> list[tuple[str, Any]]:
    """The ordered tree Ganeti's ShowClusterConfig prints."""
    enabled = list(info.get("enabled_hypervisors") or [])
    hvparams = {hv: p for hv, p in (info.get("hvparams") or {}).items() if hv in enabled}
    tags = sorted(info.get("tags") or [])
    entries: list[tuple[str, Any]] = [
        ("Cluster name", info.get("name", "")),
        ("Cluster UUID", info.get("uuid", "")),
        ("Creation time", format_time(info.get("ctime"))),
        ("Modification time", format_time(info.get("mtime"))),
        ("Master node", info.get("master", "")),
        ("Architecture (this node)", _architecture(info)),
        ("Tags", ", ".join(tags) if tags else "(none)"),
        ("Default hypervisor", info.get("default_hypervisor", enabled[0] if enabled else "")),
        ("Enabled hypervisors", ", ".join(enabled)),
        ("Hypervisor parameters", format_grouped_params(hvparams)),
        ("OS-specific hypervisor parameters", format_grouped_params(info.get("os_hvp") or {})),
        ("OS parameters", format_grouped_params(info.get("osparams") or {})),
        ("Hidden OSes", _join(info.get("hidden_os"))),
        ("Blacklisted OSes", _join(info.get("blacklisted_os"))),
        ("Cluster parameters", _cluster_parameters(info)),
        ("Default node parameters", format_grouped_params(info.get("ndparams") or {})),
        ("Default instance parameters", format_grouped_params(info.get("beparams") or {})),
        ("Default nic parameters", format_grouped_params(info.get("nicparams") or {})),
        ("Default disk parameters", format_grouped_params(info.get("diskparams") or {})),
    ]
    if info.get("ipolicy"):
        entries.append(("Instance policy - limits for instances",
                        format_policy_info(info["ipolicy"], None, True)))
    if info.get("enabled_data_collectors"):
        entries.append(("Data collectors", _data_collectors(info)))
    return entries


def format_cluster_info(info: dict[str, Any]) -> str:
    return format_generic_info(cluster_info_entries(info))


LOCAL_VERSION = {
    "software_version": __version__,
    "protocol_version": LUXI_VERSION,
    "config_version": CONFIG_VERSION,
    "os_api_version": OS_API_VERSION,
    "export_version": EXPORT_VERSION,
    "vcs_version": f"(corral) {__version__}",
}


def format_version(info: dict[str, Any] | None) -> list[str]:
    """``version`` lines; values the master did not send come from this installation."""
    values = dict(LOCAL_VERSION)
    values.update({k: v for k, v in (info or {}).items() if k in LOCAL_VERSION})
    return [
        f"Software version: {values['software_version']}",
        f"Internode protocol: {values['protocol_version']}",
        f"Configuration format: {values['config_version']}",
        f"OS api version: {values['os_api_version']}",
        f"Export interface: {values['export_version']}",
        f"VCS version: {values['vcs_version']}",
    ]
