"""The node RPC table. Wire names and argument order are Ganeti's.

Block device calls take a ``NodeDisk``: a ``Disk`` plus what a node cannot look up
(children, a DRBD disk's side). Their client methods and handlers may be typed with
any ``Disk``: the extra fields have defaults, so a plain disk is a valid ``NodeDisk``
on the wire (``tests/architecture/test_rpc_table.py`` allows exactly this).

Each call travels as ``PUT /<name>`` with a JSON list of its arguments in table
order; the answer is ``[true, payload]`` or ``[false, "error message"]``. ``returns``
is the payload's type (structs in :mod:`corral.rpc.payloads`): the node's handler
returns it and the master's typed client (:class:`corral.rpc.nodes.NodeRpc`) decodes
into it. ``tests/architecture/test_rpc_table.py`` checks both ends against this table.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from corral.objects.bundle import InstanceBundle
from corral.objects.instance import Disk
from corral.rpc.access import Access, access_of
from corral.rpc.payloads import (
    AssembledDevice,
    CommandOutput,
    ConfigCopy,
    ConsolePayload,
    DeviceRename,
    DeviceState,
    DeviceStatus,
    DiskDimensions,
    DrbdSyncProgress,
    HookScriptResult,
    ImpExpHandle,
    ImpExpIo,
    ImpExpOptions,
    ImpExpStatus,
    InstanceRuntime,
    JoinCsr,
    MigrationEndpoint,
    MigrationProgress,
    MirrorDiskSync,
    MirrorExport,
    MirrorStatus,
    MirrorStatusResult,
    NodeDisk,
    NodeInfo,
    NodeVerifyResult,
    OsDiagnosis,
    PauseResult,
    QueueCopy,
    QueueReplicaState,
    RunningInstance,
    StorageValue,
    Volume,
)


class Fanout(enum.Enum):
    """Whether a call goes to one node or to many in parallel."""

    SINGLE = "single"
    MULTI = "multi"


class Timeout(enum.IntEnum):
    """Ganeti's RPC timeout classes, in seconds."""

    URGENT = 60
    FAST = 5 * 60
    NORMAL = 15 * 60
    SLOW = 3600
    FOUR_HOURS = 4 * 3600
    ONE_DAY = 86400


@dataclass(frozen=True, slots=True)
class Arg:
    """One positional argument of a call."""

    name: str
    type: Any = Any
    doc: str = ""
    per_node: bool = False
    """Each node receives its own value: the client passes ``{node name: value}``."""


@dataclass(frozen=True, slots=True)
class RpcCall:
    """A node RPC call: its wire name, payload type, fan-out, timeout and arguments."""

    name: str
    returns: Any
    """The payload's type (``None`` for calls that answer nothing)."""
    fanout: Fanout
    timeout: Timeout
    args: tuple[Arg, ...]
    doc: str
    needs_certificate: bool = True
    """False only for the join handshake of a node that has no certificate yet."""

    @property
    def access(self) -> Access:
        """Whether an old master may still make this call (:mod:`corral.rpc.access`)."""
        return access_of(self.name)


def _call(
    name: str,
    returns: Any,
    fanout: Fanout,
    timeout: Timeout,
    doc: str,
    *args: Arg,
    needs_certificate: bool = True,
) -> RpcCall:
    return RpcCall(name, returns, fanout, timeout, tuple(args), doc, needs_certificate)


S, M = Fanout.SINGLE, Fanout.MULTI
T = Timeout

