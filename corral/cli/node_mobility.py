"""``gnt-node migrate``, ``evacuate`` and ``failover``: empty a node of its instances.

As Ganeti's client: ``migrate`` and ``evacuate`` submit one opcode whose result names one
job per instance, and follow those jobs; ``failover`` submits one failover job per primary
instance itself. Corral adds ``--drain`` to all three: the node is marked drained first
(nothing new is placed on it meanwhile), then emptied -- the usual start of maintenance.

One deliberate difference: ``failover`` exits with 1 when a failover failed (Ganeti's
client prints the error count but exits with 0).
"""

from __future__ import annotations

from corral.cli import instance_opts as io
from corral.cli import options as o
from corral.cli.commands import Arg, Command, ask_user
from corral.cli.jobs import opcode, set_generic_options
from corral.cli.mobility_jobs import (
    EXIT_CONFIRMATION,
    EXIT_FAILOVER_DECLINED,
    check_target,
    comma_join,
    drain_node,
    follow_jobs,
    invalid,
    migration_mode,
    nice_key,
    run_evacuation,
)

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up time)
if TYPE_CHECKING:
    from typing import Any

    from corral.cli.commands import Context

MODE_PRIMARY, MODE_SECONDARY, MODE_ALL = "primary-only", "secondary-only", "all"


def _primaries(ctx: Context, node: str) -> tuple[str, list[str]]:
    """The node's full name and its primary instances (Ganeti's order)."""
    rows = ctx.client.QueryNodes([node], ["name", "pinst_list"], False)
    name, pinst = rows[0]
    return str(name), sorted((str(i) for i in pinst or []), key=nice_key)


def _drain_first(ctx: Context, node: str) -> None:
    if ctx.opts.drain:
        drain_node(ctx, node)


def migrate_node(ctx: Context, args: list[str]) -> int:
    opts = ctx.opts
    check_target(opts)
    mode = migration_mode(opts)
    node, pinst = _primaries(ctx, args[0])
    if pinst and not opts.force and not ask_user(f"Migrate instance(s) {comma_join(pinst)}?"):
        return EXIT_CONFIRMATION
    _drain_first(ctx, args[0])
    if not pinst:
        ctx.out(f"No primary instances on node {node}, exiting.")
        return 0
    op = opcode("OP_NODE_MIGRATE", node_name=args[0], mode=mode, iallocator=opts.iallocator,
                target_node=opts.dst_node, allow_runtime_changes=bool(opts.allow_runtime_chgs),
                ignore_ipolicy=bool(opts.ignore_ipolicy))
    return run_evacuation(ctx, op, "node migration", "All instances migrated successfully.")


def evacuation_mode(ctx: Context) -> str:
    """Ganeti's choice: a new secondary means secondaries only; -p and -s exclude each other."""
    opts = ctx.opts
    if opts.dst_node is not None:
        ctx.err("New secondary node given (disabling iallocator), hence evacuating secondary"
                " instances only.")
        opts.secondary_only, opts.primary_only = True, False
    if opts.secondary_only and opts.primary_only:
        raise invalid("Only one of the --primary-only and --secondary-only options can be"
                      " passed")
    if opts.primary_only:
        return MODE_PRIMARY
    return MODE_SECONDARY if opts.secondary_only else MODE_ALL


def _evacuated(ctx: Context, node: str, mode: str) -> list[str]:
    fields = [f for f, skip in (("pinst_list", MODE_SECONDARY), ("sinst_list", MODE_PRIMARY))
              if mode != skip]
    rows = ctx.client.QueryNodes([node], fields, False)
    return sorted({str(i) for row in rows for names in row for i in names or []}, key=nice_key)


