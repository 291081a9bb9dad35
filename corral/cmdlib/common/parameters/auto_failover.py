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
    given = {name: value for name, value in (
        ("auto_failover", op.auto_failover), ("etcd_endpoints", op.etcd_endpoints),
        ("master_lease_ttl", op.master_lease_ttl)) if value is not None}
    if not given:
        return {}
    cluster = cfg.cluster
    enabled = given.get("auto_failover", cluster.auto_failover)
    endpoints = given.get("etcd_endpoints", cluster.etcd_endpoints)
    ttl = given.get("master_lease_ttl", cluster.master_lease_ttl)
    try:
        checked = check_auto_failover(enabled, endpoints, ttl)
    except EtcdSettingsError as err:
        raise OpPrereqError(str(err), ErrorCode.INVAL) from None
    if "etcd_endpoints" in given:
        given["etcd_endpoints"] = checked
    return given
