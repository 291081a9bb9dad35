"""The allocators' model of a cluster: nodes with their free resources, and what an instance
needs, read from an iallocator request document (shared by placement and evacuation)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from corral.iallocator import protocol as proto
from corral.objects import ipolicy as pol

EXTAGS_PREFIX = "htools:iextags:"


@dataclass
class NodeState:
    """One usable node and its free resources (MiB, CPUs), updated as placements are made."""

    name: str
    group: str
    total_mem: int
    free_mem: int
    total_disk: int
    free_disk: int
    cpus: int
    vcpus: int = 0
    tags: set[str] = field(default_factory=set)
    peers: dict[str, int] = field(default_factory=dict)
    """Memory of instances whose primary is that node and secondary this one (N+1)."""


@dataclass
class ClusterState:
    """The usable nodes (online, not drained, vm_capable, with figures) and the groups."""

    nodes: dict[str, NodeState]
    groups: dict[str, Mapping[str, Any]]
    prefixes: tuple[str, ...]


def load_state(data: Mapping[str, Any]) -> ClusterState:
    """The model of request document ``data``."""
    nodes: dict[str, NodeState] = {}
    for name, entry in data.get("nodes", {}).items():
        if entry.get("offline") or entry.get("drained") or not entry.get("vm_capable", True):
            continue
        if "free_memory" not in entry:
            continue
        nodes[name] = NodeState(
            name, entry.get("group", ""), int(entry.get("total_memory", 0)),
            int(entry["free_memory"]), int(entry.get("total_disk", 0)),
            int(entry.get("free_disk", 0)), int(entry.get("total_cpus", 0)))
    for inst in data.get("instances", {}).values():
        inst_nodes = list(inst.get("nodes") or [])
        if not inst_nodes:
            continue
        primary = nodes.get(inst_nodes[0])
        if primary is not None:
            primary.vcpus += int(inst.get("vcpus", 1))
        for name in inst_nodes:
            node = nodes.get(name)
            if node is not None:
                node.tags.update(inst.get("tags") or [])
        for name in inst_nodes[1:]:
            node = nodes.get(name)
            if node is not None and inst.get("admin_state") == "up":
                node.peers[inst_nodes[0]] = (node.peers.get(inst_nodes[0], 0)
                                             + int(inst.get("memory", 0)))
    prefixes = tuple(t[len(EXTAGS_PREFIX):] for t in data.get("cluster_tags", [])
                     if t.startswith(EXTAGS_PREFIX))
    return ClusterState(nodes, dict(data.get("nodegroups", {})), prefixes)


def exclusion_tags(tags: Iterable[str], prefixes: tuple[str, ...]) -> set[str]:
    return {t for t in tags if any(t.startswith(p) for p in prefixes)}


@dataclass(frozen=True)
class Want:
    """What one instance needs (MiB, CPUs), from an allocate request or an instance entry."""

    memory: int
    vcpus: int
    disk: int
    tags: frozenset[str]
    mirrored: bool
    spec: tuple[int, int, list[int], int, int, str, int]


def want_of(request: Mapping[str, Any], state: ClusterState) -> Want:
    """The needs of an ``allocate`` request (or of an instance entry, which has its keys)."""
    disks = [int(d.get("size", 0)) for d in request.get("disks", [])]
    template = str(request.get("disk_template", "diskless"))
    spec = (int(request.get("memory", 0)), int(request.get("vcpus", 1)), disks,
            len(request.get("nics", [])), int(request.get("spindle_use", 1)), template,
            len(disks))
    return Want(
        memory=int(request.get("memory", 0)), vcpus=int(request.get("vcpus", 1)),
        disk=int(request.get("disk_space_total", proto.disk_space(template, disks))),
        tags=frozenset(exclusion_tags(request.get("tags", []), state.prefixes)),
        mirrored=int(request.get("required_nodes", 1)) == 2, spec=spec)


def policy_ok(group: Mapping[str, Any], want: Want) -> bool:
    """Whether the group's instance policy admits ``want``."""
    memory, vcpus, disks, nics, spindles, template, _ = want.spec
    policy = group.get("ipolicy") or pol.DEFAULT_IPOLICY
    return not pol.spec_violations(policy, memory=memory, vcpus=vcpus, disk_sizes=disks,
                                   nic_count=nics, spindle_use=spindles,
                                   disk_templates=[template] * len(disks))


def disk_ok(node: NodeState, need: int) -> bool:
    """A node that reports no storage for the template (total 0) is not checked."""
    return node.total_disk == 0 or node.free_disk >= need


def fits_primary(node: NodeState, group: Mapping[str, Any], want: Want) -> bool:
    """Memory, disk, exclusion tags and the group's vcpu-ratio allow ``want`` on ``node``."""
    if node.free_mem < want.memory or not disk_ok(node, want.disk):
        return False
    if want.tags & node.tags:
        return False
    return vcpus_ok(node, group, want)


def vcpus_ok(node: NodeState, group: Mapping[str, Any], want: Want) -> bool:
    """The node's virtual CPUs stay within the group's ``vcpu-ratio`` of its real ones."""
    ratio = float((group.get("ipolicy") or {}).get("vcpu-ratio", 4.0))
    return not (node.cpus and node.vcpus + want.vcpus > ratio * node.cpus)


def _fraction(free: int, total: int) -> float:
    return free / total if total > 0 else 0.0


def score(nodes: Iterable[NodeState]) -> float:
    """Balance of the cluster: std deviation of free memory and free disk fractions."""
    listed = list(nodes)
    if not listed:
        return 0.0
    total = 0.0
    for values in ([_fraction(n.free_mem, n.total_mem) for n in listed],
                   [_fraction(n.free_disk, n.total_disk) for n in listed]):
        mean = sum(values) / len(values)
        total += math.sqrt(sum((v - mean) ** 2 for v in values) / len(values))
    return total


class Balance:
    """The score after a placement, computed incrementally (O(1) per candidate)."""

    def __init__(self, nodes: list[NodeState]) -> None:
        self.count = len(nodes)
        self.mem = [_fraction(n.free_mem, n.total_mem) for n in nodes]
        self.disk = [_fraction(n.free_disk, n.total_disk) for n in nodes]
        self.sums = (sum(self.mem), sum(self.disk))
        self.squares = (sum(v * v for v in self.mem), sum(v * v for v in self.disk))
        self.index = {n.name: i for i, n in enumerate(nodes)}

    def after(self, changes: list[tuple[NodeState, int, int]]) -> float:
        sums, squares = list(self.sums), list(self.squares)
        for node, mem, disk in changes:
            i = self.index[node.name]
            old = (self.mem[i], self.disk[i])
            new = (_fraction(node.free_mem - mem, node.total_mem),
                   _fraction(node.free_disk - disk, node.total_disk))
            for k in (0, 1):
                sums[k] += new[k] - old[k]
                squares[k] += new[k] ** 2 - old[k] ** 2
        result = 0.0
        for k in (0, 1):
            mean = sums[k] / self.count
            result += math.sqrt(max(squares[k] / self.count - mean * mean, 0.0))
        return result
