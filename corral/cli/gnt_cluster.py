"""``gnt-cluster``: cluster-wide commands.

``init``, ``destroy`` (local bootstrap) and ``command``/``copyfile`` (node RPC)
live in their own modules, imported only when those commands run.
"""

from __future__ import annotations

import sys
import time

from corral.cli import options as o
from corral.cli import tags
from corral.cli.cluster_opts import INIT_OPTS, MODIFY_OPTS, modify_changes
from corral.cli.commands import Arg, Command, Tool
from corral.cli.errors import CliError, UsageError, describe_error
from corral.cli.ipolicy_opts import policy_options_text
from corral.cli.jobs import opcode, submit_opcode, submit_or_send, submitted_jobs, wait_for_jobs
from corral.cli.params import ParamError, parse_timespec
from corral.luxi.client import LuxiClientError

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up time)
if TYPE_CHECKING:
    from typing import Any

    from corral.cli.commands import Context

BINARY = "gnt-cluster"
VERIFY_NPLUSONE_MEM = "nplusone_mem"


def _invalid(message: str) -> CliError:
    return CliError(describe_error("OpPrereqError", [message, "wrong_input"]))


def init(ctx: Context, args: list[str]) -> int:
    from corral.cli.cluster_init import init_cluster

    return init_cluster(ctx, args)


def destroy(ctx: Context, args: list[str]) -> int:
    from corral.cli.cluster_init import destroy_cluster

    return destroy_cluster(ctx, args)


def command(ctx: Context, args: list[str]) -> int:
    from corral.cli.direct import run_command

    return run_command(ctx, args)


def copyfile(ctx: Context, args: list[str]) -> int:
    from corral.cli.direct import copy_file

    return copy_file(ctx, args)


def show_info(ctx: Context, args: list[str]) -> int:
    from corral.cli.cluster_info import format_cluster_info

    ctx.out(format_cluster_info(ctx.client.QueryClusterInfo()))
    return 0


def show_version(ctx: Context, args: list[str]) -> int:
    from corral.cli.cluster_info import format_version

    try:
        info: dict[str, Any] | None = ctx.client.QueryClusterInfo()
    except LuxiClientError:
        info = None
    for line in format_version(info):
        ctx.out(line)
    return 0


def show_master(ctx: Context, args: list[str]) -> int:
    from corral.cli.master_role import show_master as from_ssconf

    return from_ssconf(ctx, args)


def master_failover(ctx: Context, args: list[str]) -> int:
    from corral.cli.master_role import master_failover as failover

    return failover(ctx, args)


def master_ping(ctx: Context, args: list[str]) -> int:
    from corral.cli.master_role import master_ping as ping

    return ping(ctx, args)


_NO_VOTING_OPT = o.Opt("--no-voting", action="store_true", dest="no_voting",
                       help="Skip node agreement check (dangerous)")
_IGNORE_OFFLINE_OPT = o.Opt("--ignore-offline-nodes", action="store_true",
                            dest="ignore_offline_nodes",
                            help="Ignore offline nodes and do as much as possible")


def _job_results_code(ctx: Context, result: Any) -> int:
    """Wait for the jobs of a ResultWithJobs (Ganeti's GetResult); 1 if any failed."""
    jobs = submitted_jobs(result)
    if jobs is None:
        return 0
    failed = [outcome for ok, outcome in wait_for_jobs(ctx, jobs) if not ok]
    for text in failed:
        ctx.out(f"Job failed, result is '{text}'.")
    if failed:
        ctx.out(f"{len(failed)} job(s) failed.")
    return 1 if failed else 0


def modify(ctx: Context, args: list[str]) -> int:
    changes = modify_changes(ctx.opts)
    if not changes:
        raise CliError("Please give at least one of the parameters.")
    op = opcode("OP_CLUSTER_SET_PARAMS", force=bool(ctx.opts.force), **changes)
    return _job_results_code(ctx, submit_or_send(ctx, op))


def verify(ctx: Context, args: list[str]) -> int:
    opts = ctx.opts
    op = opcode(
        "OP_CLUSTER_VERIFY",
        verbose=bool(opts.verbose),
        error_codes=bool(opts.error_codes),
        debug_simulate_errors=bool(opts.simulate_errors),
        skip_checks=[VERIFY_NPLUSONE_MEM] if opts.skip_nplusone_mem else [],
        ignore_errors=list(opts.ignore_errors),
        group_name=opts.nodegroup,
        verify_clutter=bool(opts.verify_clutter),
    )
    result = submit_opcode(ctx, op)
    jobs = submitted_jobs(result)
    if jobs is None:
        return 0 if result else 1
    outcomes = wait_for_jobs(ctx, jobs)
    bad_jobs = sum(1 for ok, _ in outcomes if not ok)
    bad_results = sum(1 for ok, res in outcomes if ok and not (res and res[0]))
    if bad_jobs:
        ctx.out(f"{bad_jobs} job(s) failed while verifying the cluster.")
    return 0 if bad_jobs == 0 and bad_results == 0 else 1


