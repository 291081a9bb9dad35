"""Which node RPC calls only the current master may make: the fencing classification.

Every call of :mod:`corral.rpc.calls` has exactly one :class:`Access`
(``tests/architecture/test_rpc_access.py`` checks it). The master sends its term's
epoch with every call in the :data:`EPOCH_HEADER` header; a node daemon remembers
the highest epoch it has seen and refuses a ``MASTER`` call carrying a lower one
(:mod:`corral.backend.fencing`), so a master that lost its term cannot act.
"""

from __future__ import annotations

import enum

EPOCH_HEADER = "X-Corral-Master-Epoch"
"""The HTTP header carrying the sender's master epoch (a decimal integer)."""


FENCED_PREFIX = "fenced: "
"""How every refusal of a fenced call begins."""


def fenced_message(sent: int, known: int) -> str:
    """The refusal of a call from epoch ``sent`` by a node that has seen ``known``."""
    return f"{FENCED_PREFIX}master epoch {sent} is older than {known}"


class Access(enum.Enum):
    """How a node daemon admits a call with respect to the master's epoch."""

    READ = "read"
    """Answered whatever the epoch: it changes nothing a master owns."""
    MASTER = "master"
    """Refused when the sender's epoch is older than the highest the node has seen."""
    TERM = "term"
    """Carries its own epoch as an argument; the handler checks that one."""
    JOIN = "join"
    """The join handshake of a node that has no certificate (and no epoch) yet."""


_READ = (
    "version", "node_info", "node_verify", "node_time", "node_boot_id", "master_node_name",
    "config_serial", "test_delay", "instance_info", "all_instances_info", "instance_list",
    "instance_console_info", "instance_migratable", "migration_info",
    "instance_get_migration_status", "blockdev_find", "blockdev_getdimensions",
    "blockdev_getmirrorstatus", "blockdev_getmirrorstatus_multi", "drbd_needs_activation",
    "mirror_export_status", "instance_mirror_status", "node_volumes", "storage_list",
    "os_diagnose", "os_validate", "impexp_status", "master_epoch", "config_fetch",
    "jobqueue_fetch", "jobqueue_replica_state",
)
_MASTER = (
    # files, configuration, job queue
    "upload_file", "write_ssconf_files", "config_replicate", "node_demote_from_mc",
    "jobqueue_update", "jobqueue_rename", "jobqueue_purge", "jobqueue_set_drain_flag",
    # commands, hooks, master IP, daemons
    "hooks_runner", "restricted_command", "run_oob", "node_activate_master_ip",
    "node_deactivate_master_ip", "node_change_master_netmask", "node_ensure_daemon",
    "node_leave_cluster",
    # instances and migration
    "instance_start", "instance_shutdown", "instance_reboot", "instance_balloon_memory",
    "instance_os_add", "instance_run_rename", "accept_instance",
    "instance_finalize_migration_dst", "instance_migrate", "instance_finalize_migration_src",
    # disks and storage
    "blockdev_create", "blockdev_remove", "blockdev_assemble", "blockdev_shutdown",
    "blockdev_grow", "blockdev_wipe", "blockdev_rename", "file_storage_dir_rename",
    "file_storage_dir_remove", "blockdev_addchildren", "blockdev_removechildren",
    "blockdev_pause_resume_sync", "blockdev_close", "blockdev_open", "drbd_disconnect_net",
    "drbd_attach_net", "drbd_wait_sync", "mirror_export_start", "mirror_export_stop",
    "instance_mirror_resync",
    # disk copies
    "import_start", "export_start", "impexp_abort", "impexp_cleanup",
)
_TERM = ("master_epoch_announce",)
_JOIN = ("node_join_begin", "node_join_finish")

ACCESS: dict[str, Access] = {
    name: access
    for names, access in (
        (_READ, Access.READ), (_MASTER, Access.MASTER), (_TERM, Access.TERM),
        (_JOIN, Access.JOIN),
    )
    for name in names
}
"""Call name → its access class."""


def access_of(name: str) -> Access:
    """The access class of call ``name``; an unclassified call counts as ``MASTER``."""
    return ACCESS.get(name, Access.MASTER)
