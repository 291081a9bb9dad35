"""``gnt-instance console``: ask the master how to reach a console, then reach it.

The master answers ``OP_INSTANCE_CONSOLE`` with Ganeti's console description:
``{"instance", "kind", "host", "port", "user", "command", "message", "display"}``.
Kinds:

- ``socket`` (Corral's serial consoles, e.g. KVM's): ``command`` is an argument
  vector to run *here, on the master*; it connects to the console socket on the
  instance's node (through the cluster's own channel) and becomes the
  interactive session. The CLI replaces itself with it (``os.execvp``).
- ``ssh``: ``command`` runs on ``host`` over ``ssh -t`` as ``user``.

When ``host`` is an address of this machine (a virtual cluster's node, or the
master's own node) the command runs directly, without ssh; a ``socket`` console
on another machine is reached through ssh to its node, as Ganeti does for KVM.
- ``message``, ``vnc``, ``spice``: only text is printed.

``--show-cmd`` prints the command line instead of running it.
"""

from __future__ import annotations

import os
import shlex
import sys

from corral.cli.errors import CliError
from corral.cli.jobs import opcode, submit_opcode

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up time)
if TYPE_CHECKING:
    from typing import Any

    from corral.cli.commands import Context

CONS_SOCKET = "socket"
CONS_SSH = "ssh"
CONS_MESSAGE = "msg"
CONS_VNC = "vnc"
CONS_SPICE = "spice"
VNC_BASE_PORT = 5900


def ssh_command(console: dict[str, Any]) -> list[str]:
    """The ``ssh`` argument vector that runs the console command on its host."""
    command = console.get("command")
    remote = command if isinstance(command, str) else shlex.join(str(a) for a in command or [])
    argv = ["ssh", "-oEscapeChar=none", "-oBatchMode=yes", "-oHashKnownHosts=no", "-t", "-t"]
    if console.get("port"):
        argv.extend(["-p", str(console["port"])])
    user = console.get("user")
    host = str(console.get("host"))
    argv.extend([f"{user}@{host}" if user else host, remote])
    return argv


def _socket_command(console: dict[str, Any]) -> list[str]:
    command = console.get("command")
    if not isinstance(command, list) or not command:
        raise CliError(f"Console information for instance {console.get('instance')} has no"
                       " command to run")
    return [str(arg) for arg in command]


def _describe(console: dict[str, Any]) -> str | None:
    """The text for consoles that are only described, None for those that are run."""
    kind, name = console.get("kind"), console.get("instance")
    host, port = console.get("host"), console.get("port")
    if kind == CONS_MESSAGE:
        return str(console.get("message"))
    if kind == CONS_VNC:
        display = console.get("display")
        if display is None and isinstance(port, int):
            display = port - VNC_BASE_PORT
        return (f"Instance {name} has VNC listening on {host}:{port} (display {display}),"
                f" URL <vnc://{host}:{port}/>")
    if kind == CONS_SPICE:
        return f"Instance {name} has SPICE listening on {host}:{port}"
    return None


def is_local_address(host: object) -> bool:
    """Whether ``host`` is an address of this machine (binding to it succeeds)."""
    import socket

    if not isinstance(host, str) or not host:
        return False
    try:
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET,
                           socket.SOCK_DGRAM) as probe:
            probe.bind((host, 0))
    except OSError:
        return False
    return True


def _local_command(console: dict[str, Any]) -> list[str]:
    command = console.get("command")
    if isinstance(command, str):
        return ["/bin/sh", "-c", command]
    return _socket_command(console)


def console_argv(console: dict[str, Any]) -> list[str]:
    """The command that opens an ``ssh`` or ``socket`` console."""
    kind = console.get("kind")
    local = is_local_address(console.get("host"))
    if kind == CONS_SSH:
        return _local_command(console) if local else ssh_command(console)
    if kind == CONS_SOCKET:
        if console.get("host") and not local:
            return ssh_command(console)
        return _socket_command(console)
    raise CliError(f"Unknown console type '{kind}'")


def _run(argv: list[str], instance: Any) -> int:
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        os.execvp(argv[0], argv)
    except OSError as err:
        raise CliError(f"Connection to console of instance {instance} failed: cannot run"
                       f" {argv[0]}: {err.strerror or err}") from None
    return 0  # only reached when execvp is replaced (tests)


def do_console(ctx: Context, console: Any) -> int:
    """Act on a console description: print it, print its command, or run it."""
    if not isinstance(console, dict):
        raise CliError(f"Unexpected console information from the master: {console!r}")
    text = _describe(console)
    if text is not None:
        ctx.out(text)
        return 0
    argv = console_argv(console)
    if getattr(ctx.opts, "show_command", False):
        ctx.out(shlex.join(argv))
        return 0
    return _run(argv, console.get("instance"))


def connect_to_console(ctx: Context, args: list[str]) -> int:
    """``gnt-instance console [--show-cmd] INSTANCE``."""
    console = submit_opcode(ctx, opcode("OP_INSTANCE_CONSOLE", instance_name=args[0]),
                            quiet=True)
    ctx.close()  # no connection to the master stays open while the console runs
    return do_console(ctx, console)
