"""``gnt-instance migrate``: move a running instance to another node without stopping it.

Shared storage (``sharedfile``, ``blockdev``, ``diskless``, …) needs only the memory
copied; node-local disks (``file``, ``plain``) are copied to the target while the
guest runs (live storage migration); a DRBD instance goes to its secondary, its disks
dual-primary during the transfer (``common/instances/drbd_migration.py``). A stopped
instance, or one whose hypervisor cannot migrate, is failed over instead when
``allow_failover`` is set. ``cleanup`` repairs after an interrupted migration. See
``common/instances/migration.py``.
"""

from __future__ import annotations

from typing import Any

from corral.cmdlib.base import implements
from corral.cmdlib.common.allocation import check_free_disk, check_free_memory, disk_space_needs
from corral.cmdlib.common.instances.base_lu import node_lock_names
from corral.cmdlib.common.instances.bundle import filled_beparams, filled_hvparams
from corral.cmdlib.common.instances.drbd_migration import DrbdMigration, drbd_clean_up
from corral.cmdlib.common.instances.drbd_mobility import DRBD_STEPS, TO_SECONDARY
from corral.cmdlib.common.instances.failover import FailoverPlan, fail_over
from corral.cmdlib.common.instances.live_storage import needs_copy
from corral.cmdlib.common.instances.migration import Migration, MigrationPlan
from corral.cmdlib.common.instances.migration_cleanup import clean_up
from corral.cmdlib.common.instances.mirror_mobility import (
    MirrorMigration,
    choose_target,
    is_mirror,
)
from corral.cmdlib.common.instances.mobility import CAN_FAIL_OVER, SHARED_STORAGE, MobilityLU
from corral.cmdlib.common.instances.status import live_info
from corral.errors import ErrorCode, OpPrereqError
from corral.locking.levels import Level
from corral.locking.plan import LockPlan, exclusive, shared
from corral.objects.instance import AdminState, DiskTemplate
from corral.opcodes.mobility import OpInstanceMigrate
from corral.opcodes.params import DEFAULT_SHUTDOWN_TIMEOUT

MIGRATABLE = SHARED_STORAGE | TO_SECONDARY | {DiskTemplate.FILE, DiskTemplate.PLAIN}


def failover_refusal(template: str) -> OpPrereqError:
    """The refusal of a failover of node-local disks (no copy on another node)."""
    return OpPrereqError(f"Instance's disk layout '{template}' does not allow failover;"
                         " use 'gnt-instance move'", ErrorCode.STATE)


