"""``gnt-instance add`` and ``modify``: many options turned into one opcode."""

from __future__ import annotations

from corral.cli.commands import ask_user
from corral.cli.errors import CliError, UsageError
from corral.cli.gnt_node import print_modifications
from corral.cli.instance_args import (
    beparams_dict,
    creation_disks,
    creation_nics,
    disk_modifications,
    hvparams_dict,
    hypervisor_option,
    nic_modifications,
    split_node,
)
from corral.cli.jobs import opcode, submit_or_send

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up time)
if TYPE_CHECKING:
    import argparse
    from typing import Any

    from corral.cli.commands import Context

MIRRORED_TEMPLATES = ("drbd", "mirror")
RESTART_NOTE = ("Please don't forget that most parameters take effect only at the next"
                " (re)start of the instance initiated by ganeti; restarting from within the"
                " instance will not be enough.")
HOTPLUG_NIC_QUESTION = ("You are about to hot-modify a NIC. This will be done by removing the"
                        " existing and then adding a new one. Network connection might be"
                        " lost. Continue?")


def creation_opcode(opts: argparse.Namespace, name: str) -> dict[str, Any]:
    """``OP_INSTANCE_CREATE`` (mode ``create``) from ``add``'s options."""
    pnode, snode = split_node(opts.node)
    hypervisor, hvparams = hypervisor_option(opts.hypervisor)
    return opcode(
        "OP_INSTANCE_CREATE", instance_name=name, mode="create",
        disk_template=opts.disk_template,
        disks=creation_disks(opts.disk_template, opts.disks, opts.sd_size),
        nics=creation_nics(opts.nics, opts.no_nics),
        pnode=pnode, snode=snode, iallocator=opts.iallocator, group_name=opts.nodegroup,
        os_type=opts.os, force_variant=opts.force_variant, no_install=opts.no_install,
        start=opts.start, wait_for_sync=opts.wait_for_sync,
        ip_check=opts.ip_check, name_check=opts.name_check,
        conflicts_check=opts.conflicts_check,
        file_storage_dir=opts.file_storage_dir, file_driver=opts.file_driver,
        hypervisor=hypervisor, hvparams=hvparams, beparams=beparams_dict(opts.beparams),
        osparams=opts.osparams or {}, osparams_private=opts.osparams_private,
        osparams_secret=opts.osparams_secret, tags=opts.tags or [],
        identify_defaults=False, ignore_ipolicy=opts.ignore_ipolicy,
        opportunistic_locking=opts.opportunistic_locking,
    )


def add_instance(ctx: Context, args: list[str]) -> int:
    """``gnt-instance add``: create, install and (by default) start an instance."""
    opts = ctx.opts
    if not opts.os:
        raise UsageError("Error: No guest OS specified; use -o <os>[+variant]")
    if opts.ip_check and not opts.name_check:
        raise UsageError("Error: Cannot do IP address check without a name check"
                         " (add --no-ip-check)")
    submit_or_send(ctx, creation_opcode(opts, args[0]))
    return 0


def _offline(opts: argparse.Namespace) -> bool | None:
    if opts.offline_inst and opts.online_inst:
        raise UsageError("Error: Only one of --offline and --online may be given")
    if opts.offline_inst:
        return True
    return False if opts.online_inst else None


def _has_changes(opts: argparse.Namespace) -> bool:
    return any((opts.nics, opts.disks, opts.disk_template, opts.hvparams, opts.beparams,
                opts.os, opts.osparams, opts.osparams_private, opts.offline_inst,
                opts.online_inst, opts.runtime_mem, opts.new_primary_node))


def modification_opcode(opts: argparse.Namespace, name: str, nics: list[Any]
                        ) -> dict[str, Any]:
    """``OP_INSTANCE_SET_PARAMS`` from ``modify``'s options."""
    return opcode(
        "OP_INSTANCE_SET_PARAMS", instance_name=name, nics=nics,
        disks=disk_modifications(opts.disks), hotplug=opts.hotplug,
        hotplug_if_possible=opts.hotplug_if_possible, disk_template=opts.disk_template,
        remote_node=opts.node, iallocator=opts.iallocator, pnode=opts.new_primary_node,
        hvparams=hvparams_dict(opts.hvparams or {}, allow_default=True),
        beparams=beparams_dict(opts.beparams, allow_default=True),
        runtime_mem=opts.runtime_mem, os_name=opts.os, osparams=opts.osparams,
        osparams_private=opts.osparams_private, force_variant=opts.force_variant,
        force=opts.force, wait_for_sync=opts.wait_for_sync, offline=_offline(opts),
        conflicts_check=opts.conflicts_check, ignore_ipolicy=opts.ignore_ipolicy,
    )


def modify_instance(ctx: Context, args: list[str]) -> int:
    """``gnt-instance modify``: change parameters, disks, NICs, OS or offline state."""
    opts = ctx.opts
    if not _has_changes(opts):
        raise CliError("Please give at least one of the parameters.")
    if opts.disk_template in MIRRORED_TEMPLATES and not (opts.node or opts.iallocator):
        raise CliError("Changing the disk template to a mirrored one requires specifying a"
                       " secondary node")
    nics = nic_modifications(opts.nics)
    hot_modify = opts.hotplug and any(mod[0] == "modify" for mod in nics)
    if hot_modify and not opts.force and not ask_user(HOTPLUG_NIC_QUESTION):
        return 1
    result = submit_or_send(ctx, modification_opcode(opts, args[0], nics))
    if result:
        print_modifications(ctx, f"Modified instance {args[0]}", result)
        ctx.out(RESTART_NOTE)
    return 0
