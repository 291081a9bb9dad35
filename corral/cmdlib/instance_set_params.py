"""Modifying an instance (``gnt-instance modify``): parameters, OS, offline flag,
runtime memory, disks and NICs.

Locks: the instance and its nodes exclusively; the cluster lock shared.

Result: Ganeti's list of ``[parameter, new value]`` pairs (``be/maxmem``,
``hv/kernel_path``, ``os/x``, ``disk/1`` ``add:size=1024,mode=rw``, ``nic.mac/0``,
``runtime_memory``, ``admin_state``). New disks are created before anything is
committed (and removed again if one fails); removed disks leave their nodes
before the single commit.
"""

from __future__ import annotations

from typing import Any

from corral.cmdlib.base import implements
from corral.cmdlib.common.allocation import check_free_disk, disk_space_needs
from corral.cmdlib.common.instances.base_lu import InstanceLU
from corral.cmdlib.common.instances.bundle import filled_beparams, filled_osparams
from corral.cmdlib.common.instances.conversion import (
    MIRRORED_TARGETS,
    allocate_secondary,
    convert,
    prepare,
)
from corral.cmdlib.common.instances.conversion_plan import ConversionPlan
from corral.cmdlib.common.instances.disks import create_disks, remove_disks
from corral.cmdlib.common.instances.drbd import DrbdAllocator, disk_tree
from corral.cmdlib.common.instances.macs import MacPool
from corral.cmdlib.common.instances.memory import check_maxmem_growth, check_runtime_mem
from corral.cmdlib.common.instances.modifications import (
    DiskPlan,
    Mod,
    normalize,
    plan_disks,
    plan_nics,
)
from corral.cmdlib.common.instances.new_instance import full_hvparams
from corral.cmdlib.common.instances.status import (
    INSTANCE_DOWN,
    INSTANCE_NOT_RUNNING,
    check_state,
)
from corral.cmdlib.common.parameters import checks as params
from corral.cmdlib.common.parameters import ipolicy
from corral.cmdlib.os import validate_os
from corral.errors import ErrorCode, OpExecError, OpPrereqError
from corral.objects.config_data import Kind
from corral.objects.instance import AdminState, DiskTemplate, Nic
from corral.objects.ipolicy import spec_violations
from corral.objects.node import Node
from corral.opcodes.instance import OpInstanceSetParams

_UNSUPPORTED = ("pnode", "pnode_uuid", "file_driver", "file_storage_dir",
                "osparams_private", "instance_communication")


def typed_be_changes(beparams: dict[str, Any]) -> dict[str, Any]:
    """Backend changes with ``memory`` upgraded; values other than ``default`` typed."""
    upgraded = params.upgrade_beparams(beparams)
    typed = params.check_types(
        {k: v for k, v in upgraded.items() if v != params.VALUE_DEFAULT},
        params.BE_TYPES, "backend")
    return {k: typed.get(k, v) for k, v in upgraded.items()}


MIRROR_ADD_REFUSAL = ("cannot add a disk to a running mirror instance (its secondary would"
                      " not serve it until the instance restarts); stop the instance"
                      " (gnt-instance shutdown) and add the disk then")


