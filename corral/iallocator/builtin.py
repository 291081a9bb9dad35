"""Corral's own allocator: answers an iallocator request document as hail would.

It honours what hail honours for a new instance: free memory, free disk, the group's
``vcpu-ratio`` against the node's CPUs, the group's instance policy, node and group
availability (offline, drained, not vm_capable, ``unallocable`` groups; ``last_resort`` groups
only when no preferred one fits), exclusion tags (cluster tags ``htools:iextags:PREFIX``), and
N+1 redundancy for mirrored templates (a secondary can take over all the primaries it backs).

Among the nodes (or primary/secondary pairs) that fit, it picks the one that leaves the cluster
best balanced: the lowest score, the standard deviation of the nodes' free-memory and free-disk
fractions after the placement (hail's two main balance metrics). The result is deterministic.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from corral.iallocator import protocol as proto
from corral.objects import ipolicy as pol

EXTAGS_PREFIX = "htools:iextags:"


@dataclass
class _Node:
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
class _State:
    nodes: dict[str, _Node]
    groups: dict[str, Mapping[str, Any]]
    prefixes: tuple[str, ...]


def _state(data: Mapping[str, Any]) -> _State:
    nodes: dict[str, _Node] = {}
    for name, entry in data.get("nodes", {}).items():
        if entry.get("offline") or entry.get("drained") or not entry.get("vm_capable", True):
            continue
        if "free_memory" not in entry:
            continue
        nodes[name] = _Node(
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
    return _State(nodes, dict(data.get("nodegroups", {})), prefixes)


def _exclusion_tags(tags: Iterable[str], prefixes: tuple[str, ...]) -> set[str]:
    return {t for t in tags if any(t.startswith(p) for p in prefixes)}


@dataclass(frozen=True)
class _Want:
    memory: int
    vcpus: int
    disk: int
    tags: frozenset[str]
    mirrored: bool
    spec: tuple[int, int, list[int], int, int, str, int]


def _want(request: Mapping[str, Any], state: _State) -> _Want:
    disks = [int(d.get("size", 0)) for d in request.get("disks", [])]
    template = str(request.get("disk_template", "diskless"))
    spec = (int(request.get("memory", 0)), int(request.get("vcpus", 1)), disks,
            len(request.get("nics", [])), int(request.get("spindle_use", 1)), template,
            len(disks))
    return _Want(
        memory=int(request.get("memory", 0)), vcpus=int(request.get("vcpus", 1)),
        disk=int(request.get("disk_space_total", proto.disk_space(template, disks))),
        tags=frozenset(_exclusion_tags(request.get("tags", []), state.prefixes)),
        mirrored=int(request.get("required_nodes", 1)) == 2, spec=spec)


def _policy_ok(group: Mapping[str, Any], want: _Want) -> bool:
    memory, vcpus, disks, nics, spindles, template, _ = want.spec
    policy = group.get("ipolicy") or pol.DEFAULT_IPOLICY
    return not pol.spec_violations(policy, memory=memory, vcpus=vcpus, disk_sizes=disks,
                                   nic_count=nics, spindle_use=spindles,
                                   disk_templates=[template] * len(disks))


def _disk_ok(node: _Node, need: int) -> bool:
    """A node that reports no storage for the template (total 0) is not checked."""
    return node.total_disk == 0 or node.free_disk >= need


def _fits_primary(node: _Node, group: Mapping[str, Any], want: _Want) -> bool:
    if node.free_mem < want.memory or not _disk_ok(node, want.disk):
        return False
    if want.tags & node.tags:
        return False
    ratio = float((group.get("ipolicy") or {}).get("vcpu-ratio", 4.0))
    return not (node.cpus and node.vcpus + want.vcpus > ratio * node.cpus)


def _fits_secondary(node: _Node, primary: _Node, want: _Want) -> bool:
    if not _disk_ok(node, want.disk) or want.tags & node.tags:
        return False
    # N+1: if the primary fails, this node must start every instance it backs for it.
    return node.peers.get(primary.name, 0) + want.memory <= node.free_mem


def _fraction(free: int, total: int) -> float:
    return free / total if total > 0 else 0.0


def score(nodes: Iterable[_Node]) -> float:
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


class _Balance:
    """The score after a placement, computed incrementally (O(1) per candidate)."""

    def __init__(self, nodes: list[_Node]) -> None:
        self.count = len(nodes)
        self.mem = [_fraction(n.free_mem, n.total_mem) for n in nodes]
        self.disk = [_fraction(n.free_disk, n.total_disk) for n in nodes]
        self.sums = (sum(self.mem), sum(self.disk))
        self.squares = (sum(v * v for v in self.mem), sum(v * v for v in self.disk))
        self.index = {n.name: i for i, n in enumerate(nodes)}

    def after(self, changes: list[tuple[_Node, int, int]]) -> float:
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


def _group_order(state: _State, request: Mapping[str, Any]) -> list[list[str]]:
    """Group UUIDs to try: preferred ones, then last_resort ones (each tier one list)."""
    wanted = request.get("group_name")
    tiers: dict[str, list[str]] = {"preferred": [], "last_resort": []}
    for uuid, group in sorted(state.groups.items()):
        if wanted and wanted not in (uuid, group.get("name")):
            continue
        policy = str(group.get("alloc_policy", "preferred"))
        if policy in tiers:
            tiers[policy].append(uuid)
    return [tiers["preferred"], tiers["last_resort"]]


Choice = tuple[tuple[float, int], list[str], str]
"""((score, -free memory left on the primary), nodes, group name): lower is better."""


def _pairs(usable: list[_Node], primary: _Node, want: _Want) -> list[list[_Node]]:
    if not want.mirrored:
        return [[primary]]
    return [[primary, sec] for sec in usable
            if sec is not primary and _fits_secondary(sec, primary, want)]


def _best_in_tier(state: _State, tier: list[str], want: _Want,
                  restrict: set[str] | None) -> Choice | None:
    best: Choice | None = None
    for uuid in tier:
        group = state.groups[uuid]
        if not _policy_ok(group, want):
            continue
        members = sorted((n for n in state.nodes.values() if n.group == uuid),
                         key=lambda n: n.name)
        usable = [n for n in members if restrict is None or n.name in restrict]
        balance = _Balance(members)
        for primary in (n for n in usable if _fits_primary(n, group, want)):
            for pair in _pairs(usable, primary, want):
                changes = [(primary, want.memory, want.disk),
                           *((sec, 0, want.disk) for sec in pair[1:])]
                key = (balance.after(changes), want.memory - primary.free_mem)
                if best is None or key < best[0]:
                    best = (key, [n.name for n in pair], str(group.get("name", uuid)))
    return best


def _place(state: _State, request: Mapping[str, Any]) -> tuple[list[str], str] | str:
    """The chosen nodes and group name, or why nothing fits."""
    want = _want(request, state)
    restrict = set(request["restrict-to-nodes"]) if request.get("restrict-to-nodes") else None
    for tier in _group_order(state, request):
        best = _best_in_tier(state, tier, want, restrict)
        if best is not None:
            _commit(state, best[1], want)
            return best[1], best[2]
    return "No valid allocation solutions found (no node has enough free memory, disk or" \
           " CPUs within the policy)"


def _commit(state: _State, names: list[str], want: _Want) -> None:
    primary = state.nodes[names[0]]
    primary.free_mem -= want.memory
    primary.free_disk -= want.disk
    primary.vcpus += want.vcpus
    primary.tags |= want.tags
    for name in names[1:]:
        sec = state.nodes[name]
        sec.free_disk -= want.disk
        sec.tags |= want.tags
        sec.peers[primary.name] = sec.peers.get(primary.name, 0) + want.memory


def _relocate(state: _State, data: Mapping[str, Any], request: Mapping[str, Any]) -> Any:
    inst = data.get("instances", {}).get(request.get("name"), {})
    current = list(inst.get("nodes") or [])
    if not current:
        return "Instance not found"
    primary = state.nodes.get(current[0])
    group = primary.group if primary is not None else ""
    disk = int(request.get("disk_space_total", inst.get("disk_space_total", 0)))
    memory = int(inst.get("memory", 0))
    candidates = [n for n in state.nodes.values()
                  if n.group == group and n.name not in current and _disk_ok(n, disk)
                  and (primary is None or n.peers.get(primary.name, 0) + memory <= n.free_mem)]
    if not candidates:
        return "No valid allocation solutions found for relocation"
    balance = _Balance([n for n in state.nodes.values() if n.group == group])
    best = min(candidates, key=lambda n: (balance.after([(n, 0, disk)]), n.name))
    return [best.name]


def allocate(data: Mapping[str, Any]) -> dict[str, Any]:
    """The answer to one request document (Ganeti's ``{success, info, result}``)."""
    request = data.get("request") or {}
    mode = request.get("type")
    state = _state(data)
    if mode == proto.ALLOCATE:
        placed = _place(state, request)
        if isinstance(placed, str):
            return {"success": False, "info": placed, "result": []}
        nodes, group = placed
        return {"success": True, "result": nodes,
                "info": f"Request successful: Selected group: {group}, Nodes: "
                        f"{', '.join(nodes)}"}
    if mode == proto.MULTI_ALLOCATE:
        done, failed = [], []
        for one in request.get("instances", []):
            placed = _place(state, one)
            if isinstance(placed, str):
                failed.append(one.get("name"))
            else:
                done.append([one.get("name"), placed[0]])
        return {"success": True, "info": "Request successful", "result": [done, failed]}
    if mode == proto.RELOCATE:
        answer = _relocate(state, data, request)
        if isinstance(answer, str):
            return {"success": False, "info": answer, "result": []}
        return {"success": True, "info": "Request successful", "result": answer}
    if mode in (proto.NODE_EVACUATE, proto.CHANGE_GROUP):
        failed = [[name, "not supported by Corral's built-in allocator"]
                  for name in request.get("instances", [])]
        return {"success": True, "info": "Request successful", "result": [[], failed, []]}
    return {"success": False, "info": f"Unknown request type '{mode}'", "result": []}
