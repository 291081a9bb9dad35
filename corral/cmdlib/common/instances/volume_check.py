"""Missing logical volumes for ``gnt-cluster verify-disks`` (Ganeti's
``LUGroupVerifyDisks._VerifyInstanceLvs``).

Every LV of the instances whose disks are meant to be active (plain disks, and
the data and meta LVs of drbd disks, on each of their nodes) must be listed by its
node (``node_volumes``). The answer is Ganeti's: instance name → ``[node name,
"vg/lv"]`` per missing volume; a node that cannot answer is a node error and its
volumes count as missing (the CLI then says the instance lives on broken nodes).
Offline nodes are not asked and not expected to answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from corral.cmdlib.base import LogicalUnit
from corral.cmdlib.common.instances.bundle import instance_disks
from corral.cmdlib.common.instances.drbd import disk_tree
from corral.objects.instance import DiskTemplate, Instance


def expected_volumes(lu: LogicalUnit[Any], instances: Sequence[Instance]
                     ) -> dict[tuple[str, str], str]:
    """``(node uuid, "vg/lv")`` → instance name, for online nodes."""
    cfg = lu.cfg
    found: dict[tuple[str, str], str] = {}
    for inst in instances:
        if not inst.disks_active:
            continue
        for disk in instance_disks(cfg, inst):
            for part in disk_tree(disk, cfg.disks):
                if part.dev_type is not DiskTemplate.PLAIN or len(part.logical_id) != 2:
                    continue
                volume = f"{part.logical_id[0]}/{part.logical_id[1]}"
                for uuid in part.nodes:
                    node = cfg.nodes.get(uuid)
                    if node is not None and not node.offline:
                        found[(uuid, volume)] = inst.name
    return found


async def missing_volumes(lu: LogicalUnit[Any], instances: Sequence[Instance],
                          node_errors: dict[str, str]) -> dict[str, list[list[str]]]:
    """The volumes of ``instances`` their nodes do not have; adds node errors."""
    expected = expected_volumes(lu, instances)
    if not expected:
        return {}
    nodes = [lu.cfg.nodes[uuid] for uuid in sorted({uuid for uuid, _ in expected})]
    answers = await lu.ctx.rpc.node_volumes(nodes)
    for node in nodes:
        result = answers[node.name]
        if not result.ok:
            node_errors.setdefault(node.name, result.fail_msg or "no answer")
            continue
        for found in result.payload or []:
            expected.pop((node.uuid, f"{found.vg}/{found.name}"), None)
    missing: dict[str, list[list[str]]] = {}
    for (uuid, volume), name in sorted(expected.items()):
        missing.setdefault(name, []).append([lu.cfg.nodes[uuid].name, volume])
    return missing
