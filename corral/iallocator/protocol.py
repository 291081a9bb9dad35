"""Ganeti's iallocator protocol, version 2: the request document and the answer's checks.

The request is built from the configuration and, for nodes that are online and vm_capable,
their live figures (:class:`NodeFigures`, from ``node_info``). Everything here is pure.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from corral.objects import ipolicy as pol
from corral.objects.config_data import ConfigData
from corral.objects.instance import AdminState, Instance

VERSION = 2
ALLOCATE = "allocate"
RELOCATE = "relocate"
CHANGE_GROUP = "change-group"
NODE_EVACUATE = "node-evacuate"
MULTI_ALLOCATE = "multi-allocate"
ALLOCATE_SECONDARY = "allocate-secondary"
MODES = (ALLOCATE, RELOCATE, CHANGE_GROUP, NODE_EVACUATE, MULTI_ALLOCATE, ALLOCATE_SECONDARY)
MIRRORED = ("drbd", "mirror")
"""Templates whose instances need a secondary node (``required_nodes`` 2)."""
EXTERNALLY_MIRRORED = ("sharedfile", "blockdev", "rbd", "ext", "gluster", "diskless")
"""Templates whose disks take no node-local space (``disk_space_total`` still reported)."""


class ProtocolError(ValueError):
    """An allocator's answer that does not follow the protocol."""


@dataclass(frozen=True)
class NodeFigures:
    """The live figures of one node (MiB, CPUs)."""

    total_memory: int
    reserved_memory: int
    free_memory: int
    total_disk: int
    free_disk: int
    total_cpus: int
    reserved_cpus: int = 0
    total_spindles: int = 0
    free_spindles: int = 0


def filled_be(cfg: ConfigData, inst: Instance) -> dict[str, Any]:
    defaults = dict(cfg.cluster.beparams.get("default", {}))
    own = dict(inst.beparams)
    if "memory" in own:
        own.setdefault("maxmem", own["memory"])
        own.setdefault("minmem", own.pop("memory"))
    return {**defaults, **own}


def disk_space(template: str, sizes: Sequence[int]) -> int:
    """Node-local space the disks take (Ganeti's ComputeDiskSize): DRBD adds 128 MiB meta."""
    if template == "drbd":
        return sum(size + 128 for size in sizes)
    if template in ("plain", "file", "mirror"):
        return sum(sizes)
    return 0


def _instance_entry(cfg: ConfigData, inst: Instance) -> dict[str, Any]:
    be = filled_be(cfg, inst)
    disks = [cfg.disks[u] for u in inst.disks if u in cfg.disks]
    nodes = [inst.primary_node]
    for disk in disks:
        nodes.extend(n for n in disk.nodes if n not in nodes)
    nics = []
    for nic in inst.nics:
        params = {**cfg.cluster.nicparams.get("default", {}), **nic.nicparams}
        entry = {"mac": nic.mac, "ip": nic.ip, "mode": params.get("mode"),
                 "link": params.get("link")}
        if params.get("mode") == "bridged":
            entry["bridge"] = params.get("link")
        nics.append(entry)
    template = inst.disk_template.value
    sizes = [d.size for d in disks]
    return {
        "tags": list(inst.tags),
        "admin_state": inst.admin_state.value,
        "admin_state_source": "admin",
        "vcpus": int(be.get("vcpus", 1)),
        "memory": int(be.get("maxmem", 128)),
        "spindle_use": int(be.get("spindle_use", 1)),
        "os": inst.os,
        "nodes": [cfg.nodes[n].name for n in nodes if n in cfg.nodes],
        "nics": nics,
        "disks": [{"dev_type": d.dev_type.value, "size": d.size, "mode": d.mode.value,
                   "spindles": d.spindles} for d in disks],
        "disk_template": template,
        "disks_active": inst.disks_active,
        "hypervisor": inst.hypervisor,
        "disk_space_total": disk_space(template, sizes),
    }


