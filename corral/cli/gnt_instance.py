"""``gnt-instance``: create, run, change, inspect and remove instances.

The option parsing lives in ``instance_opts``/``instance_args``, ``add`` and
``modify`` in ``instance_setup``, the multi-instance commands' job handling in
``instance_ops``, ``info``'s layout in ``instance_info``, ``console`` in
``instance_console`` and ``migrate``/``failover``/``move``/``change-group`` in
``instance_mobility``.
"""

from __future__ import annotations

import sys

from corral.cli import instance_mobility, instance_replace, tags
from corral.cli import instance_opts as io
from corral.cli import options as o
from corral.cli.commands import Arg, Command, Tool, ask_user
from corral.cli.errors import CliError, UsageError
from corral.cli.info import format_generic_info
from corral.cli.instance_args import beparams_dict, hvparams_dict, recreate_disks, split_node
from corral.cli.instance_console import connect_to_console
from corral.cli.instance_info import instance_info
from corral.cli.instance_ops import many_ops, query_instance_names, run_jobs, selected_instances
from corral.cli.instance_setup import add_instance, modify_instance
from corral.cli.jobs import opcode, submit_opcode, submit_or_send
from corral.cli.output import format_value, parse_fields
from corral.cli.params import ParamError, parse_unit
from corral.cli.query import build_filter, generic_list, generic_list_fields

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up time)
if TYPE_CHECKING:
    from typing import Any

    from corral.cli.commands import Context
    from corral.cli.output import Formatter

BINARY = "gnt-instance"
LIST_DEFAULT_FIELDS = ["name", "hypervisor", "os", "pnode", "status", "oper_ram"]
_LIST_JOINED = ("tags", "disk.sizes", "nic.macs", "nic.ips", "nic.modes", "nic.links",
                "nic.bridges", "nic.networks", "snodes", "snodes.group", "snodes.group.uuid")
LIST_OVERRIDES: dict[str, tuple[Formatter, bool]] = dict.fromkeys(
    _LIST_JOINED, (format_value, False))
NO_INSTANCE_SELECTED = ("No instance selected. Please pass in --all if you want to query all"
                        " instances.\nNote that this can take a long time on a big cluster.")


def list_instances(ctx: Context, args: list[str]) -> int:
    fields = parse_fields(ctx.opts.output, LIST_DEFAULT_FIELDS)
    return generic_list(ctx, "instance", fields, build_filter(ctx, args), LIST_OVERRIDES)


def list_fields(ctx: Context, args: list[str]) -> int:
    return generic_list_fields(ctx, "instance", args)


def show_instance_config(ctx: Context, args: list[str]) -> int:
    """``info``: Ganeti's per-instance block from ``OP_INSTANCE_QUERY_DATA``."""
    if not args and not ctx.opts.show_all:
        raise CliError(NO_INSTANCE_SELECTED)
    if args and ctx.opts.show_all:
        raise CliError("Cannot use --all if you specify instance names.")
    op = opcode("OP_INSTANCE_QUERY_DATA", instances=args, static=bool(ctx.opts.static),
                use_locking=not ctx.opts.static)
    result = submit_opcode(ctx, op)
    if not result:
        ctx.out("No instances.")
        return 1
    ctx.out(format_generic_info([instance_info(data) for data in result.values()]))
    return 0


def remove_instance(ctx: Context, args: list[str]) -> int:
    name = args[0]
    if not ctx.opts.force:
        query_instance_names(ctx, [name])
        question = (f"This will remove the volumes of the instance {name} (including"
                    " mirrors), thus removing all the data of the instance. Continue?")
        if not ask_user(question):
            return 1
    op = opcode("OP_INSTANCE_REMOVE", instance_name=name,
                ignore_failures=bool(ctx.opts.ignore_failures),
                shutdown_timeout=ctx.opts.shutdown_timeout)
    submit_or_send(ctx, op)
    return 0


