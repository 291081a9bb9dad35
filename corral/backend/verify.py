"""The ``node_verify`` call: the node's side of cluster verification.

``checks`` maps a check name to its parameters; the answer maps each known
check name to its result. Unknown check names are ignored, as Ganeti's nodes
do when the master is newer.
"""

from __future__ import annotations

import asyncio
import enum
import hashlib
import stat
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec

from corral import __version__
from corral.backend import verify_space
from corral.backend.context import NodeContext
from corral.backend.handlers import handles
from corral.backend.services import hypervisor
from corral.clock import split_time
from corral.errors import CorralError
from corral.layout import NodeLayout
from corral.rpc.payloads import NodeVerifyResult, SpaceReport
from corral.version import PROTOCOL_VERSION

CONNECT_TIMEOUT = 3.0
"""Seconds a TCP connect to another node's daemon may take."""


class VerifyCheck(enum.StrEnum):
    """Check names understood by this node (Ganeti's ``NV_*`` values where they exist)."""

    FILELIST = "filelist"
    NODELIST = "nodelist"
    HYPERVISOR = "hypervisor"
    VERSION = "version"
    TIME = "time"
    NODE_SETUP = "node-setup"
    NODESETUP = "nodesetup"
    """Ganeti's spelling of ``node-setup``."""
    MASTER_IP = "master-ip"
    VG_SPACE = "vg-space"
    DISK_SPACE = "disk-space"


@dataclass(frozen=True, slots=True)
class VerifyInput:
    """What every check may look at besides its own parameters."""

    ctx: NodeContext
    cluster_name: str
    all_hvparams: dict[str, Any]


def file_sha1(path: Path) -> str | None:
    """SHA-1 hex digest of a file's content, ``None`` when it cannot be read (blocking)."""
    digest = hashlib.sha1(usedforsecurity=False)
    try:
        with path.open("rb") as handle:
            while chunk := handle.read(1 << 16):
                digest.update(chunk)
    except OSError:
        return None
    return digest.hexdigest()


def hash_files(layout: NodeLayout, paths: list[Any]) -> dict[str, str | None]:
    """``{path: sha1 or None}``; paths are relative to the node root (blocking)."""
    return {str(p): file_sha1(layout.root / str(p).lstrip("/")) for p in paths}


async def tcp_connect_error(host: str, port: int, timeout: float = CONNECT_TIMEOUT) -> str | None:
    """``None`` when a TCP connection to ``host:port`` opens within ``timeout``, else why not."""
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    except TimeoutError:
        return f"TCP connect to {host}:{port} timed out after {timeout:g}s"
    except OSError as err:
        return f"TCP connect to {host}:{port} failed: {err.strerror or err}"
    writer.close()
    try:
        await writer.wait_closed()
    except OSError:
        pass
    return None


async def _node_error(target: Any) -> str | None:
    if not isinstance(target, list | tuple) or len(target) != 2:
        return f"Malformed node address {target!r}"
    host, port = target
    if not isinstance(port, int) or isinstance(port, bool):
        return f"Malformed node port {port!r}"
    return await tcp_connect_error(str(host), port)


async def check_nodelist(inp: VerifyInput, params: Any) -> dict[str, str]:
    """``{node: error}`` for the nodes whose daemon port could not be reached."""
    nodes = dict(params) if isinstance(params, dict) else {}
    errors = await asyncio.gather(*(_node_error(target) for target in nodes.values()))
    return {name: err for name, err in zip(nodes, errors, strict=True) if err is not None}


async def check_filelist(inp: VerifyInput, params: Any) -> dict[str, str | None]:
    return await asyncio.to_thread(hash_files, inp.ctx.layout, list(params or []))


async def check_hypervisor(inp: VerifyInput, params: Any) -> dict[str, str | None]:
    return {str(hv): await _hypervisor_problems(inp.ctx, str(hv)) for hv in params or []}


