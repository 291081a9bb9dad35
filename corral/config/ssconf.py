"""ssconf: small per-key files on every node (cluster name, master, node lists, ...)."""

from __future__ import annotations

import corral
from corral.errors import ConfigurationError
from corral.objects.config_data import ConfigData


def _lines(items: list[str]) -> str:
    """``items`` one per line, as the nodes read them back (``str.splitlines``).

    Raises:
        ConfigurationError: an item holds a line break and would read back as several.
    """
    for item in items:
        if item and item.splitlines() != [item]:
            raise ConfigurationError(f"Refusing to write ssconf: entry {item!r} spans lines")
    return "\n".join(items)


def compute_ssconf(data: ConfigData) -> dict[str, str]:
    """The ssconf values Ganeti's nodes expect, computed from the configuration."""
    cluster = data.cluster
    nodes = sorted(data.nodes.values(), key=lambda n: n.name)
    candidates = [n for n in nodes if n.master_candidate]
    master = data.nodes.get(cluster.master_node)
    values = {
        "cluster_name": cluster.cluster_name,
        "cluster_tags": _lines(list(cluster.tags)),
        "file_storage_dir": cluster.file_storage_dir,
        "shared_file_storage_dir": cluster.shared_file_storage_dir,
        "gluster_storage_dir": "",
        "master_candidates": _lines([n.name for n in candidates]),
        "master_candidates_ips": _lines([n.primary_ip for n in candidates]),
        "master_candidates_certs": "",
        "master_ip": cluster.master_ip,
        "master_netdev": cluster.master_netdev,
        "master_netmask": str(cluster.master_netmask),
        "master_node": master.name if master else "",
        "node_list": _lines([n.name for n in nodes]),
        "node_primary_ips": _lines([f"{n.name} {n.primary_ip}" for n in nodes]),
        "node_secondary_ips": _lines([f"{n.name} {n.effective_secondary_ip}" for n in nodes]),
        "node_vm_capable": _lines([f"{n.name}={n.vm_capable}" for n in nodes]),
        "offline_nodes": _lines([n.name for n in nodes if n.offline]),
        "online_nodes": _lines([n.name for n in nodes if not n.offline]),
        "primary_ip_family": str(cluster.primary_ip_family),
        "instance_list": _lines(sorted(i.name for i in data.instances.values())),
        "release_version": corral.__version__,
        "hypervisor_list": _lines(list(cluster.enabled_hypervisors)),
        "maintain_node_health": str(cluster.maintain_node_health),
        "uid_pool": _lines([f"{a}-{b}" if a != b else str(a) for a, b in cluster.uid_pool]),
        "nodegroups": _lines(sorted(f"{g.uuid} {g.name}" for g in data.nodegroups.values())),
        "networks": _lines(sorted(f"{n.uuid} {n.name}" for n in data.networks.values())),
        "enabled_user_shutdown": str(cluster.enabled_user_shutdown),
        "ssh_ports": _lines([f"{n.name}={n.ndparams.get('ssh_port', 22)}" for n in nodes]),
        "noded_port": str(cluster.noded_port),
    }
    for hv_name in cluster.enabled_hypervisors:
        params = cluster.hvparams.get(hv_name, {})
        values[f"hvparams_{hv_name}"] = _lines([f"{k}={v}" for k, v in sorted(params.items())])
    return values
