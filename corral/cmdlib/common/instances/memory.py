"""Memory checks of ``gnt-instance modify``: raising ``maxmem`` and ballooning a running
instance (``runtime_mem``). Sizes in MiB."""

from __future__ import annotations

from typing import Any

from corral.cmdlib.base import LogicalUnit
from corral.cmdlib.common.allocation import check_free_memory, node_free_memory
from corral.cmdlib.common.instances.bundle import filled_beparams
from corral.cmdlib.common.instances.status import live_info
from corral.errors import ErrorCode, OpPrereqError
from corral.objects.instance import Instance


async def check_maxmem_growth(lu: LogicalUnit[Any], inst: Instance, new_maxmem: int) -> None:
    """A larger ``maxmem`` must still fit on the primary node (Ganeti's check; when
    the node cannot tell, only a warning).

    Raises:
        OpPrereqError: (NORES) the instance could no longer start there.
    """
    old = int(filled_beparams(lu.cfg.cluster, inst.beparams)["maxmem"])
    if new_maxmem <= old:
        return
    node = lu.cfg.nodes[inst.primary_node]
    try:
        free = await node_free_memory(lu, node, inst.hypervisor)
        info = await live_info(lu, inst)
    except OpPrereqError as err:
        lu.log_warning(f"Can't check the free memory of node {node.name}: {err}")
        return
    current = info.memory if info is not None else 0
    missing = new_maxmem - current - free
    if missing > 0:
        raise OpPrereqError(f"This change will prevent the instance from starting, due to"
                            f" {missing} MB of memory missing on its primary node",
                            ErrorCode.NORES)


async def check_runtime_mem(
    lu: LogicalUnit[Any], inst: Instance, memory: int, be_full: dict[str, Any], force: bool
) -> None:
    """Ballooning to ``memory``: the instance runs, stays within min/max memory (unless
    ``force``), and the node has room for the growth.

    Raises:
        OpPrereqError: (STATE) not running; (INVAL) out of bounds; (NORES) no room.
    """
    info = await live_info(lu, inst)
    if info is None:
        raise OpPrereqError(f"Instance {inst.name} is not running", ErrorCode.STATE)
    low, high = int(be_full["minmem"]), int(be_full["maxmem"])
    if not force and not low <= memory <= high:
        raise OpPrereqError(f"Instance {inst.name} must have memory between {low} and {high}"
                            " MB of memory unless --force is given", ErrorCode.INVAL)
    delta = memory - info.memory
    if delta > 0:
        node = lu.cfg.nodes[inst.primary_node]
        await check_free_memory(lu, node, f"ballooning memory for instance {inst.name}",
                                delta, inst.hypervisor)