_TABLE: tuple[RpcCall, ...] = (
    # --- node information and verification ---------------------------------
    _call("version", int, M, T.URGENT, "protocol version of the node daemon"),
    _call(
        "node_info",
        NodeInfo,
        M,
        T.URGENT,
        "memory, CPUs, storage space and hypervisor info",
        Arg("storage_units", list[Any], "[[storage type, key, params], ...]"),
        Arg("hv_specs", list[Any], "[[hypervisor name, hvparams], ...]"),
    ),
    _call(
        "node_verify",
        NodeVerifyResult,
        M,
        T.NORMAL,
        "run cluster-verify checks on the node",
        Arg("checks", dict[str, Any], "check name -> parameters"),
        Arg("cluster_name", str),
        Arg("all_hvparams", dict[str, Any]),
    ),
    _call("node_time", float, M, T.URGENT, "the node's clock, seconds since the epoch"),
    _call("node_boot_id", str, M, T.URGENT, "the kernel boot id of the node"),
    _call("master_node_name", str, M, T.URGENT, "the master node named by the node's ssconf"),
    _call("master_epoch", int, M, T.URGENT, "the highest master epoch the node has seen"),
    _call(
        "master_epoch_announce",
        int, M, T.URGENT, "a new master term: remember its epoch; answers the node's epoch",
        Arg("epoch", int),
    ),
    # --- files and configuration --------------------------------------------
    _call(
        "upload_file",
        None,
        M,
        T.NORMAL,
        "write one allowed cluster file",
        Arg("file_name", str),
        Arg("data", Any, "base64 text or [encoding, payload]"),
        Arg("mode", int),
        Arg("uid", str),
        Arg("gid", str),
        Arg("atime", float),
        Arg("mtime", float),
    ),
    _call(
        "write_ssconf_files",
        None,
        M,
        T.FAST,
        "replace the node's ssconf files",
        Arg("values", dict[str, Any], "ssconf key -> text"),
    ),
    _call(
        "config_replicate",
        int,
        M,
        T.FAST,
        "apply configuration changes on a master candidate",
        Arg("serial_no", int, "serial number after the changes"),
        Arg("base_serial", int, "serial number the changes apply on; -1 for a full copy"),
        Arg("changes", list[Any], "[[kind, uuid, object or null], ...]"),
        Arg("meta", dict[str, Any], "ctime, mtime, version"),
    ),
    _call("config_serial", int, M, T.URGENT, "serial number of the node's configuration replica"),
    _call("config_fetch", ConfigCopy, S, T.FAST, "the node's whole configuration replica"),
    _call("jobqueue_fetch", QueueCopy, S, T.FAST, "the node's job queue replica files"),
    _call("node_demote_from_mc", bool, S, T.FAST, "drop the configuration and queue replicas"),
    # --- job queue replication -----------------------------------------------
    _call(
        "jobqueue_update",
        None,
        M,
        T.URGENT,
        "write job files on a master candidate",
        Arg("files", list[Any], "[[file name, content], ...]"),
    ),
    _call(
        "jobqueue_rename",
        None,
        M,
        T.URGENT,
        "rename (archive) job files",
        Arg("renames", list[Any], "[[old, new], ...]"),
    ),
    _call("jobqueue_purge", None, S, T.URGENT, "delete the node's job queue replica"),
    _call(
        "jobqueue_replica_state",
        QueueReplicaState,
        M,
        T.FAST,
        "highest job id of the node's job queue replica and which of the given jobs it lacks",
        Arg("job_ids", list[int], "the master's jobs"),
    ),
    _call(
        "jobqueue_set_drain_flag",
        None,
        M,
        T.URGENT,
        "set or clear the drain flag",
        Arg("flag", bool),
    ),
    # --- hooks, commands ---------------------------------------------------
    _call(
        "hooks_runner",
        list[HookScriptResult],
        M,
        T.NORMAL,
        "run a hooks directory",
        Arg("hpath", str),
        Arg("phase", str),
        Arg("env", dict[str, Any]),
    ),
    _call(
        "restricted_command",
        str,
        S,
        T.SLOW,
        "run a command from the restricted commands directory",
        Arg("cmd", str),
    ),
    _call("test_delay", None, M, T.SLOW, "sleep on the node", Arg("duration", float)),
    _call(
        "run_oob",
        CommandOutput,
        S,
        T.NORMAL,
        "run a shell command on the node (gnt-cluster command)",
        Arg("command", list[Any]),
        Arg("timeout", float),
    ),
    # --- master role ----------------------------------------------------
    _call(
        "node_activate_master_ip",
        None,
        S,
        T.FAST,
        "bring up the master IP",
        Arg("master_params", dict[str, Any]),
        Arg("use_external_mip_script", bool),
    ),
    _call(
        "node_deactivate_master_ip",
        None,
        S,
        T.FAST,
        "take down the master IP",
        Arg("master_params", dict[str, Any]),
        Arg("use_external_mip_script", bool),
    ),
    _call(
        "node_change_master_netmask",
        None,
        S,
        T.FAST,
        "change the master IP's netmask",
        Arg("old_netmask", int),
        Arg("netmask", int),
        Arg("master_ip", str),
        Arg("master_netdev", str),
    ),
    _call(
        "node_ensure_daemon",
        None,
        M,
        T.URGENT,
        "start or stop a daemon on the node",
        Arg("daemon", str),
        Arg("run", bool),
    ),
    _call(
        "node_leave_cluster",
        None,
        S,
        T.NORMAL,
        "remove cluster files and stop the node daemon",
        Arg("modify_ssh_setup", bool),
    ),
    # --- instances --------------------------------------------------------
    _call(
        "instance_start",
        None, S, T.NORMAL, "assemble nothing; start the instance on the hypervisor",
        Arg("instance", InstanceBundle), Arg("startup_paused", bool), Arg("reason", list[Any]),
    ),
    _call(
        "instance_shutdown",
        None, S, T.NORMAL,
        "stop the instance: soft first, forced after timeout seconds",
        Arg("instance", InstanceBundle), Arg("timeout", float), Arg("reason", list[Any]),
    ),
    _call(
        "instance_reboot",
        None, S, T.NORMAL, "reboot (soft: in the guest; hard: stop and start)",
        Arg("instance", InstanceBundle), Arg("reboot_type", str),
        Arg("shutdown_timeout", float), Arg("reason", list[Any]),
    ),
    _call(
        "instance_balloon_memory",
        None, S, T.NORMAL, "change the memory of a running instance",
        Arg("instance", InstanceBundle), Arg("memory", int),
    ),
    _call(
        "instance_info",
        InstanceRuntime | None, S, T.URGENT, "runtime state of one instance, or null",
        Arg("instance", str), Arg("hname", str), Arg("hvparams", dict[str, Any]),
    ),
    _call(
        "all_instances_info",
        dict[str, RunningInstance], M, T.URGENT, "runtime state of every instance on the node",
        Arg("hypervisor_list", list[str]), Arg("all_hvparams", dict[str, Any]),
    ),
    _call(
        "instance_list",
        list[str], M, T.URGENT, "names of the instances running on the node",
        Arg("hypervisor_list", list[str]), Arg("all_hvparams", dict[str, Any]),
    ),
    _call(
        "instance_os_add",
        None, S, T.ONE_DAY, "run the OS create script on the instance's disks",
        Arg("instance", InstanceBundle), Arg("reinstall", bool), Arg("debug", int),
    ),
    _call(
        "instance_run_rename",
        None, S, T.SLOW, "run the OS rename script",
        Arg("instance", InstanceBundle), Arg("old_name", str), Arg("debug", int),
    ),
    _call(
        "instance_console_info",
        ConsolePayload, S, T.URGENT, "how to reach the instance's console",
        Arg("instance", InstanceBundle),
    ),
    # --- migration (phases in the order the master runs them) -----------------
    _call(
        "instance_migratable",
        None, S, T.NORMAL, "fail unless the instance runs here and can be migrated",
        Arg("instance", InstanceBundle),
    ),
    _call(
        "migration_info",
        str, S, T.NORMAL, "source: what the target needs to accept the instance",
        Arg("instance", InstanceBundle),
    ),
    _call(
        "accept_instance",
        MigrationEndpoint, S, T.NORMAL,
        "target: start receiving the instance (vCPUs stopped until finalized)",
        Arg("instance", InstanceBundle), Arg("info", str), Arg("target", str),
        Arg("copy_disks", bool, "export fresh disks for a live storage migration"),
    ),
    _call(
        "instance_finalize_migration_dst",
        None, S, T.NORMAL, "target: run the received instance, or discard it",
        Arg("instance", InstanceBundle), Arg("info", str), Arg("success", bool),
    ),
    _call(
        "instance_migrate",
        None, S, T.SLOW, "source: start sending the instance to the target",
        Arg("cluster_name", str), Arg("instance", InstanceBundle),
        Arg("target", MigrationEndpoint), Arg("live", bool),
    ),
    _call(
        "instance_finalize_migration_src",
        None, S, T.SLOW, "source: stop the sent instance, or resume it after a failure",
        Arg("instance", InstanceBundle), Arg("success", bool), Arg("live", bool),
    ),
    _call(
        "instance_get_migration_status",
        MigrationProgress, S, T.SLOW, "source: progress of the outgoing migration",
        Arg("instance", InstanceBundle),
    ),
    # --- block devices --------------------------------------------------------
    _call(
        "blockdev_create",
        DeviceState, S, T.NORMAL, "create a disk at its logical id",
        Arg("bdev", NodeDisk), Arg("size", int), Arg("owner", str), Arg("on_primary", bool),
        Arg("info", str), Arg("excl_stor", bool),
    ),
    _call(
        "blockdev_remove", None, S, T.NORMAL, "destroy a disk (idempotent)",
        Arg("bdev", NodeDisk),
    ),
    _call(
        "blockdev_assemble",
        AssembledDevice, S, T.NORMAL, "activate a disk; returns its path, uri and link",
        Arg("disk", NodeDisk), Arg("owner", str), Arg("on_primary", bool), Arg("idx", int),
    ),
    _call("blockdev_shutdown", None, S, T.NORMAL, "deactivate a disk", Arg("disk", NodeDisk)),
    _call(
        "blockdev_grow",
        None, S, T.NORMAL, "grow a disk by amount MiB",
        Arg("cf_bdev", NodeDisk), Arg("amount", int), Arg("dryrun", bool),
        Arg("backingstore", bool), Arg("excl_stor", bool),
    ),
    _call(
        "blockdev_wipe",
        None, S, T.SLOW, "zero size MiB of a disk from offset MiB",
        Arg("disk", NodeDisk), Arg("offset", int), Arg("size", int),
    ),
    _call(
        "blockdev_find", DeviceStatus | None, S, T.NORMAL, "locate a disk; its state or null",
        Arg("disk", NodeDisk),
    ),
    _call(
        "blockdev_rename", None, S, T.NORMAL, "rename block devices (logical volumes)",
        Arg("devlist", list[DeviceRename], "[[disk, new logical id], ...]"),
    ),
    _call(
        "blockdev_getdimensions",
        list[DiskDimensions | None], S, T.NORMAL, "[size in bytes, spindles] per disk, or null",
        Arg("disks", list[NodeDisk]),
    ),
    _call(
        "file_storage_dir_rename",
        None, S, T.FAST, "rename an instance's file storage directory",
        Arg("old_file_storage_dir", str), Arg("new_file_storage_dir", str),
    ),
    _call(
        "file_storage_dir_remove",
        None, S, T.FAST, "remove an empty file storage directory",
        Arg("file_storage_dir", str),
    ),
    # --- mirrored disks (DRBD) -------------------------------------------------
    _call(
        "blockdev_getmirrorstatus",
        list[MirrorStatus], S, T.NORMAL, "mirror state of each disk (fails if one is missing)",
        Arg("disks", list[NodeDisk]),
    ),
    _call(
        "blockdev_getmirrorstatus_multi",
        list[MirrorStatusResult], M, T.NORMAL,
        "mirror state of each disk, [ok, status or error] per disk",
        Arg("node_disks", list[NodeDisk], "this node's disks", per_node=True),
    ),
    _call(
        "blockdev_addchildren",
        None, S, T.NORMAL, "attach new local volumes to a mirrored disk without them",
        Arg("bdev", NodeDisk), Arg("ndevs", list[NodeDisk]),
    ),
    _call(
        "blockdev_removechildren",
        None, S, T.NORMAL, "detach local volumes from a mirrored disk",
        Arg("bdev", NodeDisk), Arg("ndevs", list[NodeDisk]),
    ),
    _call(
        "blockdev_pause_resume_sync",
        list[PauseResult], S, T.NORMAL, "pause or resume the resync of each disk",
        Arg("disks", list[NodeDisk]), Arg("pause", bool),
    ),
    _call(
        "blockdev_close",
        None, S, T.NORMAL, "make disks secondary; with an instance name, remove its links",
        Arg("instance_name", str), Arg("disks", list[NodeDisk]),
    ),
    _call(
        "blockdev_open",
        None, S, T.NORMAL, "make disks primary and link them for the instance",
        Arg("instance_name", str), Arg("disks", list[NodeDisk]), Arg("exclusive", bool),
    ),
    _call(
        "drbd_disconnect_net", None, M, T.NORMAL, "disconnect DRBD disks (StandAlone)",
        Arg("disks", list[NodeDisk]),
    ),
    _call(
        "drbd_attach_net",
        None, M, T.NORMAL, "reconnect DRBD disks and wait until connected",
        Arg("disks", list[NodeDisk]),
        Arg("multimaster", bool, "dual-primary (live migration): wait until both UpToDate"),
    ),
    _call(
        "drbd_wait_sync", DrbdSyncProgress, M, T.SLOW,
        "whether DRBD disks finished resyncing, and the lowest percentage",
        Arg("disks", list[NodeDisk]),
    ),
    _call(
        "drbd_needs_activation", list[str], S, T.NORMAL,
        "UUIDs of the DRBD disks that are missing, StandAlone or diskless",
        Arg("disks", list[NodeDisk]),
    ),
    # --- mirror disks (Corral's own network RAID1; Ganeti has no such template) ----
    _call(
        "mirror_export_start",
        MirrorExport, S, T.NORMAL,
        "secondary: serve a mirror disk's local half over NBD with TLS (kept if running)",
        Arg("disk", Disk), Arg("address", str, "the secondary's own address"),
        Arg("port", int),
        Arg("client", str, "the primary node's name: the only certificate let in"),
    ),
    _call(
        "mirror_export_stop", None, S, T.NORMAL,
        "secondary: stop serving a mirror disk (idempotent)", Arg("disk", Disk),
    ),
    _call(
        "mirror_export_status", MirrorExport, S, T.FAST,
        "secondary: whether a mirror disk's export runs, and its URI", Arg("disk", Disk),
    ),
    _call(
        "instance_mirror_status",
        list[MirrorDiskSync], S, T.FAST, "primary: per mirror disk, in sync/degraded/resyncing",
        Arg("instance", InstanceBundle),
    ),
    _call(
        "instance_mirror_resync",
        None, S, T.NORMAL, "primary: reattach the secondaries and resync (whole disk if full)",
        Arg("instance", InstanceBundle), Arg("disks", list[int], "disk indices; [] for all"),
        Arg("full", bool),
    ),
    # --- storage units --------------------------------------------------------
    _call(
        "node_volumes", list[Volume], M, T.FAST,
        "every LV of the node: name, vg, size (MiB), first PV",
    ),
    _call(
        "storage_list",
        list[list[StorageValue]], M, T.NORMAL,
        "rows of the chosen fields per storage unit of a type",
        Arg("su_name", str, "storage type: file, lvm-vg or lvm-pv"),
        Arg("su_args", list[Any], "type arguments; for file: [[directory, ...]]"),
        Arg("name", str | None, "only this unit, or null for all"),
        Arg("fields", list[str], "field names, in row order"),
    ),
    # --- OS definitions -------------------------------------------------------
    _call(
        "os_diagnose", list[OsDiagnosis], M, T.FAST,
        "the OS definitions found in the node's search path",
    ),
    _call(
        "os_validate",
        bool, M, T.FAST, "validate an OS name, variant and parameters",
        Arg("required", bool), Arg("name", str), Arg("checks", list[str]),
        Arg("params", dict[str, Any]), Arg("force_variant", bool),
    ),
    # --- joining ------------------------------------------------------------
    _call(
        "node_join_begin",
        JoinCsr,
        S,
        T.URGENT,
        "start joining: node proves the token, sends a CSR",
        Arg("cluster_name", str),
        Arg("node_name", str),
        Arg("ca_pem", str),
        Arg("nonce", str),
        Arg("mac", str),
        needs_certificate=False,
    ),
    _call(
        "node_join_finish",
        str,
        S,
        T.URGENT,
        "finish joining: install the signed certificate",
        Arg("cert_pem", str),
        Arg("nonce", str),
        Arg("mac", str),
        needs_certificate=False,
    ),
    # --- import/export (disk copies between nodes over TLS) -------------------
    _call(
        "import_start",
        ImpExpHandle, S, T.NORMAL,
        "assemble the destination and listen (cluster certificates only) for its exporter",
        Arg("opts", ImpExpOptions), Arg("instance", InstanceBundle), Arg("component", str),
        Arg("dest", ImpExpIo),
    ),
    _call(
        "export_start",
        str, S, T.NORMAL, "connect to an import at host:port and stream the source to it",
        Arg("opts", ImpExpOptions), Arg("host", str), Arg("port", int),
        Arg("instance", InstanceBundle), Arg("component", str), Arg("source", ImpExpIo),
    ),
    _call(
        "impexp_status",
        list[ImpExpStatus | None], S, T.FAST, "progress of imports/exports; null if unknown",
        Arg("names", list[str]),
    ),
    _call("impexp_abort", None, S, T.NORMAL, "stop an import or export", Arg("name", str)),
    _call(
        "impexp_cleanup",
        None, S, T.NORMAL, "forget a finished import or export (aborting it if it runs)",
        Arg("name", str),
    ),
)

CALLS: dict[str, RpcCall] = {call.name: call for call in _TABLE}


def lookup(name: str) -> RpcCall:
    """The call named ``name``. Raises KeyError for an unknown name."""
    return CALLS[name]
