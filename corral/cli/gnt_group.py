"""``gnt-group``: node groups."""

from __future__ import annotations

import sys

from corral.cli import options as o
from corral.cli import tags
from corral.cli.commands import Arg, Command, Tool
from corral.cli.errors import CliError, UsageError
from corral.cli.gnt_node import ndparams_option, print_modifications
from corral.cli.info import format_generic_info, format_params_info, format_policy_info
from corral.cli.instance_opts import IALLOCATOR_OPT
from corral.cli.ipolicy_opts import GROUP_OPTS, ipolicy_from_opts, policy_options_text
from corral.cli.jobs import opcode, submit_or_send
from corral.cli.mobility_jobs import run_evacuation
from corral.cli.output import format_value, parse_fields
from corral.cli.params import ParamError, group_params
from corral.cli.query import build_filter, generic_list, generic_list_fields

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up time)
if TYPE_CHECKING:
    from typing import Any

    from corral.cli.commands import Context
    from corral.cli.output import Formatter

BINARY = "gnt-group"
LIST_DEFAULT_FIELDS = ["name", "node_cnt", "pinst_cnt", "alloc_policy", "ndparams"]
INFO_FIELDS = ["name", "ndparams", "custom_ndparams", "diskparams", "custom_diskparams",
               "ipolicy", "custom_ipolicy"]
LIST_OVERRIDES: dict[str, tuple[Formatter, bool]] = {
    "node_list": (format_value, False),
    "pinst_list": (format_value, False),
}


def diskparams_option(ctx: Context) -> dict[str, Any] | None:
    entries = ctx.opts.diskparams
    if not entries:
        return None
    try:
        return group_params("-D", entries)
    except ParamError as err:
        raise UsageError(f"Error: {err}") from None


def add_group(ctx: Context, args: list[str]) -> int:
    op = opcode("OP_GROUP_ADD", group_name=args[0], alloc_policy=ctx.opts.alloc_policy,
                ndparams=ndparams_option(ctx), diskparams=diskparams_option(ctx),
                ipolicy=ipolicy_from_opts(ctx.opts, group=True))
    submit_or_send(ctx, op)
    return 0


def assign_nodes(ctx: Context, args: list[str]) -> int:
    op = opcode("OP_GROUP_ASSIGN_NODES", group_name=args[0], nodes=args[1:],
                force=bool(ctx.opts.force))
    submit_or_send(ctx, op)
    return 0


def list_groups(ctx: Context, args: list[str]) -> int:
    fields = parse_fields(ctx.opts.output, LIST_DEFAULT_FIELDS)
    return generic_list(ctx, "group", fields, build_filter(ctx, args), overrides=LIST_OVERRIDES)


def list_fields(ctx: Context, args: list[str]) -> int:
    return generic_list_fields(ctx, "group", args)


def modify_group(ctx: Context, args: list[str]) -> int:
    changes = {"alloc_policy": ctx.opts.alloc_policy, "ndparams": ndparams_option(ctx),
               "diskparams": diskparams_option(ctx),
               "ipolicy": ipolicy_from_opts(ctx.opts, group=True)}
    if all(value is None for value in changes.values()):
        raise CliError("Please give at least one of the parameters.")
    result = submit_or_send(ctx, opcode("OP_GROUP_SET_PARAMS", group_name=args[0], **changes))
    print_modifications(ctx, f"Modified node group {args[0]}", result)
    return 0


def remove_group(ctx: Context, args: list[str]) -> int:
    submit_or_send(ctx, opcode("OP_GROUP_REMOVE", group_name=args[0]))
    return 0


def rename_group(ctx: Context, args: list[str]) -> int:
    submit_or_send(ctx, opcode("OP_GROUP_RENAME", group_name=args[0], new_name=args[1]))
    return 0


def evacuate_group(ctx: Context, args: list[str]) -> int:
    """Move every instance out of the group (one job per instance, followed)."""
    opts = ctx.opts
    op = opcode("OP_GROUP_EVACUATE", group_name=args[0], iallocator=opts.iallocator,
                target_groups=opts.to, early_release=bool(opts.early_release),
                sequential=bool(opts.sequential), force_failover=bool(opts.force_failover))
    return run_evacuation(ctx, op, "evacuation", "All instances evacuated successfully.")


