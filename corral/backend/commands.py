"""Node-level commands: run a program, start/stop daemons, leave the cluster."""

from __future__ import annotations

import asyncio
import logging
import shutil
from pathlib import Path
from typing import Any

from corral import daemon_control
from corral.backend.config_replica import close_replica
from corral.backend.context import NodeContext
from corral.backend.handlers import handles
from corral.backend.jobqueue_files import purge_queue
from corral.backend.ssconf import remove_ssconf
from corral.errors import ParameterError
from corral.layout import NodeLayout
from corral.rpc.payloads import CommandOutput

log = logging.getLogger(__name__)

MASTERD = "corral-masterd"
STOP_TIMEOUT = 10.0


@handles("run_oob")
async def run_oob(ctx: NodeContext, command: list[Any], timeout: float) -> CommandOutput:
    """Run an argument vector on the node (``gnt-cluster command``).

    Returns ``{"exit_code": int, "output": stdout + stderr}``; a timeout kills
    the command and says so at the end of the output. ``timeout`` <= 0 means none.

    Raises:
        ParameterError: ``command`` is not a non-empty list of strings.
    """
    if not command or not all(isinstance(arg, str) for arg in command):
        raise ParameterError("The command must be a non-empty list of strings")
    result = await ctx.runner.run(command, timeout=timeout if timeout > 0 else None, cwd="/")
    output = result.output
    if result.timed_out:
        output += f"\n{result.fail_reason} after {timeout:g}s"
    return CommandOutput(exit_code=result.exit_code, output=output)


def ensure_masterd(layout: NodeLayout, run: bool) -> None:
    """Start (unless running) or stop this node root's master daemon (blocking); through
    its systemd unit when it has one, so that it does not live in the node daemon's."""
    pid_file = layout.pid_file(MASTERD)
    unit = daemon_control.systemd_unit(layout.root, MASTERD)
    if not run:
        if unit is not None:
            daemon_control.systemctl("stop", unit)
        daemon_control.stop_daemon(pid_file, daemon_control.MASTERD_MATCH, STOP_TIMEOUT)
        return
    pid = daemon_control.daemon_pid(pid_file, daemon_control.MASTERD_MATCH)
    if pid is not None:
        log.info("%s already running as pid %d", MASTERD, pid)
        return
    if unit is not None:
        daemon_control.systemctl("start", unit)
        log.info("Started %s through %s", MASTERD, unit)
        return
    argv = daemon_control.masterd_argv(layout.root)
    pid = daemon_control.spawn_daemon(argv, pid_file, layout.log_file(MASTERD))
    log.info("Started %s as pid %d", MASTERD, pid)


@handles("node_ensure_daemon")
async def node_ensure_daemon(ctx: NodeContext, daemon: str, run: bool) -> None:
    """Start (``run``) or stop a daemon of this node; only ``corral-masterd`` is known.

    Raises:
        ParameterError: unknown daemon name.
        CommandError: the daemon could not be started.
    """
    if daemon != MASTERD:
        raise ParameterError(f"Unknown daemon {daemon!r}; only {MASTERD!r} can be managed")
    await asyncio.to_thread(ensure_masterd, ctx.layout, run)


def _clear_dir(directory: Path) -> None:
    if not directory.is_dir():
        return
    for entry in directory.iterdir():
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink(missing_ok=True)


def remove_cluster_files(layout: NodeLayout) -> None:
    """Forget the cluster: crypto material, configuration and queue replicas, ssconf."""
    _clear_dir(layout.crypto_dir)
    for path in layout.data_dir.glob(f"{layout.config_db.name}*"):
        path.unlink(missing_ok=True)
    purge_queue(layout)
    layout.queue_db.unlink(missing_ok=True)
    remove_ssconf(layout)
    layout.rapi_users_file.unlink(missing_ok=True)


@handles("node_leave_cluster")
async def node_leave_cluster(ctx: NodeContext, modify_ssh_setup: bool) -> None:
    """Remove the node's cluster files, then ask the node daemon to shut down.

    Corral does not manage SSH keys, so ``modify_ssh_setup`` changes nothing.
    The shutdown callback runs after this call returns, so the reply is sent.
    """
    if modify_ssh_setup:
        log.info("Leaving the cluster: SSH setup is not managed by Corral, left as is")
    close_replica(ctx)
    await asyncio.to_thread(remove_cluster_files, ctx.layout)
    shutdown = ctx.services.shutdown
    if shutdown is not None:
        asyncio.get_running_loop().call_soon(shutdown)
