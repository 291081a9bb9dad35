"""``corral-noded``: the node daemon."""

from __future__ import annotations

import argparse
import logging
import socket
import sys
from pathlib import Path

from corral.backend import (  # noqa: F401  (registers the RPC handlers)
    basics,
    blockdev,
    commands,
    config_replica,
    fencing,
    files,
    hooks,
    impexp,
    instances,
    jobqueue_files,
    join,
    master_ip,
    migration,
    mirror_export,
    mirror_rpc,
    node_info,
    os_defs,
    queue_replica,
    restricted,
    storage_rpc,
    verify,
)
from corral.backend.context import NodeContext
from corral.backend.server import RpcServer
from corral.daemon_control import CommandLine
from corral.daemons import drbd_simulation, lvm_simulation, xen_simulation
from corral.daemons.common import (
    own_command_line,
    record_start,
    remove_pid_file,
    run_daemon,
    stop_event,
)
from corral.layout import NodeLayout, default_root
from corral.rpc import tls

log = logging.getLogger("corral.noded")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="corral-noded", description="Corral node daemon")
    parser.add_argument("--root", default=default_root(),
                        help="root prefix of this node's files (default $CORRAL_ROOT or /)")
    parser.add_argument("-b", "--bind", default="0.0.0.0", help="address to listen on")
    parser.add_argument("-p", "--port", type=int, default=1811, help="port (default 1811)")
    parser.add_argument("--node-name", default=None, help="this node's name (default: FQDN)")
    parser.add_argument(
        "--simulate-lvm",
        metavar="DIR",
        default=None,
        help="answer LVM commands from a simulated volume group kept in DIR (for machines "
        "without device-mapper; needs the source tree)",
    )
    parser.add_argument(
        "--simulate-drbd",
        metavar="DIR",
        default=None,
        help="answer DRBD commands and /proc/drbd from a simulator whose state, shared by "
        "every node of a virtual cluster, is kept in DIR (for machines without the DRBD "
        "module; needs the source tree)",
    )
    parser.add_argument(
        "--simulate-xen",
        metavar="DIR",
        default=None,
        help="answer the Xen drivers' xl commands from a simulated Xen host whose state, "
        "shared by every node of a virtual cluster, is kept in DIR (for machines without "
        "Xen; needs the source tree)",
    )
    parser.add_argument("-f", "--foreground", action="store_true", help="log to stderr")
    parser.add_argument("-d", "--debug", action="store_true", help="debug logging")
    return parser.parse_args(argv)


async def serve(args: argparse.Namespace, command: CommandLine) -> None:
    layout = NodeLayout(Path(args.root))
    layout.ensure_dirs()
    name = args.node_name or _stored_name(layout) or socket.getfqdn()
    ctx = NodeContext(layout=layout, node_name=name, address=args.bind, port=args.port)
    if args.simulate_lvm:
        lvm_simulation.install(ctx, Path(args.simulate_lvm))
    if args.simulate_drbd:
        drbd_simulation.install(ctx, Path(args.simulate_drbd),
                                layout.data_dir / "drbd-simulator" / "dev")
    if args.simulate_xen:
        xen_simulation.install(ctx, Path(args.simulate_xen))
    stop = stop_event()
    ctx.services.shutdown = stop.set
    server = RpcServer(ctx, args.bind, args.port)
    await server.start()
    if not tls.is_joined(layout):
        log.info(
            "node %s is not in a cluster yet; its join token is in %s", name, layout.join_token
        )
    log.info("listening on %s:%d", args.bind, server.port)
    record_start(layout.pid_file("corral-noded"), layout.command_line_file("corral-noded"), command)
    try:
        await stop.wait()
    finally:
        await server.stop()
        remove_pid_file(layout.pid_file("corral-noded"))


def _stored_name(layout: NodeLayout) -> str | None:
    try:
        return layout.node_name_file.read_text().strip() or None
    except OSError:
        return None


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    layout = NodeLayout(Path(args.root))
    log_file = None if args.foreground else layout.log_file("corral-noded")
    command = own_command_line("corral.daemons.noded", argv, args.root)
    return run_daemon("corral-noded", serve(args, command), log_file, args.debug)


if __name__ == "__main__":
    sys.exit(main())