def _node_entry(cfg: ConfigData, node_uuid: str, figures: NodeFigures | None,
                instances: Sequence[Instance]) -> dict[str, Any]:
    node = cfg.nodes[node_uuid]
    group = cfg.nodegroups.get(node.group)
    ndparams = {**cfg.cluster.ndparams, **(group.ndparams if group else {}), **node.ndparams}
    entry: dict[str, Any] = {
        "tags": list(node.tags), "primary_ip": node.primary_ip,
        "secondary_ip": node.effective_secondary_ip, "offline": node.offline,
        "drained": node.drained, "master_candidate": node.master_candidate,
        "group": node.group, "master_capable": node.master_capable,
        "vm_capable": node.vm_capable, "ndparams": ndparams,
    }
    if figures is None or node.offline or not node.vm_capable:
        return entry
    primaries = [i for i in instances if i.primary_node == node_uuid]
    pri_mem = sum(int(filled_be(cfg, i).get("maxmem", 128)) for i in primaries)
    up_mem = sum(int(filled_be(cfg, i).get("maxmem", 128)) for i in primaries
                 if i.admin_state is AdminState.UP)
    entry.update({
        "total_memory": figures.total_memory, "reserved_memory": figures.reserved_memory,
        "free_memory": figures.free_memory, "total_disk": figures.total_disk,
        "free_disk": figures.free_disk, "total_spindles": figures.total_spindles,
        "free_spindles": figures.free_spindles, "total_cpus": figures.total_cpus,
        "reserved_cpus": figures.reserved_cpus, "i_pri_memory": pri_mem,
        "i_pri_up_memory": up_mem,
    })
    return entry


def cluster_data(cfg: ConfigData, figures: Mapping[str, NodeFigures]) -> dict[str, Any]:
    """Everything but ``request``: cluster, node groups, nodes and instances.

    ``figures`` maps node UUIDs to their live figures (nodes without any get only the static
    part, as Ganeti does for offline nodes).
    """
    cluster = cfg.cluster
    instances = list(cfg.instances.values())
    return {
        "version": VERSION,
        "cluster_name": cluster.cluster_name,
        "cluster_tags": list(cluster.tags),
        "enabled_hypervisors": list(cluster.enabled_hypervisors),
        "ipolicy": pol.upgrade_cluster_ipolicy(cluster.ipolicy),
        "nodegroups": {
            g.uuid: {"name": g.name, "alloc_policy": g.alloc_policy.value,
                     "networks": sorted(g.networks), "tags": list(g.tags),
                     "ipolicy": pol.group_ipolicy(cluster.ipolicy, g.ipolicy)}
            for g in cfg.nodegroups.values()
        },
        "nodes": {cfg.nodes[u].name: _node_entry(cfg, u, figures.get(u), instances)
                  for u in sorted(cfg.nodes, key=lambda u: cfg.nodes[u].name)},
        "instances": {i.name: _instance_entry(cfg, i)
                      for i in sorted(instances, key=lambda i: i.name)},
    }


CORRAL_ONLY = {"mirror": "drbd"}
"""Corral's own templates, and the Ganeti template an external allocator is told instead
(one with the same node roles)."""


def for_ganeti(document: Mapping[str, Any]) -> dict[str, Any]:
    """``document`` as Ganeti's allocators parse it: Corral's own templates left out of
    every policy and named as their Ganeti equivalent in instances and the request."""
    def policy(ipol: Mapping[str, Any]) -> dict[str, Any]:
        allowed = ipol.get(pol.DISK_TEMPLATES)
        if not isinstance(allowed, list):
            return dict(ipol)
        return {**ipol, pol.DISK_TEMPLATES: [t for t in allowed if t not in CORRAL_ONLY]}

    def template(entry: Mapping[str, Any]) -> dict[str, Any]:
        name = entry.get("disk_template")
        return {**entry, "disk_template": CORRAL_ONLY.get(str(name), name)}

    result = dict(document)
    if isinstance(result.get("ipolicy"), dict):
        result["ipolicy"] = policy(result["ipolicy"])
    result["nodegroups"] = {u: {**g, "ipolicy": policy(g.get("ipolicy") or {})}
                            for u, g in (document.get("nodegroups") or {}).items()}
    result["instances"] = {n: template(i) for n, i in (document.get("instances") or {}).items()}
    if isinstance(document.get("request"), dict):
        result["request"] = template(document["request"])
    return result


def allocate_request(*, name: str, disk_template: str, memory: int, vcpus: int,
                     disks: Sequence[Mapping[str, Any]], nics: Sequence[Mapping[str, Any]],
                     os: str, hypervisor: str, tags: Sequence[str] = (),
                     spindle_use: int = 1, group_name: str | None = None) -> dict[str, Any]:
    """An ``allocate`` request (``disks``: dicts with ``size`` and ``mode``)."""
    sizes = [int(d["size"]) for d in disks]
    request: dict[str, Any] = {
        "type": ALLOCATE, "name": name, "disk_template": disk_template, "tags": list(tags),
        "os": os, "vcpus": vcpus, "memory": memory, "spindle_use": spindle_use,
        "disks": [dict(d) for d in disks], "disk_space_total": disk_space(disk_template, sizes),
        "nics": [dict(n) for n in nics],
        "required_nodes": 2 if disk_template in MIRRORED else 1,
        "hypervisor": hypervisor,
    }
    if group_name is not None:
        request["group_name"] = group_name
    return request


