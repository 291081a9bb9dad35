"""``gnt-debug``: debugging commands (``delay``, ``iallocator``)."""

from __future__ import annotations

import sys

from corral.cli import instance_opts as io
from corral.cli import options as o
from corral.cli.commands import Arg, Command, Tool
from corral.cli.errors import UsageError
from corral.cli.jobs import opcode, submit_or_send
from corral.cli.params import ParamError, parse_unit

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up time)
if TYPE_CHECKING:
    from corral.cli.commands import Context

BINARY = "gnt-debug"


def _duration(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise UsageError(f"Error: invalid duration '{text}' (expected seconds)") from None
    if value < 0:
        raise UsageError(f"Error: invalid duration '{text}' (must not be negative)")
    return value


def delay(ctx: Context, args: list[str]) -> int:
    opts = ctx.opts
    op = opcode(
        "OP_TEST_DELAY",
        duration=_duration(args[0]),
        on_master=opts.on_master,
        on_nodes=list(opts.on_nodes),
        repeat=opts.repeat,
        interruptible=opts.interruptible,
        no_locks=opts.no_locks,
    )
    submit_or_send(ctx, op)
    return 0


_DELAY_OPTS = (
    o.Opt("--no-master", dest="on_master", action="store_false",
          help="Do not sleep in the master code"),
    o.Opt("-n", dest="on_nodes", action="append", default=[], metavar="NODE",
          help="Select nodes to sleep on (may be repeated)"),
    o.Opt("-r", "--repeat", dest="repeat", type=o.int_type, default=0,
          help="Number of times to repeat the sleep"),
    o.Opt("-i", "--interruptible", action="store_true", dest="interruptible",
          help="Allows the opcode to be interrupted"),
    o.Opt("-l", "--no-locks", action="store_true", dest="no_locks",
          help="Don't acquire any locks"),
    o.DRY_RUN_OPT,
    *o.SUBMIT_OPTS,
)

def _allocator_disks(text: str) -> list[dict[str, object]]:
    try:
        return [{"size": parse_unit(val), "mode": "rw"} for val in text.split(",") if val]
    except ParamError as err:
        raise UsageError(f"Invalid disks parameter '{text}': {err}") from None


def _allocator_nics(text: str) -> list[dict[str, object]]:
    nics: list[dict[str, object]] = []
    for val in (v for v in text.split(",") if v):
        row: list[str | None] = [part or None for part in val.split("/")]
        row += [None] * (3 - len(row))
        nics.append({"mac": row[0], "ip": row[1], "bridge": row[2]})
    return nics


def test_allocator(ctx: Context, args: list[str]) -> int:
    """OP_TEST_ALLOCATOR: the request (``--dir in``) or an allocator's answer (``out``)."""
    opts = ctx.opts
    op = opcode(
        "OP_TEST_ALLOCATOR", mode=opts.mode, name=args[0], instances=args,
        memory=opts.memory, disks=_allocator_disks(opts.disks),
        disk_template=opts.disk_template, nics=_allocator_nics(opts.nics), os=opts.os,
        vcpus=opts.vcpus, tags=opts.tags.split(",") if opts.tags else [],
        direction=opts.direction, iallocator=opts.iallocator, evac_mode=opts.evac_mode,
        target_groups=opts.target_groups or [], spindle_use=opts.spindle_use,
        count=opts.count)
    ctx.out(str(submit_or_send(ctx, op)))
    return 0


_MODES = ("allocate", "relocate", "change-group", "node-evacuate", "multi-allocate",
          "allocate-secondary")
_ALLOCATOR_OPTS = (
    o.Opt("--dir", dest="direction", default="in", choices=["in", "out"],
          help="Show allocator input (in) or allocator results (out)"),
    io.IALLOCATOR_OPT,
    o.Opt("-m", "--mode", default="relocate", choices=list(_MODES),
          help=f"Request mode (one of {', '.join(_MODES)})"),
    o.Opt("--memory", "--mem", dest="memory", default=128, type=o.unit_type,
          help="Memory size for the instance (MiB)"),
    o.Opt("--disks", default="4096,4096", help="Comma separated list of disk sizes (MiB)"),
    io.DISK_TEMPLATE_OPT,
    o.Opt("--nics", default="00:11:22:33:44:55",
          help="Comma separated list of nics, each nic definition is of form mac/ip/bridge,"
               " if missing values are replace by None"),
    io.OS_OPT,
    o.Opt("-p", "--vcpus", default=1, type=o.int_type,
          help="Select number of VCPUs for the instance"),
    o.Opt("--tags", default=None, help="Comma separated list of tags"),
    o.Opt("--evac-mode", default="all", choices=["primary-only", "secondary-only", "all"],
          help="Node evacuation mode"),
    o.Opt("--target-groups", default=[], action="append", help="Target groups for relocation"),
    o.Opt("--spindle-use", default=1, type=o.int_type, help="How many spindles to use"),
    o.Opt("--count", default=1, type=o.int_type, help="How many copies of the instance"),
    o.DRY_RUN_OPT,
    o.PRIORITY_OPT,
)

COMMANDS = {
    "delay": Command(delay, [Arg("duration", 1, 1)], _DELAY_OPTS, "[opts...] <duration>",
                     "Executes a TestDelay OpCode"),
    "iallocator": Command(test_allocator, [Arg("name", 1, None)], _ALLOCATOR_OPTS,
                          "[opts...] <instance>...", "Executes a TestAllocator OpCode",
                          aliases=("allocator",)),
}

main = Tool(BINARY, COMMANDS)

if __name__ == "__main__":
    sys.exit(main())
