"""The source side of a KVM migration (shared storage, or live storage over NBD).

:class:`SourceMigrations` holds the driver's background tasks
(:class:`~corral.hypervisor.kvm.outgoing.OutgoingRun`), one per instance, and the
record each leaves on disk, so a restarted node daemon reports the migration
from QEMU and carries it on.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

from corral.errors import HypervisorError
from corral.hypervisor.base import (
    InstanceSpec,
    MigrationPhase,
    MigrationState,
    MigrationStatus,
    MigrationTarget,
)
from corral.hypervisor.kvm import incoming
from corral.hypervisor.kvm.cmdline import hv_value
from corral.hypervisor.kvm.migration_records import (
    PAUSE_BEFORE_SWITCHOVER,
    MigrationInfo,
    OutgoingRecord,
    capabilities_of,
    encode_info,
    migration_uri,
    read_outgoing,
    remove_outgoing,
    write_outgoing,
)
from corral.hypervisor.kvm.outgoing import (
    POLL,
    Action,
    OutgoingRun,
    assess,
    end_mirrors,
    observe,
    status_of,
)
from corral.hypervisor.kvm.qmp import QmpSession
from corral.hypervisor.kvm.runtime import KvmRuntime

if TYPE_CHECKING:
    from corral.hypervisor.kvm.driver import KvmHypervisor

_MIB = 1024 * 1024
CANCEL_TIMEOUT = 30.0
"""Seconds a cancelled memory transfer gets to wind down before the guest resumes."""
PASSTHROUGH_DISKS = frozenset({"scsi-block", "scsi-generic"})
_UNSETTLED = frozenset({"setup", "active", "postcopy-active", "postcopy-paused",
                        "postcopy-recover", "pre-switchover", "device", "wait-unplug",
                        "cancelling"})


def migration_blockers(hvparams: Mapping[str, Any]) -> list[str]:
    """Why a guest started with ``hvparams`` cannot migrate (empty: it can)."""
    disk_type = str(hv_value(hvparams, "disk_type"))
    if disk_type in PASSTHROUGH_DISKS:
        return [f"disk_type {disk_type!r} passes a host device through"]
    return []


class SourceMigrations:
    """Outgoing migrations of one driver."""

    def __init__(self, driver: KvmHypervisor) -> None:
        self.driver = driver
        self.runs: dict[str, OutgoingRun] = {}

    def _qmp(self, record: KvmRuntime) -> QmpSession:
        return QmpSession(Path(record.qmp_socket))

    def _outgoing(self, name: str) -> OutgoingRecord | None:
        run = self.runs.get(name)
        if run is not None:
            return run.record
        return read_outgoing(self.driver.paths(name).outgoing)

    async def check(self, instance: InstanceSpec) -> None:
        """Raise unless ``instance`` runs here and QEMU could migrate it now."""
        record = await self.driver.require_live(instance.name)
        run = self.runs.get(instance.name)
        if run is not None and run.running:
            raise HypervisorError(f"a migration of instance {instance.name} is in progress")
        problems = migration_blockers(record.hvparams)
        async with self._qmp(record) as qmp:
            problems += (await qmp.query_migrate()).blocked_reasons
        if problems:
            raise HypervisorError(f"instance {instance.name} cannot be migrated: "
                                  + "; ".join(problems))

    async def info(self, instance: InstanceSpec) -> str:
        """The :class:`MigrationInfo` of the running guest, as text."""
        record = await self.driver.require_live(instance.name)
        async with self._qmp(record) as qmp:
            status = await qmp.query_status()
            aliases = await qmp.machine_aliases()
        hvparams = dict(record.hvparams)
        machine = str(hv_value(hvparams, "machine_version")) or "pc"
        machine = aliases.get(machine, machine)
        hvparams["machine_version"] = machine
        source = {**record.instance, "hvparams": hvparams}
        return encode_info(MigrationInfo(
            name=record.name, accel=record.accel, machine=machine,
            memory_mib=record.memory_mib, vcpus=record.vcpus, instance=source,
            capabilities=capabilities_of(instance.hvparams), was_running=status.running))

    async def migrate(self, instance: InstanceSpec, target: MigrationTarget,
                      live: bool) -> None:
        """Set QEMU up and start the disk mirrors (or the memory transfer) in the
        background; see :meth:`KvmHypervisor.migrate_instance`."""
        name = instance.name
        record = await self.driver.require_live(name)
        await self.check(instance)
        disks = len(InstanceSpec.from_dict(record.instance).disks)
        if target.disk_exports and len(target.disk_exports) != disks:
            raise HypervisorError(f"instance {name} has {disks} disks but the target exports "
                                  f"{len(target.disk_exports)}")
        caps = capabilities_of(instance.hvparams)
        out = OutgoingRecord(
            name=name, uri=migration_uri(target.address, target.port),
            disk_exports=target.disk_exports, live=live,
            jobs=tuple(f"corral-mirror-{i}" for i in range(len(target.disk_exports))),
            capabilities=caps + ((PAUSE_BEFORE_SWITCHOVER,) if target.disk_exports else ()))
        path = self.driver.paths(name).outgoing
        async with self._qmp(record) as qmp:
            out = await self._set_up(qmp, out, instance.hvparams, path)
        run = OutgoingRun(out, Path(record.qmp_socket), path, self.driver.clock)
        self.runs[name] = run
        run.start()

    async def _set_up(self, qmp: QmpSession, out: OutgoingRecord,
                      hvparams: Mapping[str, Any], path: Path) -> OutgoingRecord:
        """Parameters, capabilities, ``stop`` (non-live), mirrors; undone on failure."""
        status = await qmp.query_status()
        out = msgspec.structs.replace(out, was_running=status.running)
        await asyncio.to_thread(write_outgoing, path, out)
        bandwidth = int(hv_value(hvparams, "migration_bandwidth")) * _MIB
        try:
            await qmp.migrate_set_parameters(
                max_bandwidth=bandwidth,
                downtime_limit_ms=int(hv_value(hvparams, "migration_downtime")))
            await qmp.migrate_set_capabilities(
                {PAUSE_BEFORE_SWITCHOVER: False} | dict.fromkeys(out.capabilities, True))
            if not out.live and status.running:
                await qmp.stop()
            for index, (job, export) in enumerate(zip(out.jobs, out.disk_exports,
                                                      strict=True)):
                await qmp.drive_mirror(f"disk{index}", export, job_id=job, speed=bandwidth)
        except BaseException:
            with contextlib.suppress(HypervisorError):
                await self._undo(qmp, out)
            await asyncio.to_thread(remove_outgoing, path)
            raise
        return out

    async def _undo(self, qmp: QmpSession, out: OutgoingRecord) -> None:
        """Cancel the memory transfer and the mirrors, clear the capabilities, resume."""
        if (await qmp.query_migrate()).status in _UNSETTLED:
            await qmp.migrate_cancel()
            await self._settle(qmp)
        await end_mirrors(qmp, out.jobs, self.driver.clock, force=True)
        with contextlib.suppress(HypervisorError):
            await qmp.migrate_set_capabilities(dict.fromkeys(out.capabilities, False))
        status = await qmp.query_status()
        if out.was_running and not status.running:
            await qmp.cont()

    async def _settle(self, qmp: QmpSession) -> None:
        clock = self.driver.clock
        deadline = clock.monotonic() + CANCEL_TIMEOUT
        while (await qmp.query_migrate()).status in _UNSETTLED:
            if clock.monotonic() > deadline:
                raise HypervisorError("the cancelled migration did not end")
            await clock.sleep(POLL)

    async def status(self, instance: InstanceSpec) -> MigrationStatus:
        """Progress from QEMU; resumes the background task after a daemon restart."""
        name = instance.name
        out = self._outgoing(name)
        if out is None:
            raise HypervisorError(f"no migration of instance {name} is in progress")
        record = await self.driver.live_record(name)
        if record is None:
            return MigrationStatus(state=MigrationState.FAILED, phase=MigrationPhase.MEMORY,
                                   error=f"the QEMU process of {name} ended during the "
                                   "migration")
        run = self.runs.get(name)
        async with self._qmp(record) as qmp:
            obs = await observe(qmp, out)
        verdict = assess(out, obs)
        if run is None:
            run = OutgoingRun(out, Path(record.qmp_socket), self.driver.paths(name).outgoing,
                              self.driver.clock)
            self.runs[name] = run
            if verdict.action is not Action.DONE:
                run.start()
        run.disks.update(obs.jobs, out.jobs, self.driver.clock.monotonic())
        return status_of(verdict, obs, run.disks, run.error)

    async def finalize(self, instance: InstanceSpec, success: bool, live: bool) -> None:
        """See :meth:`KvmHypervisor.finalize_migration_src`."""
        name = instance.name
        run = self.runs.pop(name, None)
        if run is not None:
            await run.stop()
        out = run.record if run is not None else read_outgoing(self.driver.paths(name).outgoing)
        if success:
            await self._hand_over(name)
        else:
            await self._resume(instance, out, live)
        await asyncio.to_thread(remove_outgoing, self.driver.paths(name).outgoing)

    async def _hand_over(self, name: str) -> None:
        """The target has the guest: end the local QEMU, remove its taps and files."""
        record = await self.driver.live_record(name)
        if record is not None:
            async with self._qmp(record) as qmp:
                status = (await qmp.query_migrate()).status
            if status != "completed":
                raise HypervisorError(f"the migration of instance {name} has not completed "
                                      f"(QEMU says {status or 'nothing'}); the source keeps it")
            await self.driver.force_off(record)
        await self.driver.cleanup(name)

    async def _resume(self, instance: InstanceSpec, out: OutgoingRecord | None,
                      live: bool) -> None:
        """Cancel what still runs and let the guest go on here.

        A guest this node received and never finalized (a cleanup found it here and
        keeps it) is finalized as a migration target would be.
        """
        name = instance.name
        record = await self.driver.live_record(name)
        if record is None:
            await self.driver.cleanup(name)
            raise HypervisorError(f"instance {name} is no longer running on the source node")
        if out is None and record.incoming:
            await incoming.finalize(self.driver, instance, True)
            return
        async with self._qmp(record) as qmp:
            if out is None:
                state = (await qmp.query_status()).status
                out = OutgoingRecord(name=name, uri="", live=live,
                                     was_running=state == "postmigrate" or not live)
            await self._undo(qmp, out)
