"""Adding a node to the cluster, or re-adding a known one (``gnt-node add [--readd]``).

Locks: the cluster lock exclusively, as Ganeti does for node add.

Order: check_prereq checks names, addresses and the group; exec joins the
node with its one-time token, checks its protocol version, and only then
commits it (as a candidate if the pool has room), pushes ssconf and the
ancillary files, and gives a new candidate its configuration and queue copies.
"""

from __future__ import annotations

from typing import Any

from corral.cmdlib.base import HookObjectType, LogicalUnit, implements
from corral.cmdlib.common.files import upload_ancillary_files
from corral.cmdlib.common.hooks_env import all_nodes, node_target_env, sorted_nodes
from corral.cmdlib.common.nodes import addresses, join
from corral.cmdlib.common.nodes.candidates import wants_more_candidates
from corral.cmdlib.common.nodes.roles import demote_node, welcome_candidates
from corral.cmdlib.common.parameters.checks import (
    ND_TYPES,
    check_types,
    merge_params,
    refuse_unsupported,
)
from corral.errors import ErrorCode, OpPrereqError
from corral.objects.base import new_uuid
from corral.objects.names import InvalidName, check_name
from corral.objects.node import DEFAULT_GROUP_NAME, Node, NodeGroup
from corral.opcodes.node import OpNodeAdd


