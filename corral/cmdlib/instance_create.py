"""Creating an instance (``gnt-instance add``): Ganeti's LUInstanceCreate, create mode.

Locks: the new instance name (a lock the configuration does not know yet), the
primary (and, for ``drbd``, secondary) node's node lock shared and node-res lock
exclusively (every node when an allocator picks them), the cluster lock shared.
A ``drbd`` instance's minors and port are reserved for the job when its disks
are built (:mod:`corral.cmdlib.common.instances.drbd`).

``check_prereq`` builds the complete instance: its Disk objects (logical ids,
sizes), NICs (MACs generated or checked) and parameters, and checks space,
memory and the OS on the node. ``exec`` creates the disks (removing them again
if one fails), wipes them when the cluster asks for it, commits instance and
disks in one commit, installs the OS (on failure taking disks and instance away
again) and starts the instance.

Without ``pnode`` an allocator chooses the node: ``iallocator`` if given, else the
cluster's ``default_iallocator``, else Corral's own (:mod:`corral.iallocator`). The new
instance must fit its group's instance policy unless ``ignore_ipolicy``.
``name_check``/``ip_check`` are accepted but Corral neither resolves nor pings.
"""

from __future__ import annotations

from typing import Any

import msgspec

from corral.cmdlib.base import HookObjectType, LogicalUnit, implements
from corral.cmdlib.common import hooks_env, iallocation
from corral.cmdlib.common.allocation import (
    check_free_disk,
    check_free_memory,
    disk_space_needs,
)
from corral.cmdlib.common.instances.bundle import build_bundle, instance_node_names
from corral.cmdlib.common.instances.disk_sync import wait_for_sync
from corral.cmdlib.common.instances.disks import (
    MIRRORED,
    assemble_disks,
    create_disks,
    remove_disks,
    shutdown_disks,
    wipe_disks,
)
from corral.cmdlib.common.instances.drbd import DrbdAllocator
from corral.cmdlib.common.instances.new_instance import (
    NewInstance,
    build_new_instance,
    check_disk_args,
    check_hypervisor_enabled,
    create_template,
    full_beparams,
)
from corral.cmdlib.common.instances.node_disks import node_disks
from corral.cmdlib.common.parameters import ipolicy
from corral.cmdlib.common.tags import added_tags
from corral.cmdlib.os import validate_os
from corral.errors import ErrorCode, OpExecError, OpPrereqError
from corral.iallocator import protocol
from corral.locking.levels import ALL_SET, AllSet, Level
from corral.locking.plan import LockPlan, exclusive, shared
from corral.objects import ipolicy as policy
from corral.objects.config_data import Kind
from corral.objects.instance import AdminState, DiskTemplate, Instance
from corral.objects.names import InvalidName, check_name
from corral.objects.node import Node
from corral.opcodes.instance import OpInstanceCreate

MIB = 1024 * 1024


