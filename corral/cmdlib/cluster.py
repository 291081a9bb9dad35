"""Cluster logical units: post-init, query, config values, master IP, destroy."""

from __future__ import annotations

import platform
from typing import Any

import corral
from corral.cmdlib.base import HookObjectType, LogicalUnit, implements, master_only
from corral.errors import ErrorCode, OpExecError, OpPrereqError
from corral.locking.plan import LockPlan
from corral.objects.config_data import ConfigData
from corral.objects.ipolicy import upgrade_cluster_ipolicy
from corral.opcodes.cluster import (
    OpClusterActivateMasterIp,
    OpClusterConfigQuery,
    OpClusterDeactivateMasterIp,
    OpClusterDestroy,
    OpClusterPostInit,
    OpClusterQuery,
)
from corral.version import CONFIG_VERSION, EXPORT_VERSION, OS_API_VERSION, PROTOCOL_VERSION

DATA_COLLECTORS = ("cpu-avg-load", "diskstats", "drbd", "inst-status-xen", "lv",
                   "xen-cpu-avg-load")
"""Ganeti's data collector names (shown by ``gnt-cluster info``)."""
DATA_COLLECTOR_INTERVAL_US = 5_000_000


def version_info() -> dict[str, Any]:
    """Software and protocol versions, as Ganeti's QueryClusterInfo reports them."""
    return {
        "software_version": corral.__version__,
        "protocol_version": PROTOCOL_VERSION,
        "config_version": CONFIG_VERSION,
        "os_api_version": OS_API_VERSION,
        "export_version": EXPORT_VERSION,
        "vcs_version": f"(corral) {corral.__version__}",
        "architecture": [platform.architecture()[0], platform.machine()],
    }


def cluster_info(cfg: ConfigData) -> dict[str, Any]:
    """What ``gnt-cluster info`` and RAPI ``/2/info`` show (Ganeti's QueryClusterInfo keys)."""
    return {**version_info(), **_settings(cfg)}


def _settings(cfg: ConfigData) -> dict[str, Any]:
    c = cfg.cluster
    return {
        "name": c.cluster_name,
        "master": cfg.master_node.name,
        "default_hypervisor": c.default_hypervisor,
        "enabled_hypervisors": list(c.enabled_hypervisors),
        "hvparams": {hv: c.hvparams.get(hv, {}) for hv in c.enabled_hypervisors},
        "os_hvp": c.os_hvp,
        "beparams": c.beparams,
        "osparams": c.osparams,
        "ipolicy": upgrade_cluster_ipolicy(c.ipolicy),
        "nicparams": c.nicparams,
        "ndparams": c.ndparams,
        "diskparams": c.diskparams,
        "candidate_pool_size": c.candidate_pool_size,
        "max_running_jobs": c.max_running_jobs,
        "max_tracked_jobs": c.max_tracked_jobs,
        "master_netdev": c.master_netdev,
        "master_netmask": c.master_netmask,
        "use_external_mip_script": c.use_external_mip_script,
        "volume_group_name": c.volume_group_name,
        "reserved_lvs": [],
        "drbd_usermode_helper": "",
        "file_storage_dir": c.file_storage_dir,
        "shared_file_storage_dir": c.shared_file_storage_dir,
        "gluster_storage_dir": "",
        "maintain_node_health": c.maintain_node_health,
        "ctime": c.ctime,
        "mtime": c.mtime,
        "uuid": c.uuid,
        "tags": list(c.tags),
        "uid_pool": [list(r) for r in c.uid_pool],
        "default_iallocator": c.default_iallocator,
        "default_iallocator_params": {},
        "primary_ip_version": 4 if c.primary_ip_family == 2 else 6,
        "prealloc_wipe_disks": c.prealloc_wipe_disks,
        "hidden_os": list(c.hidden_os),
        "blacklisted_os": list(c.blacklisted_os),
        "enabled_disk_templates": list(c.enabled_disk_templates),
        "install_image": "",
        "instance_communication_network": "",
        "zeroing_image": "",
        "compression_tools": ["gzip", "gzip-fast", "gzip-slow"],
        "enabled_user_shutdown": c.enabled_user_shutdown,
        "data_collectors": {},
        # Ganeti's monitoring collectors: Corral runs no monitoring daemon, so none is active.
        "enabled_data_collectors": dict.fromkeys(DATA_COLLECTORS, False),
        "data_collector_interval": dict.fromkeys(DATA_COLLECTORS, DATA_COLLECTOR_INTERVAL_US),
        "modify_etc_hosts": c.modify_etc_hosts,
        "modify_ssh_setup": False,
        "ssh_key_type": "",
        "ssh_key_bits": 0,
        "master_ip": c.master_ip,
        "mac_prefix": c.mac_prefix,
        "noded_port": c.noded_port,
        "rapi_port": c.rapi_port,
        # Corral's: the master's term, sent by tools that call nodes beside the master
        "master_epoch": c.master_epoch,
        **_auto_failover(cfg),
    }


def _auto_failover(cfg: ConfigData) -> dict[str, Any]:
    """Corral's automatic master failover settings."""
    c = cfg.cluster
    return {"auto_failover": c.auto_failover, "etcd_endpoints": list(c.etcd_endpoints),
            "master_lease_ttl": c.master_lease_ttl}


