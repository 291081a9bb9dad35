"""Instance state checks: admin state against allowed states, and what the primary
node's hypervisor says (the ``instance_info`` call)."""

from __future__ import annotations

from typing import Any

from corral.cmdlib.base import LogicalUnit
from corral.errors import ErrorCode, OpExecError, OpPrereqError
from corral.objects.instance import AdminState, Instance
from corral.objects.node import Node
from corral.rpc.payloads import InstanceRuntime

INSTANCE_ONLINE = (AdminState.DOWN, AdminState.UP)
INSTANCE_DOWN = (AdminState.DOWN,)
INSTANCE_NOT_RUNNING = (AdminState.DOWN, AdminState.OFFLINE)
USER_SHUTDOWN = "shutdown"
"""Hypervisor state of an instance stopped from inside (Ganeti's user down)."""


def check_node_online(node: Node, msg: str = "Can't use offline node") -> None:
    """Raises OpPrereqError (STATE) ``"<msg>: <node>"`` for an offline node."""
    if node.offline:
        raise OpPrereqError(f"{msg}: {node.name}", ErrorCode.STATE)


def primary_node(lu: LogicalUnit[Any], inst: Instance) -> Node:
    node = lu.cfg.nodes.get(inst.primary_node)
    if node is None:
        raise OpPrereqError(
            f"Primary node of instance {inst.name} is not in the configuration", ErrorCode.STATE
        )
    return node


async def live_info(
    lu: LogicalUnit[Any], inst: Instance, *, prereq: bool = True,
    what: str = "Error checking node {node}",
) -> InstanceRuntime | None:
    """The hypervisor's runtime data for ``inst`` on its primary node, None when not running.

    Raises:
        OpPrereqError: (ENVIRON, with ``prereq``) or OpExecError: the node did not answer.
    """
    node = primary_node(lu, inst)
    hvparams = lu.cfg.cluster.hvparams.get(inst.hypervisor, {})
    result = await lu.ctx.rpc.instance_info(node, inst.name, inst.hypervisor, dict(hvparams))
    if not result.ok:
        message = f"{what.format(node=node.name)}: {result.fail_msg}"
        if prereq:
            raise OpPrereqError(message, ErrorCode.ENVIRON)
        raise OpExecError(message)
    return result.payload


async def check_state(
    lu: LogicalUnit[Any], inst: Instance, allowed: tuple[AdminState, ...],
    msg: str | None = None,
) -> None:
    """Ganeti's CheckInstanceState: the admin state is allowed and, unless ``up`` is,
    the instance does not run on its (online) primary node.

    Raises:
        OpPrereqError: (STATE) wrong admin state or running; (ENVIRON) node unreachable.
    """
    if msg is None:
        msg = "can't use instance from outside " + ", ".join(s.value for s in allowed) + " states"
    if inst.admin_state not in allowed:
        raise OpPrereqError(
            f"Instance '{inst.name}' is marked to be {inst.admin_state.value}, {msg}",
            ErrorCode.STATE,
        )
    if AdminState.UP in allowed:
        return
    if primary_node(lu, inst).offline:
        lu.log_warning("Primary node offline, ignoring check that instance is down")
        return
    info = await live_info(lu, inst, what="Can't contact node {node} for instance information")
    if info is not None:
        raise OpPrereqError(f"Instance {inst.name} is running, {msg}", ErrorCode.STATE)


def run_state_label(inst: Instance) -> str:
    """Ganeti's status name of an instance found not running."""
    if inst.admin_state is AdminState.UP:
        return "ERROR_down"
    if inst.admin_state is AdminState.DOWN:
        return "ADMIN_down"
    return "ADMIN_offline"
