"""``gnt-node volumes`` and ``gnt-node list-storage`` (through ``OP_NODE_QUERYVOLS`` and
``OP_NODE_QUERY_STORAGE`` jobs), and ``gnt-node list-drbd`` (the ``QueryNodeDrbd`` LUXI
method, read from the configuration as Ganeti's confd ``node_drbd`` query), printed as
Ganeti's tables."""

from __future__ import annotations

from corral.cli import options as o
from corral.cli.commands import Arg, Command
from corral.cli.jobs import opcode, submit_opcode
from corral.cli.output import format_bool, generate_table, parse_fields

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up time)
if TYPE_CHECKING:
    from typing import Any

    from corral.cli.commands import Context

VOLUME_FIELDS = ["node", "phys", "vg", "name", "size", "instance"]
VOLUME_TITLES = {"node": "Node", "phys": "PhysDev", "vg": "VG", "name": "Name", "size": "Size",
                 "instance": "Instance"}
STORAGE_FIELDS = ["node", "type", "name", "size", "used", "free", "allocatable"]
STORAGE_TITLES = {"node": "Node", "type": "Type", "name": "Name", "size": "Size", "used": "Used",
                  "free": "Free", "allocatable": "Allocatable", "vg": "VG"}
STORAGE_SIZES = ["size", "used", "free"]
DRBD_FIELDS = ["node", "minor", "instance", "disk", "role", "peer"]
DRBD_TITLES = {"node": "Node", "minor": "Minor", "instance": "Instance", "disk": "Disk",
               "role": "Role", "peer": "PeerNode"}


def _print_table(ctx: Context, titles: dict[str, str], fields: list[str], rows: list[Any],
                 sizes: list[str]) -> None:
    opts = ctx.opts
    headers = None if opts.no_headers else titles
    for line in generate_table(headers, fields, opts.separator, rows, numfields=sizes,
                               unitfields=sizes, units=opts.units):
        ctx.out(line)


def list_volumes(ctx: Context, args: list[str]) -> int:
    """The LVs of the nodes (all by default), with the instance owning each."""
    fields = parse_fields(ctx.opts.output, VOLUME_FIELDS)
    rows = submit_opcode(ctx, opcode("OP_NODE_QUERYVOLS", nodes=args, output_fields=fields))
    _print_table(ctx, VOLUME_TITLES, fields, list(rows or []), ["size"])
    return 0


def list_storage(ctx: Context, args: list[str]) -> int:
    """Storage units of one type (the cluster's default without ``-t``) on the nodes."""
    fields = parse_fields(ctx.opts.output, STORAGE_FIELDS)
    op = opcode("OP_NODE_QUERY_STORAGE", nodes=args, storage_type=ctx.opts.user_storage_type,
                output_fields=fields)
    rows = [[format_bool(value) if field == "allocatable" else value
             for field, value in zip(fields, row, strict=True)]
            for row in submit_opcode(ctx, op) or []]
    _print_table(ctx, STORAGE_TITLES, fields, rows, STORAGE_SIZES)
    return 0


def list_drbd(ctx: Context, args: list[str]) -> int:
    """The DRBD minors of one node as the configuration assigns them."""
    rows = sorted(ctx.client.QueryNodeDrbd(args[0]) or [])
    headers = None if ctx.opts.no_headers else DRBD_TITLES
    for line in generate_table(headers, DRBD_FIELDS, ctx.opts.separator, rows,
                               numfields=["minor"]):
        ctx.out(line)
    return 0


STORAGE_TYPE_OPT = o.Opt("-t", "--storage-type", dest="user_storage_type", default=None,
                         metavar="STORAGE_TYPE",
                         help="Storage type (file, lvm-vg or lvm-pv; default: the first one of"
                              " the cluster's enabled disk templates)")
_LIST_OPTS = (o.NOHDR_OPT, o.SEP_OPT, o.UNITS_OPT, o.FIELDS_OPT, o.PRIORITY_OPT)

COMMANDS = {
    "volumes": Command(
        list_volumes, [Arg("node")], _LIST_OPTS, "[<node_name>...]",
        "List logical volumes on node(s). The default field list is (in order): "
        + ", ".join(VOLUME_FIELDS)),
    "list-storage": Command(
        list_storage, [Arg("node")], (*_LIST_OPTS, STORAGE_TYPE_OPT), "[<node_name>...]",
        "List physical volumes on node(s). The default field list is (in order): "
        + ", ".join(STORAGE_FIELDS)),
    "list-drbd": Command(
        list_drbd, [Arg("node", 1, 1)], (o.NOHDR_OPT, o.SEP_OPT), "<node_name>",
        "Query the list of used DRBD minors on the given node"),
}
