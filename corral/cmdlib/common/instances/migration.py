"""Moving a running instance to another node (Ganeti's TLMigrateInstance, migration part).

The phases, as the master runs them (see ``hypervisor/base.py``)::

    source instance_migratable (in check_prereq) -> source migration_info
    -> [_prepare_disks: node-local copies created on the target; DRBD: dual-primary]
    -> target accept_instance
    -> source instance_migrate -> source instance_get_migration_status, every 0.5 s
    -> source finalize_migration_src(True) -> commit (primary = target)
    -> target finalize_migration_dst(True) -> [source: remove the old disks]

Until the commit, any failure aborts: the target discards what it received
(``finalize_migration_dst(False)``), the source resumes the guest
(``finalize_migration_src(False)``), the disk twins made on the target are removed,
and the configuration still names the source, where the guest runs.

Once the source reports the transfer completed, the migration only goes forward:
the target holds the guest's memory (and, for QEMU, the locks of its shared disks),
so the source could not resume it anyway. If the target's daemon died meanwhile,
the configuration still moves to the target and the error says to run
``gnt-instance migrate --cleanup``, which resumes the guest there.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from corral.cmdlib.base import LogicalUnit
from corral.cmdlib.common.instances.bundle import build_bundle, instance_disks
from corral.cmdlib.common.instances.live_storage import (
    create_target_disks,
    placed_on,
    release_disks,
    remove_disk_copies,
)
from corral.cmdlib.common.instances.relocation import moved_to
from corral.errors import CorralError, OpExecError
from corral.objects.bundle import InstanceBundle
from corral.objects.instance import Disk, Instance
from corral.objects.node import Node
from corral.rpc.payloads import MigrationEndpoint, MigrationProgress

POLL_INTERVAL = 0.1
"""Seconds between two status polls of the source (the end is noticed this soon)."""
LOG_INTERVAL = 0.5
"""Seconds between two progress lines in the job log."""
SILENCE_LIMIT = 3.0
"""Seconds without an answer from the source (and at least three polls) after which
it is taken for lost and the migration aborted."""
ACTIVE = frozenset({"setup", "active"})
COMPLETED = "completed"


class MigrationAborted(Exception):
    """A phase before the switch failed; ``str()`` says which and why."""


@dataclass(frozen=True)
class MigrationPlan:
    """What check_prereq decided: where the instance goes and how."""

    instance: Instance
    source: Node
    target: Node
    live: bool
    copy_disks: bool
    current_memory: int | None = None
    """MiB the guest uses now (None: unknown)."""
    target_free_memory: int | None = None
    allow_runtime_changes: bool = True


def progress_line(status: MigrationProgress) -> str:
    """One job-log line for a poll of the source."""
    if status.phase == "disks":
        done, total = status.disk_transferred, status.disk_total
        percent = 100.0 * done / total if total else 0.0
        rate = f", {status.rate:.1f} MiB/s" if status.rate else ""  # none measured yet
        return f"* disk copy progress: {percent:.2f} % ({done}/{total} MiB{rate})"
    total, remaining = status.total_ram, status.remaining_ram
    # Pages left to send, not bytes sent, measure progress: zero pages cost no bytes.
    percent = 100.0 * (total - remaining) / total if total else 0.0
    return (f"* memory transfer progress: {percent:.2f} % ({status.transferred_ram} MiB"
            f" transferred, {remaining} of {total} MiB remaining, {status.rate:.1f} MiB/s,"
            f" expected downtime {status.expected_downtime} ms)")


class Migration:
    """One migration of ``plan.instance`` from ``plan.source`` to ``plan.target``."""

    def __init__(self, lu: LogicalUnit[Any], plan: MigrationPlan) -> None:
        self.lu = lu
        self.plan = plan
        self.inst = plan.instance
        self.disks: list[Disk] = instance_disks(lu.cfg, plan.instance)
        self.target_disks: list[Disk] = []
        self.info = ""

    def bundle(self, node: Node) -> InstanceBundle:
        """The instance as ``node`` sees it (the disks placed there)."""
        disks = placed_on(self.disks, node)
        return build_bundle(self.lu.cfg, self.inst, disks=disks, node=node.uuid)

    async def run(self) -> None:
        """Migrate; see the module docstring for what a failure leaves behind.

        Raises:
            OpExecError: the migration failed (the guest stays on the source) or it
                succeeded but could not be completed on the target.
        """
        plan, lu = self.plan, self.lu
        lu.log_info(f"Migrating instance {self.inst.name}")
        await self._fit_memory()
        try:
            await self._transfer()
        except MigrationAborted as err:
            lu.log_info("Migration failed, aborting")
            await self.abort()
            raise OpExecError(f"Could not migrate instance {self.inst.name}: {err};"
                              f" it keeps running on {plan.source.name}") from None
        await self._switch()
        lu.log_info("* done")

    async def _fit_memory(self) -> None:
        """Balloon the guest down to the target's free memory if it must (and may)."""
        plan = self.plan
        current, free = plan.current_memory, plan.target_free_memory
        if current is None or free is None or current <= free:
            return
        if not plan.allow_runtime_changes:
            raise OpExecError(
                f"Memory ballooning not allowed and not enough free memory to fit instance"
                f" {self.inst.name} on target node {plan.target.name} (have {free}MB,"
                f" need {current}MB)")
        self.lu.log_info(f"* setting instance memory to {free}")
        result = await self.lu.ctx.rpc.instance_balloon_memory(
            plan.source, self.bundle(plan.source), free)
        if not result.ok:
            raise OpExecError(f"Cannot modify instance runtime memory: {result.fail_msg}")

    async def _transfer(self) -> None:
        """Every phase up to the source letting go of the guest."""
        plan, rpc = self.plan, self.lu.ctx.rpc
        info = await rpc.migration_info(plan.source, self.bundle(plan.source))
        if not info.ok:
            raise MigrationAborted(f"failed fetching source migration information from"
                                   f" {plan.source.name}: {info.fail_msg}")
        self.info = info.payload or ""
        await self._prepare_disks()
        endpoint = await self._accept()
        self.lu.log_info(f"* migrating instance to {plan.target.name}")
        started = await rpc.instance_migrate(plan.source, self.lu.cfg.cluster.cluster_name,
                                             self.bundle(plan.source), endpoint, plan.live)
        if not started.ok:
            raise MigrationAborted(f"the source {plan.source.name} could not start it:"
                                   f" {started.fail_msg}")
        await self._wait()
        done = await rpc.instance_finalize_migration_src(plan.source, self.bundle(plan.source),
                                                         True, plan.live)
        if not done.ok:
            raise MigrationAborted(f"finalization failed on the source {plan.source.name}:"
                                   f" {done.fail_msg}")

    async def _prepare_disks(self) -> None:
        """What the disks need before the target accepts: copies of node-local ones."""
        if self.plan.copy_disks:
            await self._create_target_disks()

    async def _create_target_disks(self) -> None:
        plan = self.plan
        self.lu.log_info(f"* creating the instance's disks on {plan.target.name}")
        try:
            self.target_disks = await create_target_disks(self.lu, self.inst, self.disks,
                                                          plan.target)
        except OpExecError as err:
            raise MigrationAborted(str(err)) from None

    async def _accept(self) -> MigrationEndpoint:
        plan = self.plan
        self.lu.log_info(f"* preparing {plan.target.name} to accept the instance")
        result = await self.lu.ctx.rpc.accept_instance(
            plan.target, self.bundle(plan.target), self.info,
            plan.target.effective_secondary_ip, plan.copy_disks)
        if not result.ok or result.payload is None:
            raise MigrationAborted(f"the target {plan.target.name} could not prepare to"
                                   f" accept it: {result.fail_msg}")
        return result.payload

    async def _wait(self) -> None:
        """Poll the source until the transfer ends, logging each poll."""
        plan, lu = self.plan, self.lu
        lu.log_info("* copying the disks, then the memory" if plan.copy_disks
                    else "* starting memory transfer")
        misses, silent_since = 0, 0.0
        logged_at: float | None = None
        while True:
            result = await lu.ctx.rpc.instance_get_migration_status(
                plan.source, self.bundle(plan.source))
            status = result.payload
            now = lu.ctx.clock.monotonic()
            if not result.ok or status is None:
                misses += 1
                silent_since = silent_since if misses > 1 else now
                if misses == 1 or now - (logged_at or 0.0) >= LOG_INTERVAL:
                    lu.log_warning(f"No migration status from {plan.source.name}"
                                   f" ({misses} polls): {result.fail_msg}")
                    logged_at = now
                if misses >= 3 and now - silent_since >= SILENCE_LIMIT:
                    raise MigrationAborted(f"the source {plan.source.name} stopped"
                                           f" answering: {result.fail_msg}")
            elif status.status == COMPLETED:
                lu.log_info("* memory transfer complete")
                return
            elif status.status not in ACTIVE:
                raise MigrationAborted(status.error or "hypervisor returned failure")
            else:
                misses = 0
                if logged_at is None or now - logged_at >= LOG_INTERVAL:
                    lu.log_info(progress_line(status))
                    logged_at = now
            await lu.ctx.clock.sleep(POLL_INTERVAL)

    async def abort(self) -> None:
        """Best effort: discard on the target, resume on the source, drop the twins."""
        plan, rpc, lu = self.plan, self.lu.ctx.rpc, self.lu
        dst = await rpc.instance_finalize_migration_dst(plan.target, self.bundle(plan.target),
                                                        self.info, False)
        if not dst.ok:
            lu.log_warning(f"Aborting migration failed on target node {plan.target.name}:"
                           f" {dst.fail_msg}")
        src = await rpc.instance_finalize_migration_src(plan.source, self.bundle(plan.source),
                                                        False, plan.live)
        if not src.ok:
            lu.log_warning(f"Aborting migration failed on source node {plan.source.name}:"
                           f" {src.fail_msg}")
        if self.target_disks:
            await remove_disk_copies(lu, self.inst, self.target_disks, plan.target,
                                     what="new")
            self.target_disks = []
        elif not plan.copy_disks:
            await release_disks(lu, self.inst, self.disks, plan.target)

    async def _switch(self) -> None:
        """The source let go: the configuration follows, the target runs the guest."""
        plan, lu = self.plan, self.lu
        inst, disks = moved_to(lu.cfg, lu.cfg.instances.get(self.inst.uuid, self.inst),
                               plan.source.uuid, plan.target.uuid, lu.now())
        committed = await self._commit(inst, disks)
        result = await lu.ctx.rpc.instance_finalize_migration_dst(
            plan.target, self.bundle(plan.target), self.info, True)
        if not result.ok:
            kept = (f" (its old disks stay on {plan.source.name})" if plan.copy_disks
                    else "")
            raise OpExecError(
                f"Instance {self.inst.name} was migrated to {plan.target.name}{kept} but could"
                f" not be resumed there: {result.fail_msg}; run 'gnt-instance migrate"
                f" --cleanup {self.inst.name}' once the node answers")
        if committed is not None:
            raise committed
        if plan.copy_disks:
            await remove_disk_copies(lu, self.inst, placed_on(self.disks, plan.source),
                                     plan.source, what="old")
        else:
            await release_disks(lu, self.inst, self.disks, plan.source)

    async def _commit(self, inst: Instance, disks: list[Disk]) -> OpExecError | None:
        """Commit the move; a failure is returned, to raise once the guest runs."""
        try:
            await self.lu.commit(inst, *disks)
        except CorralError as err:
            return OpExecError(
                f"Instance {self.inst.name} now runs on {self.plan.target.name}, but the"
                f" configuration could not be updated: {err}; run 'gnt-instance migrate"
                f" --cleanup {self.inst.name}'")
        return None
