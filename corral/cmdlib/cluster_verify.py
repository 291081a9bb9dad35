"""Cluster verification: the fan-out job, the configuration check, the per-group check.

Locks: all three only read; they hold the cluster lock shared, and the group
check also holds its group's and nodes' locks shared.
"""

from __future__ import annotations

import asyncio
from typing import Any

from corral.cmdlib.base import HookObjectType, LogicalUnit, implements
from corral.cmdlib.common.files import cluster_files, relative_name
from corral.cmdlib.common.parameters import ipolicy
from corral.cmdlib.common.verification import candidates as verify_candidates
from corral.cmdlib.common.verification import config as verify_config
from corral.cmdlib.common.verification import nodes as verify_nodes
from corral.cmdlib.common.verification import replication as verify_replication
from corral.cmdlib.common.verification import report
from corral.cmdlib.common.verification import space as verify_space
from corral.cmdlib.common.verification.report import Finding, Reporter
from corral.locking.levels import Level
from corral.locking.plan import LockPlan, shared
from corral.objects.node import Node, NodeGroup
from corral.opcodes.cluster import OpClusterVerify, OpClusterVerifyConfig, OpClusterVerifyGroup
from corral.opcodes.codec import encode_opcode
from corral.rpc.payloads import NodeVerifyResult
from corral.rpc.results import NodeResult


def _reporter(lu: LogicalUnit[Any]) -> Reporter:
    op = lu.op
    return Reporter(lu.feedback, error_codes=op.error_codes, ignore=op.ignore_errors)


@implements(OpClusterVerify)
class LUClusterVerify(LogicalUnit[OpClusterVerify]):
    """Submits the verification jobs: configuration first, then one job per group."""

    REQ_BGL = False

    def expand_names(self) -> None:
        if self.op.group_name:
            self.groups = [self.expand_group(self.op.group_name)]
        else:
            self.groups = sorted(self.cfg.nodegroups.values(), key=lambda g: g.name)

    def _group_op(self, group: NodeGroup, depends: Any) -> dict[str, Any]:
        op = self.op
        return encode_opcode(OpClusterVerifyGroup(
            group_name=group.uuid, depends=depends, error_codes=op.error_codes,
            ignore_errors=list(op.ignore_errors), verbose=op.verbose,
            skip_checks=list(op.skip_checks), debug_simulate_errors=op.debug_simulate_errors,
            verify_clutter=op.verify_clutter, priority=op.priority,
        ))

    async def exec(self) -> Any:
        op = self.op
        jobs: list[list[dict[str, Any]]] = []
        if not op.group_name:
            jobs.append([encode_opcode(OpClusterVerifyConfig(
                error_codes=op.error_codes, ignore_errors=list(op.ignore_errors),
                verbose=op.verbose, debug_simulate_errors=op.debug_simulate_errors,
                priority=op.priority,
            ))])
        for index, group in enumerate(self.groups, start=1):
            depends: list[tuple[int | str, list[str]]] | None = (
                None if op.group_name else [(-index, [])]
            )
            jobs.append([self._group_op(group, depends)])
        return {"jobs": jobs}


@implements(OpClusterVerifyConfig)
class LUClusterVerifyConfig(LogicalUnit[OpClusterVerifyConfig]):
    """Configuration consistency; True when no errors were found."""

    REQ_BGL = False

    async def exec(self) -> Any:
        reporter = _reporter(self)
        self.log_info("* Verifying cluster config")
        reporter.report(verify_config.check_config(self.cfg))
        self.log_info("* Verifying cluster certificate files")
        reporter.report(await asyncio.to_thread(
            verify_config.certificate_findings, self.ctx.layout.ca_cert, self.now()
        ))
        self.log_info("* Verifying all nodes belong to an existing group")
        reporter.report(verify_config.dangling_findings(self.cfg))
        self.log_info("* Verifying master candidates are up to date")
        reporter.report(verify_replication.lag_findings(
            verify_replication.lagging_candidates(self.ctx)
        ))
        reporter.report(await verify_replication.queue_replica_findings(self.ctx))
        return not reporter.bad


def node_type(node: Node, master_uuid: str) -> str:
    """How verbose output describes a node."""
    if node.uuid == master_uuid:
        return "master"
    if node.master_candidate:
        return "master candidate"
    return "drained" if node.drained else "regular"


