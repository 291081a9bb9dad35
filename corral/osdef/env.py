"""The environment OS scripts receive (it replaces the caller's environment entirely).

Variables, as Ganeti's ``OSCoreEnv``/``OSEnvironment`` build them:

- core: ``OS_API_VERSION``, ``OS_NAME`` (no variant), ``OS_VARIANT`` (always set; empty
  below API 15 or when the OS lists no variants), ``DEBUG_LEVEL``, ``OSP_<NAME>``, ``PATH``;
- instance: ``INSTANCE_NAME``, ``INSTANCE_OS`` (full name, variant included), ``INSTANCE_UUID``,
  ``INSTANCE_CTIME``, ``INSTANCE_MTIME``, ``INSTANCE_PRIMARY_NODE``,
  ``INSTANCE_SECONDARY_NODES`` (space separated), ``HYPERVISOR``;
- ``DISK_COUNT`` and ``DISK_<n>_*``; ``NIC_COUNT`` and ``NIC_<n>_*`` (optional ones only when set);
- ``INSTANCE_BE_<param>`` and ``INSTANCE_HV_<param>`` (values as ``str()``).

Per-operation additions: :func:`with_reinstall`, :func:`with_rename`, :func:`with_import`,
:func:`with_export`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from corral.objects.instance import DiskMode, DiskTemplate, NicMode
from corral.osdef.discovery import API_V15, OsInfo

SCRIPT_PATH = "/sbin:/bin:/usr/sbin:/usr/bin"
"""``PATH`` given to every OS script (Ganeti's hooks path)."""

BLOCK_TEMPLATES = frozenset(
    {
        DiskTemplate.PLAIN,
        DiskTemplate.DRBD,
        DiskTemplate.BLOCKDEV,
        DiskTemplate.RBD,
        DiskTemplate.EXT,
    }
)
FILE_TEMPLATES = frozenset({DiskTemplate.FILE, DiskTemplate.SHAREDFILE, DiskTemplate.GLUSTER})


@dataclass(frozen=True, slots=True, kw_only=True)
class OsInstanceData:
    """What the environment needs of an instance. ``os`` is the full name (``os+variant``)."""

    name: str
    os: str
    uuid: str
    ctime: float
    mtime: float
    primary_node: str
    secondary_nodes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class OsNetwork:
    """The gnt-network network a NIC is connected to."""

    name: str
    uuid: str
    tags: tuple[str, ...] = ()
    subnet: str | None = None
    gateway: str | None = None
    subnet6: str | None = None
    gateway6: str | None = None
    mac_prefix: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class OsDisk:
    """One disk. ``size`` in MiB; ``path`` is the local device (or file) when there is one;
    ``backend_type`` is ``block`` or ``file:<driver>`` (see :func:`disk_backend_type`)."""

    uuid: str
    size: int
    mode: DiskMode = DiskMode.RW
    path: str | None = None
    uri: str | None = None
    name: str | None = None
    backend_type: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class OsNic:
    """One NIC. ``link`` is the bridge for bridged NICs, the routing table for routed ones."""

    mac: str
    uuid: str
    mode: NicMode = NicMode.BRIDGED
    link: str = ""
    name: str | None = None
    ip: str | None = None
    network: OsNetwork | None = None


def disk_backend_type(template: DiskTemplate, logical_id: Sequence[Any] = ()) -> str | None:
    """``block`` for block templates, ``file:<driver>`` for file-based ones, else ``None``."""
    if template in BLOCK_TEMPLATES:
        return "block"
    if template in FILE_TEMPLATES and logical_id:
        return f"file:{logical_id[0]}"
    return None


def os_core_environment(
    os: OsInfo, variant: str | None, osparams: Mapping[str, Any], debug: int = 0
) -> dict[str, str]:
    """The variables every script gets, and all that ``verify`` gets."""
    env = {
        "OS_API_VERSION": str(os.api_version),
        "OS_NAME": os.name,
        "DEBUG_LEVEL": str(int(debug)),
        "OS_VARIANT": _variant(os, variant),
    }
    for name, value in osparams.items():
        env[f"OSP_{name.upper().replace('-', '_')}"] = str(value)
    env["PATH"] = SCRIPT_PATH
    return env


def os_environment(
    os: OsInfo,
    *,
    variant: str | None,
    osparams: Mapping[str, Any],
    instance: OsInstanceData,
    disks: Sequence[OsDisk],
    nics: Sequence[OsNic],
    hypervisor: str,
    hvparams: Mapping[str, Any],
    beparams: Mapping[str, Any],
    debug: int = 0,
) -> dict[str, str]:
    """The full environment of ``create``, ``import``, ``export`` and ``rename``.

    ``osparams`` are the instance's OS parameters with private ones already unwrapped.
    """
    env = os_core_environment(os, variant, osparams, debug)
    env.update(_instance_vars(instance, hypervisor))
    env["DISK_COUNT"] = str(len(disks))
    for index, disk in enumerate(disks):
        env.update(_disk_vars(index, disk, hvparams))
    env["NIC_COUNT"] = str(len(nics))
    for index, nic in enumerate(nics):
        env.update(_nic_vars(index, nic, hvparams))
    for kind, params in (("BE", beparams), ("HV", hvparams)):
        env.update({f"INSTANCE_{kind}_{key}": str(value) for key, value in params.items()})
    return env


def with_reinstall(env: Mapping[str, str]) -> dict[str, str]:
    """``create`` run as a reinstall."""
    return {**env, "INSTANCE_REINSTALL": "1"}


def with_rename(env: Mapping[str, str], old_name: str) -> dict[str, str]:
    """``rename``: ``INSTANCE_NAME`` already holds the new name."""
    return {**env, "OLD_INSTANCE_NAME": old_name}


def with_import(env: Mapping[str, str], disk_index: int) -> dict[str, str]:
    """``import`` of one disk (data arrives on standard input)."""
    return _with_transfer(env, "IMPORT", disk_index)


def with_export(env: Mapping[str, str], disk_index: int) -> dict[str, str]:
    """``export`` of one disk (data leaves on standard output). ``EXP_SIZE_FD``, when
    the caller passes an fd for the expected size, is the caller's to add."""
    return _with_transfer(env, "EXPORT", disk_index)


def _with_transfer(env: Mapping[str, str], prefix: str, index: int) -> dict[str, str]:
    result = dict(env)
    path = env.get(f"DISK_{index}_PATH")
    if path is not None:
        result[f"{prefix}_DEVICE"] = path
        result[f"{prefix}_DISK_PATH"] = path
    uri = env.get(f"DISK_{index}_URI")
    if uri is not None:
        result[f"{prefix}_DISK_URI"] = uri
    result[f"{prefix}_INDEX"] = str(index)
    return result


def _variant(os: OsInfo, variant: str | None) -> str:
    if os.api_version < API_V15 or not os.variants:
        return ""
    return variant or os.variants[0]


def _instance_vars(instance: OsInstanceData, hypervisor: str) -> dict[str, str]:
    return {
        "INSTANCE_NAME": instance.name,
        "INSTANCE_OS": instance.os,
        "INSTANCE_UUID": instance.uuid,
        "INSTANCE_CTIME": str(instance.ctime),
        "INSTANCE_MTIME": str(instance.mtime),
        "INSTANCE_PRIMARY_NODE": instance.primary_node,
        "INSTANCE_SECONDARY_NODES": " ".join(instance.secondary_nodes),
        "HYPERVISOR": hypervisor,
    }


def _disk_vars(index: int, disk: OsDisk, hvparams: Mapping[str, Any]) -> dict[str, str]:
    prefix = f"DISK_{index}_"
    env = {prefix + "ACCESS": str(disk.mode), prefix + "UUID": disk.uuid}
    env[prefix + "SIZE"] = str(disk.size)
    optional = {"PATH": disk.path, "URI": disk.uri, "NAME": disk.name}
    env.update({prefix + key: value for key, value in optional.items() if value})
    if "disk_type" in hvparams:
        env[prefix + "FRONTEND_TYPE"] = str(hvparams["disk_type"])
    if disk.backend_type:
        env[prefix + "BACKEND_TYPE"] = disk.backend_type
    return env


def _nic_vars(index: int, nic: OsNic, hvparams: Mapping[str, Any]) -> dict[str, str]:
    prefix = f"NIC_{index}_"
    env = {prefix + "MAC": nic.mac, prefix + "UUID": nic.uuid}
    optional = {"NAME": nic.name, "IP": nic.ip}
    env.update({prefix + key: value for key, value in optional.items() if value})
    env[prefix + "MODE"] = str(nic.mode)
    if nic.mode == NicMode.BRIDGED:
        env[prefix + "BRIDGE"] = nic.link
    if nic.link:
        env[prefix + "LINK"] = nic.link
    if nic.network is not None:
        env.update(_network_vars(prefix, nic.network))
    if "nic_type" in hvparams:
        env[prefix + "FRONTEND_TYPE"] = str(hvparams["nic_type"])
    return env


def _network_vars(prefix: str, net: OsNetwork) -> dict[str, str]:
    env = {
        prefix + "NETWORK_NAME": net.name,
        prefix + "NETWORK_UUID": net.uuid,
        prefix + "NETWORK_TAGS": " ".join(net.tags),
    }
    optional = {
        "SUBNET": net.subnet,
        "GATEWAY": net.gateway,
        "SUBNET6": net.subnet6,
        "GATEWAY6": net.gateway6,
        "MAC_PREFIX": net.mac_prefix,
    }
    env.update({f"{prefix}NETWORK_{key}": value for key, value in optional.items() if value})
    return env