def config_values(cfg: ConfigData, fields: list[str], extra: dict[str, Any]) -> list[Any]:
    """Ganeti's QueryConfigValues: values of named cluster settings, in order."""
    c = cfg.cluster
    known: dict[str, Any] = {
        "cluster_name": c.cluster_name,
        "master_node": cfg.master_node.name,
        "master_ip": c.master_ip,
        "master_netdev": c.master_netdev,
        "default_hypervisor": c.default_hypervisor,
        "enabled_hypervisors": list(c.enabled_hypervisors),
        "file_storage_dir": c.file_storage_dir,
        "shared_file_storage_dir": c.shared_file_storage_dir,
        "volume_group_name": c.volume_group_name,
        "candidate_pool_size": c.candidate_pool_size,
        "enabled_disk_templates": list(c.enabled_disk_templates),
        "mac_prefix": c.mac_prefix,
        "cluster_tags": list(c.tags),
        **extra,
    }
    unknown = [f for f in fields if f not in known]
    if unknown:
        raise OpPrereqError(f"Unknown output fields: {', '.join(unknown)}", ErrorCode.INVAL)
    return [known[f] for f in fields]


def master_params(cfg: ConfigData) -> dict[str, Any]:
    c = cfg.cluster
    return {
        "uuid": c.master_node,
        "ip": c.master_ip,
        "netmask": c.master_netmask,
        "netdev": c.master_netdev,
        "ip_family": c.primary_ip_family,
    }


@implements(OpClusterPostInit)
class LUClusterPostInit(LogicalUnit[OpClusterPostInit]):
    """Does nothing but run the ``cluster-init`` post hooks."""

    HPATH = "cluster-init"
    HTYPE = HookObjectType.CLUSTER

    def hooks_env(self) -> dict[str, Any]:
        return {"OP_TARGET": self.cfg.cluster.cluster_name}

    def hooks_nodes(self) -> tuple[list[Any], list[Any]]:
        return [], [self.cfg.master_node]

    async def exec(self) -> Any:
        return True


@implements(OpClusterQuery)
class LUClusterQuery(LogicalUnit[OpClusterQuery]):
    """Cluster-wide settings."""

    REQ_BGL = False

    def declare_locks(self) -> LockPlan:
        return LockPlan.bare()

    async def exec(self) -> Any:
        return cluster_info(self.cfg)


@implements(OpClusterConfigQuery)
class LUClusterConfigQuery(LogicalUnit[OpClusterConfigQuery]):
    """Selected configuration values."""

    REQ_BGL = False

    def declare_locks(self) -> LockPlan:
        return LockPlan.bare()

    async def exec(self) -> Any:
        return config_values(self.cfg, self.op.output_fields, {})


async def _switch_master_ip(lu: LogicalUnit[Any], up: bool) -> None:
    cfg = lu.cfg
    if not cfg.cluster.master_ip:
        lu.log_info("The cluster has no master IP configured")
        return
    rpc = lu.ctx.rpc
    switch = rpc.node_activate_master_ip if up else rpc.node_deactivate_master_ip
    result = await switch(
        cfg.master_node, master_params(cfg), cfg.cluster.use_external_mip_script
    )
    if not result.ok:
        verb = "activate" if up else "deactivate"
        raise OpExecError(f"Could not {verb} the master IP: {result.fail_msg}")


@implements(OpClusterActivateMasterIp)
class LUClusterActivateMasterIp(LogicalUnit[OpClusterActivateMasterIp]):
    """Bring up the master IP on the master node."""

    async def exec(self) -> Any:
        await _switch_master_ip(self, up=True)


@implements(OpClusterDeactivateMasterIp)
class LUClusterDeactivateMasterIp(LogicalUnit[OpClusterDeactivateMasterIp]):
    """Take down the master IP."""

    async def exec(self) -> Any:
        await _switch_master_ip(self, up=False)


@implements(OpClusterDestroy)
class LUClusterDestroy(LogicalUnit[OpClusterDestroy]):
    """Checks the cluster can be destroyed and takes the master IP down."""

    HPATH = "cluster-destroy"
    HTYPE = HookObjectType.CLUSTER

    def hooks_env(self) -> dict[str, Any]:
        return {"OP_TARGET": self.cfg.cluster.cluster_name}

    def hooks_nodes(self) -> tuple[list[Any], list[Any]]:
        return [], master_only(self.cfg)[1]

    async def check_prereq(self) -> None:
        others = [n.name for n in self.cfg.nodes.values() if n.uuid != self.cfg.cluster.master_node]
        if others:
            raise OpPrereqError(
                f"There are still {len(others)} node(s) in this cluster: "
                + ", ".join(sorted(others)),
                ErrorCode.INVAL,
            )
        if self.cfg.instances:
            raise OpPrereqError(
                f"There are still {len(self.cfg.instances)} instance(s) in this cluster",
                ErrorCode.INVAL,
            )

    async def exec(self) -> Any:
        if self.cfg.cluster.master_ip:
            await _switch_master_ip(self, up=False)
        return self.cfg.master_node.name