def node_evacuate_request(instances: Sequence[str], evac_mode: str) -> dict[str, Any]:
    """A ``node-evacuate`` request: move ``instances`` off the node they are on.

    ``evac_mode``: ``primary-only``, ``secondary-only`` or ``all``.
    """
    return {"type": NODE_EVACUATE, "instances": list(instances), "evac_mode": evac_mode}


def change_group_request(instances: Sequence[str],
                         target_groups: Sequence[str]) -> dict[str, Any]:
    """A ``change-group`` request (``target_groups``: UUIDs; empty: any other group)."""
    return {"type": CHANGE_GROUP, "instances": list(instances),
            "target_groups": list(target_groups)}


EVACUATION_OPS = ("OP_INSTANCE_MIGRATE", "OP_INSTANCE_FAILOVER", "OP_INSTANCE_MOVE",
                  "OP_INSTANCE_REPLACE_DISKS")
"""Opcodes an evacuation answer may hold: Ganeti's three and Corral's move."""


@dataclass(frozen=True)
class Moved:
    """One instance an evacuation answer places: its new group (name) and nodes."""

    instance: str
    group: str
    nodes: tuple[str, ...]


@dataclass(frozen=True)
class Evacuation:
    """A ``node-evacuate`` or ``change-group`` result: ``[moved, failed, jobs]``."""

    moved: tuple[Moved, ...]
    failed: tuple[tuple[str, str], ...]
    """(instance, reason) pairs."""
    jobs: tuple[tuple[dict[str, Any], ...], ...]
    """One job per entry, each a list of serialised opcodes (``OP_ID`` in EVACUATION_OPS)."""


def _shape(ok: bool, what: str, value: Any) -> None:
    if not ok:
        raise ProtocolError(f"Invalid iallocator evacuation result: {what}: {value!r}")


def _moved(entry: Any) -> Moved:
    _shape(isinstance(entry, list) and len(entry) == 3 and isinstance(entry[0], str)
           and isinstance(entry[1], str) and isinstance(entry[2], list)
           and all(isinstance(n, str) for n in entry[2]), "moved entry", entry)
    return Moved(entry[0], entry[1], tuple(entry[2]))


def _failed(entry: Any) -> tuple[str, str]:
    _shape(isinstance(entry, list) and len(entry) == 2 and isinstance(entry[0], str)
           and (entry[1] is None or isinstance(entry[1], str)), "failed entry", entry)
    return entry[0], entry[1] or ""


def _job(entry: Any) -> tuple[dict[str, Any], ...]:
    _shape(isinstance(entry, list) and all(isinstance(op, dict) for op in entry), "job", entry)
    for op in entry:
        _shape(op.get("OP_ID") in EVACUATION_OPS, "opcode", op.get("OP_ID"))
    return tuple(entry)


def parse_evacuation(result: Any) -> Evacuation:
    """The ``result`` of a successful ``node-evacuate``/``change-group`` answer.

    Raises:
        ProtocolError: not ``[moved, failed, jobs]`` of the documented shapes.
    """
    _shape(isinstance(result, list) and len(result) == 3
           and all(isinstance(part, list) for part in result), "result", result)
    moved, failed, jobs = result
    return Evacuation(tuple(_moved(e) for e in moved), tuple(_failed(e) for e in failed),
                      tuple(_job(e) for e in jobs))


def check_answer(mode: str, answer: Any, required_nodes: int | None = None) -> dict[str, Any]:
    """The allocator's answer, checked against the protocol (Ganeti's _ValidateResult).

    Raises:
        ProtocolError: a missing key or a result of the wrong shape.
    """
    if not isinstance(answer, dict):
        raise ProtocolError("Invalid iallocator answer: not a JSON object")
    if "result" not in answer and "nodes" in answer:
        answer = {**answer, "result": answer["nodes"]}
    for key in ("success", "info", "result"):
        if key not in answer:
            raise ProtocolError(f"Invalid iallocator answer: missing key '{key}'")
    checked: dict[str, Any] = answer
    result = checked["result"]
    if not checked["success"]:
        return checked
    if mode in (ALLOCATE, RELOCATE):
        if not (isinstance(result, list) and all(isinstance(n, str) for n in result)):
            raise ProtocolError(f"Invalid iallocator result for {mode}: expected a list of"
                                f" node names, got {result!r}")
        if required_nodes is not None and len(result) != required_nodes:
            raise ProtocolError(f"iallocator returned invalid number of nodes"
                                f" ({len(result)}), required {required_nodes}")
    elif mode == MULTI_ALLOCATE:
        if not (isinstance(result, list) and len(result) == 2):
            raise ProtocolError(f"Invalid iallocator result for {mode}: {result!r}")
    elif mode in (NODE_EVACUATE, CHANGE_GROUP):
        parse_evacuation(result)
    return checked
