"""Options of ``gnt-instance`` and ``gnt-os``, with Ganeti's names, destinations and defaults."""

from __future__ import annotations

from corral.cli import params
from corral.cli.options import Opt, checked_type

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up time)
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

DISK_TEMPLATES = ("diskless", "file", "sharedfile", "plain", "drbd", "blockdev", "rbd", "ext",
                  "gluster", "mirror")
FILE_DRIVERS = ("loop", "blktap", "blktap2")
REBOOT_TYPES = ("soft", "hard", "full")
DEFAULT_SHUTDOWN_TIMEOUT = 120

# multi-instance selection modes (Ganeti's _EXPAND_*)
EXPAND_INSTANCES = "instances"
EXPAND_CLUSTER = "cluster"
EXPAND_NODES_BOTH = "nodes"
EXPAND_NODES_PRI = "nodes-pri"
EXPAND_NODES_SEC = "nodes-sec"


def _keyval(opt: str) -> Callable[[str], Any]:
    return checked_type(lambda text: params.split_key_val(opt, text), "keyval")


def _identkeyval(opt: str) -> Callable[[str], Any]:
    return checked_type(lambda text: params.split_ident_key_val(opt, text), "identkeyval")


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise params.ParamError(f"invalid integer value: '{text}'") from None


unit_type = checked_type(params.parse_unit, "unit")
int_type = checked_type(_int, "int")
list_type = checked_type(params.parse_list, "list")
bool_type = checked_type(params.parse_bool, "bool")

# --- placement and OS --------------------------------------------------------------------
DISK_TEMPLATE_OPT = Opt("-t", "--disk-template", dest="disk_template", choices=DISK_TEMPLATES,
                        metavar="TEMPL", help=f"Disk template ({', '.join(DISK_TEMPLATES)})")
OS_OPT = Opt("-o", "--os-type", dest="os", metavar="<os>[+variant]",
             help="What OS to run (with an optional variant)")
FORCE_VARIANT_OPT = Opt("--force-variant", action="store_true", dest="force_variant",
                        help="Force an unknown variant")
NODE_PLACEMENT_OPT = Opt("-n", "--node", dest="node", metavar="<node>[:<secondary-node>]",
                         help="Target node and optional secondary node")
SINGLE_NODE_OPT = Opt("-n", "--node", dest="node", metavar="<node>",
                      help="The (new) secondary node, when changing to a mirrored template")
NEW_PRIMARY_OPT = Opt("--new-primary", dest="new_primary_node", metavar="<node>",
                      help="Change the primary node (for non-running instances)")
IALLOCATOR_OPT = Opt("-I", "--iallocator", dest="iallocator", metavar="<NAME>",
                     help="Select nodes for the instance automatically using the <NAME>"
                          " iallocator plugin")
NODEGROUP_OPT = Opt("-g", "--node-group", dest="nodegroup", metavar="GROUP",
                    help="Node group (name or uuid)")

# --- disks and NICs ----------------------------------------------------------------------
DISK_OPT = Opt("--disk", dest="disks", action="append", default=[], type=_identkeyval("--disk"),
               metavar="N:size=SIZE,mode=ro|rw,...", help="Disk parameters")
OS_SIZE_OPT = Opt("-s", "--os-size", dest="sd_size", type=unit_type, metavar="SIZE",
                  help="Disk size of a single-disk instance (e.g. 10G)")
NET_OPT = Opt("--net", dest="nics", action="append", default=[], type=_identkeyval("--net"),
              metavar="N:mac=MAC,ip=IP,mode=MODE,link=LINK,...", help="NIC parameters")
NONICS_OPT = Opt("--no-nics", action="store_true", dest="no_nics",
                 help="Create the instance without network interfaces")
FILESTORE_DIR_OPT = Opt("--file-storage-dir", dest="file_storage_dir", metavar="<DIR>",
                        help="Relative path of the instance's disk files below the cluster's"
                             " file storage directory")
