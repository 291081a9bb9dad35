"""Whether this node runs in automatic master failover mode (read from its configuration)."""

from __future__ import annotations

from corral.config.store import ConfigStore
from corral.layout import NodeLayout


def auto_failover_configured(layout: NodeLayout) -> bool:
    """Whether this node's configuration (the master's, or a candidate's replica) enables
    automatic master failover; False on a node without one."""
    if not layout.config_db.exists():
        return False
    store = ConfigStore(layout.config_db)
    try:
        data = store.load()
    finally:
        store.close()
    return data is not None and data.cluster.auto_failover
