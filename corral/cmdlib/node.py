"""Removing nodes and changing their flags and roles (``gnt-node remove`` / ``modify``).

Locks: node remove takes the cluster lock exclusively (as Ganeti). Node modify
takes it exclusively when a role flag (offline, drained, master_candidate,
master_capable) changes, because that can change the candidate pool; other
changes take the cluster lock shared and the node's lock exclusively.
"""

from __future__ import annotations

from typing import Any

from corral.cmdlib.base import HookObjectType, LogicalUnit, implements
from corral.cmdlib.common import hooks_env
from corral.cmdlib.common.nodes import addresses, candidates, join, roles
from corral.cmdlib.common.nodes import flags as node_flags
from corral.cmdlib.common.nodes.flags import FlagRequest, Role
from corral.cmdlib.common.parameters import checks as params
from corral.errors import ErrorCode, OpPrereqError
from corral.locking.levels import Level
from corral.locking.plan import LockPlan, exclusive
from corral.objects.config_data import Kind
from corral.objects.node import Node
from corral.opcodes.node import OpNodeRemove, OpNodeSetParams


@implements(OpNodeRemove)
class LUNodeRemove(LogicalUnit[OpNodeRemove]):
    """Remove a node that hosts no instances; keep the candidate pool full."""

    HPATH = "node-remove"
    HTYPE = HookObjectType.NODE
    REQ_BGL = True

    node: Node | None = None

    async def check_prereq(self) -> None:
        node = self.expand_node(self.op.node_uuid or self.op.node_name)
        if node.uuid == self.cfg.cluster.master_node:
            raise OpPrereqError(
                "Node is the master node, failover to another node is required", ErrorCode.INVAL
            )
        primary, secondary = self.cfg.node_instances(node.uuid)
        if primary or secondary:
            name = min(i.name for i in primary + secondary)
            raise OpPrereqError(
                f"Instance {name} is still running on the node, please remove first",
                ErrorCode.INVAL,
            )
        self.node = node

    def hooks_env(self) -> dict[str, Any]:
        return hooks_env.node_target_env(self.node.name if self.node else self.op.node_name)

    def hooks_nodes(self) -> tuple[list[Node], list[Node]]:
        uuid = self.node.uuid if self.node else ""
        nodes = hooks_env.nodes_except(self.cfg, uuid)
        return nodes, nodes

    async def exec(self) -> Any:
        node = self.node
        assert node is not None
        promotions = candidates.fill_pool(self.cfg, {node.uuid}, self.now())
        await self.commit(*promotions, removed=[(Kind.NODE, node.uuid)])
        roles.log_promotions(self, promotions)
        await roles.welcome_candidates(self, promotions)
        await hooks_env.run_post_hooks_now(self, [node])
        result = await self.ctx.rpc.node_leave_cluster(node, False)
        if not result.ok:
            self.log_warning(
                "Errors encountered on the remote node while leaving the cluster:"
                f" {result.fail_msg}"
            )
        return None


_ROLE_FIELDS = ("offline", "drained", "master_candidate", "master_capable")
_ALL_FIELDS = (*_ROLE_FIELDS, "vm_capable", "secondary_ip", "ndparams", "powered",
               "hv_state", "disk_state")