@implements(OpClusterVerifyGroup)
class LUClusterVerifyGroup(LogicalUnit[OpClusterVerifyGroup]):
    """The nodes of one group: daemon, versions, clocks, files, network, hypervisors."""

    HPATH = "cluster-verify"
    HTYPE = HookObjectType.CLUSTER
    REQ_BGL = False

    def expand_names(self) -> None:
        self.group = self.expand_group(self.op.group_name)
        self.nodes: list[Node] = []

    def declare_locks(self) -> LockPlan:
        names = [n.name for n in self.cfg.group_nodes(self.group.uuid)]
        return LockPlan.of({Level.NODEGROUP: shared(self.group.uuid),
                            Level.NODE: shared(names)})

    async def check_prereq(self) -> None:
        self.group = self.expand_group(self.group.uuid)
        self.nodes = sorted(self.cfg.group_nodes(self.group.uuid), key=lambda n: n.name)

    def hooks_env(self) -> dict[str, Any]:
        env = {"CLUSTER_TAGS": " ".join(self.cfg.cluster.tags)}
        env.update({f"NODE_TAGS_{n.name}": " ".join(n.tags) for n in self.nodes})
        return env

    def hooks_nodes(self) -> tuple[list[Node], list[Node]]:
        return [], [n for n in self.nodes if not n.offline]

    def _files(self) -> dict[str, bool]:
        layout = self.ctx.layout
        files = cluster_files(layout, self.cfg.cluster)
        return {relative_name(layout, f.path): f.optional for f in files}

    def _peers(self) -> list[Node]:
        """Nodes whose daemons each node should reach: the group's online nodes and
        the first online node of every other group (keeps the checks linear, as Ganeti)."""
        peers = [n for n in self.nodes if not n.offline]
        others = sorted((n for n in self.cfg.nodes.values()
                         if n.group != self.group.uuid and not n.offline), key=lambda n: n.name)
        seen: set[str] = set()
        for node in others:
            if node.group not in seen:
                seen.add(node.group)
                peers.append(node)
        return peers

    def _candidate_files(self) -> list[str]:
        layout = self.ctx.layout
        return [relative_name(layout, path) for path in layout.candidate_files]

    def _filelist(self) -> list[str]:
        return sorted([*self._files(), *self._candidate_files()])

    async def _candidate_findings(
        self, online: list[Node], sums: dict[str, dict[str, Any]]
    ) -> list[Finding]:
        master = self.cfg.master_node
        candidates = [n for n in online  # those that answered node_verify
                      if n.master_candidate and n.uuid != master.uuid and n.name in sums]
        found = verify_candidates.candidate_file_findings(
            self._candidate_files(), sums, master.name, {n.name for n in candidates})
        current = self.ctx.config.data.serial_no
        answers = await self.ctx.rpc.config_serial(candidates)
        serials = {name: r.payload if r.ok else None for name, r in answers.items()}
        return found + verify_candidates.serial_findings(current, serials)

    def _checks(self) -> dict[str, Any]:
        cluster = self.cfg.cluster
        return {
            "filelist": self._filelist(),
            "nodelist": {n.name: [n.primary_ip, n.rpc_port] for n in self._peers()},
            "hypervisor": list(cluster.enabled_hypervisors),
            "version": None,
            "time": None,
            "node-setup": None,
            **self._space_checks(),
        }

    def _space_checks(self) -> dict[str, Any]:
        """The cluster's volume group, and the filesystems of the configuration and queue."""
        vg = verify_space.cluster_vg(self.cfg.cluster)
        paths = sorted(verify_space.queue_and_config_paths(self.ctx.layout))
        return {"disk-space": paths, **({"vg-space": [vg]} if vg else {})}

    async def _gather(
        self, online: list[Node]
    ) -> tuple[dict[str, NodeResult[NodeVerifyResult]], verify_nodes.TimeWindow]:
        cluster = self.cfg.cluster
        hvparams = {hv: cluster.hvparams.get(hv, {}) for hv in cluster.enabled_hypervisors}
        start = self.now()
        results = await self.ctx.rpc.node_verify(
            online, self._checks(), cluster.cluster_name, hvparams
        )
        window = verify_nodes.TimeWindow(start, self.now())
        master = self.cfg.master_node
        if all(n.uuid != master.uuid for n in online):
            results.update(await self.ctx.rpc.node_verify(
                [master], {"filelist": self._filelist()}, cluster.cluster_name, hvparams,
            ))
        return results, window

    async def exec(self) -> Any:
        reporter = _reporter(self)
        self.log_info(f"* Verifying group {self.group.name}")
        if not self.nodes:
            self.log_info("* Empty node group, skipping verification")
            return True
        online = [n for n in self.nodes if not n.offline]
        self.log_info(f"* Gathering data ({len(self.nodes)} nodes)")
        results, window = await self._gather(online)
        self.log_info("* Verifying configuration file consistency")
        sums = {name: r.payload.filelist or {} for name, r in results.items()
                if r.payload is not None}
        reporter.report(verify_nodes.file_findings(self._files(), sums))
        reporter.report(await self._candidate_findings(online, sums))
        self.log_info("* Verifying node status")
        for node in self.nodes:
            self._verify_node(reporter, node, results.get(node.name), window)
        reporter.report(self._policy_findings())
        if self.op.verbose:
            await self._report_resources(online)
        self._other_notes()
        return not reporter.bad

    def _policy_findings(self) -> list[Finding]:
        """Instances of the group that violate its instance policy (warnings, as in Ganeti)."""
        cfg = self.cfg
        policy = ipolicy.group_policy(cfg, self.group)
        members = {n.uuid for n in self.nodes}
        found = []
        for inst in sorted(cfg.instances.values(), key=lambda i: i.name):
            if inst.primary_node not in members:
                continue
            problems = ipolicy.instance_violations(cfg, inst, policy)
            if problems:
                found.append(report.warning(report.EINSTANCEPOLICY, inst.name,
                                            ", ".join(problems)))
        return found

    def _verify_node(self, reporter: Reporter, node: Node,
                     result: NodeResult[NodeVerifyResult] | None,
                     window: verify_nodes.TimeWindow) -> None:
        verbose = self.op.verbose
        if node.offline:
            if verbose:
                self.log_info(f"* Skipping offline node {node.name}")
            return
        if verbose:
            self.log_info(f"* Verifying node {node.name}"
                          f" ({node_type(node, self.cfg.cluster.master_node)})")
        if result is None:
            result = NodeResult.failure(node.name, "node_verify", "no answer")
        reporter.report(verify_nodes.node_findings(node, result, window))
        if result.payload is not None:
            reporter.report(self._space_findings(node, result.payload))

    def _space_findings(self, node: Node, payload: NodeVerifyResult) -> list[Finding]:
        """VG space on vm_capable nodes; configuration and queue space on the master and
        the candidates."""
        found = []
        vg = verify_space.cluster_vg(self.cfg.cluster)
        if vg is not None and node.vm_capable:
            found += verify_space.vg_findings(node.name, payload, vg)
            space = (payload.vg_space or {}).get(vg)
            if self.op.verbose and space is not None and space.free_mib is not None:
                self.log_info(f"  - INFO: node {node.name}: volume group {vg}:"
                              f" {space.free_mib} MiB free of {space.size_mib} MiB")
        if node.master_candidate or node.uuid == self.cfg.cluster.master_node:
            paths = verify_space.queue_and_config_paths(self.ctx.layout)
            found += verify_space.disk_findings(node.name, payload, paths)
        return found

    async def _report_resources(self, online: list[Node]) -> None:
        cluster = self.cfg.cluster
        units = [["file", cluster.file_storage_dir, []]] if cluster.file_storage_dir else []
        specs = [[hv, cluster.hvparams.get(hv, {})] for hv in cluster.enabled_hypervisors]
        results = await self.ctx.rpc.node_info(online, units, specs)
        for name, result in sorted(results.items()):
            info = result.payload
            if info is None:
                continue
            self.log_info(f"  - INFO: node {name}: memory {info.memory_free} MiB free"
                          f" of {info.memory_total} MiB")
            for unit in info.storage:
                if unit.storage_free is not None:
                    self.log_info(f"  - INFO: node {name}: {unit.type} storage"
                                  f" {unit.name}: {unit.storage_free} MiB free"
                                  f" of {unit.storage_size} MiB")

    def _other_notes(self) -> None:
        offline = sum(1 for n in self.nodes if n.offline)
        drained = sum(1 for n in self.nodes if n.drained)
        if not (offline or drained):
            return
        self.log_info("* Other Notes")
        if offline:
            self.log_info(f"  - NOTICE: {offline} offline node(s) found.")
        if drained:
            self.log_info(f"  - NOTICE: {drained} drained node(s) found.")