@implements(OpInstanceCreate)
class LUInstanceCreate(LogicalUnit[OpInstanceCreate]):
    """Create, install and (optionally) start a new instance."""

    HPATH = "instance-add"
    HTYPE = HookObjectType.INSTANCE
    REQ_BGL = False

    start = True
    pnode: Node | None = None
    snode: Node | None = None
    spec: NewInstance | None = None

    def check_arguments(self) -> None:
        op = self.op
        try:
            check_name(op.instance_name, "instance name")
        except InvalidName as err:
            raise OpPrereqError(str(err), ErrorCode.INVAL) from None
        if op.mode != "create":
            raise OpPrereqError(f"Instance creation mode '{op.mode}' is not supported yet",
                                ErrorCode.INVAL)
        if op.forthcoming or op.commit:
            raise OpPrereqError("Forthcoming instances are not supported yet", ErrorCode.INVAL)
        self.start = op.start
        if op.no_install and op.start:
            self.log_info("No-installation mode selected, disabling startup")
            self.start = False
        template = check_disk_args(self.cfg.cluster, op)
        added_tags((), op.tags)
        if template in MIRRORED:
            if (op.pnode or op.pnode_uuid) and not (op.snode or op.snode_uuid):
                raise OpPrereqError("The networked disk templates need a mirror node",
                                    ErrorCode.INVAL)
        elif op.snode or op.snode_uuid:
            self.log_warning("Secondary node will be ignored on non-mirrored disk template")

    def expand_names(self) -> None:
        op = self.op
        if self.cfg.instance_by_name(op.instance_name) is not None:
            raise OpPrereqError(f"Instance '{op.instance_name}' is already in the cluster",
                                ErrorCode.EXISTS)
        wanted = op.pnode or op.pnode_uuid
        if wanted and not op.iallocator:
            self.pnode = self.expand_node(wanted)
            second = op.snode or op.snode_uuid
            if second and create_template(self.cfg.cluster, op) in MIRRORED:
                self.snode = self.expand_node(second)

    def declare_locks(self) -> LockPlan:
        # The node lock is shared: creations on one node run side by side. Its resources
        # are exclusive until the instance and its disks are in the configuration; a
        # diskless instance takes no storage, and its memory is only used once it starts,
        # after the resource lock is released, so it shares them with other creations.
        names: list[str] | AllSet = ALL_SET
        if self.pnode is not None:
            names = [n.name for n in (self.pnode, self.snode) if n is not None]
        res = exclusive(names) if self.op.disks else shared(names)
        return LockPlan.of({Level.INSTANCE: exclusive(self.op.instance_name),
                            Level.NODE: shared(names), Level.NODE_RES: res})

    async def check_prereq(self) -> None:
        op = self.op
        if self.cfg.instance_by_name(op.instance_name) is not None:
            raise OpPrereqError(f"Instance '{op.instance_name}' is already in the cluster",
                                ErrorCode.EXISTS)
        hypervisor = op.hypervisor or self.cfg.cluster.default_hypervisor
        check_hypervisor_enabled(self.cfg.cluster, hypervisor)
        nodes = await self._nodes(hypervisor)
        pnode = nodes[0]
        alloc = DrbdAllocator(self.cfg, self.ctx.drbd, self.lock_owner or f"lu/{id(self)}")
        spec = build_new_instance(self.cfg, op, nodes, hypervisor, self.now(), alloc)
        disks = [d for d, adopted in zip(spec.disks, spec.adopted, strict=True) if not adopted]
        await check_free_disk(self, nodes,
                              disk_space_needs(self.cfg.cluster, spec.children or disks))
        await self._adopted_sizes(spec, pnode)
        self._check_policy(spec, pnode)
        await validate_os(self, [pnode], spec.instance.os, spec.os_full, op.force_variant)
        if self.start:
            await check_free_memory(self, pnode, f"creating instance {op.instance_name}",
                                    int(spec.be_full["maxmem"]), hypervisor)
        self.pnode, self.spec = pnode, spec
        self.snode = nodes[1] if len(nodes) > 1 else None

    def _check_policy(self, spec: NewInstance, pnode: Node) -> None:
        """The new instance's specs against its group's policy (Ganeti's ispec check)."""
        be, template = spec.be_full, spec.instance.disk_template.value
        group = self.cfg.nodegroups.get(pnode.group)
        violations = policy.spec_violations(
            ipolicy.group_policy(self.cfg, group), memory=int(be["maxmem"]),
            vcpus=int(be["vcpus"]), disk_sizes=[d.size for d in spec.disks],
            nic_count=len(spec.instance.nics), spindle_use=int(be.get("spindle_use", 1)),
            disk_templates=[template] * len(spec.disks))
        ipolicy.check_instance_spec(self, group, violations, self.op.ignore_ipolicy)

    async def _nodes(self, hypervisor: str) -> tuple[Node, ...]:
        """The primary node and, for a mirrored template, the secondary; checked."""
        mirrored = create_template(self.cfg.cluster, self.op) in MIRRORED
        if self.pnode is not None:
            nodes = [self.expand_node(self.pnode.uuid)]
            if self.snode is not None:
                nodes.append(self.expand_node(self.snode.uuid))
        else:
            nodes = await self._allocate(hypervisor)
        nodes = nodes[:2] if mirrored else nodes[:1]
        if mirrored and len(nodes) < 2:
            raise OpPrereqError("The networked disk templates need a mirror node",
                                ErrorCode.INVAL)
        if mirrored and nodes[1].uuid == nodes[0].uuid:
            raise OpPrereqError("The secondary node cannot be the primary node",
                                ErrorCode.INVAL)
        for node, role in zip(nodes, ("primary", "secondary"), strict=False):
            problems = [(node.offline, "offline"), (node.drained, "drained"),
                        (not node.vm_capable, "non-vm_capable")]
            for bad, what in problems:
                if bad:
                    raise OpPrereqError(f"Cannot use {what} {role} node '{node.name}'",
                                        ErrorCode.STATE)
        if len(nodes) > 1 and nodes[0].group != nodes[1].group:
            self.log_warning("The primary and secondary nodes are in two different node"
                             " groups; the disk parameters from the first disk's node"
                             " group will be used")
        return tuple(nodes)

    async def _allocate(self, hypervisor: str) -> list[Node]:
        """The nodes an allocator (``-I``, else the cluster default, else Corral's own)
        chooses for the new instance (primary first)."""
        op, cluster = self.op, self.cfg.cluster
        _, be = full_beparams(cluster, op.beparams)
        template = create_template(cluster, op).value
        request = protocol.allocate_request(
            name=op.instance_name, disk_template=template, memory=int(be["maxmem"]),
            vcpus=int(be["vcpus"]), spindle_use=int(be.get("spindle_use", 1)),
            disks=[{"size": int(d.get("size") or 0), "mode": d.get("mode", "rw")}
                   for d in op.disks],
            nics=[dict(n) for n in op.nics], os=op.os_type or "", hypervisor=hypervisor,
            tags=op.tags or (), group_name=op.group_name)
        name = iallocation.allocator_name(self, op.iallocator)
        return await iallocation.allocate_instance(self, name, request)

    async def _adopted_sizes(self, spec: NewInstance, pnode: Node) -> None:
        """Sizes of adopted block devices without one, from the node."""
        missing = [i for i, (d, a) in enumerate(zip(spec.disks, spec.adopted, strict=True))
                   if a and d.size <= 0]
        if not missing:
            return
        result = await self.ctx.rpc.blockdev_getdimensions(
            pnode, node_disks(self.cfg, [spec.disks[i] for i in missing], pnode.uuid)
        )
        answers = result.raise_for_failure(prereq=True) or []
        for index, answer in zip(missing, answers, strict=False):
            disk = spec.disks[index]
            if not answer:
                raise OpPrereqError(f"Missing block device(s): {disk.logical_id[1]}",
                                    ErrorCode.INVAL)
            spec.disks[index] = msgspec.structs.replace(disk, size=answer.size_bytes // MIB)

    # --- hooks --------------------------------------------------------------------
    def hooks_env(self) -> dict[str, Any]:
        env: dict[str, Any] = {"ADD_MODE": self.op.mode}
        spec = self.spec
        if spec is not None:
            env.update(hooks_env.instance_env(self.cfg, spec.instance, spec.disks,
                                              bep=spec.be_full, hvp=spec.hv_full,
                                              status=self.start))
        return env

    def hooks_nodes(self) -> tuple[list[Node], list[Node]]:
        nodes = hooks_env.master_and(self.cfg, *(n for n in (self.pnode, self.snode) if n))
        return nodes, nodes

    def dry_run_result(self) -> Any:
        return [n.name for n in (self.pnode, self.snode) if n is not None]

    # --- exec ---------------------------------------------------------------------
    async def exec(self) -> Any:
        spec = self.spec
        assert spec is not None
        inst, disks = spec.instance, spec.disks
        if disks:
            self.log_info("* creating instance disks...")
            await create_disks(self, inst, disks, spec.children)
        await self._wipe(inst)
        if self.start and not disks:
            # nothing to assemble before the start: one commit instead of two
            inst = inst.evolve(self.now(), admin_state=AdminState.UP, disks_active=True)
        self.log_info(f"adding instance {inst.name} to cluster config")
        await self.commit(inst, *disks, *spec.children)
        self.release_level(Level.NODE_RES)
        await self._check_sync(inst)
        if self._installs():
            await self._install(inst)
        if self.start:
            await self._start()
        return instance_node_names(self.cfg, inst, disks)

    def _installs(self) -> bool:
        spec = self.spec
        assert spec is not None
        return bool(spec.disks) and not any(spec.adopted) and not self.op.no_install

    async def _wipe(self, inst: Instance) -> None:
        spec = self.spec
        assert spec is not None
        if not (self.cfg.cluster.prealloc_wipe_disks and spec.disks and not any(spec.adopted)):
            return
        self.log_info("* wiping instance disks...")
        try:
            await wipe_disks(self, inst, spec.disks, children=spec.children)
        except OpExecError as err:
            self.log_warning(f"Wiping instance disks failed ({err})")
            await remove_disks(self, inst, spec.disks, children=spec.children)
            raise OpExecError("There are some degraded disks for this instance") from err

    async def _check_sync(self, inst: Instance) -> None:
        """Wait for new DRBD disks to sync (``wait_for_sync``), or at least see that none
        is degraded (still syncing is fine); degraded disks undo the creation (Ganeti's)."""
        spec = self.spec
        assert spec is not None
        drbd = [d for d in spec.disks if d.dev_type is DiskTemplate.DRBD]
        if not drbd or any(spec.adopted):
            return
        if await wait_for_sync(self, inst, drbd, oneshot=not self.op.wait_for_sync):
            return
        self.log_warning("The new disks of the instance are degraded: removing it")
        await self._forget(inst)
        raise OpExecError("There are some degraded disks for this instance")

    async def _forget(self, inst: Instance) -> None:
        """Remove the new instance's disks from its nodes and the instance from the
        configuration."""
        spec = self.spec
        assert spec is not None
        await remove_disks(self, inst, spec.disks)
        await self.commit(removed=[(Kind.INSTANCE, inst.uuid),
                                   *((Kind.DISK, d.uuid) for d in (*spec.disks, *spec.children))])

    async def _install(self, inst: Instance) -> None:
        spec = self.spec
        assert spec is not None
        disks, node = spec.disks, self.cfg.nodes[inst.primary_node]
        await assemble_disks(self, inst, disks)
        self.log_info("* running the instance OS create scripts...")
        bundle = build_bundle(self.cfg, inst, osparams=spec.os_full)
        result = await self.ctx.rpc.instance_os_add(node, bundle, False,
                                              self.op.debug_level or 0)
        if result.ok:
            if not self.start:
                await shutdown_disks(self, inst, disks)
            return
        await shutdown_disks(self, inst, disks)
        await self._forget(inst)
        raise OpExecError(f"Could not add os for instance {inst.name} on node {node.name}:"
                          f" {result.fail_msg}")

    async def _start(self) -> None:
        spec = self.spec
        assert spec is not None
        inst = self.cfg.instances[spec.instance.uuid]
        if not self._installs():
            await assemble_disks(self, inst, spec.disks, error="Disk consistency error")
        if inst.admin_state is not AdminState.UP or not inst.disks_active:
            inst = inst.evolve(self.now(), admin_state=AdminState.UP, disks_active=True)
            await self.commit(inst)
        self.log_info("* starting instance...")
        node = self.cfg.nodes[inst.primary_node]
        result = await self.ctx.rpc.instance_start(node,
                                              build_bundle(self.cfg, inst), False,
                                              self.op.reason)
        if not result.ok:
            raise OpExecError(f"Could not start instance: {result.fail_msg}")

