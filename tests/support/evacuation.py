"""Helpers for the units that yield instance-moving jobs (node migrate/evacuate, group
evacuate, change-group): a cluster with instances of every kind, and the jobs read back."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from corral.cmdlib import (  # noqa: F401  (registers the logical units)
    group_evacuate,
    instance_change_group,
    node_evacuate,
    node_migrate,
)
from corral.objects import AdminState, DiskTemplate, Node
from corral.rpc.payloads import NodeInfo
from tests.support.config import ConfigBuilder, instance_cluster, instance_with_disks
from tests.support.lu_harness import LuHarness

HAIL = Path("/usr/lib/ganeti/3.0/usr/lib/ganeti/iallocators/hail")

Move = tuple[str, str, str | None]
"""(OP_ID, instance, target node) of one job's opcode."""


def moves_of(result: Any) -> list[Move]:
    """The one opcode of each job of a unit's result, as (OP_ID, instance, target)."""
    found: list[Move] = []
    for job in result["jobs"]:
        assert len(job) == 1, job
        op = job[0]
        found.append((op["OP_ID"], op["instance_name"], op.get("target_node")))
    return found


def ops_of(result: Any) -> dict[str, dict[str, Any]]:
    """Each job's opcode by instance name."""
    return {job[0]["instance_name"]: job[0] for job in result["jobs"]}


def add(builder: ConfigBuilder, name: str, node: Node, template: DiskTemplate, *,
        up: bool = True, hypervisor: str = "fake", **kw: Any) -> None:
    """An instance of ``template`` on ``node``, running (``up``) or stopped."""
    state = AdminState.UP if up else AdminState.DOWN
    if template is DiskTemplate.DISKLESS:
        builder.instance(name, node, admin_state=state, disk_template=template,
                         hypervisor=hypervisor, os="noop", **kw)
    else:
        instance_with_disks(builder, name, node, template=template, admin_state=state,
                            hypervisor=hypervisor, **kw)


def mixed_cluster(nodes: int = 3) -> ConfigBuilder:
    """node1 holds one instance of each kind; node2 one of its own (never moved)."""
    b = instance_cluster(nodes=nodes, enabled_hypervisors=("fake", "chroot", "kvm"))
    n1, n2 = b.data.nodes["node-node1"], b.data.nodes["node-node2"]
    add(b, "a-running", n1, DiskTemplate.DISKLESS)
    add(b, "b-stopped", n1, DiskTemplate.DISKLESS, up=False)
    add(b, "c-chroot", n1, DiskTemplate.SHAREDFILE, hypervisor="chroot")
    add(b, "d-stopped-file", n1, DiskTemplate.FILE, up=False)
    add(b, "e-running-plain", n1, DiskTemplate.PLAIN)
    add(b, "z-elsewhere", n2, DiskTemplate.DISKLESS)
    return b


def set_free_memory(h: LuHarness, free: dict[str, int]) -> None:
    """``node_info`` answers: ``free`` MiB on the named nodes (8 GiB total each)."""
    for name, mib in free.items():
        h.rpc.script("node_info", name,
                     payload=NodeInfo(memory_total=8192, memory_free=mib, cpu_total=4))


def hook_envs(h: LuHarness, hpath: str, phase: str) -> list[tuple[str, dict[str, str]]]:
    """(node, environment) of each ``hooks_runner`` call for ``hpath`` and ``phase``."""
    return [(c.node, c.args[2]) for c in h.rpc.calls_of("hooks_runner")
            if c.args[:2] == (hpath, phase)]
