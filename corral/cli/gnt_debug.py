"""``gnt-debug``: debugging commands (``delay``)."""

from __future__ import annotations

import sys

from corral.cli import options as o
from corral.cli.commands import Arg, Command, Tool
from corral.cli.errors import UsageError
from corral.cli.jobs import opcode, submit_or_send

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

COMMANDS = {
    "delay": Command(delay, [Arg("duration", 1, 1)], _DELAY_OPTS, "[opts...] <duration>",
                     "Executes a TestDelay OpCode"),
}

main = Tool(BINARY, COMMANDS)

if __name__ == "__main__":
    sys.exit(main())