FILESTORE_DRIVER_OPT = Opt("--file-driver", dest="file_driver", choices=FILE_DRIVERS,
                           metavar="<DRIVER>", help="Driver for file-based disks")

# --- parameter dictionaries --------------------------------------------------------------
HYPERVISOR_OPT = Opt("-H", "--hypervisor-parameters", dest="hypervisor",
                     type=_identkeyval("-H"), metavar="HYPERVISOR[:KEY=VAL,...]",
                     help="Hypervisor and its parameters, e.g. kvm:kernel_path=/boot/vmlinuz")
HVOPTS_OPT = Opt("-H", "--hypervisor-parameters", dest="hvparams", type=_keyval("-H"),
                 metavar="KEY=VAL,...", help="Hypervisor parameters")
BACKEND_OPT = Opt("-B", "--backend-parameters", dest="beparams", type=_keyval("-B"),
                  metavar="KEY=VAL,...", help="Backend parameters")
OSPARAMS_OPT = Opt("-O", "--os-parameters", dest="osparams", type=_keyval("-O"),
                   metavar="KEY=VAL,...", help="OS parameters")
OSPARAMS_PRIVATE_OPT = Opt("--os-parameters-private", dest="osparams_private",
                           type=_keyval("--os-parameters-private"), metavar="KEY=VAL,...",
                           help="Private OS parameters (masked in output)")
OSPARAMS_SECRET_OPT = Opt("--os-parameters-secret", dest="osparams_secret",
                          type=_keyval("--os-parameters-secret"), metavar="KEY=VAL,...",
                          help="Secret OS parameters (never stored)")
TAGS_OPT = Opt("--tags", dest="tags", type=list_type, metavar="TAG,...",
               help="Comma-separated list of instance tags")

# --- creation switches -------------------------------------------------------------------
NOSTART_OPT = Opt("--no-start", action="store_false", dest="start", default=True,
                  help="Don't start the instance after creation")
NO_INSTALL_OPT = Opt("--no-install", action="store_true", dest="no_install",
                     help="Do not install the OS (will disable automatic start)")
NWSYNC_OPT = Opt("--no-wait-for-sync", action="store_false", dest="wait_for_sync",
                 default=True, help="Don't wait for sync (DANGEROUS!)")
WFSYNC_OPT = Opt("--wait-for-sync", action="store_true", dest="wait_for_sync", default=False,
                 help="Wait for disks to sync")
IPCHECK_OPTS = (
    Opt("--no-ip-check", action="store_false", dest="ip_check", default=True,
        help="Don't check that the instance's IP is alive"),
    Opt("--ip-check", action="store_true", dest="ip_check",
        help="Check that the instance's IP is not in use (the default)"),
)
NAMECHECK_OPTS = (
    Opt("--no-name-check", action="store_false", dest="name_check", default=True,
        help="Don't check that the instance's name is resolvable"),
    Opt("--name-check", action="store_true", dest="name_check",
        help="Check that the instance's name is resolvable (the default)"),
)
NOCONFLICTSCHECK_OPT = Opt("--no-conflicts-check", action="store_false",
                           dest="conflicts_check", default=True,
                           help="Don't check for conflicting IPs")
IGNORE_IPOLICY_OPT = Opt("--ignore-ipolicy", action="store_true", dest="ignore_ipolicy",
                         help="Ignore instance policy violations")
OPPORTUNISTIC_OPT = Opt("--opportunistic-locking", action="store_true",
                        dest="opportunistic_locking",
                        help="Opportunistically acquire locks (with an iallocator)")

# --- life cycle --------------------------------------------------------------------------
SHUTDOWN_TIMEOUT_OPT = Opt("--shutdown-timeout", dest="shutdown_timeout", type=int_type,
                           default=DEFAULT_SHUTDOWN_TIMEOUT, metavar="SECONDS",
                           help="Maximum time to wait for the instance to shut down")
