"""``gnt-cluster command`` and ``copyfile`` over node RPC instead of SSH.

Ganeti runs these over SSH as root. Corral has no SSH trust between nodes; it
calls the node daemons directly with this node's client certificate (so these
commands work on the master or any node holding the cluster certificate):

- ``command``: the arguments are joined with spaces and run by ``/bin/sh -c``
  on each node (as Ganeti's remote shell would), through the ``run_oob`` RPC.
- ``copyfile``: ``upload_file`` only accepts an allow-list of cluster files, so
  the file travels base64-encoded in the arguments of a small Python decoder
  run by ``run_oob``; it is written atomically with the source's mode and
  times. Files are limited to :data:`COPY_LIMIT` bytes (argument size limits).

This module imports asyncio and the RPC client; only these two commands load it.
"""

from __future__ import annotations

import asyncio
import base64
import os
from pathlib import Path

from corral.cli.errors import CliError, describe_error
from corral.cli.query import name_filter

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up time)
if TYPE_CHECKING:
    from typing import Any

    from corral.cli.commands import Context
    from corral.rpc.client import NodeTarget

DEFAULT_PORT = 1811
COMMAND_TIMEOUT = 3600.0
"""Seconds a remote command may run (Ganeti's SSH has no limit; the RPC needs one)."""
COPY_TIMEOUT = 300.0
COPY_LIMIT = 1024 * 1024
CHUNK = 64 * 1024
SEPARATOR_LINE = "-" * 48
UNREACHABLE_CODE = 255
"""Shown as the return code when the node could not be reached (as ssh reports it)."""

DECODER = """\
import base64, os, sys, tempfile
path, mode, atime, mtime = sys.argv[1], int(sys.argv[2], 8), float(sys.argv[3]), float(sys.argv[4])
data = base64.b64decode("".join(sys.argv[5:]))
fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path) or ".", prefix=".corral-copyfile-")
try:
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    os.chmod(tmp, mode)
    os.utime(tmp, (atime, mtime))
    os.rename(tmp, path)
except BaseException:
    os.unlink(tmp)
    raise
"""


def _prereq(message: str, code: str = "wrong_input") -> CliError:
    return CliError(describe_error("OpPrereqError", [message, code]))


def _group_filter(group: str) -> list[Any]:
    return ["|", ["=", "group", group], ["=", "group.uuid", group]]


def select_nodes(ctx: Context, names: list[str], group: str | None) -> list[tuple[str, str]]:
    """(name, primary IP) of the online nodes asked for (all when ``names`` is empty)."""
    qfilter = name_filter(names)
    if group:
        qfilter = _group_filter(group) if qfilter is None else ["&", qfilter, _group_filter(group)]
    response = ctx.client.Query("node", ["name", "pip", "offline"], qfilter)
    rows = [[cell[1] for cell in row] for row in response.get("data") or []]
    missing = sorted(set(names) - {row[0] for row in rows})
    if missing:
        raise _prereq(f"Node(s) not known to the cluster: {', '.join(missing)}", "unknown_entity")
    offline = [row[0] for row in rows if row[2]]
    if offline:
        ctx.err(f"Note: skipping offline node(s): {', '.join(offline)}")
    return [(row[0], row[1]) for row in rows if not row[2]]


def node_targets(ctx: Context, nodes: list[tuple[str, str]]) -> list[NodeTarget]:
    from corral.rpc.client import NodeTarget

    port = ctx.client.QueryClusterInfo().get("noded_port") or DEFAULT_PORT
    return [NodeTarget(name, address, int(port)) for name, address in nodes]


async def _call(targets: list[NodeTarget], argv: list[str], timeout: float) -> dict[str, Any]:
    from corral.layout import NodeLayout
    from corral.rpc.client import RpcClient
    from corral.rpc.tls import client_ssl_context

    layout = NodeLayout(Path(os.environ.get("CORRAL_ROOT", "/")))
    client = RpcClient(client_ssl_context(layout), connect_timeout=5.0)
    try:
        return await client.call("run_oob", targets, argv, timeout, timeout=timeout + 10.0)
    finally:
        await client.close()


