"""``gnt-node``: add, list, inspect, modify and remove nodes; empty them (``node_mobility``)."""

from __future__ import annotations

import sys

from corral.cli import node_mobility, node_storage, tags
from corral.cli import options as o
from corral.cli.commands import Arg, Command, Tool, ask_user
from corral.cli.errors import CliError, UsageError
from corral.cli.info import format_generic_info, format_params_info
from corral.cli.jobs import opcode, submit_opcode, submit_or_send
from corral.cli.output import parse_fields
from corral.cli.params import NDPARAM_TYPES, ParamError, coerce_params
from corral.cli.query import build_filter, generic_list, generic_list_fields

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up time)
if TYPE_CHECKING:
    from typing import Any

    from corral.cli.commands import Context

BINARY = "gnt-node"
LIST_DEFAULT_FIELDS = ["name", "dtotal", "dfree", "mtotal", "mnode", "mfree", "pinst_cnt",
                       "sinst_cnt"]
INFO_FIELDS = ["name", "pip", "sip", "pinst_list", "sinst_list", "master_candidate", "drained",
               "offline", "master_capable", "vm_capable", "powered", "ndparams", "custom_ndparams"]
JOIN_TOKEN_HELP = (
    "One-time token that proves the new node is yours: corral-noded writes it at first start"
    " to <root>/var/lib/corral/crypto/join-token on the new node (mode 0600)."
    " Required unless --readd")


def ndparams_option(ctx: Context) -> dict[str, Any] | None:
    """``--node-parameters`` with Ganeti's types applied, or None when not given."""
    given = ctx.opts.ndparams
    if given is None:
        return None
    try:
        return coerce_params("node", given, NDPARAM_TYPES)
    except ParamError as err:
        raise UsageError(f"Error: {err}") from None


def add_node(ctx: Context, args: list[str]) -> int:
    opts = ctx.opts
    if not opts.readd and not opts.join_token:
        raise UsageError(
            "Error: --join-token is required to add a new node (corral-noded writes it at first"
            " start to <root>/var/lib/corral/crypto/join-token on the new node)")
    op = opcode(
        "OP_NODE_ADD",
        node_name=args[0],
        primary_ip=opts.primary_ip,
        secondary_ip=opts.secondary_ip,
        group=opts.nodegroup,
        master_capable=opts.master_capable,
        vm_capable=opts.vm_capable,
        ndparams=ndparams_option(ctx),
        readd=bool(opts.readd),
        join_token=opts.join_token,
        rpc_port=opts.port,
    )
    submit_opcode(ctx, op)
    return 0


def list_nodes(ctx: Context, args: list[str]) -> int:
    fields = parse_fields(ctx.opts.output, LIST_DEFAULT_FIELDS)
    return generic_list(ctx, "node", fields, build_filter(ctx, args))


def list_fields(ctx: Context, args: list[str]) -> int:
    return generic_list_fields(ctx, "node", args)


def node_info_entry(row: list[Any]) -> list[Any]:
    """One node's ``info`` block (Ganeti's _FormatNodeInfo)."""
    (name, pip, sip, pinst, sinst, is_mc, drained, offline,
     master_capable, vm_capable, powered, ndparams, custom_ndparams) = row
    info: list[Any] = [("Node name", name), ("primary ip", pip), ("secondary ip", sip),
                       ("master candidate", is_mc), ("drained", drained), ("offline", offline)]
    if powered is not None:
        info.append(("powered", powered))
    info.extend([("master_capable", master_capable), ("vm_capable", vm_capable)])
    if vm_capable:
        info.append(("primary for instances", sorted(pinst or [])))
        info.append(("secondary for instances", sorted(sinst or [])))
    info.append(("node parameters", format_params_info(custom_ndparams or {}, ndparams or {})))
    return info


def show_node_config(ctx: Context, args: list[str]) -> int:
    rows = ctx.client.QueryNodes(args, INFO_FIELDS, False)
    ctx.out(format_generic_info([node_info_entry(row) for row in rows]))
    return 0


_ONLINE_QUESTION = (
    "You are setting this node online manually. If the configuration has changed, this can"
    " cause issues such as split brain. To safely bring a node back online, please use --readd"
    " instead. If you are confident that the configuration hasn't changed, continue?")