@implements(OpNodeAdd)
class LUNodeAdd(LogicalUnit[OpNodeAdd]):
    """Add or re-add a node (Ganeti's LUNodeAdd)."""

    HPATH = "node-add"
    HTYPE = HookObjectType.NODE
    REQ_BGL = True

    primary_ip: str = ""
    secondary_ip: str = ""
    new_node: Node | None = None

    def check_arguments(self) -> None:
        op = self.op
        try:
            check_name(op.node_name, "node name")
        except InvalidName as err:
            raise OpPrereqError(str(err), ErrorCode.INVAL) from None
        if op.readd and op.group:
            raise OpPrereqError(
                "Cannot pass a node group when a node is being readded", ErrorCode.INVAL
            )
        if not op.readd and not op.join_token:
            raise OpPrereqError(
                f"A join token is needed to add node {op.node_name}", ErrorCode.INVAL
            )
        refuse_unsupported({"hv_state": op.hv_state, "disk_state": op.disk_state})
        if op.ndparams:
            check_types(op.ndparams, ND_TYPES, "node")
        if op.secondary_ip is not None:
            addresses.check_secondary_ip(op.secondary_ip)

    async def check_prereq(self) -> None:
        existing = self._check_existence()
        family = self.cfg.cluster.primary_ip_family
        self.primary_ip = self.op.primary_ip or await addresses.resolve(self.op.node_name, family)
        addresses.check_primary_ip(self.primary_ip, family)
        if self.op.secondary_ip is None and addresses.family_version(family) == 6:
            raise OpPrereqError(
                "When using a IPv6 primary address, a valid IPv4 address must be given"
                " as secondary", ErrorCode.INVAL,
            )
        self.secondary_ip = self.op.secondary_ip or self.primary_ip
        self._check_addresses(existing)
        self._check_homing()
        self.new_node = self._build_node(existing)
        if existing is not None and not self.new_node.vm_capable:
            self._check_no_instances(existing)

    def _check_existence(self) -> Node | None:
        name = self.op.node_name
        existing = self.cfg.node_by_name(name)
        if self.op.readd:
            if existing is None:
                raise OpPrereqError(f"Node {name} is not in the configuration", ErrorCode.NOENT)
            if existing.uuid == self.cfg.cluster.master_node:
                raise OpPrereqError("Cannot readd the master node", ErrorCode.STATE)
        elif existing is not None:
            raise OpPrereqError(f"Node {name} is already in the configuration", ErrorCode.EXISTS)
        return existing

    def _check_addresses(self, existing: Node | None) -> None:
        if existing is not None and existing.effective_secondary_ip != self.secondary_ip:
            raise OpPrereqError(
                "Readded node doesn't have the same IP address configuration as before",
                ErrorCode.INVAL,
            )
        wanted = {self.primary_ip, self.secondary_ip}
        other = addresses.conflicting_node(self.cfg, wanted, existing.uuid if existing else None)
        if other is not None:
            raise OpPrereqError(
                f"New node ip address(es) conflict with existing node {other.name}",
                ErrorCode.NOTUNIQUE,
            )

    def _check_homing(self) -> None:
        master_single = addresses.is_single_homed(self.cfg.master_node)
        if master_single == (self.secondary_ip == self.primary_ip):
            return
        if master_single:
            message = "The master has no secondary ip but the new node has one"
        else:
            message = "The master has a secondary ip but the new node doesn't have one"
        raise OpPrereqError(message, ErrorCode.INVAL)

    def _check_no_instances(self, node: Node) -> None:
        primary, secondary = self.cfg.node_instances(node.uuid)
        if primary or secondary:
            raise OpPrereqError(
                f"Node {node.name} being re-added with vm_capable flag set to false,"
                " but it already holds instances", ErrorCode.STATE,
            )

    def _target_group(self) -> NodeGroup:
        if self.op.group:
            return self.expand_group(self.op.group)
        groups = self.cfg.nodegroups
        found = self.cfg.group_by_name(DEFAULT_GROUP_NAME)
        if found is None and len(groups) == 1:
            found = next(iter(groups.values()))
        if found is None:
            raise OpPrereqError(
                "More than one node group exists. Target group must be specified explicitly.",
                ErrorCode.INVAL,
            )
        return found

    def _flag(self, name: str, existing: Node | None) -> bool:
        value: bool | None = getattr(self.op, name)
        if value is not None:
            return value
        return bool(getattr(existing, name)) if existing is not None else True

    def _build_node(self, existing: Node | None) -> Node:
        op, now = self.op, self.now()
        common: dict[str, Any] = {
            "primary_ip": self.primary_ip,
            "secondary_ip": self.secondary_ip,
            "master_capable": self._flag("master_capable", existing),
            "vm_capable": self._flag("vm_capable", existing),
            "offline": False,
            "drained": False,
            "master_candidate": False,
        }
        if existing is not None:
            if existing.offline or existing.drained:
                self.log_info("Readding a node, the offline/drained flags were reset")
            ndparams = merge_params(existing.ndparams, op.ndparams or {})
            port = op.rpc_port or existing.rpc_port
            return existing.evolve(now, ndparams=ndparams, rpc_port=port, **common)
        return Node(
            uuid=new_uuid(), name=op.node_name, ctime=now, mtime=now,
            group=self._target_group().uuid, ndparams=merge_params({}, op.ndparams or {}),
            rpc_port=op.rpc_port or self.cfg.cluster.noded_port, **common,
        )

    def hooks_env(self) -> dict[str, Any]:
        env = node_target_env(self.op.node_name)
        node = self.new_node
        env.update({
            "NODE_PIP": self.primary_ip,
            "NODE_SIP": self.secondary_ip,
            "MASTER_CAPABLE": str(node.master_capable if node else self.op.master_capable),
            "VM_CAPABLE": str(node.vm_capable if node else self.op.vm_capable),
        })
        return env

    def hooks_nodes(self) -> tuple[list[Node], list[Node]]:
        others = [n for n in self.cfg.nodes.values() if n.name != self.op.node_name]
        return sorted_nodes(others), all_nodes(self.cfg)

    async def exec(self) -> Any:
        node = self.new_node
        assert node is not None
        if self.op.join_token:
            await join.join(self.ctx, node, self.op.join_token)
        await join.check_version(self.ctx, node, prereq=False, tries=join.JOIN_SETTLE_TRIES)
        candidate = node.master_capable and wants_more_candidates(self.cfg, exclude={node.uuid})
        if candidate:
            node = node.evolve(self.now(), master_candidate=True)
        await self.commit(node)
        self.new_node = node
        await self.ctx.config.distribute_ssconf(force=True)
        await upload_ancillary_files(self, [node])
        if candidate:
            await welcome_candidates(self, [node])
        elif self.op.readd:
            await demote_node(self, node)
        return None