@implements(OpInstanceMigrate)
class LUInstanceMigrate(MobilityLU):
    """Live (or non-live) migration, its fallback to failover, and its cleanup."""

    HPATH = "instance-migrate"
    op: OpInstanceMigrate
    VERB = "migrate"

    failover = False
    live = False
    current_memory: int | None = None
    target_free_memory: int | None = None

    async def check_prereq(self) -> None:
        await super().check_prereq()
        inst, op = self.inst, self.op
        template = inst.disk_template
        if template not in MIGRATABLE:
            raise OpPrereqError(f"Instance's disk layout '{template.value}' does not allow"
                                " migrations", ErrorCode.STATE)
        if op.cleanup:
            await self._prepare_cleanup()
            return
        self._choose_method()
        if self.failover and template not in CAN_FAIL_OVER:
            raise failover_refusal(template.value)
        self.target = await choose_target(self)
        self.check_target_node(self.target)
        self.keep_node_locks(self.primary(), self.target)
        if not self.failover or inst.admin_state is AdminState.UP:
            self.target_free_memory = await check_free_memory(
                self, self.target, f"migrating instance {inst.name}", self.minmem(),
                inst.hypervisor)
        if not self.failover:
            await self._check_migratable()
        if not self.failover:
            await self._prepare_migration()

    def _choose_method(self) -> None:
        inst, op = self.inst, self.op
        if inst.admin_state is not AdminState.UP:
            if not op.allow_failover:
                raise OpPrereqError(f"Can't migrate, please use failover: instance"
                                    f" {inst.name} is marked {inst.admin_state.value}",
                                    ErrorCode.STATE)
            self.log_info("Instance is marked down or offline, fallback allowed,"
                          " switching to failover")
            self.failover = True
        elif filled_beparams(self.cfg.cluster, inst.beparams).get("always_failover"):
            self.log_info("Instance configured to always failover; fallback to failover")
            self.failover = True

    async def _check_migratable(self) -> None:
        result = await self.ctx.rpc.instance_migratable(self.primary(), self.bundle())
        if result.ok:
            return
        if self.op.allow_failover and self.inst.disk_template in CAN_FAIL_OVER:
            self.log_info(f"Can't migrate ({result.fail_msg}), fallback to failover")
            self.failover = True
            return
        raise OpPrereqError(f"Can't migrate, please use failover: {result.fail_msg}",
                            ErrorCode.STATE)

    async def _prepare_migration(self) -> None:
        inst, op = self.inst, self.op
        if op.live is not None:
            mode = "live" if op.live else "non-live"
        else:
            hvp = filled_hvparams(self.cfg.cluster, inst.hypervisor, inst.os, inst.hvparams)
            mode = op.mode or str(hvp.get("migration_mode") or "live")
        self.live = mode == "live"
        info = await live_info(self, inst)
        self.current_memory = info.memory if info is not None else None
        if needs_copy(self.disks()) and self.target is not None:
            await check_free_disk(self, [self.target],
                                  disk_space_needs(self.cfg.cluster, self.disks()))

    async def _prepare_cleanup(self) -> None:
        """Cleanup looks on the given target, or on every node of the group (a DRBD
        instance: on its secondary)."""
        if self.inst.disk_template in DRBD_STEPS:
            self.target = await self.choose_target()
            return
        if self.given_target is not None:
            self.target = self.cfg.nodes.get(self.given_target.uuid, self.given_target)
            if self.target.uuid == self.inst.primary_node:
                raise OpPrereqError(f"Cannot migrate instance {self.inst.name} to its"
                                    f" primary ({self.target.name})", ErrorCode.STATE)

    def declare_locks(self) -> LockPlan:
        """The instance exclusively, its node and the target(s) shared, no resource lock:
        Ganeti locks the nodes and their resources exclusively, so the migrations that
        empty a node run one after the other; here they run side by side, and the
        target's memory is reserved by the check (``check_free_memory``) instead."""
        uuids = self.lock_node_uuids()
        return LockPlan.of({Level.INSTANCE: exclusive(self.inst.name),
                            Level.NODE: shared(node_lock_names(self.cfg, uuids))})

    def hooks_env(self) -> dict[str, Any]:
        return {**super().hooks_env(), "MIGRATE_LIVE": self.live,
                "MIGRATE_CLEANUP": self.op.cleanup,
                "ALLOW_RUNTIME_CHANGES": self.op.allow_runtime_changes, **self.move_env()}

    async def exec(self) -> Any:
        source = self.source or self.primary()
        if self.op.cleanup and self.inst.disk_template in DRBD_STEPS:
            assert self.target is not None
            await drbd_clean_up(self, self.inst, source, self.target)
            return None
        if self.op.cleanup:
            others = [self.target] if self.target is not None else [
                n for n in self.cfg.nodes.values()
                if n.group == source.group and n.uuid != source.uuid]
            await clean_up(self, self.inst, source, others)
            return None
        assert self.target is not None
        if self.failover:
            await fail_over(self, FailoverPlan(
                instance=self.inst, source=source, target=self.target,
                shutdown_timeout=DEFAULT_SHUTDOWN_TIMEOUT, ignore_consistency=False,
                reason=self.op.reason))
            return None
        plan = MigrationPlan(
            instance=self.inst, source=source, target=self.target, live=self.live,
            copy_disks=needs_copy(self.disks()), current_memory=self.current_memory,
            target_free_memory=self.target_free_memory,
            allow_runtime_changes=self.op.allow_runtime_changes)
        migration: type[Migration] = Migration
        if is_mirror(self.inst):
            migration = MirrorMigration
        elif self.inst.disk_template in DRBD_STEPS:
            migration = DrbdMigration
        await migration(self, plan).run()
        return None
