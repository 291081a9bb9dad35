"""Node addresses: syntax and family checks, name resolution, uniqueness across nodes."""

from __future__ import annotations

import asyncio
import ipaddress
import socket

from corral.errors import ErrorCode, OpPrereqError
from corral.objects.config_data import ConfigData
from corral.objects.node import Node

AF_INET6_VALUE = 10
"""Ganeti stores the cluster's primary IP family as the Linux AF_* value (2 or 10)."""


def ip_version(value: str, what: str) -> int:
    """4 or 6 for a valid address.

    Raises:
        OpPrereqError: (INVAL) ``value`` is not an IP address; ``what`` names it.
    """
    try:
        return ipaddress.ip_address(value).version
    except ValueError:
        raise OpPrereqError(f"Invalid {what} '{value}'", ErrorCode.INVAL) from None


def family_version(family: int) -> int:
    return 6 if family == AF_INET6_VALUE else 4


def check_primary_ip(value: str, family: int) -> None:
    """The primary IP must be valid and of the cluster's primary IP family."""
    want = family_version(family)
    if ip_version(value, "primary IP address") != want:
        raise OpPrereqError(
            f"Primary IP {value} is not an IPv{want} address, as the cluster requires",
            ErrorCode.INVAL,
        )


def check_secondary_ip(value: str) -> None:
    """Secondary (replication) addresses are IPv4, as in Ganeti."""
    if ip_version(value, "secondary IP address") != 4:
        raise OpPrereqError(
            f"Secondary IP ({value}) needs to be a valid IPv4 address", ErrorCode.INVAL
        )


async def resolve(name: str, family: int) -> str:
    """The first address of ``name`` in the cluster's family (resolved in a thread).

    Raises:
        OpPrereqError: (RESOLVER) the name does not resolve.
    """
    af = socket.AF_INET6 if family == AF_INET6_VALUE else socket.AF_INET

    def lookup() -> str:
        infos = socket.getaddrinfo(name, None, family=af, type=socket.SOCK_STREAM)
        return str(infos[0][4][0])

    try:
        return await asyncio.to_thread(lookup)
    except (OSError, UnicodeError, IndexError) as err:
        raise OpPrereqError(
            f"Cannot resolve node name '{name}': {err}", ErrorCode.RESOLVER
        ) from None


def node_addresses(node: Node) -> set[str]:
    return {node.primary_ip, node.effective_secondary_ip}


def conflicting_node(cfg: ConfigData, addresses: set[str], skip_uuid: str | None) -> Node | None:
    """A node (other than ``skip_uuid``) using any of ``addresses``, first by name."""
    for node in sorted(cfg.nodes.values(), key=lambda n: n.name):
        if node.uuid != skip_uuid and node_addresses(node) & addresses:
            return node
    return None


def is_single_homed(node: Node) -> bool:
    return node.effective_secondary_ip == node.primary_ip


def check_new_secondary_ip(cfg: ConfigData, node: Node, sip: str) -> None:
    """A node's new secondary IP keeps the cluster's homing and is not used elsewhere.

    Raises:
        OpPrereqError: INVAL on a single-homed cluster, NOTUNIQUE when another node uses it.
    """
    master = cfg.master_node
    if node.uuid != master.uuid and is_single_homed(master) and sip != node.primary_ip:
        raise OpPrereqError(
            "Cannot change the secondary ip on a single-homed cluster", ErrorCode.INVAL
        )
    other = conflicting_node(cfg, {sip}, node.uuid)
    if other is not None:
        raise OpPrereqError(
            f"Secondary IP {sip} is already used by node {other.name}", ErrorCode.NOTUNIQUE
        )