def evacuate_node(ctx: Context, args: list[str]) -> int:
    opts = ctx.opts
    mode = evacuation_mode(ctx)
    instances = _evacuated(ctx, args[0], mode)
    if instances and not opts.force and not ask_user(
            f"Relocate instance(s) {comma_join(instances)} from node(s) {comma_join(args)}?"):
        return EXIT_CONFIRMATION
    _drain_first(ctx, args[0])
    if not instances:
        ctx.err(f"No instances to evacuate on node(s) {comma_join(args)}, exiting.")
        return 0
    op = opcode("OP_NODE_EVACUATE", node_name=args[0], mode=mode, remote_node=opts.dst_node,
                iallocator=opts.iallocator, early_release=bool(opts.early_release),
                ignore_soft_errors=bool(opts.ignore_soft_errors))
    return run_evacuation(ctx, op, "evacuation", "All instances evacuated successfully.")


def _failover_ops(ctx: Context, pinst: list[str]) -> list[dict[str, Any]]:
    ops = [opcode("OP_INSTANCE_FAILOVER", instance_name=name,
                  ignore_consistency=bool(ctx.opts.ignore_consistency),
                  iallocator=ctx.opts.iallocator)
           for name in pinst]
    set_generic_options(ctx, ops)
    return ops


def failover_node(ctx: Context, args: list[str]) -> int:
    node, pinst = _primaries(ctx, args[0])
    quoted = ",".join(f"'{name}'" for name in pinst)
    if pinst and not ctx.opts.force and not ask_user(f"Fail over instance(s) {quoted}?"):
        return EXIT_FAILOVER_DECLINED
    _drain_first(ctx, args[0])
    if not pinst:
        ctx.err(f"No primary instances on node {node}, exiting.")
        return 0
    submitted = ctx.client.SubmitManyJobs([[op] for op in _failover_ops(ctx, pinst)])
    failed = follow_jobs(ctx, [(name, bool(ok), job)
                               for name, (ok, job) in zip(pinst, submitted, strict=True)])
    if failed:
        ctx.out(f"There were errors during the failover:\n{failed} error(s) out of"
                f" {len(pinst)} instance(s).")
        return 1
    ctx.out(f"All {len(pinst)} instance(s) failed over successfully.")
    return 0


_NODE = [Arg("node", 1, 1)]
_SUBMIT = (o.SUBMIT_OPT, o.PRINT_JOBID_OPT)

COMMANDS = {
    "migrate": Command(
        migrate_node, _NODE,
        (o.FORCE_OPT, o.NONLIVE_OPT, o.MIGRATION_MODE_OPT, o.DST_NODE_OPT, io.IALLOCATOR_OPT,
         o.PRIORITY_OPT, io.IGNORE_IPOLICY_OPT, o.NORUNTIME_CHGS_OPT, *_SUBMIT, o.DRAIN_OPT),
        "[-f] [--drain] <node>",
        "Migrate all the primary instances on a node away from it; with --drain the node is"
        " first marked drained"),
    "evacuate": Command(
        evacuate_node, _NODE,
        (o.FORCE_OPT, io.IALLOCATOR_OPT, o.IGNORE_SOFT_ERRORS_OPT, o.NEW_SECONDARY_OPT,
         o.EARLY_RELEASE_OPT, o.PRIORITY_OPT, o.PRIMARY_ONLY_OPT, o.SECONDARY_ONLY_OPT,
         *_SUBMIT, o.DRAIN_OPT),
        "[-f] {-I <iallocator> | -n <dst>} [-p | -s] [--drain] [options...] <node>",
        "Relocate the primary and/or secondary instances from a node; with --drain the node"
        " is first marked drained"),
    "failover": Command(
        failover_node, _NODE,
        (o.FORCE_OPT, o.IGNORE_CONSIST_OPT, io.IALLOCATOR_OPT, o.PRIORITY_OPT, o.DRAIN_OPT),
        "[-f] [--drain] <node>",
        "Stops the primary instances on a node and starts them on another node (their"
        " secondary, or any node for shared storage); with --drain the node is first marked"
        " drained"),
}
