"""Hook environments and hook node lists shared by the node, group and cluster units."""

from __future__ import annotations

from typing import Any

from corral.cmdlib.base import LogicalUnit
from corral.hooks.env import build_env
from corral.objects.config_data import ConfigData
from corral.objects.node import Node

HKR_FAIL = 1
"""Hook result status of a failed script (Ganeti's ``HKR_FAIL``)."""


def sorted_nodes(nodes: list[Node]) -> list[Node]:
    return sorted(nodes, key=lambda n: n.name)


def all_nodes(cfg: ConfigData) -> list[Node]:
    """Every node of the cluster, by name."""
    return sorted_nodes(list(cfg.nodes.values()))


def nodes_except(cfg: ConfigData, uuid: str) -> list[Node]:
    """Every node but one, by name."""
    return sorted_nodes([n for n in cfg.nodes.values() if n.uuid != uuid])


def master_and(cfg: ConfigData, *nodes: Node) -> list[Node]:
    """The master followed by ``nodes``, without duplicates."""
    found = {cfg.master_node.uuid: cfg.master_node}
    for node in nodes:
        found.setdefault(node.uuid, node)
    return list(found.values())


def node_target_env(name: str) -> dict[str, Any]:
    """``OP_TARGET`` and ``NODE_NAME`` of node units."""
    return {"OP_TARGET": name, "NODE_NAME": name}


def group_env(name: str) -> dict[str, Any]:
    return {"GROUP_NAME": name}


async def run_post_hooks_now(lu: LogicalUnit[Any], nodes: list[Node]) -> None:
    """Run the unit's post hooks on ``nodes`` from inside ``exec``.

    Ganeti does this for a node that is about to leave the cluster, which the
    processor's post phase (run after ``exec``) can no longer reach. Failures
    are only reported.
    """
    hpath = lu.HPATH
    online = [n for n in nodes if not n.offline]
    if hpath is None or not online:
        return
    cfg = lu.cfg
    lu_env = lu.hooks_env()
    env = build_env(
        hpath=hpath, phase="post", op_id=lu.op.op_id,
        object_type=lu.HTYPE.value if lu.HTYPE else None,
        cluster_name=cfg.cluster.cluster_name, master_name=cfg.master_node.name,
        data_dir=str(lu.ctx.layout.data_dir), lu_env_pre=lu_env, lu_env_post=lu_env,
    )
    results = await lu.ctx.rpc.call_nodes("hooks_runner", online, hpath, "post", env)
    for name, result in results.items():
        if not result.ok:
            lu.log_warning(f"Communication failure running hooks on {name}: {result.fail_msg}")
            continue
        for script, status, output in result.payload or []:
            if status == HKR_FAIL:
                lu.log_warning(f"post hook failed: {name}: {script}: {str(output).strip()}")