def rename_instance(ctx: Context, args: list[str]) -> int:
    opts = ctx.opts
    if opts.ip_check and not opts.name_check:
        raise UsageError("Error: Cannot do IP address check without a name check"
                         " (add --no-ip-check)")
    if not opts.name_check and not ask_user(
            "As you disabled the check of the DNS entry, please verify that"
            f" '{args[1]}' is a FQDN. Continue?"):
        return 1
    op = opcode("OP_INSTANCE_RENAME", instance_name=args[0], new_name=args[1],
                ip_check=opts.ip_check, name_check=opts.name_check)
    result = submit_or_send(ctx, op)
    if result:
        ctx.out(f"Instance '{args[0]}' renamed to '{result}'")
    return 0


def _startup_op(ctx: Context, name: str) -> dict[str, Any]:
    opts = ctx.opts
    return opcode("OP_INSTANCE_STARTUP", instance_name=name, force=bool(opts.force),
                  ignore_offline_nodes=bool(opts.ignore_offline),
                  no_remember=bool(opts.no_remember),
                  startup_paused=bool(opts.startup_paused),
                  hvparams=hvparams_dict(opts.hvparams) if opts.hvparams else None,
                  beparams=beparams_dict(opts.beparams) if opts.beparams else None)


def _shutdown_op(ctx: Context, name: str) -> dict[str, Any]:
    opts = ctx.opts
    return opcode("OP_INSTANCE_SHUTDOWN", instance_name=name, force=bool(opts.force),
                  timeout=opts.timeout, ignore_offline_nodes=bool(opts.ignore_offline),
                  no_remember=bool(opts.no_remember))


def _reboot_op(ctx: Context, name: str) -> dict[str, Any]:
    opts = ctx.opts
    return opcode("OP_INSTANCE_REBOOT", instance_name=name, reboot_type=opts.reboot_type,
                  ignore_secondaries=bool(opts.ignore_secondaries),
                  shutdown_timeout=opts.shutdown_timeout)


def reinstall_instance(ctx: Context, args: list[str]) -> int:
    opts = ctx.opts
    os_msg = f"change the OS to '{opts.os}'" if opts.os else "keep the same OS"
    warning = f"Note: this will remove *all* data for the below instances! It will {os_msg}.\n"
    selected = selected_instances(ctx, args, "reinstall", warning)
    if selected is None:
        return 1
    names, multi = selected
    if not names:
        return 0
    if not multi and not opts.force and not opts.force_multi and not ask_user(
            f"This will reinstall the instance '{names[0]}' (and {os_msg}) which removes all"
            " data. Continue?"):
        return 1
    ops = [(name, opcode("OP_INSTANCE_REINSTALL", instance_name=name, os_type=opts.os,
                         force_variant=bool(opts.force_variant), osparams=opts.osparams,
                         osparams_private=opts.osparams_private,
                         osparams_secret=opts.osparams_secret))
           for name in names]
    return run_jobs(ctx, ops, verbose=multi)


def activate_disks(ctx: Context, args: list[str]) -> int:
    op = opcode("OP_INSTANCE_ACTIVATE_DISKS", instance_name=args[0],
                ignore_size=bool(ctx.opts.ignore_size),
                wait_for_sync=bool(ctx.opts.wait_for_sync))
    for host, iv_name, device in submit_or_send(ctx, op) or []:
        ctx.out(f"{host}:{iv_name}:{device}")
    return 0


def deactivate_disks(ctx: Context, args: list[str]) -> int:
    submit_or_send(ctx, opcode("OP_INSTANCE_DEACTIVATE_DISKS", instance_name=args[0],
                               force=bool(ctx.opts.force)))
    return 0


def recreate_instance_disks(ctx: Context, args: list[str]) -> int:
    opts = ctx.opts
    if opts.node and opts.iallocator:
        raise UsageError("Error: At most one of either --nodes or --iallocator can be passed")
    pnode, snode = split_node(opts.node)
    nodes = [n for n in (pnode, snode) if n]
    op = opcode("OP_INSTANCE_RECREATE_DISKS", instance_name=args[0],
                disks=recreate_disks(opts.disks), nodes=nodes, iallocator=opts.iallocator)
    submit_or_send(ctx, op)
    return 0


