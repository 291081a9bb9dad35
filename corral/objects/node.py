"""Nodes and node groups."""

from __future__ import annotations

import enum
from typing import Any

import msgspec

from corral.objects.base import NamedObject


class NodeRole(enum.StrEnum):
    """Roles as Ganeti shows them (single letters in ``gnt-node list -o role``)."""

    MASTER = "M"
    CANDIDATE = "C"
    REGULAR = "R"
    DRAINED = "D"
    OFFLINE = "O"


class Node(NamedObject, kw_only=True, frozen=True):
    """A machine of the cluster."""

    primary_ip: str
    secondary_ip: str = ""
    group: str = ""
    master_candidate: bool = False
    offline: bool = False
    drained: bool = False
    master_capable: bool = True
    vm_capable: bool = True
    powered: bool = True
    ndparams: dict[str, Any] = msgspec.field(default_factory=dict)
    rpc_port: int = 1811

    def role(self, master_uuid: str) -> NodeRole:
        if self.uuid == master_uuid:
            return NodeRole.MASTER
        if self.master_candidate:
            return NodeRole.CANDIDATE
        if self.drained:
            return NodeRole.DRAINED
        if self.offline:
            return NodeRole.OFFLINE
        return NodeRole.REGULAR

    @property
    def effective_secondary_ip(self) -> str:
        return self.secondary_ip or self.primary_ip


class AllocPolicy(enum.StrEnum):
    PREFERRED = "preferred"
    LAST_RESORT = "last_resort"
    UNALLOCABLE = "unallocable"


DEFAULT_GROUP_NAME = "default"


class NodeGroup(NamedObject, kw_only=True, frozen=True):
    """A group of nodes sharing policies; nodes belong to exactly one."""

    alloc_policy: AllocPolicy = AllocPolicy.PREFERRED
    ndparams: dict[str, Any] = msgspec.field(default_factory=dict)
    diskparams: dict[str, dict[str, Any]] = msgspec.field(default_factory=dict)
    ipolicy: dict[str, Any] = msgspec.field(default_factory=dict)
    networks: dict[str, dict[str, Any]] = msgspec.field(default_factory=dict)
