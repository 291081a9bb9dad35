"""Daemons the watcher keeps running: the node daemon everywhere, the master daemon (and
the RAPI server inside it) on the master.

Who this node is comes from its own files: the node name file written when it
joined, and the ssconf files the master distributes (``master_node``,
``node_primary_ips``, ``noded_port``).
"""

from __future__ import annotations

import json
import logging
import ssl
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from corral.backend.commands import MASTERD
from corral.backend.ssconf import read_ssconf, read_ssconf_lines
from corral.bootstrap.init import MASTERD_START_TIMEOUT
from corral.daemon_control import (
    MASTERD_MATCH,
    NODED_MATCH,
    CommandLine,
    daemon_pid,
    log_end,
    noded_argv,
    recorded_command_line,
    spawn_command,
    start_refusal,
    stop_daemon,
    systemctl,
    systemd_unit,
    wait_listening,
)
from corral.daemon_control import masterd_argv as default_masterd_argv
from corral.errors import OpExecError
from corral.layout import NodeLayout
from corral.luxi.client import Client, LuxiClientError

log = logging.getLogger(__name__)

NODED = "corral-noded"
LISTEN_TIMEOUT = 15.0
"""Seconds a freshly started node daemon gets to accept connections."""
RAPI_TIMEOUT = 10.0
MASTERD_STOP_TIMEOUT = 15.0


@dataclass(frozen=True, slots=True)
class NodeIdentity:
    """This node as its ssconf files describe it."""

    name: str
    address: str
    port: int
    master: str

    @property
    def is_master(self) -> bool:
        return self.name == self.master


def node_identity(layout: NodeLayout) -> NodeIdentity | None:
    """This node's name, primary IP, node daemon port and master; None outside a cluster."""
    try:
        name = layout.node_name_file.read_text().strip()
    except OSError:
        return None
    master = read_ssconf(layout, "master_node")
    port = read_ssconf(layout, "noded_port")
    ips = dict(
        line.split(None, 1) for line in read_ssconf_lines(layout, "node_primary_ips")
        if len(line.split()) == 2
    )
    if not name or not master or not port or not port.isdigit() or name not in ips:
        return None
    return NodeIdentity(name=name, address=ips[name].strip(), port=int(port), master=master)


def start_command(layout: NodeLayout, daemon: str, default: list[str]) -> CommandLine:
    """The command line ``daemon`` last started with (its record), else ``default``."""
    recorded = recorded_command_line(layout.command_line_file(daemon))
    if recorded is None:
        return CommandLine(tuple(default))
    return recorded


def start_daemon(layout: NodeLayout, daemon: str, default: list[str]) -> str:
    """Start ``daemon``: through its systemd unit when it has one, else detached with the
    command line it last started with (``default`` when none is recorded). Says how.

    Raises:
        CommandError: it could not be started.
    """
    unit = systemd_unit(layout.root, daemon)
    if unit is not None:
        systemctl("start", unit)
        return f"unit {unit}"
    command = start_command(layout, daemon, default)
    pid = spawn_command(command, layout.pid_file(daemon), layout.log_file(daemon))
    return f"pid {pid}"


def ensure_noded(layout: NodeLayout, node: NodeIdentity) -> bool:
    """Start the node daemon unless its pid file names a live one; whether it was started.

    Raises:
        CommandError: it could not be started.
    """
    if daemon_pid(layout.pid_file(NODED), NODED_MATCH) is not None:
        return False
    log.warning("The node daemon is not running on %s: starting it", node.name)
    default = noded_argv(layout.root, node.address, node.port, node.name)
    how = start_daemon(layout, NODED, default)
    if wait_listening(node.address, node.port, LISTEN_TIMEOUT):
        log.info("Node daemon started (%s)", how)
    else:
        log.error("The node daemon (%s) does not accept connections on %s:%d; see %s",
                  how, node.address, node.port, layout.log_file(NODED))
    return True


def masterd_running(layout: NodeLayout) -> bool:
    return daemon_pid(layout.pid_file(MASTERD), MASTERD_MATCH) is not None


def ensure_masterd(layout: NodeLayout) -> bool:
    """Start the master daemon unless it runs; whether it was started.

    Raises:
        OpExecError: it was started but did not answer on LUXI.
    """
    if masterd_running(layout):
        return False
    log.warning("The master daemon is not running: starting it")
    _start_masterd(layout)
    return True


def ensure_standby_masterd(layout: NodeLayout) -> bool:
    """Automatic failover: the master daemon runs on every candidate (in standby unless it
    holds the master lease; a master that lost its lease has exited). Start it unless it
    runs, without waiting for LUXI; whether it was started."""
    if masterd_running(layout):
        return False
    log.warning("The master daemon is not running on this candidate (automatic failover):"
                " starting it")
    how = start_daemon(layout, MASTERD, default_masterd_argv(layout.root))
    log.info("Master daemon started (%s); it campaigns for the master lease", how)
    return True


class MasterdRefused(OpExecError):
    """The master daemon ended during its start: the vote or the master term says this
    node is not master (its exit code 11), or it cannot run here."""


def _start_masterd(layout: NodeLayout) -> None:
    """Start the master daemon as :func:`start_daemon` does and wait until LUXI answers.

    Raises:
        MasterdRefused: it ended instead (detected when started without systemd).
    """
    since = _log_offset(layout)
    how = start_daemon(layout, MASTERD, default_masterd_argv(layout.root))
    log.info("Master daemon starting (%s)", how)
    _wait_for_luxi(layout, "started", since)


