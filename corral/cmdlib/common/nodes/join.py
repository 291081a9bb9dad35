"""Bringing a new node's daemon into the cluster: the join handshake and the version check."""

from __future__ import annotations

import asyncio
from typing import Any, Protocol

from corral.cmdlib.context import MasterContext
from corral.errors import CorralError, ErrorCode, OpExecError, OpPrereqError
from corral.layout import NodeLayout
from corral.objects.node import Node
from corral.rpc import pki, tls
from corral.rpc.client import NodeTarget, RpcClient
from corral.rpc.join import join_node
from corral.version import PROTOCOL_VERSION


class NodeJoiner(Protocol):
    """Runs the join handshake with an un-joined node; returns its new certificate (PEM)."""

    async def __call__(
        self, layout: NodeLayout, target: NodeTarget, token: str, cluster_name: str,
        node_name: str,
    ) -> str:
        """Raises CorralError (RpcError) when the node refuses or cannot be reached."""


def _load_ca(layout: NodeLayout) -> tuple[str, pki.PrivateKey]:
    return layout.ca_cert.read_text(), pki.load_key(layout.ca_key)


async def join_with_token(
    layout: NodeLayout, target: NodeTarget, token: str, cluster_name: str, node_name: str
) -> str:
    """The real joiner: sign the node's key with the cluster CA over an unverified TLS link."""
    try:
        ca_pem, ca_key = await asyncio.to_thread(_load_ca, layout)
    except OSError as err:
        raise OpExecError(f"Cannot read the cluster CA: {err}") from err
    async with RpcClient(tls.join_client_ssl_context()) as client:
        return await join_node(client, target, token, cluster_name, node_name, ca_pem, ca_key)


def joiner_of(ctx: MasterContext) -> NodeJoiner:
    return ctx.joiner or join_with_token


async def join(ctx: MasterContext, node: Node, token: str) -> None:
    """Join ``node`` with ``token``.

    Raises:
        OpExecError: the handshake failed; nothing was added to the configuration.
    """
    target = NodeTarget(node.name, node.primary_ip, node.rpc_port)
    try:
        await joiner_of(ctx)(ctx.layout, target, token, ctx.config.data.cluster.cluster_name,
                             node.name)
    except OpExecError:
        raise
    except CorralError as err:
        raise OpExecError(f"Could not join node {node.name}: {err}") from err


JOIN_SETTLE_TRIES = 10
JOIN_SETTLE_DELAY = 0.5
"""A node restarts its listener with its new certificate right after joining; the
version check retries transport failures this many times, this many seconds apart."""


async def check_version(ctx: MasterContext, node: Node, *, prereq: bool, tries: int = 1) -> Any:
    """Make sure the node's daemon answers ``version`` with our protocol version.

    Transport failures are retried ``tries`` times in all, ``JOIN_SETTLE_DELAY`` apart.

    Raises:
        OpPrereqError (ENVIRON) when ``prereq``, else OpExecError: no answer or another version.
    """
    result = (await ctx.rpc.version([node]))[node.name]
    for _ in range(tries - 1):
        if result.ok:
            break
        await ctx.clock.sleep(JOIN_SETTLE_DELAY)
        result = (await ctx.rpc.version([node]))[node.name]
    if not result.ok:
        message = f"Can't get version information from node {node.name}: {result.fail_msg}"
    elif result.payload != PROTOCOL_VERSION:
        message = (f"Version mismatch master version {PROTOCOL_VERSION},"
                   f" node version {result.payload}")
    else:
        return result.payload
    if prereq:
        raise OpPrereqError(message, ErrorCode.ENVIRON)
    raise OpExecError(message)