def run_on_nodes(targets: list[NodeTarget], argv: list[str], timeout: float) -> dict[str, Any]:
    """``run_oob`` on every target; node name → NodeResult (payload ``exit_code``, ``output``)."""
    return asyncio.run(_call(targets, argv, timeout))


def outcome(result: Any) -> tuple[int, str]:
    """(exit code, output) of one node's answer; transport failures count as 255."""
    if result is None:
        return UNREACHABLE_CODE, "No answer from the node"
    if not result.ok:
        return UNREACHABLE_CODE, f"RPC failure: {result.fail_msg}"
    payload = result.payload
    if payload is None:
        return UNREACHABLE_CODE, ""
    return int(payload.exit_code), str(payload.output)


def format_command_result(name: str, code: int, output: str, machine_names: bool) -> list[str]:
    """Ganeti's per-node block of ``gnt-cluster command``."""
    lines = [SEPARATOR_LINE]
    if machine_names:
        lines.extend(f"{name}: {line}" for line in output.splitlines())
    else:
        lines.extend([f"node: {name}", output.rstrip("\n")] if output else [f"node: {name}", ""])
    lines.append(f"return code = {code}")
    return lines


def run_command(ctx: Context, args: list[str]) -> int:
    """``gnt-cluster command``: run a shell command on nodes, the master last."""
    opts = ctx.opts
    nodes = select_nodes(ctx, list(opts.nodes), opts.nodegroup)
    master = ctx.client.QueryConfigValues(["master_node"])[0]
    nodes.sort(key=lambda node: node[0] == master)
    targets = node_targets(ctx, nodes)
    results = run_on_nodes(targets, ["/bin/sh", "-c", " ".join(args)], COMMAND_TIMEOUT)
    for target in targets:
        code, output = outcome(results.get(target.name))
        if opts.failure_only and code == 0:
            continue
        for line in format_command_result(target.name, code, output, opts.show_machine_names):
            ctx.out(line)
    return 0


def copy_argv(path: str, data: bytes, mode: int, atime: float, mtime: float) -> list[str]:
    """The decoder's command line carrying ``data`` (base64, in argument-sized chunks)."""
    encoded = base64.b64encode(data).decode("ascii")
    chunks = [encoded[i:i + CHUNK] for i in range(0, len(encoded), CHUNK)] or [""]
    return ["python3", "-c", DECODER, path, f"{mode:o}", repr(atime), repr(mtime), *chunks]


def copy_file(ctx: Context, args: list[str]) -> int:
    """``gnt-cluster copyfile``: copy a local file to the same path on other nodes."""
    path = os.path.abspath(args[0])
    try:
        info = os.stat(path)
        data = Path(path).read_bytes() if info.st_size <= COPY_LIMIT else b""
    except OSError:
        raise _prereq(f"No such filename '{path}'") from None
    if info.st_size > COPY_LIMIT:
        raise _prereq(f"File '{path}' is larger than {COPY_LIMIT} bytes, the copyfile limit")
    master = ctx.client.QueryConfigValues(["master_node"])[0]
    selected = select_nodes(ctx, list(ctx.opts.nodes), ctx.opts.nodegroup)
    nodes = [node for node in selected if node[0] != master]
    targets = node_targets(ctx, nodes)
    argv = copy_argv(path, data, info.st_mode & 0o7777, info.st_atime, info.st_mtime)
    results = run_on_nodes(targets, argv, COPY_TIMEOUT) if targets else {}
    for target in targets:
        code, output = outcome(results.get(target.name))
        if code != 0:
            ctx.err(f"Copy of file {path} to node {target.name}:{target.port} failed: "
                    f"{output.strip() or f'exit code {code}'}")
    return 0