@implements(OpNodeSetParams)
class LUNodeSetParams(LogicalUnit[OpNodeSetParams]):
    """Change a node's flags, role, secondary IP or node parameters.

    Result: ``[[parameter, new value as text], ...]`` for what changed.
    """

    HPATH = "node-modify"
    HTYPE = HookObjectType.NODE
    REQ_BGL = False

    node: Node | None = None
    old_role: Role = Role.REGULAR
    new_role: Role = Role.REGULAR
    new_ndparams: dict[str, Any] | None = None

    def check_arguments(self) -> None:
        op = self.op
        if all(getattr(op, name) is None for name in _ALL_FIELDS):
            raise OpPrereqError("Please pass at least one modification", ErrorCode.INVAL)
        if [op.offline, op.drained, op.master_candidate].count(True) > 1:
            raise OpPrereqError(
                "Can't set the node into more than one state at the same time", ErrorCode.INVAL
            )
        params.refuse_unsupported({"hv_state": op.hv_state, "disk_state": op.disk_state})
        if op.secondary_ip is not None:
            addresses.check_secondary_ip(op.secondary_ip)
        if op.ndparams:
            params.check_types(params.merge_params({}, op.ndparams), params.ND_TYPES, "node")
        self.flags = FlagRequest(op.master_candidate, op.drained, op.offline)
        self.might_demote = (op.master_candidate is False or op.offline is True
                             or op.drained is True or op.master_capable is False)

    def expand_names(self) -> None:
        self.node = self.expand_node(self.op.node_uuid or self.op.node_name)

    def declare_locks(self) -> LockPlan:
        if any(getattr(self.op, name) is not None for name in _ROLE_FIELDS):
            return LockPlan.of(exclusive_bgl=True)
        assert self.node is not None
        return LockPlan.of({Level.NODE: exclusive(self.node.name)})

    async def check_prereq(self) -> None:
        node = self.expand_node(self.node.uuid if self.node else self.op.node_name)
        self.node = node
        self._check_master_and_capabilities(node)
        for flag in self.flags.drop_ineffective(node):
            self.log_info(f"Ignoring request to unset flag {flag}, already unset")
        self._check_power(node)
        self._decide_self_role(node)
        self._check_pool(node)
        self.old_role = node_flags.role_of(node)
        self.new_role = self.flags.new_role(self.old_role)
        if self.old_role is Role.OFFLINE and self.new_role is not Role.OFFLINE:
            await self._check_back_online(node)
        if self.op.secondary_ip is not None:
            addresses.check_new_secondary_ip(self.cfg, node, self.op.secondary_ip)
        if self.op.ndparams:
            merged = params.merge_params(node.ndparams, self.op.ndparams)
            self.new_ndparams = params.check_types(merged, params.ND_TYPES, "node")

    def _master_capable(self, node: Node) -> bool:
        return node.master_capable if self.op.master_capable is None else self.op.master_capable

    def _check_master_and_capabilities(self, node: Node) -> None:
        op = self.op
        is_master = node.uuid == self.cfg.cluster.master_node
        if is_master and any(v is not None for v in self.flags.values()):
            raise OpPrereqError(
                "The master role can be changed only via master-failover", ErrorCode.INVAL
            )
        if is_master and op.master_capable is False:
            raise OpPrereqError("Master must remain master capable", ErrorCode.STATE)
        if op.master_candidate:
            capable = self._master_capable(node)
            problem = node_flags.promotion_problem(node, capable, op.offline, op.drained)
            if problem:
                raise OpPrereqError(
                    f"Node {node.name} {problem}, cannot make it a master candidate",
                    ErrorCode.STATE,
                )
        if op.vm_capable is False:
            primary, secondary = self.cfg.node_instances(node.uuid)
            if primary or secondary:
                raise OpPrereqError(
                    f"Node {node.name} hosts instances, cannot unset the vm_capable flag",
                    ErrorCode.STATE,
                )

    def _check_power(self, node: Node) -> None:
        nd = params.filled_ndparams(self.cfg, node, self.op.ndparams or {})
        if self.op.powered is None or nd.get("oob_program"):
            return
        raise OpPrereqError(
            f"Unable to change powered state for node {node.name} as it does not support"
            " out-of-band handling", ErrorCode.STATE,
        )

    def _decide_self_role(self, node: Node) -> None:
        op, flags = self.op, self.flags
        coming_back = (flags.drained is False or flags.offline is False
                       or (op.master_capable and not node.master_capable))
        if (coming_back and flags.master_candidate is None and not flags.drained
                and not flags.offline and self._master_capable(node)
                and candidates.wants_more_candidates(self.cfg, exclude={node.uuid})):
            flags.master_candidate = True
            self.log_info("Auto-promoting node to master candidate")
        if op.master_capable is False and node.master_candidate:
            self.log_info("Demoting from master candidate")
            flags.master_candidate = False

    def _check_pool(self, node: Node) -> None:
        if not (self.might_demote and node.master_candidate) or self.op.auto_promote:
            return
        stats = candidates.candidate_stats(self.cfg, exclude={node.uuid})
        if stats.current >= stats.desired:
            return
        if self.op.force:
            self.log_warning(f"Leaving the cluster with {stats.current} master candidate(s),"
                             f" fewer than the {stats.desired} wanted")
            return
        raise OpPrereqError(
            "Not enough master candidates, please pass auto promote option to allow"
            " promotion (--auto-promote or RAPI auto_promote=True)", ErrorCode.STATE,
        )

    async def _check_back_online(self, node: Node) -> None:
        try:
            await join.check_version(self.ctx, node.evolve(self.now(), offline=False), prereq=True)
        except OpPrereqError as err:
            raise OpPrereqError(
                f"Node {node.name} is being de-offlined but fails to report its version:"
                f" {err.message}", ErrorCode.STATE,
            ) from None
        self.log_warning("Transitioning node from offline to online state without using"
                         " re-add. Please make sure the node is healthy!")

    def _check_secondary_ip(self, node: Node) -> None:
        sip = self.op.secondary_ip
        assert sip is not None
        master = self.cfg.master_node
        if node.uuid != master.uuid and addresses.is_single_homed(master) \
                and sip != node.primary_ip:
            raise OpPrereqError(
                "Cannot change the secondary ip on a single-homed cluster", ErrorCode.INVAL
            )
        other = addresses.conflicting_node(self.cfg, {sip}, node.uuid)
        if other is not None:
            raise OpPrereqError(
                f"Secondary IP {sip} is already used by node {other.name}", ErrorCode.NOTUNIQUE
            )

    def hooks_env(self) -> dict[str, Any]:
        op = self.op
        env = {"OP_TARGET": self.node.name if self.node else op.node_name}
        for name in ("master_candidate", "offline", "drained", "master_capable", "vm_capable"):
            env[name.upper()] = str(getattr(op, name))
        return env

    def hooks_nodes(self) -> tuple[list[Node], list[Node]]:
        nodes = hooks_env.master_and(self.cfg, *([self.node] if self.node else []))
        return nodes, nodes

    async def exec(self) -> Any:
        node = self.node
        assert node is not None
        changes, result = self._plain_changes()
        if self.new_role is not self.old_role:
            if self.old_role is Role.CANDIDATE and self.new_role is not Role.OFFLINE:
                await roles.demote_node(self, node)
            result.extend(node_flags.flag_changes(node, self.new_role))
            changes.update(node_flags.role_flags(self.new_role))
        if self.op.secondary_ip is not None:
            changes["secondary_ip"] = self.op.secondary_ip
            result.append(["secondary_ip", self.op.secondary_ip])
        updated = node.evolve(self.now(), **changes) if changes else node
        promotions = self._promotions(updated)
        if changes or promotions:
            await self.commit(updated, *promotions)
        roles.log_promotions(self, promotions)
        if self.new_role is Role.CANDIDATE and self.old_role is not Role.CANDIDATE:
            promotions.append(updated)
        await roles.welcome_candidates(self, promotions)
        return result

    def _plain_changes(self) -> tuple[dict[str, Any], list[list[str]]]:
        op = self.op
        changes: dict[str, Any] = {}
        result: list[list[str]] = []
        if self.new_ndparams is not None:
            changes["ndparams"] = self.new_ndparams
            result.append(["ndparams", str(self.new_ndparams)])
        if op.powered is not None:
            changes["powered"] = op.powered
            result.append(["powered", str(op.powered)])
        for name in ("master_capable", "vm_capable"):
            value = getattr(op, name)
            if value is not None:
                changes[name] = value
                result.append([name, str(value)])
        return changes, result

    def _promotions(self, updated: Node) -> list[Node]:
        if not (self.op.auto_promote and self.might_demote):
            return []
        if updated.master_candidate and candidates.can_be_candidate(updated):
            return []
        return candidates.fill_pool(self.cfg, {updated.uuid}, self.now())
