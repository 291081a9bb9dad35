"""The master IP address: turn it up, down, or change its netmask on this node.

Either Corral's built-in ``ip address`` commands or, when the cluster says so,
the external master-IP setup script (called with ``start``/``stop`` and the
``MASTER_*`` environment) do the work. Local hooks ``master-ip-turnup`` and
``master-ip-turndown`` run before and after, as Ganeti's node daemon does.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from corral.backend.context import NodeContext
from corral.backend.handlers import handles
from corral.backend.ssconf import read_ssconf
from corral.errors import CommandError, HooksAbort, OpExecError, ParameterError
from corral.hooks.env import HOOKS_PATH_ENV, HookPhase, build_env
from corral.hooks.runner import failed_scripts, run_hooks_dir
from corral.process import CommandResult, CommandRunner

log = logging.getLogger(__name__)

IP_COMMAND = "ip"

_FAMILY_VERSIONS = {2: 4, 10: 6, 4: 4, 6: 6}
"""Ganeti sends the socket family (AF_INET 2, AF_INET6 10); accept plain versions too."""


@dataclass(frozen=True, slots=True)
class IfAddress:
    """One address line of ``ip -o addr show``."""

    ifname: str
    family: str
    address: str
    prefixlen: int


def parse_ip_addr(text: str) -> list[IfAddress]:
    """Addresses in ``ip -o addr show`` output (``inet`` and ``inet6`` lines)."""
    found: list[IfAddress] = []
    for line in text.splitlines():
        tokens = line.split()
        if len(tokens) < 4 or tokens[2] not in ("inet", "inet6") or "/" not in tokens[3]:
            continue
        address, _, prefix = tokens[3].partition("/")
        if prefix.isdigit():
            found.append(IfAddress(tokens[1].split("@")[0], tokens[2], address, int(prefix)))
    return found


def _same_ip(left: str, right: str) -> bool:
    try:
        return ipaddress.ip_address(left) == ipaddress.ip_address(right)
    except ValueError:
        return left == right


def find_address(
    addresses: Sequence[IfAddress], ip: str, netdev: str | None = None
) -> list[IfAddress]:
    """The entries carrying ``ip`` (optionally only on ``netdev``)."""
    return [
        a for a in addresses if _same_ip(a.address, ip) and (netdev is None or a.ifname == netdev)
    ]


@dataclass(frozen=True, slots=True)
class MasterParams:
    """The master IP settings sent by the master (Ganeti's ``MasterNetworkParameters``)."""

    ip: str
    netmask: int
    netdev: str
    ip_version: int

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> MasterParams:
        """Raises: ParameterError: a field is missing or malformed."""
        try:
            ip, netmask, netdev = str(data["ip"]), int(data["netmask"]), str(data["netdev"])
            parsed = ipaddress.ip_address(ip)
        except (KeyError, TypeError, ValueError) as err:
            raise ParameterError(f"Invalid master IP parameters: {err}") from err
        version = _FAMILY_VERSIONS.get(int(data.get("ip_family") or 0), parsed.version)
        return cls(ip=ip, netmask=netmask, netdev=netdev, ip_version=version)

    def env(self) -> dict[str, str]:
        """The ``MASTER_*`` variables of the setup script and the local hooks."""
        return {
            "MASTER_NETDEV": self.netdev,
            "MASTER_IP": self.ip,
            "MASTER_NETMASK": str(self.netmask),
            "CLUSTER_IP_VERSION": str(self.ip_version),
        }


async def _run_ip(runner: CommandRunner, *args: str) -> CommandResult:
    return await runner.run([IP_COMMAND, *args], timeout=60)


def _check(result: CommandResult, what: str) -> None:
    if result.failed:
        raise CommandError(f"{what}: {result.fail_reason}; output: {result.output.strip()}")


async def host_addresses(runner: CommandRunner) -> list[IfAddress]:
    """Every address configured on the host.

    Raises:
        CommandError: ``ip -o addr show`` failed.
    """
    result = await _run_ip(runner, "-o", "addr", "show")
    _check(result, "Cannot list the node's addresses")
    return parse_ip_addr(result.stdout)


async def _add_address(runner: CommandRunner, ip: str, netmask: int, netdev: str) -> None:
    result = await _run_ip(
        runner, "address", "add", f"{ip}/{netmask}", "dev", netdev, "label", f"{netdev}:0"
    )
    _check(result, f"Cannot add address {ip}/{netmask} on {netdev}")


async def _del_address(runner: CommandRunner, ip: str, netmask: int, netdev: str) -> None:
    result = await _run_ip(runner, "address", "del", f"{ip}/{netmask}", "dev", netdev)
    _check(result, f"Cannot remove address {ip}/{netmask} from {netdev}")


async def builtin_start(runner: CommandRunner, params: MasterParams, announce: bool) -> None:
    """Add the master address unless the host has it; then announce it (IPv4, best effort)."""
    if find_address(await host_addresses(runner), params.ip):
        log.info("Master IP %s is already configured on this node", params.ip)
        return
    await _add_address(runner, params.ip, params.netmask, params.netdev)
    if announce and params.ip_version == 4:
        arping = ["arping", "-q", "-U", "-c", "3", "-I", params.netdev, "-s", params.ip, params.ip]
        result = await runner.run(arping, timeout=30)
        if result.failed:
            log.info("Gratuitous ARP for %s not sent: %s", params.ip, result.fail_reason)


async def builtin_stop(runner: CommandRunner, params: MasterParams) -> None:
    """Remove the master address from its device; nothing to do when it is absent."""
    for entry in find_address(await host_addresses(runner), params.ip, params.netdev):
        await _del_address(runner, entry.address, entry.prefixlen, params.netdev)


async def run_setup_script(ctx: NodeContext, params: MasterParams, action: str) -> None:
    """Run the external master-IP script with ``action`` and the ``MASTER_*`` environment.

    Raises:
        CommandError: the script failed or is missing.
    """
    script = str(ctx.layout.external_mip_script)
    env = {"PATH": HOOKS_PATH_ENV, **params.env()}
    result = await ctx.runner.run([script, action], env=env, reset_env=True, cwd="/", timeout=300)
    _check(result, f"Failed to {action} the master IP with {script}")


async def run_local_hooks(
    ctx: NodeContext, hpath: str, op_id: str, lu_env: dict[str, str], phase: HookPhase
) -> None:
    """Run this node's ``<hpath>-<phase>.d`` for a node-local operation.

    Raises:
        HooksAbort: a pre-phase script failed (post-phase failures are only logged).
    """
    layout = ctx.layout
    cluster, master = await asyncio.to_thread(
        lambda: (read_ssconf(layout, "cluster_name"), read_ssconf(layout, "master_node"))
    )
    env = build_env(
        hpath=hpath,
        phase=phase,
        op_id=op_id,
        object_type=None,
        cluster_name=cluster,
        master_name=master,
        data_dir=layout.data_dir,
        lu_env_pre=lu_env,
        lu_env_post=lu_env,
    )
    failed = failed_scripts(await run_hooks_dir(layout.hooks_dir, hpath, phase, env, ctx.runner))
    if failed and phase is HookPhase.PRE:
        raise HooksAbort(f"Hook scripts failed: {', '.join(failed)}")
    if failed:
        log.warning("Post hooks of %s failed: %s", hpath, ", ".join(failed))


async def _switch(
    ctx: NodeContext, master_params: dict[str, Any], external: bool, up: bool
) -> None:
    params = MasterParams.from_wire(master_params)
    hpath, op_id = (
        ("master-ip-turnup", "OP_CLUSTER_IP_TURNUP")
        if up
        else ("master-ip-turndown", "OP_CLUSTER_IP_TURNDOWN")
    )
    await run_local_hooks(ctx, hpath, op_id, params.env(), HookPhase.PRE)
    if external:
        await run_setup_script(ctx, params, "start" if up else "stop")
    elif up:
        await builtin_start(ctx.runner, params, ctx.services.announce_master_ip)
    else:
        await builtin_stop(ctx.runner, params)
    await run_local_hooks(ctx, hpath, op_id, params.env(), HookPhase.POST)


@handles("node_activate_master_ip")
async def node_activate_master_ip(
    ctx: NodeContext, master_params: dict[str, Any], use_external_mip_script: bool
) -> None:
    """Bring up the master IP (no-op if the host already has it).

    Raises:
        ParameterError: malformed ``master_params``.
        HooksAbort: a ``master-ip-turnup-pre.d`` script failed.
        CommandError: the address could not be added, or the external script failed.
    """
    await _switch(ctx, master_params, use_external_mip_script, up=True)


@handles("node_deactivate_master_ip")
async def node_deactivate_master_ip(
    ctx: NodeContext, master_params: dict[str, Any], use_external_mip_script: bool
) -> None:
    """Take down the master IP (no error if it is already absent).

    Raises:
        ParameterError: malformed ``master_params``.
        HooksAbort: a ``master-ip-turndown-pre.d`` script failed.
        CommandError: the address could not be removed, or the external script failed.
    """
    await _switch(ctx, master_params, use_external_mip_script, up=False)


@handles("node_change_master_netmask")
async def node_change_master_netmask(
    ctx: NodeContext, old_netmask: int, netmask: int, master_ip: str, master_netdev: str
) -> None:
    """Re-add the master IP with ``netmask``, then drop the entry with ``old_netmask``.

    Raises:
        OpExecError: the master IP is not up on this node.
        CommandError: an ``ip address`` command failed.
    """
    if old_netmask == netmask:
        return
    present = find_address(await host_addresses(ctx.runner), master_ip, master_netdev)
    if not present:
        raise OpExecError("The master IP address is not up, not attempting to change its netmask")
    prefixes = {entry.prefixlen for entry in present}
    if netmask not in prefixes:
        await _add_address(ctx.runner, master_ip, netmask, master_netdev)
    if old_netmask in prefixes:
        await _del_address(ctx.runner, master_ip, old_netmask, master_netdev)