TIMEOUT_OPT = Opt("--timeout", dest="timeout", type=int_type, default=DEFAULT_SHUTDOWN_TIMEOUT,
                  metavar="SECONDS", help="Maximum time to wait for the shutdown")
IGNORE_FAILURES_OPT = Opt("--ignore-failures", action="store_true", dest="ignore_failures",
                          help="Remove the instance from the cluster configuration even if"
                               " there are failures during the removal process")
IGNORE_OFFLINE_OPT = Opt("--ignore-offline", action="store_true", dest="ignore_offline",
                         help="Ignore offline nodes and do as much as possible")
NO_REMEMBER_OPT = Opt("--no-remember", action="store_true", dest="no_remember",
                      help="Perform but do not record the change in the configuration")
STARTUP_PAUSED_OPT = Opt("--paused", action="store_true", dest="startup_paused",
                         help="Pause the instance at startup")
REBOOT_TYPE_OPT = Opt("-t", "--type", dest="reboot_type", choices=REBOOT_TYPES, default="hard",
                      metavar="soft|hard|full", help="Type of reboot: soft/hard/full")
IGNORE_SECONDARIES_OPT = Opt("--ignore-secondaries", action="store_true",
                             dest="ignore_secondaries",
                             help="Ignore errors from secondaries")

# --- multi-instance selection --------------------------------------------------------------
FORCE_MULTI_OPT = Opt("--force-multiple", action="store_true", dest="force_multi",
                      help="Do not ask for confirmation when more than one instance is affected")
MULTI_OPTS = (
    FORCE_MULTI_OPT,
    Opt("--instance", action="store_const", dest="multi_mode", const=EXPAND_INSTANCES,
        help="Filter by instance name [default]"),
    Opt("--node", action="store_const", dest="multi_mode", const=EXPAND_NODES_BOTH,
        help="Filter by nodes (primary and secondary)"),
    Opt("--primary", action="store_const", dest="multi_mode", const=EXPAND_NODES_PRI,
        help="Filter by nodes (primary only)"),
    Opt("--secondary", action="store_const", dest="multi_mode", const=EXPAND_NODES_SEC,
        help="Filter by nodes (secondary only)"),
    Opt("--all", action="store_const", dest="multi_mode", const=EXPAND_CLUSTER,
        help="Select all instances in the cluster"),
)

# --- disks of existing instances ---------------------------------------------------------
IGNORE_SIZE_OPT = Opt("--ignore-size", action="store_true", dest="ignore_size",
                      help="Ignore the recorded disk sizes")
ABSOLUTE_OPT = Opt("--absolute", action="store_true", dest="absolute",
                   help="The given amount is the new size, not the growth")

# --- modify ------------------------------------------------------------------------------
OFFLINE_INST_OPT = Opt("--offline", action="store_true", dest="offline_inst",
                       help="Mark the instance as offline")
ONLINE_INST_OPT = Opt("--online", action="store_true", dest="online_inst",
                      help="Mark the instance as online")
RUNTIME_MEM_OPT = Opt("-m", "--runtime-memory", dest="runtime_mem", type=unit_type,
                      metavar="SIZE", help="Memory of the running instance (balloon)")
HOTPLUG_OPT = Opt("--hotplug", action="store_true", dest="hotplug",
                  help="Hotplug the NIC and disk changes into the running instance")
HOTPLUG_IF_POSSIBLE_OPT = Opt("--hotplug-if-possible", action="store_true",
                              dest="hotplug_if_possible",
                              help="Hotplug the changes if the hypervisor supports it")

# --- info and console --------------------------------------------------------------------
STATIC_OPT = Opt("-s", "--static", action="store_true", dest="static",
                 help="Only show configuration data, not runtime data")
ALL_OPT = Opt("--all", action="store_true", dest="show_all",
              help="Show info on all instances on the cluster. This can take a long time to"
                   " run, use wisely")
SHOWCMD_OPT = Opt("--show-cmd", action="store_true", dest="show_command",
                  help="Show the command that would open the console instead of running it")
