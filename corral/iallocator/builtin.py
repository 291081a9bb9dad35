"""Corral's own allocator: answers an iallocator request document as hail would.

It honours what hail honours for a new instance: free memory, free disk, the group's
``vcpu-ratio`` against the node's CPUs, the group's instance policy, node and group
availability (offline, drained, not vm_capable, ``unallocable`` groups; ``last_resort`` groups
only when no preferred one fits), exclusion tags (cluster tags ``htools:iextags:PREFIX``), and
N+1 redundancy for mirrored templates (a secondary can take over all the primaries it backs).

Among the nodes (or primary/secondary pairs) that fit, it picks the one that leaves the cluster
best balanced: the lowest score, the standard deviation of the nodes' free-memory and free-disk
fractions after the placement (hail's two main balance metrics). The result is deterministic.
``node-evacuate`` and ``change-group`` requests are answered by :mod:`.evacuate`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from corral.iallocator import evacuate
from corral.iallocator import protocol as proto
from corral.iallocator.model import (
    Balance,
    ClusterState,
    NodeState,
    Want,
    disk_ok,
    fits_primary,
    load_state,
    policy_ok,
    want_of,
)
from corral.iallocator.model import score as score

_state = load_state
"""The cluster model of a request document (kept for the allocator benchmark)."""


def _fits_secondary(node: NodeState, primary: NodeState, want: Want) -> bool:
    if not disk_ok(node, want.disk) or want.tags & node.tags:
        return False
    # N+1: if the primary fails, this node must start every instance it backs for it.
    return node.peers.get(primary.name, 0) + want.memory <= node.free_mem


def _group_order(state: ClusterState, request: Mapping[str, Any]) -> list[list[str]]:
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


def _pairs(usable: list[NodeState], primary: NodeState, want: Want) -> list[list[NodeState]]:
    if not want.mirrored:
        return [[primary]]
    return [[primary, sec] for sec in usable
            if sec is not primary and _fits_secondary(sec, primary, want)]


def _best_in_tier(state: ClusterState, tier: list[str], want: Want,
                  restrict: set[str] | None) -> Choice | None:
    best: Choice | None = None
    for uuid in tier:
        group = state.groups[uuid]
        if not policy_ok(group, want):
            continue
        members = sorted((n for n in state.nodes.values() if n.group == uuid),
                         key=lambda n: n.name)
        usable = [n for n in members if restrict is None or n.name in restrict]
        balance = Balance(members)
        for primary in (n for n in usable if fits_primary(n, group, want)):
            for pair in _pairs(usable, primary, want):
                changes = [(primary, want.memory, want.disk),
                           *((sec, 0, want.disk) for sec in pair[1:])]
                key = (balance.after(changes), want.memory - primary.free_mem)
                if best is None or key < best[0]:
                    best = (key, [n.name for n in pair], str(group.get("name", uuid)))
    return best


def _place(state: ClusterState, request: Mapping[str, Any]) -> tuple[list[str], str] | str:
    """The chosen nodes and group name, or why nothing fits."""
    want = want_of(request, state)
    restrict = set(request["restrict-to-nodes"]) if request.get("restrict-to-nodes") else None
    for tier in _group_order(state, request):
        best = _best_in_tier(state, tier, want, restrict)
        if best is not None:
            _commit(state, best[1], want)
            return best[1], best[2]
    return "No valid allocation solutions found (no node has enough free memory, disk or" \
           " CPUs within the policy)"


def _commit(state: ClusterState, names: list[str], want: Want) -> None:
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


def _relocate(state: ClusterState, data: Mapping[str, Any], request: Mapping[str, Any]) -> Any:
    inst = data.get("instances", {}).get(request.get("name"), {})
    current = list(inst.get("nodes") or [])
    if not current:
        return "Instance not found"
    primary = state.nodes.get(current[0])
    group = primary.group if primary is not None else ""
    disk = int(request.get("disk_space_total", inst.get("disk_space_total", 0)))
    memory = int(inst.get("memory", 0))
    candidates = [n for n in state.nodes.values()
                  if n.group == group and n.name not in current and disk_ok(n, disk)
                  and (primary is None or n.peers.get(primary.name, 0) + memory <= n.free_mem)]
    if not candidates:
        return "No valid allocation solutions found for relocation"
    balance = Balance([n for n in state.nodes.values() if n.group == group])
    best = min(candidates, key=lambda n: (balance.after([(n, 0, disk)]), n.name))
    return [best.name]


def allocate(data: Mapping[str, Any], ignore_soft_errors: bool = False) -> dict[str, Any]:
    """The answer to one request document (Ganeti's ``{success, info, result}``).

    ``ignore_soft_errors`` (``node-evacuate``, ``change-group``): place instances even where
    the target group's policy, vcpu-ratio or exclusion tags object.
    """
    request = data.get("request") or {}
    mode = request.get("type")
    state = load_state(data)
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
    if mode == proto.ALLOCATE_SECONDARY:
        answer = _relocate(state, data, request)
        if isinstance(answer, str):
            return {"success": False, "info": answer, "result": ""}
        return {"success": True, "info": "Request successful", "result": answer[0]}
    if mode in (proto.NODE_EVACUATE, proto.CHANGE_GROUP):
        return evacuate.answer(data, ignore_soft_errors)
    return {"success": False, "info": f"Unknown request type '{mode}'", "result": []}
