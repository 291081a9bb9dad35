"""Configuration consistency checks of cluster verify (pure functions over ConfigData)."""

from __future__ import annotations

import datetime
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path

from corral.cmdlib.common.instances.drbd import DrbdLogicalId, minor_uses
from corral.cmdlib.common.nodes.candidates import candidate_stats
from corral.cmdlib.common.verification.report import (
    ECLUSTERCERT,
    ECLUSTERCFG,
    ECLUSTERDANGLINGINST,
    ECLUSTERDANGLINGNODES,
    Finding,
    error,
    warning,
)
from corral.errors import CorralError
from corral.objects.config_data import ConfigData
from corral.objects.instance import Instance
from corral.rpc import pki

CERT_WARN_DAYS = 30


def _cfg_error(message: str) -> Finding:
    return error(ECLUSTERCFG, None, message)


def master_findings(cfg: ConfigData) -> list[Finding]:
    """The master node exists, is online and a candidate; the pool is full (warning)."""
    master = cfg.nodes.get(cfg.cluster.master_node)
    if master is None:
        return [_cfg_error(f"the master node {cfg.cluster.master_node} is not a known node")]
    found = []
    if not master.master_candidate:
        found.append(_cfg_error(f"the master node {master.name} is not a master candidate"))
    if master.offline:
        found.append(_cfg_error(f"the master node {master.name} is marked offline"))
    stats = candidate_stats(cfg)
    if stats.current < stats.desired:
        found.append(warning(ECLUSTERCFG, None, "Not enough master candidates:"
                             f" actual {stats.current}, target {stats.desired}"))
    return found


def _duplicates(pairs: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    """``{key: [owners]}`` for keys that more than one owner uses."""
    owners: dict[str, list[str]] = defaultdict(list)
    for key, owner in pairs:
        if key and owner not in owners[key]:
            owners[key].append(owner)
    return {key: sorted(names) for key, names in sorted(owners.items()) if len(names) > 1}


def uniqueness_findings(cfg: ConfigData) -> list[Finding]:
    """Names, node addresses and instance MAC addresses are each used once."""
    found = []
    for kind, table in (("node", cfg.nodes), ("instance", cfg.instances),
                        ("node group", cfg.nodegroups), ("network", cfg.networks)):
        for name, uuids in _duplicates((o.name, o.uuid) for o in table.values()).items():
            found.append(_cfg_error(f"duplicate {kind} name '{name}' ({', '.join(uuids)})"))
    addresses = ((ip, n.name) for n in cfg.nodes.values()
                 for ip in {n.primary_ip, n.effective_secondary_ip})
    for ip, names in _duplicates(addresses).items():
        found.append(_cfg_error(f"IP address {ip} is used by several nodes: {', '.join(names)}"))
    macs = ((nic.mac.lower(), i.name) for i in cfg.instances.values() for nic in i.nics)
    for mac, names in _duplicates(macs).items():
        found.append(_cfg_error(f"duplicate MAC address {mac} ({', '.join(names)})"))
    return found


def _instance_refs(cfg: ConfigData, inst: Instance) -> Iterable[Finding]:
    for disk_uuid in inst.disks:
        disk = cfg.disks.get(disk_uuid)
        if disk is None:
            yield _cfg_error(f"instance '{inst.name}' refers to an unknown disk {disk_uuid}")
            continue
        for node_uuid in disk.nodes:
            if node_uuid not in cfg.nodes:
                yield _cfg_error(f"instance '{inst.name}' has disk {disk_uuid} on an unknown"
                                 f" node {node_uuid}")
    if inst.hypervisor not in cfg.cluster.enabled_hypervisors:
        yield _cfg_error(f"instance '{inst.name}' uses hypervisor '{inst.hypervisor}',"
                         " which is not enabled")


def reference_findings(cfg: ConfigData) -> list[Finding]:
    """Instances point at disks, nodes and hypervisors that exist."""
    instances = sorted(cfg.instances.values(), key=lambda i: i.name)
    return [finding for inst in instances for finding in _instance_refs(cfg, inst)]


def _port_users(cfg: ConfigData) -> Iterable[tuple[int, str]]:
    for inst in sorted(cfg.instances.values(), key=lambda i: i.name):
        for index, uuid in enumerate(inst.disks):
            lid = DrbdLogicalId.of(cfg.disks[uuid]) if uuid in cfg.disks else None
            if lid is not None:
                yield lid.port, f"{inst.name}/drbd disk {index}"
        if inst.network_port is not None:
            yield inst.network_port, f"{inst.name}/network port"


def drbd_findings(cfg: ConfigData) -> list[Finding]:
    """No tcp/udp port (DRBD disks, network ports) and no DRBD minor of a node is used
    twice (Ganeti's wording)."""
    ports: dict[int, list[str]] = defaultdict(list)
    for port, user in _port_users(cfg):
        ports[port].append(user)
    found = [_cfg_error(f"tcp/udp port {port} has duplicates: {', '.join(users)}")
             for port, users in sorted(ports.items()) if len(users) > 1]
    minors: dict[tuple[str, int], list[str]] = defaultdict(list)
    for use in minor_uses(cfg):
        minors[(use.node, use.minor)].append(use.instance or "(no instance)")
    for (node, minor), users in sorted(minors.items()):
        if len(users) > 1:
            name = cfg.nodes[node].name if node in cfg.nodes else node
            found.append(_cfg_error(f"DRBD minor {minor} on node {name} is assigned twice to"
                                    f" instances {' and '.join(sorted(users))}"))
    return found


def check_config(cfg: ConfigData) -> list[Finding]:
    """Every configuration consistency finding (Ganeti's ``VerifyConfig``)."""
    return (master_findings(cfg) + uniqueness_findings(cfg) + reference_findings(cfg)
            + drbd_findings(cfg))


def dangling_findings(cfg: ConfigData) -> list[Finding]:
    """Nodes in unknown groups and instances on unknown primary nodes."""
    found = []
    dangling = sorted((n for n in cfg.nodes.values() if n.group not in cfg.nodegroups),
                      key=lambda n: n.name)
    if dangling:
        described = []
        for node in dangling:
            primary, _ = cfg.node_instances(node.uuid)
            described.append(f"{node.name} ({', '.join(sorted(i.name for i in primary))})")
        found.append(error(ECLUSTERDANGLINGNODES, None, "the following nodes (and their"
                           f" instances) belong to a non existing group: {', '.join(described)}"))
    homeless = sorted(i.name for i in cfg.instances.values() if i.primary_node not in cfg.nodes)
    if homeless:
        found.append(error(ECLUSTERDANGLINGINST, None, "the following instances have a"
                           f" non-existing primary-node: {', '.join(homeless)}"))
    return found


def certificate_findings(path: Path, now: float) -> list[Finding]:
    """The certificate at ``path`` is readable and not (nearly) expired. Blocking."""
    try:
        cert = pki.load_cert(path)
    except (CorralError, OSError) as err:
        return [error(ECLUSTERCERT, None, f"While verifying {path}: {err}")]
    expires = cert.not_valid_after_utc
    left = expires - datetime.datetime.fromtimestamp(now, datetime.UTC)
    if left.total_seconds() <= 0:
        return [error(ECLUSTERCERT, None,
                      f"While verifying {path}: certificate expired on {expires:%Y-%m-%d}")]
    if left.days < CERT_WARN_DAYS:
        return [warning(ECLUSTERCERT, None,
                        f"While verifying {path}: certificate expires in {left.days} days")]
    return []
