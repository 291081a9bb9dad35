"""The node RPC table. Wire names and argument order are Ganeti's.

Each call travels as ``PUT /<name>`` with a JSON list of its arguments in table
order; the answer is ``[true, payload]`` or ``[false, "error message"]``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any


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


@dataclass(frozen=True, slots=True)
class RpcCall:
    """A node RPC call: its wire name, fan-out, timeout and arguments."""

    name: str
    fanout: Fanout
    timeout: Timeout
    args: tuple[Arg, ...]
    doc: str
    needs_certificate: bool = True
    """False only for the join handshake of a node that has no certificate yet."""


def _call(
    name: str,
    fanout: Fanout,
    timeout: Timeout,
    doc: str,
    *args: Arg,
    needs_certificate: bool = True,
) -> RpcCall:
    return RpcCall(name, fanout, timeout, tuple(args), doc, needs_certificate)


S, M = Fanout.SINGLE, Fanout.MULTI
T = Timeout

_TABLE: tuple[RpcCall, ...] = (
    # --- node information and verification ---------------------------------
    _call("version", M, T.URGENT, "protocol version of the node daemon"),
    _call(
        "node_info",
        M,
        T.URGENT,
        "memory, CPUs, storage space and hypervisor info",
        Arg("storage_units", list, "[[storage type, key, params], ...]"),
        Arg("hv_specs", list, "[[hypervisor name, hvparams], ...]"),
    ),
    _call(
        "node_verify",
        M,
        T.NORMAL,
        "run cluster-verify checks on the node",
        Arg("checks", dict, "check name -> parameters"),
        Arg("cluster_name", str),
        Arg("all_hvparams", dict),
    ),
    _call("node_time", M, T.URGENT, "the node's clock, seconds since the epoch"),
    _call("node_boot_id", M, T.URGENT, "the kernel boot id of the node"),
    _call("master_node_name", M, T.URGENT, "the master node named by the node's ssconf"),
    # --- files and configuration --------------------------------------------
    _call(
        "upload_file",
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
        M,
        T.FAST,
        "replace the node's ssconf files",
        Arg("values", dict, "ssconf key -> text"),
    ),
    _call(
        "config_replicate",
        M,
        T.FAST,
        "apply configuration changes on a master candidate",
        Arg("serial_no", int, "serial number after the changes"),
        Arg("base_serial", int, "serial number the changes apply on; -1 for a full copy"),
        Arg("changes", list, "[[kind, uuid, object or null], ...]"),
        Arg("meta", dict, "ctime, mtime, version"),
    ),
    _call("config_serial", M, T.URGENT, "serial number of the node's configuration replica"),
    _call("node_demote_from_mc", S, T.FAST, "drop the configuration and queue replicas"),
    # --- job queue replication -----------------------------------------------
    _call(
        "jobqueue_update",
        M,
        T.URGENT,
        "write job files on a master candidate",
        Arg("files", list, "[[file name, content], ...]"),
    ),
    _call(
        "jobqueue_rename",
        M,
        T.URGENT,
        "rename (archive) job files",
        Arg("renames", list, "[[old, new], ...]"),
    ),
    _call("jobqueue_purge", S, T.URGENT, "delete the node's job queue replica"),
    _call(
        "jobqueue_set_drain_flag",
        M,
        T.URGENT,
        "set or clear the drain flag",
        Arg("flag", bool),
    ),
    # --- hooks, commands ---------------------------------------------------
    _call(
        "hooks_runner",
        M,
        T.NORMAL,
        "run a hooks directory",
        Arg("hpath", str),
        Arg("phase", str),
        Arg("env", dict),
    ),
    _call(
        "restricted_command",
        S,
        T.SLOW,
        "run a command from the restricted commands directory",
        Arg("cmd", str),
    ),
    _call("test_delay", M, T.SLOW, "sleep on the node", Arg("duration", float)),
    _call(
        "run_oob",
        S,
        T.NORMAL,
        "run a shell command on the node (gnt-cluster command)",
        Arg("command", list),
        Arg("timeout", float),
    ),
    # --- master role ----------------------------------------------------
    _call(
        "node_activate_master_ip",
        S,
        T.FAST,
        "bring up the master IP",
        Arg("master_params", dict),
        Arg("use_external_mip_script", bool),
    ),
    _call(
        "node_deactivate_master_ip",
        S,
        T.FAST,
        "take down the master IP",
        Arg("master_params", dict),
        Arg("use_external_mip_script", bool),
    ),
    _call(
        "node_change_master_netmask",
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
        M,
        T.URGENT,
        "start or stop a daemon on the node",
        Arg("daemon", str),
        Arg("run", bool),
    ),
    _call(
        "node_leave_cluster",
        S,
        T.NORMAL,
        "remove cluster files and stop the node daemon",
        Arg("modify_ssh_setup", bool),
    ),
    # --- joining ------------------------------------------------------------
    _call(
        "node_join_begin",
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
        S,
        T.URGENT,
        "finish joining: install the signed certificate",
        Arg("cert_pem", str),
        Arg("nonce", str),
        Arg("mac", str),
        needs_certificate=False,
    ),
)

CALLS: dict[str, RpcCall] = {call.name: call for call in _TABLE}


def lookup(name: str) -> RpcCall:
    """The call named ``name``. Raises KeyError for an unknown name."""
    return CALLS[name]