def modify_node(ctx: Context, args: list[str]) -> int:
    opts = ctx.opts
    changes = {
        "master_candidate": opts.master_candidate, "offline": opts.offline,
        "drained": opts.drained, "master_capable": opts.master_capable,
        "vm_capable": opts.vm_capable, "secondary_ip": opts.secondary_ip,
        "ndparams": ndparams_option(ctx), "powered": opts.node_powered,
    }
    if all(value is None for value in changes.values()):
        raise CliError("Please give at least one of the parameters.")
    if opts.offline is False and not opts.force and not ask_user(_ONLINE_QUESTION):
        return 1
    op = opcode("OP_NODE_SET_PARAMS", node_name=args[0], force=bool(opts.force),
                auto_promote=bool(opts.auto_promote), **changes)
    print_modifications(ctx, f"Modified node {args[0]}", submit_or_send(ctx, op))
    return 0


def print_modifications(ctx: Context, title: str, result: Any) -> None:
    """``Modified X`` and one `` - param -> value`` line per change (Ganeti's layout)."""
    if not result:
        return
    ctx.out(title)
    for param, value in result:
        ctx.out(f" - {param:<5} -> {value}")


def remove_node(ctx: Context, args: list[str]) -> int:
    submit_opcode(ctx, opcode("OP_NODE_REMOVE", node_name=args[0]))
    return 0


_NODE = [Arg("node", 1, 1)]
_LIST_OPTS = (o.NOHDR_OPT, o.SEP_OPT, o.UNITS_OPT, o.FIELDS_OPT, o.VERBOSE_OPT, o.FORCE_FILTER_OPT)
_ADD_OPTS = (
    o.SECONDARY_IP_OPT, o.READD_OPT, o.NODEGROUP_OPT, o.CAPAB_MASTER_OPT, o.CAPAB_VM_OPT,
    o.NODE_PARAMS_OPT, o.PRIORITY_OPT, o.PRINT_JOBID_OPT,
    o.Opt("--primary-ip", dest="primary_ip", metavar="ADDRESS",
          help="Primary IP address of the node (default: resolve its name)"),
    o.Opt("--join-token", dest="join_token", metavar="TOKEN", help=JOIN_TOKEN_HELP),
    o.Opt("--port", dest="port", type=o.int_type, metavar="PORT",
          help="Port of the node daemon on the new node (default: the cluster's)"),
)
_MODIFY_OPTS = (
    o.FORCE_OPT, o.SUBMIT_OPT, o.PRINT_JOBID_OPT, o.MC_OPT, o.DRAINED_OPT, o.OFFLINE_OPT,
    o.CAPAB_MASTER_OPT, o.CAPAB_VM_OPT, o.SECONDARY_IP_OPT, o.AUTO_PROMOTE_OPT, o.DRY_RUN_OPT,
    o.PRIORITY_OPT, o.NODE_PARAMS_OPT,
    o.Opt("--node-powered", dest="node_powered", type=o.bool_type, metavar=o.YES_NO,
          help="Specify if the node is powered"),
)

COMMANDS = {
    "add": Command(
        add_node, _NODE, _ADD_OPTS,
        "--join-token TOKEN [-s ip] [-g group] [--master-capable yes|no] [--vm-capable yes|no]"
        " [--node-parameters ndparams] [--readd] <node_name>",
        "Add a node to the cluster"),
    "list": Command(
        list_nodes, [Arg("node")], _LIST_OPTS, "[nodes...]",
        "Lists the nodes in the cluster. The default field list is (in order): "
        + ", ".join(LIST_DEFAULT_FIELDS) + ". With -F the argument is one query filter."),
    "list-fields": Command(list_fields, [Arg("field")], (o.NOHDR_OPT, o.SEP_OPT), "[fields...]",
                           "Lists all available fields for nodes"),
    "info": Command(show_node_config, [Arg("node")], (), "[<node_name>...]",
                    "Show information about the node(s)", aliases=("show",)),
    "modify": Command(modify_node, _NODE, _MODIFY_OPTS, "<node_name>",
                      "Alters the parameters of a node"),
    "remove": Command(remove_node, _NODE, (o.DRY_RUN_OPT, o.PRIORITY_OPT), "<node_name>",
                      "Removes a node from the cluster"),
    **node_storage.COMMANDS,
    **node_mobility.COMMANDS,
    **tags.make_tag_commands(tags.NODE, "node_name"),
}

main = Tool(BINARY, COMMANDS)

if __name__ == "__main__":
    sys.exit(main())
