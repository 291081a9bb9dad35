"""The configuration of a brand-new cluster."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from corral.errors import ErrorCode, OpPrereqError
from corral.objects import Cluster, ConfigData, Node, NodeGroup, new_uuid
from corral.objects import ipolicy as pol
from corral.objects.cluster import DEFAULT_BEPARAMS, DEFAULT_NDPARAMS, DEFAULT_NICPARAMS
from corral.objects.etcd_settings import DEFAULT_LEASE_TTL
from corral.objects.node import DEFAULT_GROUP_NAME


@dataclass(frozen=True)
class InitParams:
    """What ``gnt-cluster init`` was asked for."""

    cluster_name: str
    master_node: str
    primary_ip: str
    secondary_ip: str | None = None
    master_ip: str | None = None
    master_netdev: str = ""
    master_netmask: int = 32
    enabled_hypervisors: list[str] = field(default_factory=lambda: ["fake"])
    hvparams: dict[str, dict[str, Any]] = field(default_factory=dict)
    beparams: dict[str, Any] = field(default_factory=dict)
    nicparams: dict[str, Any] = field(default_factory=dict)
    ndparams: dict[str, Any] = field(default_factory=dict)
    enabled_disk_templates: list[str] = field(default_factory=lambda: ["diskless", "file"])
    file_storage_dir: str = ""
    shared_file_storage_dir: str = ""
    vg_name: str = ""
    mac_prefix: str = "aa:00:00"
    candidate_pool_size: int = 10
    noded_port: int = 1811
    rapi_port: int = 5080
    ipolicy: dict[str, Any] = field(default_factory=dict)
    """Changes to Ganeti's default instance policy (checked by the caller)."""
    auto_failover: bool = False
    etcd_endpoints: list[str] = field(default_factory=list)
    master_lease_ttl: int = DEFAULT_LEASE_TTL


def initial_ipolicy(given: dict[str, Any]) -> dict[str, Any]:
    """Ganeti's default policy with what init was given (``--specs-*`` may give partial
    bounds, completed from the defaults).

    Raises:
        OpPrereqError: (INVAL) the resulting policy is not well formed.
    """
    changes = dict(given)
    if pol.MINMAX in changes:
        changes[pol.MINMAX] = [{pol.MIN: {**pol.DEFAULT_MIN, **pair.get(pol.MIN, {})},
                                pol.MAX: {**pol.DEFAULT_MAX, **pair.get(pol.MAX, {})}}
                               for pair in changes[pol.MINMAX]]
    try:
        return pol.updated_ipolicy(pol.default_ipolicy(), changes, group_policy=False)
    except pol.PolicyError as err:
        raise OpPrereqError(f"Invalid instance policy: {err}", ErrorCode.INVAL) from None


def initial_config(params: InitParams, now: float) -> ConfigData:
    """A cluster with one default group and the master node as its only candidate."""
    group = NodeGroup(uuid=new_uuid(), name=DEFAULT_GROUP_NAME, ctime=now, mtime=now)
    master = Node(
        uuid=new_uuid(),
        name=params.master_node,
        primary_ip=params.primary_ip,
        secondary_ip=params.secondary_ip or "",
        group=group.uuid,
        master_candidate=True,
        rpc_port=params.noded_port,
        ctime=now,
        mtime=now,
    )
    cluster = Cluster(
        uuid=new_uuid(),
        cluster_name=params.cluster_name,
        master_node=master.uuid,
        master_ip=params.master_ip or "",
        master_netdev=params.master_netdev,
        master_netmask=params.master_netmask,
        enabled_hypervisors=tuple(params.enabled_hypervisors),
        hvparams={hv: dict(params.hvparams.get(hv, {})) for hv in params.enabled_hypervisors},
        beparams={"default": {**DEFAULT_BEPARAMS, **params.beparams}},
        nicparams={"default": {**DEFAULT_NICPARAMS, **params.nicparams}},
        ndparams={**DEFAULT_NDPARAMS, **params.ndparams},
        enabled_disk_templates=tuple(params.enabled_disk_templates),
        file_storage_dir=params.file_storage_dir,
        shared_file_storage_dir=params.shared_file_storage_dir,
        volume_group_name=params.vg_name,
        mac_prefix=params.mac_prefix,
        candidate_pool_size=params.candidate_pool_size,
        noded_port=params.noded_port,
        rapi_port=params.rapi_port,
        ipolicy=initial_ipolicy(params.ipolicy),
        auto_failover=params.auto_failover,
        etcd_endpoints=tuple(params.etcd_endpoints),
        master_lease_ttl=params.master_lease_ttl,
        ctime=now,
        mtime=now,
    )
    data = ConfigData(cluster=cluster, ctime=now, mtime=now)
    data.put(group)
    data.put(master)
    return data
