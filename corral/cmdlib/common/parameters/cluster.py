"""What ``gnt-cluster modify`` may change, and the checks on each new value.

:func:`check_syntax` needs no configuration; :func:`compute_changes` returns
the new values of the changed :class:`~corral.objects.cluster.Cluster` fields.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from corral.cmdlib.common.nodes.addresses import family_version
from corral.cmdlib.common.parameters import ipolicy
from corral.cmdlib.common.parameters.auto_failover import auto_failover_changes
from corral.cmdlib.common.parameters.checks import (
    BE_TYPES,
    ND_TYPES,
    NIC_TYPES,
    check_types,
    merge_nested,
    refuse_unsupported,
    upgrade_beparams,
)
from corral.errors import ErrorCode, OpPrereqError
from corral.objects.config_data import ConfigData
from corral.objects.instance import DiskTemplate, NicMode
from corral.opcodes.cluster import OpClusterSetParams

HYPERVISORS = ("fake", "chroot", "kvm", "xen-pvm", "xen-hvm", "lxc")
UNSUPPORTED = ("uid_pool", "add_uids", "remove_uids", "reserved_lvs", "hv_state", "disk_state",
               "osparams_private_cluster", "drbd_helper", "vg_name",
               "default_iallocator_params", "gluster_storage_dir", "instance_communication_network",
               "enabled_data_collectors", "data_collector_interval")
IMAGES = ("install_image", "zeroing_image")
"""Ganeti's client sends ``""`` for these when not given: only another value is a change."""
DEFAULT_COMPRESSION_TOOLS = ["gzip", "gzip-fast", "gzip-slow"]
SCALARS = ("candidate_pool_size", "max_running_jobs", "max_tracked_jobs", "master_netdev",
           "master_netmask", "default_iallocator", "file_storage_dir", "shared_file_storage_dir",
           "use_external_mip_script", "modify_etc_hosts", "maintain_node_health",
           "prealloc_wipe_disks", "enabled_user_shutdown")
"""Options copied as they are into the cluster field of the same name."""

_MAC_PREFIX_RE = re.compile(r"^[0-9a-f]{2}:[0-9a-f]{2}:[0-9a-f]{2}$")
_TEMPLATES = tuple(t.value for t in DiskTemplate)
_NIC_MODES = tuple(m.value for m in NicMode)

Log = Callable[[str], None]


def _invalid(message: str) -> OpPrereqError:
    return OpPrereqError(message, ErrorCode.INVAL)


def _check_names(values: list[str], known: tuple[str, ...], what: str) -> None:
    if not values:
        raise _invalid(f"The list of enabled {what}s cannot be empty")
    unknown = [v for v in values if v not in known]
    if unknown:
        raise _invalid(f"Unknown {what}(s): {', '.join(unknown)}; known: {', '.join(known)}")


def _check_counts(op: OpClusterSetParams) -> None:
    if op.candidate_pool_size is not None and op.candidate_pool_size < 1:
        raise _invalid("At least one master candidate needed")
    for name in ("max_running_jobs", "max_tracked_jobs"):
        value = getattr(op, name)
        if value is not None and value < 1:
            raise _invalid(f"{name} must be at least 1, not {value}")


def normalized_mac_prefix(value: str) -> str:
    prefix = value.strip().lower()
    if not _MAC_PREFIX_RE.match(prefix):
        raise _invalid(f"Invalid MAC address prefix '{value}' (expected aa:bb:cc)")
    return prefix


def check_syntax(op: OpClusterSetParams) -> None:
    """Checks that need no configuration.

    Raises:
        OpPrereqError: (INVAL) a bad value, or a parameter Corral cannot change yet.
    """
    refuse_unsupported({name: getattr(op, name) for name in UNSUPPORTED})
    refuse_unsupported({name: getattr(op, name) or None for name in IMAGES})
    if op.compression_tools is not None and op.compression_tools != DEFAULT_COMPRESSION_TOOLS:
        refuse_unsupported({"compression_tools": op.compression_tools})
    _check_counts(op)
    if op.enabled_hypervisors is not None:
        _check_names(op.enabled_hypervisors, HYPERVISORS, "hypervisor")
    if op.enabled_disk_templates is not None:
        _check_names(op.enabled_disk_templates, _TEMPLATES, "disk template")
    if op.mac_prefix is not None:
        normalized_mac_prefix(op.mac_prefix)
    for given, types, what in ((op.beparams, BE_TYPES, "backend"),
                               (op.ndparams, ND_TYPES, "node"),
                               (op.nicparams, NIC_TYPES, "NIC")):
        if given:
            check_types(given, types, what)


def _check_netmask(cfg: ConfigData, netmask: int) -> None:
    bits = 128 if family_version(cfg.cluster.primary_ip_family) == 6 else 32
    if not 0 < netmask <= bits:
        raise _invalid(f"CIDR netmask ({netmask}) not valid")


