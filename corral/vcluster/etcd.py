"""The etcd cluster of a virtual cluster started with ``--auto-failover``.

Three members on loopback under ``DIR/etcd`` (``testing.etcd_cluster``), started before the
node daemons and stopped by ``corral vcluster down`` through their recorded PIDs.
"""

from __future__ import annotations

from pathlib import Path

from corral.errors import OpExecError
from corral.testing.etcd_cluster import EtcdCluster, EtcdHarnessError, stop_members

ETCD_DIR = "etcd"
MEMBERS = 3


def start_etcd(directory: Path) -> list[str]:
    """Start the virtual cluster's etcd members; returns their client endpoints."""
    cluster = EtcdCluster(directory / ETCD_DIR, MEMBERS, token=f"corral-{directory.name}")
    try:
        return cluster.start().endpoints
    except EtcdHarnessError as err:
        raise OpExecError(f"Cannot start the virtual cluster's etcd: {err}") from err


def stop_etcd(directory: Path) -> int:
    """Stop the virtual cluster's etcd members, if any; returns how many were running."""
    return stop_members(directory / ETCD_DIR)


def etcd_endpoints(directory: Path) -> list[str]:
    """The client endpoints of the virtual cluster's etcd, empty without one."""
    cluster = EtcdCluster.load(directory / ETCD_DIR)
    return [] if cluster is None else cluster.endpoints
