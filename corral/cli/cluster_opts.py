"""Options of ``gnt-cluster init`` and ``modify`` and the changes ``modify`` asks for."""

from __future__ import annotations

from corral.cli import ipolicy_opts
from corral.cli import options as o
from corral.cli.errors import UsageError
from corral.cli.params import (
    BEPARAM_TYPES,
    NDPARAM_TYPES,
    NICPARAM_TYPES,
    ParamError,
    coerce_params,
    group_params,
    parse_list,
)

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up time)
if TYPE_CHECKING:
    from typing import Any

AUTO_FAILOVER_OPTS = (
    o.Opt("--etcd-endpoints", dest="etcd_endpoints", metavar="URL,URL,...",
          help="Client URLs of the etcd cluster holding the master lease"),
    o.Opt("--master-lease-ttl", dest="master_lease_ttl", type=o.int_type, metavar="SECONDS",
          help="Seconds the master lease outlives the master's last keep-alive (default 5)"),
)

_NO_ETC_HOSTS_OPT = o.Opt(
    "--no-etc-hosts", action="store_false", dest="modify_etc_hosts",
    help="Don't modify /etc/hosts (accepted for compatibility: Corral never edits it at init)")

INIT_OPTS = (
    o.BACKEND_OPT, o.CP_SIZE_OPT, o.ENABLED_HV_OPT, o.FILESTORE_DIR_OPT, o.HVLIST_OPT,
    o.MAC_PREFIX_OPT, o.MASTER_NETDEV_OPT, o.MASTER_NETMASK_OPT, o.NIC_PARAMS_OPT,
    _NO_ETC_HOSTS_OPT, o.SECONDARY_IP_OPT, o.VG_NAME_OPT, o.NODE_PARAMS_OPT,
    o.SHARED_FILESTORE_DIR_OPT, o.ENABLED_DISK_TEMPLATES_OPT,
    o.Opt("--master-node", dest="master_node", metavar="NAME",
          help="Name of this (the master) node (default: this host's FQDN)"),
    o.Opt("--primary-ip", dest="primary_ip", metavar="ADDRESS",
          help="Primary IP address of this node (default: resolve the master node's name)"),
    o.Opt("--master-ip", dest="master_ip", metavar="ADDRESS",
          help="The cluster's master IP address (default: resolve the cluster name)"),
    *ipolicy_opts.INIT_OPTS,
    o.Opt("--noded-port", dest="noded_port", type=o.int_type, metavar="PORT",
          help="Port of the node daemons (default: 1811)"),
    o.Opt("--auto-failover", dest="auto_failover", action="store_true", default=False,
          help="Automatic master failover: the master holds a lease in etcd and a master"
               " candidate takes over when it expires (needs --etcd-endpoints)"),
    *AUTO_FAILOVER_OPTS,
)

_BOOL_SETTINGS = (
    ("--maintain-node-health", "maintain_node_health", "Whether to maintain node health"),
    ("--prealloc-wipe-disks", "prealloc_wipe_disks", "Wipe disks prior to instance creation"),
    ("--use-external-mip-script", "use_external_mip_script",
     "Whether to use an external master IP address setup script"),
    ("--modify-etc-hosts", "modify_etc_hosts", "Whether the cluster should modify /etc/hosts"),
    ("--user-shutdown", "enabled_user_shutdown", "Whether user shutdown is enabled"),
)

MODIFY_OPTS = (
    o.FORCE_OPT, o.BACKEND_OPT, o.CP_SIZE_OPT, o.MAX_RUNNING_JOBS_OPT, o.MAX_TRACKED_JOBS_OPT,
    o.ENABLED_HV_OPT, o.HVLIST_OPT, o.MAC_PREFIX_OPT, o.MASTER_NETDEV_OPT,
    o.MASTER_NETMASK_OPT, o.NIC_PARAMS_OPT, o.VG_NAME_OPT, o.DEFAULT_IALLOCATOR_OPT,
    o.NODE_PARAMS_OPT, o.DISK_PARAMS_OPT, o.ENABLED_DISK_TEMPLATES_OPT, o.FILESTORE_DIR_OPT,
    o.SHARED_FILESTORE_DIR_OPT, o.DRY_RUN_OPT, *o.SUBMIT_OPTS, *ipolicy_opts.CLUSTER_OPTS,
    o.Opt("--reserved-lvs", dest="reserved_lvs", metavar="LV,...",
          help="Comma-separated list of reserved logical volumes"),
    o.Opt("--drbd-usermode-helper", dest="drbd_helper", metavar="HELPER",
          help="DRBD usermode helper"),
    *(o.Opt(flag, dest=dest, type=o.bool_type, metavar=o.YES_NO, help=text)
      for flag, dest, text in _BOOL_SETTINGS),
    o.Opt("--auto-failover", dest="auto_failover", type=o.bool_type, metavar=o.YES_NO,
          help="Whether the master lease in etcd decides who is master (restart the master"
               " daemons of the candidates to apply)"),
    *AUTO_FAILOVER_OPTS,
)

_PLAIN_SETTINGS = ("candidate_pool_size", "max_running_jobs", "max_tracked_jobs", "master_netdev",
                   "master_netmask", "mac_prefix", "default_iallocator", "file_storage_dir",
                   "shared_file_storage_dir", "vg_name", "drbd_helper", "auto_failover",
                   "master_lease_ttl",
                   *(dest for _, dest, _ in _BOOL_SETTINGS))
_TYPED = (("beparams", "backend", BEPARAM_TYPES), ("nicparams", "nic", NICPARAM_TYPES),
          ("ndparams", "node", NDPARAM_TYPES))


def _dict_changes(opts: Any) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    if opts.hvparams:
        changes["hvparams"] = group_params("-H", opts.hvparams)
    if opts.diskparams:
        changes["diskparams"] = group_params("-D", opts.diskparams)
    for key, what, types in _TYPED:
        if getattr(opts, key):
            changes[key] = coerce_params(what, getattr(opts, key), types)
    return changes


def modify_changes(opts: Any) -> dict[str, Any]:
    """The OP_CLUSTER_SET_PARAMS fields the options set (empty when nothing was asked)."""
    try:
        changes = _dict_changes(opts)
    except ParamError as err:
        raise UsageError(f"Error: {err}") from None
    changes.update((key, getattr(opts, key)) for key in _PLAIN_SETTINGS
                   if getattr(opts, key) is not None)
    if opts.enabled_hypervisors:
        changes["enabled_hypervisors"] = parse_list(opts.enabled_hypervisors)
    if opts.enabled_disk_templates:
        changes["enabled_disk_templates"] = parse_list(opts.enabled_disk_templates)
    if opts.reserved_lvs is not None:
        changes["reserved_lvs"] = parse_list(opts.reserved_lvs)
    if opts.etcd_endpoints is not None:
        changes["etcd_endpoints"] = parse_list(opts.etcd_endpoints)
    policy = ipolicy_opts.ipolicy_from_opts(opts)
    if policy is not None:
        changes["ipolicy"] = policy
    return changes
