"""``corral``: tools around a Corral installation (``corral vcluster up|down|env|status``)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from corral.errors import CorralError, format_error


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="corral", description="Corral cluster tools")
    sub = parser.add_subparsers(dest="command", required=True)
    vc = sub.add_parser("vcluster", help="a virtual multi-node cluster on this machine")
    vsub = vc.add_subparsers(dest="action", required=True)
    up = vsub.add_parser("up", help="start node daemons, initialise the cluster, add the nodes")
    up.add_argument("--nodes", type=int, default=3, help="number of nodes (default 3)")
    up.add_argument("--dir", required=True, type=Path, help="directory holding the node roots")
    up.add_argument("--port", type=int, default=1811, help="node daemon port (default 1811)")
    up.add_argument("--auto-failover", action="store_true",
                    help="also run a 3-member etcd cluster on loopback (the master lease)")
    for action, text in (
        ("down", "stop everything the virtual cluster started and remove its directory"),
        ("env", "print export lines for gnt-* commands to act on the virtual cluster"),
        ("status", "show which daemons run"),
    ):
        p = vsub.add_parser(action, help=text)
        p.add_argument("--dir", required=True, type=Path, help="the virtual cluster's directory")
        if action == "env":
            p.add_argument("--node", help="act on this node (default: the master now)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from corral.vcluster import cluster

    try:
        if args.action == "up":
            vc = cluster.up(args.dir, args.nodes, port=args.port,
                            auto_failover=args.auto_failover)
            print(f"Virtual cluster {vc.cluster_name} is up; master {vc.master.name}.")
            creds = cluster.rapi_credentials(args.dir)
            if creds is not None:
                print(f"RAPI: {creds['url']} (users and passwords in "
                      f"{args.dir / cluster.RAPI_CREDENTIALS})")
            print(f'Use it with:  eval "$(corral vcluster env --dir {args.dir})"')
        elif args.action == "down":
            cluster.down(args.dir)
        elif args.action == "env":
            print("\n".join(cluster.env_lines(args.dir, args.node)))
        elif args.action == "status":
            for name, address, noded, masterd in cluster.status(args.dir):
                roles = ("noded " if noded else "") + ("masterd" if masterd else "")
                print(f"{name:8} {address:15} {roles or 'stopped'}")
    except CorralError as err:
        print(format_error(err), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