def grow_disk(ctx: Context, args: list[str]) -> int:
    instance, disk, amount = args
    try:
        index = int(disk)
    except ValueError:
        raise UsageError(f"Error: Invalid disk index: '{disk}'") from None
    try:
        size = parse_unit(amount)
    except ParamError:
        raise UsageError(f"Error: Can't parse the given amount '{amount}'") from None
    op = opcode("OP_INSTANCE_GROW_DISK", instance_name=instance, disk=index, amount=size,
                wait_for_sync=bool(ctx.opts.wait_for_sync), absolute=bool(ctx.opts.absolute),
                ignore_ipolicy=bool(ctx.opts.ignore_ipolicy))
    submit_or_send(ctx, op)
    return 0


_ONE = [Arg("instance", 1, 1)]
_MANY = [Arg("instance")]
_SUBMIT = (o.SUBMIT_OPT, o.PRINT_JOBID_OPT, o.PRIORITY_OPT)
_CHANGE = (*_SUBMIT, o.DRY_RUN_OPT)
_LIST_OPTS = (o.NOHDR_OPT, o.SEP_OPT, o.UNITS_OPT, o.FIELDS_OPT, o.VERBOSE_OPT,
              o.FORCE_FILTER_OPT)
_ADD_OPTS = (
    io.DISK_TEMPLATE_OPT, io.OS_OPT, io.FORCE_VARIANT_OPT, io.NODE_PLACEMENT_OPT,
    io.IALLOCATOR_OPT, io.NODEGROUP_OPT, io.DISK_OPT, io.OS_SIZE_OPT, io.NET_OPT,
    io.NONICS_OPT, io.HYPERVISOR_OPT, io.BACKEND_OPT, io.OSPARAMS_OPT,
    io.OSPARAMS_PRIVATE_OPT, io.OSPARAMS_SECRET_OPT, io.NOSTART_OPT, io.NO_INSTALL_OPT,
    io.NWSYNC_OPT, *io.IPCHECK_OPTS, *io.NAMECHECK_OPTS, io.NOCONFLICTSCHECK_OPT,
    io.FILESTORE_DIR_OPT, io.FILESTORE_DRIVER_OPT, io.TAGS_OPT, io.IGNORE_IPOLICY_OPT,
    io.OPPORTUNISTIC_OPT, *_CHANGE,
)
_MODIFY_OPTS = (
    io.BACKEND_OPT, io.DISK_OPT, o.FORCE_OPT, io.HVOPTS_OPT, io.NET_OPT, io.DISK_TEMPLATE_OPT,
    io.SINGLE_NODE_OPT, io.NEW_PRIMARY_OPT, io.OS_OPT, io.FORCE_VARIANT_OPT, io.OSPARAMS_OPT,
    io.OSPARAMS_PRIVATE_OPT, io.NWSYNC_OPT, io.OFFLINE_INST_OPT, io.ONLINE_INST_OPT,
    io.IGNORE_IPOLICY_OPT, io.RUNTIME_MEM_OPT, io.NOCONFLICTSCHECK_OPT, io.HOTPLUG_OPT,
    io.HOTPLUG_IF_POSSIBLE_OPT, *_CHANGE,
)
_STARTUP_OPTS = (o.FORCE_OPT, *io.MULTI_OPTS, io.HVOPTS_OPT, io.BACKEND_OPT,
                 io.IGNORE_OFFLINE_OPT, io.NO_REMEMBER_OPT, io.STARTUP_PAUSED_OPT, *_CHANGE)
_SHUTDOWN_OPTS = (o.FORCE_OPT, *io.MULTI_OPTS, io.TIMEOUT_OPT, io.IGNORE_OFFLINE_OPT,
                  io.NO_REMEMBER_OPT, *_CHANGE)
_REBOOT_OPTS = (*io.MULTI_OPTS, io.REBOOT_TYPE_OPT, io.IGNORE_SECONDARIES_OPT,
                io.SHUTDOWN_TIMEOUT_OPT, *_CHANGE)
_REINSTALL_OPTS = (o.FORCE_OPT, io.OS_OPT, io.FORCE_VARIANT_OPT, *io.MULTI_OPTS,
                   io.OSPARAMS_OPT, io.OSPARAMS_PRIVATE_OPT, io.OSPARAMS_SECRET_OPT, *_CHANGE)