@implements(OpInstanceSetParams)
class LUInstanceSetParams(InstanceLU[OpInstanceSetParams]):
    """Change an instance's parameters, disks and NICs."""

    HPATH = "instance-modify"

    be_changes: dict[str, Any]
    disk_mods: list[Mod]
    nic_mods: list[Mod]
    new_be: dict[str, Any] | None = None
    new_hv: dict[str, Any] | None = None
    new_os: dict[str, Any] | None = None
    disk_plan: DiskPlan | None = None
    new_nics: list[Nic] | None = None
    nic_changes: list[list[Any]]
    hv_changes: dict[str, Any]
    secondary: Node | None = None
    conversion: ConversionPlan | None = None

    def check_arguments(self) -> None:
        op = self.op
        wanted = [op.nics, op.disks, op.beparams, op.hvparams, op.runtime_mem, op.os_name,
                  op.osparams, op.offline is not None, op.disk_template,
                  *(getattr(op, name) for name in _UNSUPPORTED)]
        if not any(wanted):
            raise OpPrereqError("No changes submitted", ErrorCode.INVAL)
        params.refuse_unsupported({name: getattr(op, name) or None for name in _UNSUPPORTED})
        if op.ext_params:
            raise params.unsupported("ext_params")
        if op.hotplug:
            raise params.unsupported("devices with hotplug")
        if op.disk_template and op.disks:
            raise OpPrereqError("Disk template conversion and other disk changes not"
                                " supported at the same time", ErrorCode.INVAL)
        if op.iallocator and not op.disk_template:
            raise params.unsupported("iallocator")
        self.be_changes = typed_be_changes(op.beparams)
        self.disk_mods, self.nic_mods = normalize(op.disks), normalize(op.nics)
        self.nic_changes = []
        self.hv_changes = {}

    def _allocates(self) -> bool:
        """Whether an allocator chooses the new secondary (no node given)."""
        op = self.op
        return bool(op.disk_template in MIRRORED_TARGETS and not self.secondary
                    and (op.iallocator or self.cfg.cluster.default_iallocator))

    def expand_names(self) -> None:
        super().expand_names()
        op = self.op
        wanted = op.remote_node_uuid or op.remote_node
        if not op.disk_template or not wanted:
            return
        if op.disk_template not in MIRRORED_TARGETS:
            self.log_warning("Changing the disk template to a non-mirrored one, the"
                             " secondary node will be ignored")
            return
        found = self.cfg.nodes.get(op.remote_node_uuid or "")
        self.secondary = found or self.expand_node(op.remote_node or "")

    def lock_node_uuids(self) -> list[str]:
        """The instance's nodes, the new secondary; with an allocator every node of the
        primary's group (as Ganeti)."""
        uuids = super().lock_node_uuids()
        extra = [self.secondary.uuid] if self.secondary is not None else []
        if self._allocates():
            group = self.cfg.nodes[self.inst.primary_node].group
            extra = sorted(n.uuid for n in self.cfg.nodes.values() if n.group == group)
        return uuids + [u for u in extra if u not in uuids]

    async def check_prereq(self) -> None:
        await super().check_prereq()
        inst, op, cluster = self.inst, self.op, self.cfg.cluster
        if self.be_changes:
            self.new_be = params.merge_params(inst.beparams, self.be_changes)
            full = filled_beparams(cluster, self.new_be)
            if int(full["minmem"]) > int(full["maxmem"]):
                raise OpPrereqError(f"Minimum memory ({full['minmem']}) cannot be larger"
                                    f" than maximum memory ({full['maxmem']})", ErrorCode.INVAL)
            if not op.force:
                await check_maxmem_growth(self, inst, int(full["maxmem"]))
        if op.hvparams:
            merged = params.merge_params(inst.hvparams, op.hvparams)
            self.new_hv, _ = full_hvparams(cluster, inst.hypervisor, inst.os, merged)
            self.hv_changes = {k: self.new_hv.get(k, v) for k, v in op.hvparams.items()}
        await self._check_os_and_state()
        if op.disk_template:
            secondary = self.cfg.nodes.get(self.secondary.uuid) if self.secondary else None
            if self._allocates():
                secondary = await allocate_secondary(self, inst,
                                                     DiskTemplate(op.disk_template),
                                                     op.iallocator)
                self._check_locked(secondary)
            self.conversion = await prepare(self, inst, self.disks(),
                                            DiskTemplate(op.disk_template), secondary,
                                            op.ignore_ipolicy)
        if op.runtime_mem:
            be_full = filled_beparams(cluster, self.new_be or inst.beparams)
            await check_runtime_mem(self, inst, op.runtime_mem, be_full, op.force)
        await self._plan_devices()
        await self._check_policy()

    def _check_locked(self, node: Node) -> None:
        if node.uuid not in self.lock_node_uuids():
            raise OpPrereqError(f"The allocator chose node {node.name}, outside the"
                                " locked nodes of the instance's group", ErrorCode.STATE)

    async def _check_policy(self) -> None:
        """The instance as modified against its group's policy, at both ends of its memory."""
        inst, cfg = self.inst, self.cfg
        if not (self.be_changes or self.disk_plan is not None or self.new_nics is not None):
            return
        be = filled_beparams(cfg.cluster, self.new_be or inst.beparams)
        disks = self.disk_plan.disks if self.disk_plan is not None else self.disks()
        group = cfg.nodegroups.get(self.primary().group)
        policy = ipolicy.group_policy(cfg, group)
        nics = self.new_nics if self.new_nics is not None else inst.nics
        found: list[str] = []
        for memory in (int(be["maxmem"]), int(be["minmem"])):
            for problem in spec_violations(
                    policy, memory=memory, vcpus=int(be["vcpus"]),
                    disk_sizes=[d.size for d in disks], nic_count=len(nics),
                    spindle_use=int(be.get("spindle_use", 1)),
                    disk_templates=[d.dev_type.value for d in disks]):
                if problem not in found:
                    found.append(problem)
        if not self.op.ignore_ipolicy:
            ipolicy.check_instance_spec(self, group, found, False)

    async def _check_os_and_state(self) -> None:
        inst, op = self.inst, self.op
        if op.os_name:
            await check_state(self, inst, INSTANCE_DOWN, "cannot change OS")
        if op.os_name or op.osparams:
            os_name = op.os_name or inst.os
            self.new_os = params.merge_params(inst.osparams, op.osparams)
            if not op.force or op.osparams:
                filled = filled_osparams(self.cfg.cluster, os_name,
                                         {**self.new_os, **inst.osparams_private})
                await validate_os(self, [self.primary()], os_name, filled, op.force_variant)
        if op.offline is not None:
            msg = "can't change to offline" if op.offline else "can't change to online"
            await check_state(self, inst, INSTANCE_NOT_RUNNING, msg)

    async def _plan_devices(self) -> None:
        inst = self.inst
        if self.disk_mods:
            if inst.disk_template is DiskTemplate.DISKLESS:
                raise OpPrereqError("Disk operations not supported for diskless instances",
                                    ErrorCode.INVAL)
            alloc = DrbdAllocator(self.cfg, self.ctx.drbd, self.lock_owner or f"lu/{id(self)}")
            plan = plan_disks(self.cfg, inst, self.disks(), self.disk_mods, self.now(), alloc)
            if plan.removed:
                await check_state(self, inst, INSTANCE_NOT_RUNNING, "cannot remove disks")
            if plan.added and inst.disk_template is DiskTemplate.MIRROR:
                await check_state(self, inst, INSTANCE_NOT_RUNNING, MIRROR_ADD_REFUSAL)
            both = plan.children or inst.disk_template is DiskTemplate.MIRROR
            nodes = [self.cfg.nodes[u] for u in self.lock_node_uuids() if u in self.cfg.nodes]
            await check_free_disk(self, nodes if both else nodes[:1],
                                  disk_space_needs(self.cfg.cluster,
                                                   plan.children or plan.added))
            self.disk_plan = plan
        if self.nic_mods:
            pool = MacPool.of(self.cfg)
            self.new_nics, self.nic_changes = plan_nics(
                self.cfg, inst, self.nic_mods, pool, self.primary().group, self.now())

    def hooks_env(self) -> dict[str, Any]:
        env = super().hooks_env()
        if self.op.runtime_mem:
            env["RUNTIME_MEMORY"] = self.op.runtime_mem
        if self.op.disk_template:
            env["NEW_DISK_TEMPLATE"] = self.op.disk_template
        return env

    async def exec(self) -> Any:
        op, inst = self.op, self.inst
        result: list[list[Any]] = []
        if op.runtime_mem:
            await self._balloon(op.runtime_mem)
            result.append(["runtime_memory", op.runtime_mem])
        if self.conversion is not None:
            self.instance = await convert(self, inst, self.conversion, op.wait_for_sync)
            result.append(["disk_template", self.conversion.new.value])
        plan = self.disk_plan
        if plan is not None:
            await create_disks(self, inst, plan.added, plan.children)
            result.extend(plan.changes)
            await remove_disks(self, inst, plan.removed, remaining=plan.disks)
        result.extend(self.nic_changes)
        result.extend([f"hv/{k}", v] for k, v in self.hv_changes.items())
        result.extend([f"be/{k}", v] for k, v in self.be_changes.items())
        result.extend([f"os/{k}", v] for k, v in op.osparams.items())
        if op.offline is not None:
            state = AdminState.OFFLINE if op.offline else AdminState.DOWN
            result.append(["admin_state", state.value])
        await self._commit(plan)
        return result

    async def _balloon(self, memory: int) -> None:
        result = await self.ctx.rpc.instance_balloon_memory(self.primary(),
                                              self.bundle(), memory)
        if not result.ok:
            raise OpExecError(f"Cannot modify instance runtime memory: {result.fail_msg}")

    async def _commit(self, plan: DiskPlan | None) -> None:
        op, inst = self.op, self.inst
        candidates = (("beparams", self.new_be), ("hvparams", self.new_hv),
                      ("osparams", self.new_os), ("os", op.os_name))
        changes: dict[str, Any] = {name: value for name, value in candidates
                                   if value is not None}
        if self.new_nics is not None:
            changes["nics"] = tuple(self.new_nics)
        if plan is not None:
            changes["disks"] = tuple(d.uuid for d in plan.disks)
        if op.offline is not None:
            changes["admin_state"] = AdminState.OFFLINE if op.offline else AdminState.DOWN
        if not changes:
            return
        self.instance = inst.evolve(self.now(), **changes)
        disks = [*plan.added, *plan.children, *plan.changed] if plan else []
        removed = [(Kind.DISK, d.uuid) for disk in (plan.removed if plan else [])
                   for d in disk_tree(disk, self.cfg.disks)]
        await self.commit(self.instance, *disks, removed=removed)