async def _hypervisor_problems(ctx: NodeContext, name: str) -> str | None:
    try:
        problems = await hypervisor(ctx, name).verify()
    except CorralError as err:
        return str(err)
    return "; ".join(problems) or None


async def check_version(inp: VerifyInput, params: Any) -> list[Any]:
    return [PROTOCOL_VERSION, __version__]


async def check_time(inp: VerifyInput, params: Any) -> list[int]:
    return list(split_time(inp.ctx.clock.now()))


def node_setup_problems(layout: NodeLayout) -> list[str]:
    """Missing or unsafe node paths (blocking)."""
    problems = [
        f"Required directory {path} is missing"
        for path in (layout.data_dir, layout.crypto_dir, layout.run_dir)
        if not path.is_dir()
    ]
    problems += [
        f"Required file {path} is missing"
        for path in (layout.ca_cert, layout.node_cert, layout.node_key)
        if not path.is_file()
    ]
    if layout.node_key.is_file() and stat.S_IMODE(layout.node_key.stat().st_mode) & 0o077:
        problems.append(f"{layout.node_key} is readable by group or others")
    return problems


async def check_node_setup(inp: VerifyInput, params: Any) -> list[str]:
    return await asyncio.to_thread(node_setup_problems, inp.ctx.layout)


async def check_master_ip(inp: VerifyInput, params: Any) -> bool:
    """Whether the master IP answers on the node daemon port; ``params`` is an address
    or Ganeti's ``[master name, address]``."""
    address = params[-1] if isinstance(params, list | tuple) and params else params
    if not isinstance(address, str) or not address:
        return False
    return await tcp_connect_error(address, inp.ctx.port) is None


async def check_vg_space(inp: VerifyInput, params: Any) -> dict[str, SpaceReport]:
    return await verify_space.vg_space(inp.ctx, [str(vg) for vg in params or []])


async def check_disk_space(inp: VerifyInput, params: Any) -> dict[str, SpaceReport]:
    paths = [str(p) for p in params or []]
    return await asyncio.to_thread(verify_space.disk_space, inp.ctx.layout, paths)


CHECKS: dict[str, Callable[[VerifyInput, Any], Awaitable[Any]]] = {
    VerifyCheck.FILELIST: check_filelist,
    VerifyCheck.NODELIST: check_nodelist,
    VerifyCheck.HYPERVISOR: check_hypervisor,
    VerifyCheck.VERSION: check_version,
    VerifyCheck.TIME: check_time,
    VerifyCheck.NODE_SETUP: check_node_setup,
    VerifyCheck.NODESETUP: check_node_setup,
    VerifyCheck.MASTER_IP: check_master_ip,
    VerifyCheck.VG_SPACE: check_vg_space,
    VerifyCheck.DISK_SPACE: check_disk_space,
}


@handles("node_verify")
async def node_verify(
    ctx: NodeContext, checks: dict[str, Any], cluster_name: str, all_hvparams: dict[str, Any]
) -> NodeVerifyResult:
    """Run the requested checks; the answer has one entry per known check name.

    - ``filelist`` [paths relative to the node root] → {path: sha1 hex or None}
    - ``nodelist`` {node: [address, port]} → {node: error} for unreachable daemons
    - ``hypervisor`` [names] → {name: None or error}
    - ``version`` → [protocol version, release]
    - ``time`` → [seconds, microseconds]
    - ``node-setup`` (or ``nodesetup``) → [problem, ...]
    - ``master-ip`` address → whether it accepts connections on the daemon port
    - ``vg-space`` [volume groups] → {vg: size and free MiB, or error}
    - ``disk-space`` [paths relative to the node root] → {path: its filesystem's size and
      free MiB, or error}
    """
    inp = VerifyInput(ctx, cluster_name, all_hvparams)
    results: dict[str, Any] = {}
    for name, params in checks.items():
        check = CHECKS.get(name)
        if check is not None:
            results[name] = await check(inp, params)
    return msgspec.convert(results, NodeVerifyResult)
