"""``gnt-cluster modify --auto-failover/--etcd-endpoints/--master-lease-ttl``: the changes."""

from __future__ import annotations

from typing import Any

from corral.errors import ErrorCode, OpPrereqError
from corral.objects.config_data import ConfigData
from corral.objects.etcd_settings import EtcdSettingsError, check_auto_failover
from corral.opcodes.cluster import OpClusterSetParams


def auto_failover_changes(cfg: ConfigData, op: OpClusterSetParams) -> dict[str, Any]:
    """The new automatic-failover fields, checked together with the unchanged ones.

    Raises:
        OpPrereqError: (INVAL) a malformed endpoint or TTL, or the mode without endpoints.
    """
    if op.auto_failover is None and op.etcd_endpoints is None and op.master_lease_ttl is None:
        return {}
    cluster = cfg.cluster
    enabled = cluster.auto_failover if op.auto_failover is None else op.auto_failover
    endpoints = cluster.etcd_endpoints if op.etcd_endpoints is None else op.etcd_endpoints
    ttl = cluster.master_lease_ttl if op.master_lease_ttl is None else op.master_lease_ttl
    try:
        checked = check_auto_failover(enabled, endpoints, ttl)
    except EtcdSettingsError as err:
        raise OpPrereqError(str(err), ErrorCode.INVAL) from None
    changes: dict[str, Any] = {}
    if op.auto_failover is not None:
        changes["auto_failover"] = enabled
    if op.etcd_endpoints is not None:
        changes["etcd_endpoints"] = checked
    if op.master_lease_ttl is not None:
        changes["master_lease_ttl"] = ttl
    return changes
