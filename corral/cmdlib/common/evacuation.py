"""Jobs that move instances: asking an allocator (``node-evacuate``, ``change-group``) and
turning its answer into follow-up jobs (Ganeti's LoadNodeEvacResult), or building them from
Corral's rule (:mod:`corral.iallocator.moves`) for a given target node.

A unit returns :func:`result_with_jobs`; the processor submits the jobs (Ganeti's
ResultWithJobs) and its clients follow them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec

from corral.cmdlib.base import LogicalUnit
from corral.cmdlib.common.iallocation import cluster_document
from corral.cmdlib.common.instances.bundle import filled_beparams
from corral.errors import CorralError, ErrorCode, OpExecError, OpPrereqError
from corral.iallocator import moves, runner
from corral.iallocator import protocol as proto
from corral.objects.instance import AdminState, Instance
from corral.opcodes.base import OpCode
from corral.opcodes.codec import decode_opcode

Jobs = list[list[OpCode]]
"""Follow-up jobs, each a list of opcodes."""


def result_with_jobs(jobs: Jobs, **extra: Any) -> dict[str, Any]:
    """The unit's result: ``{"jobs": [[op, ...], ...]}`` in Ganeti's wire form."""
    return {"jobs": [[moves.wire(op) for op in job] for job in jobs], **extra}


def choose_move(lu: LogicalUnit[Any], inst: Instance) -> moves.MoveChoice:
    """How ``inst`` leaves its node, from its state, hypervisor, template and beparams (a
    guest on an offline node cannot be migrated, only started elsewhere)."""
    be = filled_beparams(lu.cfg.cluster, inst.beparams)
    primary = lu.cfg.nodes.get(inst.primary_node)
    running = inst.admin_state is AdminState.UP and not (primary and primary.offline)
    return moves.choose(running=running, hypervisor=inst.hypervisor,
                        disk_template=inst.disk_template.value,
                        always_failover=bool(be.get("always_failover", False)))


def log_jobs(lu: LogicalUnit[Any], jobs: Jobs) -> None:
    """One job-log line per instance: what its job does."""
    for job in jobs:
        for op in job:
            name = getattr(op, "instance_name", "?")
            target = getattr(op, "target_node", None) or getattr(op, "remote_node", None)
            verb = {"OP_INSTANCE_MIGRATE": "migrate", "OP_INSTANCE_FAILOVER": "fail over",
                    "OP_INSTANCE_MOVE": "move",
                    "OP_INSTANCE_REPLACE_DISKS": "replace the secondary"}.get(op.op_id,
                                                                              op.op_id)
            where = f"to {target}" if target else "(its job chooses the target)"
            lu.log_info(f"Instance {name}: {verb} {where}")


async def run_evacuation(lu: LogicalUnit[Any], allocator: str, request: dict[str, Any],
                         instances: Sequence[Instance], failure: str,
                         ignore_soft_errors: bool = False) -> proto.Evacuation:
    """The checked answer of ``allocator`` to a node-evacuate/change-group ``request``.

    Raises:
        OpPrereqError: the allocator failed (ENVIRON) or found no solution (NORES,
            "``failure`` using iallocator 'NAME': info").
    """
    template, hypervisor = _document_kind(lu, instances)
    document = await cluster_document(lu, template, hypervisor)
    document["request"] = request
    params: dict[str, Any] = {runner.IGNORE_SOFT_ERRORS: None} if ignore_soft_errors else {}
    try:
        answer = await runner.run(allocator, document, params)
    except runner.AllocatorError as err:
        raise OpPrereqError(str(err), ErrorCode.ENVIRON) from None
    if not answer["success"]:
        raise OpPrereqError(f"{failure} using iallocator '{allocator}': {answer['info']}",
                            ErrorCode.NORES)
    return proto.parse_evacuation(answer["result"])


def _document_kind(lu: LogicalUnit[Any], instances: Sequence[Instance]) -> tuple[str, str]:
    """The template and hypervisor whose figures the document carries: those of the first
    instance with node-local disks (whose space matters), else of the first instance."""
    local = [i for i in instances if i.disk_template.value in moves.NODE_LOCAL]
    chosen = local or list(instances)
    if chosen:
        return chosen[0].disk_template.value, chosen[0].hypervisor
    cluster = lu.cfg.cluster
    templates = cluster.enabled_disk_templates
    return (templates[0] if templates else "diskless"), cluster.default_hypervisor


def load_evacuation(lu: LogicalUnit[Any], evac: proto.Evacuation, *, early_release: bool,
                    use_nodes: bool) -> Jobs:
    """The jobs of an allocator's answer (Ganeti's LoadNodeEvacResult).

    Raises:
        OpExecError: the allocator could not place some instances, or returned an opcode
            Corral cannot run.
    """
    if evac.failed:
        reasons = ", ".join(f"{name} ({reason})" for name, reason in evac.failed)
        lu.log_warning(f"Unable to evacuate instances {reasons}")
        raise OpExecError(f"Unable to evacuate instances {reasons}")
    if evac.moved:
        lu.log_info("Instances to be moved: " + ", ".join(
            f"{m.instance} (to {', '.join(m.nodes) if use_nodes else m.group})"
            for m in evac.moved))
    return [[_with_early_release(_decode(op), early_release) for op in job]
            for job in evac.jobs]


def _decode(data: dict[str, Any]) -> OpCode:
    try:
        return decode_opcode(data)
    except CorralError as err:
        raise OpExecError(f"The iallocator returned a job Corral cannot run: {err}") from None


def _with_early_release(op: OpCode, early_release: bool) -> OpCode:
    if early_release and "early_release" in type(op).__struct_fields__:
        return msgspec.structs.replace(op, early_release=True)  # type: ignore[call-arg]
    return op