def _log_offset(layout: NodeLayout) -> int | None:
    """Where the master daemon's next messages start in its log; None under systemd (the
    unit, not this process, starts it, so its pid file may not be there yet)."""
    if systemd_unit(layout.root, MASTERD) is not None:
        return None
    return log_end(layout.log_file(MASTERD))


def masterd_argv(layout: NodeLayout) -> list[str] | None:
    """The command line of the running master daemon, None when it is not running."""
    pid = daemon_pid(layout.pid_file(MASTERD), MASTERD_MATCH)
    if pid is None:
        return None
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    return [part.decode(errors="replace") for part in raw.split(b"\0")[:-1]] or None


def restart_masterd(layout: NodeLayout) -> None:
    """Stop and start the master daemon (the RAPI server lives inside it): through its
    unit, or with the command line it recorded at its start, or the one it runs with.

    Raises:
        OpExecError: it did not answer on LUXI after the start.
        CommandError: it could not be started.
    """
    unit = systemd_unit(layout.root, MASTERD)
    if unit is not None:
        systemctl("restart", unit)
        _wait_for_luxi(layout)
        return
    command = recorded_command_line(layout.command_line_file(MASTERD))
    running = masterd_argv(layout)
    stop_daemon(layout.pid_file(MASTERD), MASTERD_MATCH, MASTERD_STOP_TIMEOUT)
    if command is None:
        command = CommandLine(tuple(running or default_masterd_argv(layout.root)))
    since = log_end(layout.log_file(MASTERD))
    spawn_command(command, layout.pid_file(MASTERD), layout.log_file(MASTERD))
    _wait_for_luxi(layout, since=since)


def _wait_for_luxi(layout: NodeLayout, what: str = "restarted", since: int | None = None
                   ) -> None:
    """Until LUXI answers; with ``since`` (its log's end before the start), a daemon that
    ended meanwhile raises :class:`MasterdRefused` with the message it printed."""
    deadline = time.monotonic() + MASTERD_START_TIMEOUT
    while time.monotonic() < deadline:
        try:
            with Client(str(layout.luxi_socket), timeout=5) as client:
                client.QueryConfigValues(["cluster_name"])
            log.info("Master daemon %s", what)
            return
        except LuxiClientError:
            _raise_if_refused(layout, since)
            time.sleep(0.05)
    raise OpExecError(f"The master daemon did not start; see {layout.log_file(MASTERD)}")


def _raise_if_refused(layout: NodeLayout, since: int | None) -> None:
    if since is None:
        return
    refusal = start_refusal(MASTERD, layout.pid_file(MASTERD), MASTERD_MATCH,
                            layout.log_file(MASTERD), since)
    if refusal is not None:
        raise MasterdRefused(f"The master daemon refused to start: {refusal}")


# --- RAPI -------------------------------------------------------------------------------


NO_RAPI_FLAG = "--no-rapi"


def rapi_available(layout: NodeLayout) -> bool:
    """Whether the master daemon serves RAPI: always, unless it was started with ``--no-rapi``."""
    argv = masterd_argv(layout)
    return argv is not None and NO_RAPI_FLAG not in argv


def probe_rapi(address: str, port: int, timeout: float = RAPI_TIMEOUT) -> str | None:
    """Ask ``GET /version``; None when RAPI answers (an HTTP 401 counts), else why not."""
    host = f"[{address}]" if ":" in address else address
    reasons = []
    for scheme in ("https", "http"):
        problem = _get_version(f"{scheme}://{host}:{port}/version", timeout)
        if problem is None:
            return None
        reasons.append(f"{scheme}: {problem}")
    return "; ".join(reasons)


def _get_version(url: str, timeout: float) -> str | None:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # only liveness is checked; no secret is sent
    try:
        with urllib.request.urlopen(url, timeout=timeout, context=context) as reply:
            body = reply.read()
    except urllib.error.HTTPError as err:
        return None if err.code == 401 else f"HTTP {err.code}"
    except (urllib.error.URLError, OSError) as err:
        return str(getattr(err, "reason", err))
    try:
        version = json.loads(body)
    except ValueError:
        return "the answer to /version is not JSON"
    return None if isinstance(version, int) else f"unexpected version {version!r}"


def _probe_until(address: str, port: int, seconds: float) -> str | None:
    """Probe until RAPI answers or ``seconds`` passed (a restarted daemon needs a moment)."""
    deadline = time.monotonic() + seconds
    while (problem := probe_rapi(address, port)) is not None and time.monotonic() < deadline:
        time.sleep(0.2)
    return problem


def check_rapi(layout: NodeLayout, address: str, port: int) -> bool:
    """Probe RAPI; if it is dead, restart the master daemon once and probe again.

    Returns whether the master daemon was restarted.
    """
    if not rapi_available(layout):
        log.info("The master daemon serves no RAPI; skipping the RAPI check")
        return False
    problem = probe_rapi(address, port)
    if problem is None:
        log.debug("RAPI answers on %s:%d", address, port)
        return False
    log.warning("RAPI does not answer on %s:%d (%s): restarting the master daemon",
                address, port, problem)
    restart_masterd(layout)
    problem = _probe_until(address, port, RAPI_TIMEOUT)
    if problem is not None:
        log.error("RAPI still does not answer on %s:%d after a restart: %s",
                  address, port, problem)
    return True
