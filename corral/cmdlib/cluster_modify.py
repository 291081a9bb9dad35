"""Changing cluster parameters (``gnt-cluster modify``) and redistributing files
(``gnt-cluster redist-conf``).

Locks: both take the cluster lock exclusively (they rewrite the cluster object
or push it everywhere).
"""

from __future__ import annotations

from typing import Any

from corral.cmdlib.base import HookObjectType, LogicalUnit, implements, master_only
from corral.cmdlib.cluster import master_params
from corral.cmdlib.common.candidate_files import upload_candidate_files
from corral.cmdlib.common.files import upload_ancillary_files
from corral.cmdlib.common.nodes import candidates, roles
from corral.cmdlib.common.parameters import cluster as cluster_params
from corral.cmdlib.common.parameters import ipolicy
from corral.errors import OpExecError
from corral.objects.instance import Instance
from corral.objects.ipolicy import group_ipolicy
from corral.objects.node import Node
from corral.opcodes.cluster import OpClusterRedistConf, OpClusterSetParams


@implements(OpClusterSetParams)
class LUClusterSetParams(LogicalUnit[OpClusterSetParams]):
    """Change cluster-wide settings and defaults; returns None."""

    HPATH = "cluster-modify"
    HTYPE = HookObjectType.CLUSTER
    REQ_BGL = True

    changes: dict[str, Any] | None = None

    def check_arguments(self) -> None:
        cluster_params.check_syntax(self.op)

    async def check_prereq(self) -> None:
        self.changes = cluster_params.compute_changes(self.cfg, self.op, self.log_info)
        if "ipolicy" in self.changes:
            self._warn_new_violations(self.changes["ipolicy"])

    def _warn_new_violations(self, new_policy: dict[str, Any]) -> None:
        cfg = self.cfg

        def own(inst: Instance) -> dict[str, Any]:
            group = ipolicy.instance_group(cfg, inst)
            return group.ipolicy if group is not None else {}

        instances = list(cfg.instances.values())
        names = (ipolicy.violating_instances(
                     cfg, instances, lambda i: group_ipolicy(new_policy, own(i)))
                 - ipolicy.violating_instances(
                     cfg, instances, lambda i: group_ipolicy(cfg.cluster.ipolicy, own(i))))
        if names:
            self.log_warning(ipolicy.new_violations_message(names))

    def hooks_env(self) -> dict[str, Any]:
        return {"OP_TARGET": self.cfg.cluster.cluster_name, "NEW_VG_NAME": self.op.vg_name}

    def hooks_nodes(self) -> tuple[list[Node], list[Node]]:
        return master_only(self.cfg)

    async def exec(self) -> Any:
        changes = self.changes or {}
        cluster = self.cfg.cluster
        new_netdev = changes.get("master_netdev", cluster.master_netdev)
        move_ip = bool(cluster.master_ip) and new_netdev != cluster.master_netdev
        if move_ip:
            await self._master_ip_down()
            self.log_info(f"Changing master_netdev from {cluster.master_netdev} to {new_netdev}")
        netmask = changes.get("master_netmask", cluster.master_netmask)
        if cluster.master_ip and netmask != cluster.master_netmask:
            await self._change_netmask(netmask)
        promotions = self._promotions(changes.get("candidate_pool_size"))
        if changes or promotions:
            updated = cluster.evolve(self.now(), **changes) if changes else cluster
            await self.commit(updated, *promotions)
        roles.log_promotions(self, promotions)
        await roles.welcome_candidates(self, promotions)
        if move_ip:
            await self._master_ip_up(new_netdev)
        return None

    def _promotions(self, pool_size: int | None) -> list[Node]:
        if pool_size is None:
            return []
        stats = candidates.candidate_stats(self.cfg, pool_size=pool_size)
        if stats.current > stats.desired:
            self.log_info(f"Note: more nodes are candidates ({stats.current}) than desired"
                          f" ({stats.desired})")
        return candidates.fill_pool(self.cfg, (), self.now(), pool_size)

    async def _master_ip_down(self) -> None:
        cfg = self.cfg
        self.log_info(f"Shutting down master ip on the current netdev"
                      f" ({cfg.cluster.master_netdev})")
        result = await self.ctx.rpc.node_deactivate_master_ip(
            cfg.master_node, master_params(cfg), cfg.cluster.use_external_mip_script
        )
        if result.ok:
            return
        if not self.op.force:
            raise OpExecError(f"Could not disable the master ip: {result.fail_msg}")
        self.log_info(f"Could not disable the master ip (continuing anyway): {result.fail_msg}")

    async def _master_ip_up(self, netdev: str) -> None:
        cfg = self.cfg
        self.log_info(f"Starting the master ip on the new master netdev ({netdev})")
        result = await self.ctx.rpc.node_activate_master_ip(
            cfg.master_node, master_params(cfg), cfg.cluster.use_external_mip_script
        )
        if not result.ok:
            self.log_warning("Could not re-enable the master ip on the master, please restart"
                             f" manually: {result.fail_msg}")

    async def _change_netmask(self, netmask: int) -> None:
        cluster = self.cfg.cluster
        self.log_info(f"Changing master IP netmask to {netmask}")
        result = await self.ctx.rpc.node_change_master_netmask(
            self.cfg.master_node, cluster.master_netmask, netmask, cluster.master_ip,
            cluster.master_netdev,
        )
        if not result.ok:
            self.log_warning(f"Could not change the master IP netmask: {result.fail_msg}")


@implements(OpClusterRedistConf)
class LUClusterRedistConf(LogicalUnit[OpClusterRedistConf]):
    """Push ssconf, the configuration and the ancillary files to every node."""

    REQ_BGL = True

    async def exec(self) -> Any:
        config = self.ctx.config
        await config.distribute_ssconf(force=True)
        await config.full_resync()
        nodes = sorted(self.cfg.nodes.values(), key=lambda n: n.name)
        await upload_ancillary_files(self, nodes)
        await upload_candidate_files(self, nodes)
        return None