def verify_disks(ctx: Context, args: list[str]) -> int:
    """Find instances whose disks are not active, activate them, report missing volumes."""
    op = opcode("OP_CLUSTER_VERIFY_DISKS", group_name=ctx.opts.nodegroup,
                is_strict=bool(ctx.opts.strict))
    jobs = submitted_jobs(submit_opcode(ctx, op)) or []
    code = 0
    for ok, result in wait_for_jobs(ctx, jobs):
        if not ok:
            ctx.out(f"Job failed: {result}")
            continue
        code |= _disk_report(ctx, result[0])
    return code


def _disk_report(ctx: Context, result: Any) -> int:
    """One group's (bad nodes, instances to activate, missing volumes); the exit code."""
    bad_nodes, instances, missing = result
    code = 0
    for node, text in bad_nodes.items():
        ctx.out(f"Error gathering data on node {node}: {str(text)[-400:]}")
        ctx.out("You need to fix these nodes first before fixing instances")
        code = 1
    for name in instances:
        if name in missing:
            continue
        ctx.out(f"Activating disks for instance '{name}'")
        try:
            submit_opcode(ctx, opcode("OP_INSTANCE_ACTIVATE_DISKS", instance_name=name))
        except CliError as err:
            ctx.err(f"Error activating disks for instance {name}: {err}")
            code |= 1
    for name, volumes in missing.items():
        if all(node in bad_nodes for node, _ in volumes):
            ctx.out(f"Instance {name} cannot be verified as it lives on broken nodes")
            continue
        ctx.out(f"Instance {name} has missing logical volumes:")
        for node, volume in sorted(volumes):
            prefix = f"broken node {node}" if node in bad_nodes else node
            ctx.out(f"\t{prefix} /dev/{volume}")
    if missing:
        ctx.out("You need to replace or recreate disks for all the above instances if this"
                " message persists after fixing broken nodes.")
        code = 1
    elif not instances:
        ctx.out("No disks need to be activated.")
    return code


def activate_master_ip(ctx: Context, args: list[str]) -> int:
    submit_opcode(ctx, opcode("OP_CLUSTER_ACTIVATE_MASTER_IP"))
    return 0


def deactivate_master_ip(ctx: Context, args: list[str]) -> int:
    if not ctx.opts.confirm:
        from corral.cli.commands import ask_user

        if not ask_user("This will disable the master IP. All the open connections to the"
                        " master IP will be closed. To reach the master you will need to use"
                        " its node IP. Continue?"):
            return 1
    submit_opcode(ctx, opcode("OP_CLUSTER_DEACTIVATE_MASTER_IP"))
    return 0


def redist_conf(ctx: Context, args: list[str]) -> int:
    op = opcode("OP_CLUSTER_REDIST_CONF")
    if not ctx.opts.yes_do_it:
        submit_or_send(ctx, op)
        return 0
    from corral.cli.jobs import Reporter, poll_job, set_generic_options

    set_generic_options(ctx, [op])
    job_id = int(ctx.client.call("SubmitJobToDrainedQueue", [op]))
    poll_job(ctx.client, job_id, Reporter())
    return 0


def queue_ops(ctx: Context, args: list[str]) -> int:
    action = args[0]
    if action in ("drain", "undrain"):
        ctx.client.SetQueueDrainFlag(action == "drain")
    elif action == "info":
        flag = ctx.client.QueryConfigValues(["drain_flag"])[0]
        ctx.out(f"The drain flag is {'set' if flag else 'unset'}")
    else:
        raise _invalid(f"Command '{action}' is not valid.")
    return 0


def _show_watcher_pause(ctx: Context, until: Any) -> None:
    if not isinstance(until, int | float) or until < time.time():
        ctx.out("The watcher is not paused.")
    else:
        ctx.out(f"The watcher is paused until {time.ctime(until)}.")


def watcher_ops(ctx: Context, args: list[str]) -> int:
    action = args[0]
    if action == "continue":
        ctx.client.SetWatcherPause(None)
        ctx.out("The watcher is no longer paused.")
    elif action == "pause":
        if len(args) < 2:
            raise _invalid("Missing pause duration")
        try:
            seconds = parse_timespec(args[1])
        except ParamError as err:
            raise UsageError(f"Error: {err}") from None
        _show_watcher_pause(ctx, ctx.client.SetWatcherPause(time.time() + seconds))
    elif action == "info":
        _show_watcher_pause(ctx, ctx.client.QueryConfigValues(["watcher_pause"])[0])
    else:
        raise _invalid(f"Command '{action}' is not valid.")
    return 0


