"""The built-in allocator's answers to ``node-evacuate`` and ``change-group`` requests.

Each instance gets one target node: for ``node-evacuate``, in its own group, never one of the
nodes being emptied; for ``change-group``, in the target groups (``preferred`` ones first,
``last_resort`` ones only when no preferred node fits, ``unallocable`` ones never). A node fits
when it is online, not drained and vm_capable (the model keeps only those), has the memory of
an instance that will run there and, for disks copied from node-local storage, their space.
Soft limits, which ``--ignore-soft-errors`` lifts: the target group's instance policy (when
the group changes), its ``vcpu-ratio`` and exclusion tags.

Among the nodes that fit, the one with the most free memory wins; every placement is counted
before the next instance is placed (stopped instances too, as if they started), so the
instances spread. The job of each instance follows :mod:`corral.iallocator.moves`.

A DRBD or mirror instance leaves its primary node (``primary-only``) for its secondary, the
one node it can go to, if that node fits; with ``all`` its job then gives it a new
secondary (``replace-disks -n``): the node of its group, neither evacuated nor its own, with
the most free disk space that fits its disks (Ganeti's failover-and-replace). Finding
new secondaries for ``secondary-only`` and ``change-group`` requests is not supported.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from corral.iallocator import moves
from corral.iallocator import protocol as proto
from corral.iallocator.model import (
    ClusterState,
    NodeState,
    Want,
    disk_ok,
    load_state,
    policy_ok,
    vcpus_ok,
    want_of,
)
from corral.opcodes.mobility import REPLACE_NEW_SECONDARY, OpInstanceReplaceDisks

UNSUPPORTED = "is not supported by Corral's built-in allocator"


@dataclass
class _Plan:
    """One answer under construction."""

    state: ClusterState
    soft_ok: bool
    reserved: dict[str, int] = field(default_factory=dict)
    """Memory of stopped instances placed on each node by this answer (MiB)."""
    moved: list[list[Any]] = field(default_factory=list)
    failed: list[list[str]] = field(default_factory=list)
    jobs: list[list[dict[str, Any]]] = field(default_factory=list)


@dataclass(frozen=True)
class _Move:
    """One instance to place: its entry, needs, and where it may go."""

    name: str
    entry: Mapping[str, Any]
    want: Want
    choice: moves.MoveChoice
    tiers: list[list[str]]
    """Group UUIDs to try, tier by tier."""
    exclude: frozenset[str]
    """Node names it must not go to."""
    group_changes: bool
    only: str | None = None
    """The one node it can go to (a DRBD or mirror instance's secondary)."""
    new_secondary: bool = False
    """Its job also moves its secondary half to a new node (``all`` mode)."""


def _running(entry: Mapping[str, Any]) -> bool:
    return entry.get("admin_state") == "up"


def _fits(plan: _Plan, node: NodeState, group: Mapping[str, Any], move: _Move) -> bool:
    will_run = _running(move.entry)
    if will_run and node.free_mem < move.want.memory:
        return False
    copies_disks = str(move.entry.get("disk_template")) in moves.NODE_LOCAL
    if copies_disks and not disk_ok(node, move.want.disk):
        return False
    if plan.soft_ok:
        return True
    if move.group_changes and not policy_ok(group, move.want):
        return False
    return not (move.want.tags & node.tags) and vcpus_ok(node, group, move.want)


def _best(plan: _Plan, move: _Move) -> NodeState | None:
    if move.only is not None:
        node = plan.state.nodes.get(move.only)
        if node is None or node.name in move.exclude:
            return None
        return node if _fits(plan, node, plan.state.groups.get(node.group, {}), move) else None
    for tier in move.tiers:
        fitting = [n for uuid in tier for n in plan.state.nodes.values()
                   if n.group == uuid and n.name not in move.exclude
                   and _fits(plan, n, plan.state.groups[uuid], move)]
        if fitting:
            return max(fitting, key=lambda n: (n.free_mem - plan.reserved.get(n.name, 0),
                                               _reverse(n.name)))
    return None


def _reverse(name: str) -> tuple[int, ...]:
    """Sorts names backwards, so that ``max`` picks the first name among equals."""
    return tuple(-ord(c) for c in name)


def _commit(plan: _Plan, node: NodeState, move: _Move) -> None:
    if _running(move.entry):
        node.free_mem -= move.want.memory
    else:
        plan.reserved[node.name] = plan.reserved.get(node.name, 0) + move.want.memory
    if str(move.entry.get("disk_template")) in moves.NODE_LOCAL:
        node.free_disk -= move.want.disk
    node.vcpus += move.want.vcpus
    node.tags |= move.want.tags


def _new_secondary(plan: _Plan, move: _Move) -> NodeState | None:
    """The node that takes the secondary half of ``move``'s instance (most free disk)."""
    taken = move.exclude | {str(n) for n in move.entry.get("nodes") or []}
    fitting = [n for uuid in move.tiers[0] for n in plan.state.nodes.values()
               if n.group == uuid and n.name not in taken and disk_ok(n, move.want.disk)]
    return max(fitting, key=lambda n: (n.free_disk, _reverse(n.name)), default=None)


def _place(plan: _Plan, move: _Move) -> None:
    node = _best(plan, move)
    second = _new_secondary(plan, move) if move.new_secondary else None
    if move.new_secondary and node is not None and second is None:
        plan.failed.append([move.name, "No node of its group can take its new secondary"
                            " (its disks need more free space than any has)"])
        return
    if node is None:
        plan.failed.append([move.name, f"Its secondary node {move.only} cannot take it"
                            " (offline, drained, evacuated too, or short of memory)"
                            if move.only is not None else
                            "No valid allocation solutions found: no node has"
                            " enough free memory, disk or CPUs within the policy"])
        return
    _commit(plan, node, move)
    template = str(move.entry.get("disk_template"))
    options = moves.MigrateOptions(allow_failover=template not in moves.NODE_LOCAL)
    op = moves.move_opcode(move.choice.kind, move.name, node.name, options)
    group = plan.state.groups.get(node.group, {})
    job = [moves.wire(op)]
    if second is not None:
        second.free_disk -= move.want.disk
        job.append(moves.wire(OpInstanceReplaceDisks(
            instance_name=move.name, mode=REPLACE_NEW_SECONDARY, remote_node=second.name)))
    plan.moved.append([move.name, str(group.get("name", node.group)),
                       [node.name, *([second.name] if second else [])]])
    plan.jobs.append(job)


def _group_of(data: Mapping[str, Any], node_name: str) -> str:
    return str(data.get("nodes", {}).get(node_name, {}).get("group", ""))


def _tiers(state: ClusterState, allowed: Sequence[str]) -> list[list[str]]:
    tiers: dict[str, list[str]] = {"preferred": [], "last_resort": []}
    for uuid in sorted(allowed):
        policy = str(state.groups.get(uuid, {}).get("alloc_policy", "preferred"))
        if uuid in state.groups and policy in tiers:
            tiers[policy].append(uuid)
    return [tiers["preferred"], tiers["last_resort"]]


def _refusal(data: Mapping[str, Any], entry: Mapping[str, Any],
             request: Mapping[str, Any]) -> str | None:
    """Why this instance cannot be placed at all, if it cannot."""
    template = str(entry.get("disk_template"))
    nodes = list(entry.get("nodes") or [])
    if not nodes:
        return "Instance has no primary node"
    evac_mode = request.get("evac_mode")
    if request.get("type") == proto.NODE_EVACUATE and evac_mode == "secondary-only" \
            and len(nodes) < 2:
        return f"Instances with disk template '{template}' have no secondary node to evacuate"
    leaves_primary = request.get("type") == proto.NODE_EVACUATE \
        and evac_mode in ("primary-only", "all")
    if template in moves.INTERNALLY_MIRRORED and not (leaves_primary and len(nodes) > 1):
        return f"Relocating instances with disk template '{template}' {UNSUPPORTED}"
    if template in moves.NODE_LOCAL and _offline(data, nodes[0]):
        return f"Its {template} disks are on offline node {nodes[0]} and cannot be copied"
    return None


def _offline(data: Mapping[str, Any], node_name: str) -> bool:
    return bool(data.get("nodes", {}).get(node_name, {}).get("offline"))


def _moves(data: Mapping[str, Any], state: ClusterState,
           request: Mapping[str, Any]) -> list[_Move | tuple[str, str]]:
    """Each requested instance as a move to plan, or (name, reason) when it cannot move."""
    entries = data.get("instances", {})
    names = [str(n) for n in request.get("instances", [])]
    evacuated = {str(((entries.get(n) or {}).get("nodes") or [""])[0]) for n in names}
    found: list[_Move | tuple[str, str]] = []
    for name in names:
        entry = entries.get(name)
        if entry is None:
            found.append((name, "Instance not found in the cluster data"))
            continue
        refusal = _refusal(data, entry, request)
        if refusal is not None:
            found.append((name, refusal))
            continue
        nodes = [str(n) for n in entry["nodes"]]
        only = nodes[1] if str(entry.get("disk_template")) in moves.INTERNALLY_MIRRORED \
            else None
        own_groups = {_group_of(data, n) for n in nodes}
        if request.get("type") == proto.NODE_EVACUATE:
            tiers, exclude, changes = [[_group_of(data, nodes[0])]], evacuated | set(nodes), False
        else:
            wanted = list(request.get("target_groups") or []) or [
                g for g in state.groups if g not in own_groups]
            tiers, exclude, changes = _tiers(state, wanted), set(nodes), True
        # A guest on an offline node cannot be migrated, only started elsewhere.
        live = _running(entry) and not _offline(data, nodes[0])
        choice = moves.choose(running=live, hypervisor=str(entry.get("hypervisor")),
                              disk_template=str(entry.get("disk_template")))
        if only is not None:
            exclude = evacuated
        replace = only is not None and request.get("evac_mode") == "all"
        found.append(_Move(name, entry, want_of(entry, state), choice, tiers,
                           frozenset(exclude), changes, only, replace))
    return found


def answer(data: Mapping[str, Any], ignore_soft_errors: bool = False) -> dict[str, Any]:
    """The answer to a ``node-evacuate`` or ``change-group`` request document."""
    request = data.get("request") or {}
    state = load_state(data)
    plan = _Plan(state, ignore_soft_errors)
    for move in _moves(data, state, request):
        if isinstance(move, tuple):
            plan.failed.append(list(move))
        else:
            _place(plan, move)
    info = (f"Request successful: {len(plan.failed)} instances failed to move and"
            f" {len(plan.moved)} were moved successfully")
    return {"success": True, "info": info, "result": [plan.moved, plan.failed, plan.jobs]}
