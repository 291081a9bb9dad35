"""The cluster object: cluster-wide settings and parameter defaults."""

from __future__ import annotations

from typing import Any

import msgspec

from corral.objects.base import ConfigObject
from corral.objects.etcd_settings import DEFAULT_LEASE_TTL
from corral.objects.ipolicy import default_ipolicy

ParamDict = dict[str, Any]

DEFAULT_CANDIDATE_POOL_SIZE = 10
DEFAULT_MAX_RUNNING_JOBS = 20
DEFAULT_MAX_TRACKED_JOBS = 25

DEFAULT_BEPARAMS: ParamDict = {
    "minmem": 128,
    "maxmem": 128,
    "vcpus": 1,
    "auto_balance": True,
    "always_failover": False,
    "spindle_use": 1,
}
DEFAULT_NICPARAMS: ParamDict = {"mode": "bridged", "link": "br0", "vlan": ""}
DEFAULT_NDPARAMS: ParamDict = {
    "oob_program": "",
    "spindle_count": 1,
    "exclusive_storage": False,
    "ovs": False,
    "ovs_name": "switch1",
    "ovs_link": "",
    "ssh_port": 22,
    "cpu_speed": 1.0,
}


def _default(value: ParamDict) -> Any:
    return msgspec.field(default_factory=lambda: dict(value))


class Cluster(ConfigObject, kw_only=True, frozen=True):
    """Cluster-wide settings. Exactly one exists."""

    cluster_name: str
    master_node: str
    master_ip: str = ""
    master_netdev: str = ""
    master_netmask: int = 32
    use_external_mip_script: bool = False
    primary_ip_family: int = 2
    candidate_pool_size: int = DEFAULT_CANDIDATE_POOL_SIZE
    max_running_jobs: int = DEFAULT_MAX_RUNNING_JOBS
    max_tracked_jobs: int = DEFAULT_MAX_TRACKED_JOBS
    enabled_hypervisors: tuple[str, ...] = ("fake",)
    hvparams: dict[str, ParamDict] = msgspec.field(default_factory=dict)
    os_hvp: dict[str, dict[str, ParamDict]] = msgspec.field(default_factory=dict)
    beparams: dict[str, ParamDict] = msgspec.field(
        default_factory=lambda: {"default": dict(DEFAULT_BEPARAMS)}
    )
    nicparams: dict[str, ParamDict] = msgspec.field(
        default_factory=lambda: {"default": dict(DEFAULT_NICPARAMS)}
    )
    ndparams: ParamDict = _default(DEFAULT_NDPARAMS)
    diskparams: dict[str, ParamDict] = msgspec.field(default_factory=dict)
    osparams: dict[str, ParamDict] = msgspec.field(default_factory=dict)
    ipolicy: ParamDict = msgspec.field(default_factory=default_ipolicy)
    enabled_disk_templates: tuple[str, ...] = ("diskless", "file")
    file_storage_dir: str = ""
    shared_file_storage_dir: str = ""
    volume_group_name: str = ""
    mac_prefix: str = "aa:00:00"
    default_iallocator: str = ""
    maintain_node_health: bool = False
    modify_etc_hosts: bool = False
    uid_pool: tuple[tuple[int, int], ...] = ()
    hidden_os: tuple[str, ...] = ()
    blacklisted_os: tuple[str, ...] = ()
    prealloc_wipe_disks: bool = False
    enabled_user_shutdown: bool = False
    rapi_port: int = 5080
    noded_port: int = 1811
    master_epoch: int = 1
    """The master term: bumped by each new master (fencing, :mod:`corral.master.term`)."""
    auto_failover: bool = False
    """The master is whoever holds the master lease in etcd (:mod:`corral.master.auto`)."""
    etcd_endpoints: tuple[str, ...] = ()
    master_lease_ttl: int = DEFAULT_LEASE_TTL

    @property
    def default_hypervisor(self) -> str:
        return self.enabled_hypervisors[0] if self.enabled_hypervisors else ""
