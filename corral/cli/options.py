"""Option objects shared by the ``gnt-*`` commands, with Ganeti's names and defaults.

An :class:`Opt` is the arguments of one ``argparse`` ``add_argument`` call;
commands list the ones they accept. ``-d/--debug`` and ``--reason`` are added
to every subcommand by the dispatcher.
"""

from __future__ import annotations

import argparse

from corral.cli import params

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up time)
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

PRIORITIES = {"low": 10, "normal": 0, "high": -10}
"""Ganeti's submit priorities: lower numbers run first."""

YES_NO = "yes|no"


class Opt:
    """One option: its flags and ``add_argument`` keyword arguments."""

    __slots__ = ("flags", "kwargs")

    def __init__(self, *flags: str, **kwargs: Any) -> None:
        self.flags = flags
        self.kwargs = kwargs

    def add_to(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(*self.flags, **self.kwargs)


def checked_type(parse: Callable[[str], Any], name: str) -> Callable[[str], Any]:
    """Wrap a value parser so argparse reports its message on one line."""

    def convert(text: str) -> Any:
        try:
            return parse(text)
        except params.ParamError as err:
            raise argparse.ArgumentTypeError(str(err)) from None

    convert.__name__ = name
    return convert


def priority_value(text: str) -> int:
    try:
        return PRIORITIES[text]
    except KeyError:
        raise params.ParamError(
            f"invalid choice: '{text}' (choose from {', '.join(PRIORITIES)})") from None


def _int_value(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise params.ParamError(f"invalid integer value: '{text}'") from None


def _keyval(opt: str) -> Callable[[str], Any]:
    return checked_type(lambda text: params.split_key_val(opt, text), "keyval")


def _identkeyval(opt: str) -> Callable[[str], Any]:
    return checked_type(lambda text: params.split_ident_key_val(opt, text), "identkeyval")


bool_type = checked_type(params.parse_bool, "bool")
unit_type = checked_type(params.parse_unit, "unit")
int_type = checked_type(_int_value, "int")
priority_type = checked_type(priority_value, "priority")
list_type = checked_type(params.parse_list, "list")

# --- always present -------------------------------------------------------
DEBUG_OPT = Opt("-d", "--debug", action="count", default=0, help="Turn debugging on")
REASON_OPT = Opt("--reason", default=None, help="The reason for executing the command")

# --- listing ---------------------------------------------------------------
NOHDR_OPT = Opt("--no-headers", action="store_true", dest="no_headers",
                help="Don't display column headers")
SEP_OPT = Opt("--separator", default=None, metavar="SEPARATOR",
              help="Separator between output fields (defaults to one space)")
UNITS_OPT = Opt("--units", default=None, choices=("h", "m", "g", "t"),
                help="Units for sizes: h (human readable, the default), m, g or t")
FIELDS_OPT = Opt("-o", "--output", dest="output", metavar="FIELDS",
                 help="Comma-separated list of output fields; '+a,b' adds a and b to the"
                      " default list")
VERBOSE_OPT = Opt("-v", "--verbose", action="store_true", help="Increase the verbosity")
FORCE_FILTER_OPT = Opt("-F", "--filter", action="store_true", dest="force_filter",
                       help="Whether command argument should be treated as filter, e.g."
                            " 'status == \"running\" and not admin_state' (see ganeti(7)"
                            " \"Query filters\"); Corral also accepts a filter in LUXI's JSON"
                            " form, '[\"==\", \"name\", \"node1\"]'")

# --- job submission --------------------------------------------------------
SUBMIT_OPT = Opt("--submit", action="store_true", dest="submit_only",
                 help="Submit the job and return the job ID, but don't wait for the job to"
                      " finish")
PRINT_JOBID_OPT = Opt("--print-jobid", action="store_true", dest="print_jobid",
                      help="Additionally print the job as first line on stdout (for scripting)")
DRY_RUN_OPT = Opt("--dry-run", action="store_true", dest="dry_run",
                  help="Do not execute the operation, just run the check steps and verify"
                       " if it could be executed")
PRIORITY_OPT = Opt("--priority", type=priority_type, default=None, metavar="low|normal|high",
                   help="Priority for opcode processing")
FORCE_OPT = Opt("-f", "--force", action="store_true", help="Force the operation")
YES_DOIT_OPT = Opt("--yes-do-it", "--ya-rly", action="store_true", dest="yes_do_it",
                   help="Really execute the operation")
SUBMIT_OPTS = (SUBMIT_OPT, PRINT_JOBID_OPT, PRIORITY_OPT)

# --- tags ------------------------------------------------------------------
TAG_SRC_OPT = Opt("--from", dest="tags_source", metavar="FILE",
                  help="File with tag names, one per line ('-' for stdin)")

# --- nodes and groups ------------------------------------------------------
NODE_LIST_OPT = Opt("-n", "--node", dest="nodes", action="append", default=[], metavar="NODE",
                    help="Node to use (may be given several times)")
NODEGROUP_OPT = Opt("-g", "--node-group", dest="nodegroup", metavar="GROUP",
                    help="Node group (name or uuid)")
SECONDARY_IP_OPT = Opt("-s", "--secondary-ip", dest="secondary_ip", metavar="ADDRESS",
                       help="Secondary (replication) IP address")
MC_OPT = Opt("-C", "--master-candidate", dest="master_candidate", type=bool_type,
             metavar=YES_NO, help="Set the master_candidate flag on the node")
OFFLINE_OPT = Opt("-O", "--offline", dest="offline", type=bool_type, metavar=YES_NO,
                  help="Set the offline flag on the node (the cluster does not talk to it)")
DRAINED_OPT = Opt("-D", "--drained", dest="drained", type=bool_type, metavar=YES_NO,
                  help="Set the drained flag on the node (no new instances are placed on it)")
CAPAB_MASTER_OPT = Opt("--master-capable", dest="master_capable", type=bool_type,
                       metavar=YES_NO, help="Whether the node may become master or candidate")
CAPAB_VM_OPT = Opt("--vm-capable", dest="vm_capable", type=bool_type, metavar=YES_NO,
                   help="Whether the node may host instances")
AUTO_PROMOTE_OPT = Opt("--auto-promote", action="store_true", dest="auto_promote",
                       help="Lock all nodes and auto-promote as needed to MC status")
READD_OPT = Opt("--readd", action="store_true", help="Readd an old node")
ALLOC_POLICY_OPT = Opt("--alloc-policy", dest="alloc_policy", metavar="POLICY",
                       choices=("preferred", "last_resort", "unallocable"),
                       help="Allocation policy for the node group")

# --- parameter dictionaries --------------------------------------------------
NODE_PARAMS_OPT = Opt("--node-parameters", dest="ndparams", type=_keyval("--node-parameters"),
                      metavar="KEY=VAL,...", help="Node parameters")
BACKEND_OPT = Opt("-B", "--backend-parameters", dest="beparams",
                  type=_keyval("-B"), metavar="KEY=VAL,...", help="Backend parameters")
NIC_PARAMS_OPT = Opt("-N", "--nic-parameters", dest="nicparams", type=_keyval("-N"),
                     metavar="KEY=VAL,...", help="NIC parameters")
HVLIST_OPT = Opt("-H", "--hypervisor-parameters", dest="hvparams", action="append", default=[],
                 type=_identkeyval("-H"), metavar="HV:KEY=VAL,...",
                 help="Hypervisor parameters, e.g. kvm:acpi=no (may be repeated)")
DISK_PARAMS_OPT = Opt("-D", "--disk-parameters", dest="diskparams", action="append", default=[],
                      type=_identkeyval("-D"), metavar="TEMPLATE:KEY=VAL,...",
                      help="Disk template parameters, e.g. drbd:resync-rate=1000")

# --- cluster-wide settings ---------------------------------------------------
ENABLED_HV_OPT = Opt("--enabled-hypervisors", dest="enabled_hypervisors", metavar="HV,...",
                     help="Comma-separated list of hypervisors; the first is the default")
ENABLED_DISK_TEMPLATES_OPT = Opt(
    "--enabled-disk-templates", dest="enabled_disk_templates", metavar="TEMPLATE,...",
    help="Comma-separated list of disk templates; the first is the default")
MASTER_NETDEV_OPT = Opt("--master-netdev", dest="master_netdev", metavar="NETDEV",
                        help="Network device for the master IP address")
MASTER_NETMASK_OPT = Opt("--master-netmask", dest="master_netmask", type=int_type,
                         metavar="NETMASK", help="Prefix length of the master IP's network")
MAC_PREFIX_OPT = Opt("-m", "--mac-prefix", dest="mac_prefix", metavar="PREFIX",
                     help="MAC address prefix for instances (three bytes, e.g. aa:00:00)")
DEFAULT_IALLOCATOR_OPT = Opt("-I", "--default-iallocator", dest="default_iallocator",
                             metavar="NAME", help="Default instance allocator")
CP_SIZE_OPT = Opt("-C", "--candidate-pool-size", dest="candidate_pool_size", type=int_type,
                  metavar="SIZE", help="Number of master candidates to keep")
MAX_RUNNING_JOBS_OPT = Opt("--max-running-jobs", dest="max_running_jobs", type=int_type,
                           metavar="N", help="Maximal number of jobs running simultaneously")
MAX_TRACKED_JOBS_OPT = Opt("--max-tracked-jobs", dest="max_tracked_jobs", type=int_type,
                           metavar="N", help="Maximal number of jobs tracked by the scheduler")
FILESTORE_DIR_OPT = Opt("--file-storage-dir", dest="file_storage_dir", metavar="DIR",
                        help="Directory for file-based instance disks")
SHARED_FILESTORE_DIR_OPT = Opt("--shared-file-storage-dir", dest="shared_file_storage_dir",
                               metavar="DIR", help="Directory for shared-file instance disks")
VG_NAME_OPT = Opt("--vg-name", dest="vg_name", metavar="VG",
                  help="LVM volume group for instance disks")

# --- verification ----------------------------------------------------------
ERROR_CODES_OPT = Opt("--error-codes", action="store_true", dest="error_codes",
                      help="Show machine-parsable error codes")
IGNORE_ERRORS_OPT = Opt("-I", "--ignore-errors", dest="ignore_errors", action="append",
                        default=[], metavar="ECODE", help="Error code to be ignored")
NONPLUS1_OPT = Opt("--no-nplus1-mem", action="store_true", dest="skip_nplusone_mem",
                   help="Skip N+1 memory redundancy tests")
VERIFY_CLUTTER_OPT = Opt("--verify-ssh-clutter", action="store_true", dest="verify_clutter",
                         help="Verify that no stray keys were left in authorized_keys")
DEBUG_SIMERR_OPT = Opt("--debug-simulate-errors", action="store_true", dest="simulate_errors",
                       help="Debugging option that makes the operation treat most runtime"
                            " checks as failed")

# --- command / copyfile ------------------------------------------------------
SHOW_MACHINE_OPT = Opt("-M", "--show-machine-names", action="store_true",
                       dest="show_machine_names",
                       help="Show machine name for every line in output")
FAILURE_ONLY_OPT = Opt("--failure-only", action="store_true", dest="failure_only",
                       help="Hide successful results and show failures only (determined by"
                            " the exit code)")

# --- instance mobility (migrate, failover, move, evacuate) --------------------
MIGRATION_MODES = ("live", "non-live")
NONLIVE_OPT = Opt("--non-live", action="store_false", dest="live", default=True,
                  help="Do a non-live migration: the instance is paused, its state saved and"
                       " sent, and it resumes on the target node only then")
MIGRATION_MODE_OPT = Opt("--migration-mode", dest="migration_mode", choices=MIGRATION_MODES,
                         default=None, metavar="live|non-live",
                         help="Override the hypervisor's default migration mode")
CLEANUP_OPT = Opt("--cleanup", action="store_true", dest="cleanup",
                  help="Instead of migrating or failing over, recover from a failed migration"
                       " (safe on a healthy instance)")
DST_NODE_OPT = Opt("-n", "--target-node", dest="dst_node", metavar="NODE", default=None,
                   help="The node to move the instance to")
ALLOW_FAILOVER_OPT = Opt("--allow-failover", action="store_true", dest="allow_failover",
                         help="If migration is not possible, fall back to a failover")
IGNORE_HVVERSIONS_OPT = Opt("--ignore-hvversions", action="store_true",
                            dest="ignore_hvversions",
                            help="Ignore incompatible hypervisor versions between source and"
                                 " target")
NORUNTIME_CHGS_OPT = Opt("--no-runtime-changes", action="store_false",
                         dest="allow_runtime_chgs", default=True,
                         help="Don't allow runtime changes (such as lowering the memory to fit"
                              " on the target node)")
IGNORE_CONSIST_OPT = Opt("--ignore-consistency", action="store_true", dest="ignore_consistency",
                         help="Ignore the consistency of the disks on the secondary; the source"
                              " node must be marked offline first")
COMPRESS_OPT = Opt("--compress", dest="compress", default="none", metavar="TOOL",
                   help="Compression of the disk data copied between nodes (none, gzip,"
                        " gzip-fast, gzip-slow, lzop)")
MOVE_NODE_OPT = Opt("-n", "--node", dest="node", metavar="<node>", default=None,
                    help="Target node")
TO_GROUP_OPT = Opt("--to", dest="to", action="append", default=None, metavar="<group>",
                   help="Destination node group (name or uuid; may be repeated)")
EARLY_RELEASE_OPT = Opt("--early-release", action="store_true", dest="early_release",
                        help="Release the locks on the secondary node(s) early")
SEQUENTIAL_OPT = Opt("--sequential", action="store_true", dest="sequential",
                     help="Execute all resulting jobs sequentially")
FORCE_FAILOVER_OPT = Opt("--force-failover", action="store_true", dest="force_failover",
                         help="Do not use migration, always use failover")
IGNORE_SOFT_ERRORS_OPT = Opt("--ignore-soft-errors", action="store_true",
                             dest="ignore_soft_errors",
                             help="Tell the allocator to ignore soft errors such as N+1"
                                  " violations")
NEW_SECONDARY_OPT = Opt("-n", "--new-secondary", dest="dst_node", metavar="NODE", default=None,
                        help="The new secondary node (evacuates secondary instances only)")
PRIMARY_ONLY_OPT = Opt("-p", "--primary-only", action="store_true", dest="primary_only",
                       help="Evacuate primary instances only")
SECONDARY_ONLY_OPT = Opt("-s", "--secondary-only", action="store_true", dest="secondary_only",
                         help="Evacuate secondary instances only (internally mirrored disks)")
DRAIN_OPT = Opt("--drain", action="store_true", dest="drain",
                help="Corral: first mark the node drained, so that nothing new is placed on"
                     " it, then empty it (for maintenance; undo with 'gnt-node modify"
                     " --drained=no')")