_MULTI_USAGE = "[--instance | --node | --primary | --secondary | --all] [--force-multiple]"

COMMANDS = {
    "add": Command(
        add_instance, [Arg("name", 1, 1)], _ADD_OPTS,
        "[...] -t disk-type -n node[:secondary-node] -o os-type <name>",
        "Creates and adds a new instance to the cluster"),
    "console": Command(connect_to_console, _ONE, (io.SHOWCMD_OPT, o.PRIORITY_OPT),
                       "[--show-cmd] <instance>", "Opens a console on the specified instance"),
    "info": Command(show_instance_config, _MANY, (io.STATIC_OPT, io.ALL_OPT, o.PRIORITY_OPT),
                    "[-s] {--all | <instance>...}",
                    "Show information on the specified instance(s)", aliases=("show",)),
    "list": Command(
        list_instances, _MANY, _LIST_OPTS, "[<instance>...]",
        "Lists the instances and their status. The available fields can be shown using the"
        " \"list-fields\" command. The default field list is (in order): "
        + ", ".join(LIST_DEFAULT_FIELDS) + "."),
    "list-fields": Command(list_fields, [Arg("field")], (o.NOHDR_OPT, o.SEP_OPT),
                           "[fields...]", "Lists all available fields for instances"),
    "reinstall": Command(reinstall_instance, _MANY, _REINSTALL_OPTS,
                         f"[-f] {_MULTI_USAGE} <instance>", "Reinstall a stopped instance"),
    "remove": Command(
        remove_instance, _ONE,
        (o.FORCE_OPT, io.SHUTDOWN_TIMEOUT_OPT, io.IGNORE_FAILURES_OPT, *_CHANGE),
        "[-f] <instance>", "Shuts down the instance and removes it"),
    "rename": Command(
        rename_instance, [Arg("instance", 1, 1), Arg("new_name", 1, 1)],
        (*io.IPCHECK_OPTS, *io.NAMECHECK_OPTS, *_CHANGE), "<instance> <new_name>",
        "Rename the instance"),
    "modify": Command(modify_instance, _ONE, _MODIFY_OPTS, "<instance>",
                      "Alters the parameters of an instance"),
    "shutdown": Command(many_ops("shutdown", _shutdown_op), _MANY, _SHUTDOWN_OPTS,
                        f"{_MULTI_USAGE} <instance>...", "Stops an instance",
                        aliases=("stop",)),
    "startup": Command(many_ops("startup", _startup_op), _MANY, _STARTUP_OPTS,
                       f"{_MULTI_USAGE} <instance>...", "Starts an instance",
                       aliases=("start",)),
    "reboot": Command(many_ops("reboot", _reboot_op), _MANY, _REBOOT_OPTS,
                      f"{_MULTI_USAGE} <instance>...", "Reboots an instance"),
    "activate-disks": Command(
        activate_disks, _ONE, (*_SUBMIT, io.IGNORE_SIZE_OPT, io.WFSYNC_OPT), "<instance>",
        "Activate an instance's disks"),
    "deactivate-disks": Command(deactivate_disks, _ONE, (o.FORCE_OPT, *_CHANGE),
                                "[-f] <instance>", "Deactivate an instance's disks"),
    "recreate-disks": Command(
        recreate_instance_disks, _ONE,
        (io.DISK_OPT, io.NODE_PLACEMENT_OPT, io.IALLOCATOR_OPT, *_CHANGE), "<instance>",
        "Recreate an instance's disks"),
    "grow-disk": Command(
        grow_disk, [Arg("instance", 1, 1), Arg("disk", 1, 1), Arg("size", 1, 1)],
        (io.NWSYNC_OPT, io.ABSOLUTE_OPT, io.IGNORE_IPOLICY_OPT, *_CHANGE),
        "<instance> <disk> <size>", "Grow an instance's disk"),
    **instance_mobility.COMMANDS,
    **instance_replace.COMMANDS,
    **tags.make_tag_commands("instance", "instance_name"),
}

main = Tool(BINARY, COMMANDS)

if __name__ == "__main__":
    sys.exit(main())