def _scalar_changes(cfg: ConfigData, op: OpClusterSetParams) -> dict[str, Any]:
    changes = {name: getattr(op, name) for name in SCALARS if getattr(op, name) is not None}
    if "master_netmask" in changes:
        _check_netmask(cfg, changes["master_netmask"])
    if op.mac_prefix is not None:
        changes["mac_prefix"] = normalized_mac_prefix(op.mac_prefix)
    if op.enabled_hypervisors is not None:
        changes["enabled_hypervisors"] = tuple(op.enabled_hypervisors)
    if op.enabled_disk_templates is not None:
        changes["enabled_disk_templates"] = tuple(op.enabled_disk_templates)
    return changes


def _default_params(cfg: ConfigData, op: OpClusterSetParams) -> dict[str, Any]:
    cluster = cfg.cluster
    changes: dict[str, Any] = {}
    if op.beparams:
        be = {**cluster.beparams.get("default", {}), **upgrade_beparams(
            check_types(op.beparams, BE_TYPES, "backend"))}
        if int(be.get("minmem", 0)) > int(be.get("maxmem", 0)):
            raise _invalid(f"Minimum memory ({be['minmem']} MiB) is greater than maximum"
                           f" memory ({be['maxmem']} MiB)")
        changes["beparams"] = {**cluster.beparams, "default": be}
    if op.nicparams:
        given = check_types(op.nicparams, NIC_TYPES, "NIC")
        nic = {**cluster.nicparams.get("default", {}), **given}
        _check_nic(nic)
        changes["nicparams"] = {**cluster.nicparams, "default": nic}
    if op.ndparams:
        changes["ndparams"] = {**cluster.ndparams, **check_types(op.ndparams, ND_TYPES, "node")}
    return changes


def _check_nic(nic: dict[str, Any]) -> None:
    mode = nic.get("mode")
    if mode not in _NIC_MODES:
        raise _invalid(f"Invalid NIC mode '{mode}', must be one of: {', '.join(_NIC_MODES)}")
    if mode != NicMode.ROUTED and not nic.get("link"):
        raise _invalid(f"Missing {mode} NIC link")


def _nested_changes(cfg: ConfigData, op: OpClusterSetParams) -> dict[str, Any]:
    cluster = cfg.cluster
    changes: dict[str, Any] = {}
    if op.hvparams:
        changes["hvparams"] = merge_nested(cluster.hvparams, op.hvparams, HYPERVISORS,
                                           "hypervisor")
    if op.diskparams:
        changes["diskparams"] = merge_nested(cluster.diskparams, op.diskparams, _TEMPLATES,
                                             "disk template")
    if op.osparams:
        changes["osparams"] = merge_nested(cluster.osparams, op.osparams, None, "OS")
    if op.os_hvp:
        merged = dict(cluster.os_hvp)
        for os_name, per_hv in op.os_hvp.items():
            value = merge_nested(merged.get(os_name, {}), per_hv or {}, HYPERVISORS, "hypervisor")
            merged[os_name] = value
        changes["os_hvp"] = {k: v for k, v in merged.items() if v}
    return changes


def _os_list(current: tuple[str, ...], mods: list[tuple[str, str]], what: str,
             log: Log) -> tuple[str, ...]:
    names = list(current)
    for action, os_name in mods:
        if action == "add" and os_name in names:
            log(f"OS {os_name} already in {what}, ignoring")
        elif action == "add":
            names.append(os_name)
        elif action == "remove" and os_name not in names:
            log(f"OS {os_name} not found in {what}, ignoring")
        elif action == "remove":
            names.remove(os_name)
        else:
            raise _invalid(f"Invalid {what} modification '{action}'")
    return tuple(names)


def _check_templates_in_use(cfg: ConfigData, changes: dict[str, Any]) -> None:
    enabled = changes.get("enabled_disk_templates", cfg.cluster.enabled_disk_templates)
    for inst in sorted(cfg.instances.values(), key=lambda i: i.name):
        if inst.disk_template.value not in enabled:
            raise OpPrereqError(
                f"Cannot disable disk template '{inst.disk_template.value}', because there is"
                f" at least one instance using it ({inst.name})", ErrorCode.STATE,
            )
    file_dir = changes.get("file_storage_dir", cfg.cluster.file_storage_dir)
    if "file_storage_dir" in changes and not file_dir and DiskTemplate.FILE.value in enabled:
        raise _invalid("Unsetting the 'file' storage directory while having file-based"
                       " storage enabled is not permitted")


def compute_changes(cfg: ConfigData, op: OpClusterSetParams, log: Log) -> dict[str, Any]:
    """The new values of the cluster fields ``op`` changes (checked against ``cfg``).

    Raises:
        OpPrereqError: a value is invalid (INVAL) or conflicts with the configuration.
    """
    changes = _scalar_changes(cfg, op)
    changes.update(_default_params(cfg, op))
    changes.update(_nested_changes(cfg, op))
    if op.hidden_os:
        changes["hidden_os"] = _os_list(cfg.cluster.hidden_os, op.hidden_os, "hidden OS list",
                                        log)
    if op.blacklisted_os:
        changes["blacklisted_os"] = _os_list(cfg.cluster.blacklisted_os, op.blacklisted_os,
                                             "blacklisted OS list", log)
    if op.ipolicy:
        changes["ipolicy"] = ipolicy.updated_policy(ipolicy.cluster_policy(cfg), op.ipolicy,
                                                    group=False)
    changes.update(auto_failover_changes(cfg, op))
    _check_templates_in_use(cfg, changes)
    return changes