def search_tags(ctx: Context, args: list[str]) -> int:
    result = submit_opcode(ctx, opcode("OP_TAGS_SEARCH", pattern=args[0]))
    if not result:
        return 1
    for path, tag in sorted(result):
        ctx.out(f"{path} {tag}")
    return 0


_VERIFY_OPTS = (o.VERBOSE_OPT, o.DEBUG_SIMERR_OPT, o.ERROR_CODES_OPT, o.NONPLUS1_OPT,
                o.DRY_RUN_OPT, o.PRIORITY_OPT, o.NODEGROUP_OPT, o.IGNORE_ERRORS_OPT,
                o.VERIFY_CLUTTER_OPT, o.PRINT_JOBID_OPT)
_VERIFY_DISKS_OPTS = (
    o.PRIORITY_OPT, o.NODEGROUP_OPT,
    o.Opt("--no-strict", action="store_false", dest="strict", default=True,
          help="Do not consider a disk missing when its node cannot be reached"),
)
_CONFIRM_OPT = o.Opt("--yes", action="store_true", dest="confirm", default=False,
                     help="Do not ask for confirmation")
_COMMAND_OPTS = (o.NODE_LIST_OPT, o.NODEGROUP_OPT, o.SHOW_MACHINE_OPT, o.FAILURE_ONLY_OPT)

def show_ispecs_cmd(ctx: Context, args: list[str]) -> int:
    """The ``gnt-cluster init`` command line that recreates the instance policy's specs."""
    info = ctx.client.QueryClusterInfo()
    options = policy_options_text(info.get("ipolicy") or {}, is_group=False)
    ctx.out(f"gnt-cluster init{options} {info['name']}")
    return 0


COMMANDS = {
    "init": Command(init, [Arg("cluster_name", 1, 1)], INIT_OPTS, "[opts...] <cluster_name>",
                    "Initialises a new cluster configuration"),
    "destroy": Command(destroy, [], (o.YES_DOIT_OPT,), "", "Destroy cluster"),
    "redist-conf": Command(redist_conf, [], (o.DRY_RUN_OPT, o.YES_DOIT_OPT, *o.SUBMIT_OPTS), "",
                           "Forces a push of the configuration file and ssconf files to the"
                           " nodes in the cluster"),
    "verify": Command(verify, [], _VERIFY_OPTS, "", "Does a check on the cluster configuration"),
    "verify-disks": Command(verify_disks, [], _VERIFY_DISKS_OPTS, "",
                            "Does a check on the cluster disk status"),
    "activate-master-ip": Command(activate_master_ip, [], (), "", "Activates the master IP"),
    "deactivate-master-ip": Command(deactivate_master_ip, [], (_CONFIRM_OPT,), "",
                                    "Deactivates the master IP"),
    "show-ispecs-cmd": Command(show_ispecs_cmd, [], (), "",
                               "Show the command line to re-create the cluster"),
    "getmaster": Command(show_master, [], (), "", "Displays the current master"),
    "master-failover": Command(master_failover, [],
                               (_NO_VOTING_OPT, o.YES_DOIT_OPT, _IGNORE_OFFLINE_OPT), "",
                               "Makes the current node the master"),
    "master-ping": Command(master_ping, [], (), "", "Checks if the master is alive"),
    "version": Command(show_version, [], (), "", "Shows the cluster version"),
    "info": Command(show_info, [], (), "", "Show cluster configuration",
                    aliases=("show",)),
    "command": Command(command, [Arg("command", 1)], _COMMAND_OPTS,
                       "[-n node...] <command>",
                       "Runs a command on all (or only some) nodes (over node RPC, not SSH)",
                       remainder=True),
    "copyfile": Command(copyfile, [Arg("file", 1, 1)], (o.NODE_LIST_OPT, o.NODEGROUP_OPT),
                        "[-n node...] <filename>",
                        "Copies a file to all (or only some) nodes (over node RPC, at most 1 MiB)"),
    "modify": Command(modify, [], MODIFY_OPTS, "[opts...]", "Alters the parameters of the cluster"),
    "queue": Command(queue_ops, [Arg("drain|undrain|info", 1, 1)], (), "drain|undrain|info",
                     "Change queue properties"),
    "watcher": Command(watcher_ops, [Arg("pause|continue|info", 1, 1), Arg("duration", 0, 1)],
                       (), "{pause <timespec>|continue|info}", "Change watcher properties"),
    "search-tags": Command(search_tags, [Arg("pattern", 1, 1)], (o.PRIORITY_OPT,), "<pattern>",
                           "Searches the tags on all objects on the cluster for a given pattern"
                           " (regex)"),
    **tags.make_tag_commands(tags.CLUSTER, None),
}

main = Tool(BINARY, COMMANDS)

if __name__ == "__main__":
    sys.exit(main())