def group_info_entry(row: list[Any]) -> list[Any]:
    name, ndparams, custom_nd, diskparams, custom_disk, ipolicy, custom_ipolicy = row
    return [
        ("Node group", name),
        ("Node parameters", format_params_info(custom_nd or {}, ndparams or {})),
        ("Disk parameters", format_params_info(custom_disk or {}, diskparams or {})),
        ("Instance policy", format_policy_info(custom_ipolicy or {}, ipolicy or {}, False)),
    ]


def group_info(ctx: Context, args: list[str]) -> int:
    rows = ctx.client.QueryGroups(args, INFO_FIELDS, False)
    ctx.out(format_generic_info([group_info_entry(row) for row in rows]))
    return 0


def show_ispecs_cmd(ctx: Context, args: list[str]) -> int:
    """For each group, the ``gnt-group add`` command line that recreates its policy's specs
    (its own overrides, or the effective policy with ``--include-defaults``)."""
    field = "ipolicy" if ctx.opts.include_defaults else "custom_ipolicy"
    for name, ipolicy in ctx.client.QueryGroups(args, ["name", field], False):
        ctx.out(f"gnt-group add{policy_options_text(ipolicy or {}, is_group=True)} {name}")
    return 0


_INCLUDE_DEFAULTS_OPT = o.Opt("--include-defaults", action="store_true", dest="include_defaults",
                              default=False, help="Include default values")
_GROUP = [Arg("group", 1, 1)]
_JOB_OPTS = (o.DRY_RUN_OPT, *o.SUBMIT_OPTS)

COMMANDS = {
    "add": Command(add_group, _GROUP,
                   (o.ALLOC_POLICY_OPT, o.NODE_PARAMS_OPT, o.DISK_PARAMS_OPT, *GROUP_OPTS,
                    *_JOB_OPTS),
                   "<group_name>", "Add a new node group to the cluster"),
    "assign-nodes": Command(assign_nodes, [Arg("group", 1, 1), Arg("node")],
                            (o.FORCE_OPT, *_JOB_OPTS), "<group_name> <node>...",
                            "Assign nodes to a group"),
    "list": Command(
        list_groups, [Arg("group")],
        (o.NOHDR_OPT, o.SEP_OPT, o.FIELDS_OPT, o.VERBOSE_OPT, o.FORCE_FILTER_OPT),
        "[<group_name>...]",
        "Lists the node groups in the cluster. The default list is (in order): "
        + ", ".join(LIST_DEFAULT_FIELDS) + ". With -F the argument is one query filter."),
    "list-fields": Command(list_fields, [Arg("field")], (o.NOHDR_OPT, o.SEP_OPT), "[fields...]",
                           "Lists all available fields for node groups"),
    "modify": Command(modify_group, _GROUP,
                      (o.ALLOC_POLICY_OPT, o.NODE_PARAMS_OPT, o.DISK_PARAMS_OPT, *GROUP_OPTS,
                    *_JOB_OPTS),
                      "<group_name>", "Alters the parameters of a node group"),
    "remove": Command(remove_group, _GROUP, _JOB_OPTS, "[--dry-run] <group-name>",
                      "Remove an (empty) node group from the cluster"),
    "rename": Command(rename_group, [Arg("group", 2, 2)], _JOB_OPTS,
                      "[--dry-run] <group-name> <new-name>", "Rename a node group"),
    "evacuate": Command(evacuate_group, _GROUP,
                        (o.TO_GROUP_OPT, IALLOCATOR_OPT, o.EARLY_RELEASE_OPT, o.SEQUENTIAL_OPT,
                         o.FORCE_FAILOVER_OPT, *o.SUBMIT_OPTS),
                        "[-I <iallocator>] [--to <group>] <source-group>",
                        "Evacuate all instances within a group"),
    "info": Command(group_info, [Arg("group")], (), "[<group_name>...]",
                    "Show group information", aliases=("show",)),
    "show-ispecs-cmd": Command(show_ispecs_cmd, [Arg("group")], (_INCLUDE_DEFAULTS_OPT,),
                               "[--include-defaults] [<group>...]",
                               "Show the command line to re-create a group"),
    **tags.make_tag_commands(tags.NODEGROUP, "group_name"),
}

main = Tool(BINARY, COMMANDS)

if __name__ == "__main__":
    sys.exit(main())
