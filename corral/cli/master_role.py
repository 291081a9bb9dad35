"""``gnt-cluster master-failover``, ``master-ping`` and ``getmaster``: the master role.

``master-failover`` runs on the candidate that should become master and speaks to the node
daemons directly (node RPC with this node's certificate), as Ganeti's bootstrap code does: the
master daemon may be dead. Heavy imports happen inside the functions.
"""

from __future__ import annotations

import time
from pathlib import Path

from corral.cli.commands import ask_user
from corral.cli.errors import CliError

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up time)
if TYPE_CHECKING:
    from corral.cli.commands import Context
    from corral.layout import NodeLayout

MASTER_START_TIMEOUT = 90.0
"""Seconds the new master daemon gets to answer (its vote may retry for a minute)."""

NO_VOTING_QUESTION = (
    "This will perform the failover even if most other nodes are down, or if this node is"
    " outdated. This is dangerous as it can lead to a non-consistent cluster. Check the"
    " gnt-cluster(8) man page before proceeding. Continue?"
)


def _layout() -> NodeLayout:
    from corral.layout import NodeLayout, default_root

    return NodeLayout(Path(default_root()))


def show_master(ctx: Context, args: list[str]) -> int:
    """The master named by this node's ssconf (as Ganeti); the master daemon's answer when
    this node has no ssconf."""
    try:
        name = _layout().ssconf_file("master_node").read_text().strip()
    except FileNotFoundError:
        name = ""
    ctx.out(name or str(ctx.client.QueryConfigValues(["master_node"])[0]))
    return 0


def master_ping(ctx: Context, args: list[str]) -> int:
    """0 when the master daemon answers, 1 otherwise (silently, as Ganeti)."""
    try:
        ctx.client.QueryClusterInfo()
    except Exception:
        return 1
    return 0


def start_local_master(layout: NodeLayout, no_voting: bool) -> None:
    """Start this node's master daemon and wait until it answers on LUXI.

    Raises:
        CliError: it exited (e.g. lost its vote) or did not answer in time.
    """
    from corral import daemon_control
    from corral.luxi.client import Client

    pid_file, log_file = layout.pid_file("corral-masterd"), layout.log_file("corral-masterd")
    offset = daemon_control.log_end(log_file)
    if daemon_control.daemon_pid(pid_file, daemon_control.MASTERD_MATCH) is None:
        argv = daemon_control.masterd_argv(layout.root)
        if no_voting:
            argv += ["--no-voting", "--yes-do-it"]
        daemon_control.spawn_daemon(argv, pid_file, log_file)
    deadline = time.monotonic() + MASTER_START_TIMEOUT
    while time.monotonic() < deadline:
        try:
            with Client(str(layout.luxi_socket), timeout=5.0) as client:
                client.QueryClusterInfo()
            return
        except Exception:
            pass
        refusal = daemon_control.start_refusal("corral-masterd", pid_file,
                                               daemon_control.MASTERD_MATCH, log_file, offset)
        if refusal is not None:
            raise CliError(f"the master daemon refused to start: {refusal}")
        time.sleep(0.2)
    raise CliError(f"the master daemon did not answer within {MASTER_START_TIMEOUT:g} s")


def ensure_local_masterd(layout: NodeLayout) -> None:
    """Start this node's master daemon unless it runs, without waiting (automatic failover:
    it campaigns for the master lease in standby)."""
    from corral import daemon_control

    pid_file = layout.pid_file("corral-masterd")
    if daemon_control.daemon_pid(pid_file, daemon_control.MASTERD_MATCH) is None:
        daemon_control.spawn_daemon(daemon_control.masterd_argv(layout.root), pid_file,
                                    layout.log_file("corral-masterd"))


def master_failover(ctx: Context, args: list[str]) -> int:
    import asyncio

    from corral.master.failover import FailoverOptions

    opts = ctx.opts
    if opts.no_voting and not opts.yes_do_it and not ask_user(NO_VOTING_QUESTION):
        return 1
    options = FailoverOptions(opts.no_voting, opts.ignore_offline_nodes)
    return asyncio.run(_failover(ctx, options))


async def _failover(ctx: Context, options: object) -> int:
    from corral.cli.errors import describe_error
    from corral.errors import OpPrereqError
    from corral.master.failover import FailoverOptions, master_failover
    from corral.master.handover import Handover
    from corral.rpc import tls
    from corral.rpc.client import RpcClient
    from corral.rpc.nodes import NodeRpc

    assert isinstance(options, FailoverOptions)
    layout = _layout()
    rpc = NodeRpc(RpcClient(tls.client_ssl_context(layout), connect_timeout=5.0))
    handover = Handover(lambda: ensure_local_masterd(layout),
                        lambda: start_local_master(layout, False))
    try:
        outcome = await master_failover(
            layout, rpc, options, lambda no_voting: start_local_master(layout, no_voting),
            feedback=ctx.err, handover=handover)
    except OpPrereqError as err:
        raise CliError(describe_error("OpPrereqError", list(err.wire_args()))) from err
    finally:
        await rpc.close()
    for warning in outcome.warnings:
        ctx.err(warning)
    return outcome.code
