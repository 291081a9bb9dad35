"""``gnt-instance migrate``, ``failover``, ``move`` and ``change-group``.

Options, questions, opcodes and output are those of Ganeti's client. Two deliberate
differences: ``failover --ignore-consistency`` asks whether the source node is offline
only without ``-f`` (Ganeti asks even with ``-f``, so scripts cannot use it), and ``failover``
passes ``--cleanup`` on to the opcode (Ganeti's client accepts the option but drops it).
"""

from __future__ import annotations

from corral.cli import instance_opts as io
from corral.cli import options as o
from corral.cli.commands import Arg, Command, ask_user
from corral.cli.instance_ops import query_instance_names
from corral.cli.jobs import opcode, submit_or_send
from corral.cli.mobility_jobs import check_target, follow_result, invalid, migration_mode

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up time)
if TYPE_CHECKING:
    from corral.cli.commands import Context

_RISK = (" might impact the instance if anything goes wrong (e.g. due to bugs in the"
         " hypervisor). Continue?")


def _migrate_question(name: str, cleanup: bool) -> str:
    if cleanup:
        return (f"Instance {name} will be recovered from a failed migration. Note that the"
                f" migration procedure (including cleanup){_RISK}")
    return f"Instance {name} will be migrated. Note that migration{_RISK}"


def migrate_instance(ctx: Context, args: list[str]) -> int:
    opts = ctx.opts
    name = args[0]
    check_target(opts)
    mode = migration_mode(opts)
    if not opts.force:
        query_instance_names(ctx, [name])
        if not ask_user(_migrate_question(name, opts.cleanup)):
            return 1
    op = opcode("OP_INSTANCE_MIGRATE", instance_name=name, mode=mode,
                cleanup=bool(opts.cleanup), iallocator=opts.iallocator,
                target_node=opts.dst_node, allow_failover=bool(opts.allow_failover),
                allow_runtime_changes=bool(opts.allow_runtime_chgs),
                ignore_ipolicy=bool(opts.ignore_ipolicy),
                ignore_hvversions=bool(opts.ignore_hvversions))
    submit_or_send(ctx, op)
    return 0


def failover_instance(ctx: Context, args: list[str]) -> int:
    opts = ctx.opts
    name = args[0]
    check_target(opts)
    if not opts.force:
        query_instance_names(ctx, [name])
        if not ask_user(f"Failover will happen to image {name}. This requires a shutdown of"
                        " the instance. Continue?"):
            return 1
        if opts.ignore_consistency and not ask_user(
                f"To failover instance {name}, the source node must be marked offline first."
                " Is this already the case?"):
            return 1
    op = opcode("OP_INSTANCE_FAILOVER", instance_name=name,
                ignore_consistency=bool(opts.ignore_consistency),
                shutdown_timeout=opts.shutdown_timeout, iallocator=opts.iallocator,
                target_node=opts.dst_node, ignore_ipolicy=bool(opts.ignore_ipolicy),
                cleanup=bool(opts.cleanup))
    submit_or_send(ctx, op)
    return 0


def move_instance(ctx: Context, args: list[str]) -> int:
    opts = ctx.opts
    name = args[0]
    if not opts.node:
        raise invalid("A target node must be given (-n/--node)")
    if not opts.force and not ask_user(
            f"Instance {name} will be moved. This requires a shutdown of the instance."
            " Continue?"):
        return 1
    op = opcode("OP_INSTANCE_MOVE", instance_name=name, target_node=opts.node,
                compress=opts.compress, shutdown_timeout=opts.shutdown_timeout,
                ignore_consistency=bool(opts.ignore_consistency),
                ignore_ipolicy=bool(opts.ignore_ipolicy))
    submit_or_send(ctx, op)
    return 0


def change_group(ctx: Context, args: list[str]) -> int:
    name = args[0]
    opts = ctx.opts
    op = opcode("OP_INSTANCE_CHANGE_GROUP", instance_name=name, iallocator=opts.iallocator,
                target_groups=opts.to, early_release=bool(opts.early_release))
    failed = follow_result(ctx, submit_or_send(ctx, op))
    if failed:
        ctx.out(f"There were {failed} errors while changing group of instance '{name}'.")
        return 1
    ctx.out(f"Instance '{name}' changed group successfully.")
    return 0


_ONE = [Arg("instance", 1, 1)]
_SUBMIT = (o.SUBMIT_OPT, o.PRINT_JOBID_OPT)
_MIGRATE_OPTS = (
    o.FORCE_OPT, o.NONLIVE_OPT, o.MIGRATION_MODE_OPT, o.CLEANUP_OPT, o.DRY_RUN_OPT,
    o.PRIORITY_OPT, o.DST_NODE_OPT, io.IALLOCATOR_OPT, o.ALLOW_FAILOVER_OPT,
    io.IGNORE_IPOLICY_OPT, o.IGNORE_HVVERSIONS_OPT, o.NORUNTIME_CHGS_OPT, *_SUBMIT,
)
_FAILOVER_OPTS = (
    o.FORCE_OPT, o.IGNORE_CONSIST_OPT, *_SUBMIT, io.SHUTDOWN_TIMEOUT_OPT, o.DRY_RUN_OPT,
    o.PRIORITY_OPT, o.DST_NODE_OPT, io.IALLOCATOR_OPT, io.IGNORE_IPOLICY_OPT, o.CLEANUP_OPT,
)
_MOVE_OPTS = (
    o.FORCE_OPT, *_SUBMIT, o.MOVE_NODE_OPT, o.COMPRESS_OPT, io.SHUTDOWN_TIMEOUT_OPT,
    o.DRY_RUN_OPT, o.PRIORITY_OPT, o.IGNORE_CONSIST_OPT, io.IGNORE_IPOLICY_OPT,
)
_CHANGE_GROUP_OPTS = (o.TO_GROUP_OPT, io.IALLOCATOR_OPT, o.EARLY_RELEASE_OPT, o.PRIORITY_OPT,
                      *_SUBMIT)

COMMANDS = {
    "migrate": Command(
        migrate_instance, _ONE, _MIGRATE_OPTS, "[-f] <instance>",
        "Migrate an instance to another node without stopping it: to its secondary node"
        " (mirrored disks), to the node given with -n or chosen with -I (shared storage, and"
        " node-local file/plain disks, which are copied while the instance runs)"),
    "failover": Command(
        failover_instance, _ONE, _FAILOVER_OPTS, "[-f] <instance>",
        "Stops the instance, changes its primary node and (if it was originally running)"
        " starts it on the new node (the secondary for mirrored instances or any node for"
        " shared storage)"),
    "move": Command(
        move_instance, _ONE, _MOVE_OPTS, "[-f] -n <node> <instance>",
        "Move an instance to an arbitrary node: shut it down, copy its disks and start it"
        " there (only for instances of type file and plain)"),
    "change-group": Command(
        change_group, _ONE, _CHANGE_GROUP_OPTS, "[-I <iallocator>] [--to <group>] <instance>",
        "Change group of instance"),
}
