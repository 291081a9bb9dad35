"""``gnt-instance replace-disks``: options, checks and opcode of Ganeti's client.

Exactly one of ``-p`` (on the primary), ``-s`` (on the secondary), ``-a`` (the faulty
side), ``-n NODE`` or ``-I ALLOCATOR`` (a new secondary) picks the mode; ``--disks 0,2``
limits ``-p``/``-s`` to some disks.
"""

from __future__ import annotations

from corral.cli import instance_opts as io
from corral.cli import options as o
from corral.cli.commands import Arg, Command
from corral.cli.jobs import opcode, submit_or_send
from corral.cli.mobility_jobs import invalid

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up time)
if TYPE_CHECKING:
    from corral.cli.commands import Context

ON_PRIMARY_OPT = o.Opt("-p", "--on-primary", action="store_true", dest="on_primary",
                       help="Replace the disk(s) on the primary node (applies only to"
                            " internally mirrored disk templates, e.g. drbd)")
ON_SECONDARY_OPT = o.Opt("-s", "--on-secondary", action="store_true", dest="on_secondary",
                         help="Replace the disk(s) on the secondary node (applies only to"
                              " internally mirrored disk templates, e.g. drbd)")
AUTO_REPLACE_OPT = o.Opt("-a", "--auto", action="store_true", dest="auto",
                         help="Automatically replace faulty disks (applies only to internally"
                              " mirrored disk templates, e.g. drbd)")
DISKIDX_OPT = o.Opt("--disks", dest="disks", default=None, metavar="<DISKS>",
                    help="Comma-separated list of disks indices to act on (e.g. 0,2)"
                         " (optional, defaults to all disks)")
NEW_SECONDARY_OPT = o.Opt("-n", "--new-secondary", dest="dst_node", default=None,
                          metavar="NODE", help="New secondary node (for secondary node"
                                               " change)")


def _disks(text: str | None) -> list[int]:
    if text is None:
        return []
    try:
        return [int(part) for part in text.split(",")]
    except ValueError as err:
        raise invalid(f"Invalid disk index passed: {err}") from None


def _mode(ctx: Context, disks: list[int]) -> str:
    opts = ctx.opts
    given = [bool(opts.on_primary), bool(opts.on_secondary), bool(opts.auto),
             opts.dst_node is not None, opts.iallocator is not None]
    if given.count(True) != 1:
        raise invalid("One and only one of the -p, -s, -a, -n and -I options must be passed")
    if opts.on_primary:
        return "replace_on_primary"
    if opts.on_secondary:
        return "replace_on_secondary"
    if opts.auto:
        if disks:
            raise invalid("Cannot specify disks when using automatic mode")
        return "replace_auto"
    return "replace_new_secondary"


def replace_disks(ctx: Context, args: list[str]) -> int:
    opts = ctx.opts
    disks = _disks(opts.disks)
    op = opcode("OP_INSTANCE_REPLACE_DISKS", instance_name=args[0], disks=disks,
                remote_node=opts.dst_node, mode=_mode(ctx, disks), iallocator=opts.iallocator,
                early_release=bool(opts.early_release),
                ignore_ipolicy=bool(opts.ignore_ipolicy))
    submit_or_send(ctx, op)
    return 0


COMMANDS = {
    "replace-disks": Command(
        replace_disks, [Arg("instance", 1, 1)],
        (AUTO_REPLACE_OPT, DISKIDX_OPT, io.IALLOCATOR_OPT, o.EARLY_RELEASE_OPT,
         NEW_SECONDARY_OPT, ON_PRIMARY_OPT, ON_SECONDARY_OPT, o.SUBMIT_OPT, o.PRINT_JOBID_OPT,
         o.DRY_RUN_OPT, o.PRIORITY_OPT, io.IGNORE_IPOLICY_OPT),
        "[-s|-p|-a|-n NODE|-I NAME] <instance-name>",
        "Replaces disks for the instance: on its primary or secondary node, or on a new"
        " secondary node (mirrored disk templates)"),
}
