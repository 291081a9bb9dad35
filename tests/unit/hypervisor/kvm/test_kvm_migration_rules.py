"""The pure rules of KVM migration: next step from QEMU's answers, taps, ports, records."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from corral.errors import HypervisorError
from corral.hypervisor.base import (
    DiskSpec,
    InstanceSpec,
    MigrationPhase,
    MigrationState,
    NicSpec,
)
from corral.hypervisor.kvm.cmdline import LaunchContext, build_argv, taps_for
from corral.hypervisor.kvm.incoming import _bind, port_window, target_spec
from corral.hypervisor.kvm.migration import migration_blockers
from corral.hypervisor.kvm.migration_records import (
    MigrationInfo,
    OutgoingRecord,
    capabilities_of,
    decode_info,
    encode_info,
    migration_uri,
    nbd_uri,
)
from corral.hypervisor.kvm.network import unused_taps
from corral.hypervisor.kvm.outgoing import (
    Action,
    DiskFigures,
    Observation,
    assess,
    status_of,
)
from corral.hypervisor.kvm.paths import instance_paths
from corral.hypervisor.kvm.qmp import BlockJob, MigrateInfo
from corral.hypervisor.params import defaults
from corral.layout import NodeLayout

MIB = 1024 * 1024
UUID = "4f1c2a9e-0b7d-4c41-9a53-2d1e7f00c0de"
QUERY_MIGRATE = {
    "status": "active", "setup-time": 3, "total-time": 1520, "expected-downtime": 42,
    "ram": {"transferred": 70 * MIB, "remaining": 30 * MIB, "total": 128 * MIB,
            "duplicate": 100, "normal": 1000, "mbps": 268.4, "dirty-sync-count": 2},
}


def _job(job_id: str, *, ready: bool, offset: int = 0, error: str = "") -> BlockJob:
    return BlockJob(job_id=job_id, kind="mirror", status="ready" if ready else "running",
                    ready=ready, offset=offset, length=64 * MIB, error=error)


def _obs(status: str = "", jobs: tuple[BlockJob, ...] = (), **ram: Any) -> Observation:
    return Observation(MigrateInfo(status=status, **ram), {j.job_id: j for j in jobs})


MIRRORED = OutgoingRecord(name="web1", uri="tcp:10.0.0.2:8102",
                          disk_exports=("nbd://10.0.0.2:8103/web1-disk0",),
                          jobs=("corral-mirror-0",))
PLAIN = OutgoingRecord(name="web1", uri="tcp:10.0.0.2:8102", memory_started=True)
POSTCOPY = OutgoingRecord(name="web1", uri="tcp:10.0.0.2:8102", memory_started=True,
                          capabilities=("postcopy-ram",))


@pytest.mark.parametrize(("record", "obs", "action", "state", "phase"), [
    (MIRRORED, _obs("failed", (_job("corral-mirror-0", ready=False),)), Action.WAIT,
     MigrationState.ACTIVE, MigrationPhase.DISKS),
    (MIRRORED, _obs("", (_job("corral-mirror-0", ready=True),)), Action.START_MEMORY,
     MigrationState.SETUP, MigrationPhase.MEMORY),
    (PLAIN, _obs("setup"), Action.WAIT, MigrationState.SETUP, MigrationPhase.MEMORY),
    (PLAIN, _obs("active", dirty_sync_count=5), Action.WAIT, MigrationState.ACTIVE,
     MigrationPhase.MEMORY),
    (POSTCOPY, _obs("active", dirty_sync_count=1), Action.WAIT, MigrationState.ACTIVE,
     MigrationPhase.MEMORY),
    (POSTCOPY, _obs("active", dirty_sync_count=2), Action.START_POSTCOPY,
     MigrationState.ACTIVE, MigrationPhase.MEMORY),
    (OutgoingRecord(name="web1", uri="u", memory_started=True, live=False,
                    capabilities=("postcopy-ram",)),
     _obs("active", dirty_sync_count=3), Action.WAIT, MigrationState.ACTIVE,
     MigrationPhase.MEMORY),
    (OutgoingRecord(name="web1", uri="u", jobs=("m0",), memory_started=True),
     _obs("pre-switchover", (_job("m0", ready=True),)), Action.SWITCHOVER,
     MigrationState.ACTIVE, MigrationPhase.MEMORY),
    (OutgoingRecord(name="web1", uri="u", jobs=("m0",), memory_started=True),
     _obs("completed", (_job("m0", ready=True),)), Action.FINISH_MIRRORS,
     MigrationState.ACTIVE, MigrationPhase.MEMORY),
    (OutgoingRecord(name="web1", uri="u", jobs=("m0",), memory_started=True),
     _obs("completed"), Action.DONE, MigrationState.COMPLETED, MigrationPhase.MEMORY),
    (PLAIN, _obs("cancelled"), Action.DONE, MigrationState.CANCELLED, MigrationPhase.MEMORY),
    (OutgoingRecord(name="web1", uri="u", jobs=("m0",), memory_started=True,
                    switchover_started=True),
     _obs("device"), Action.WAIT, MigrationState.ACTIVE, MigrationPhase.MEMORY),
], ids=["mirrors-copying-old-failure-ignored", "mirrors-ready", "setup", "active",
        "postcopy-first-pass", "postcopy-switch", "non-live-no-postcopy", "pre-switchover",
        "completed-mirrors-left", "completed", "cancelled",
        "mirrors-finished-at-switchover-are-no-failure"])
def test_assess_next_step(record: OutgoingRecord, obs: Observation, action: Action,
                          state: MigrationState, phase: MigrationPhase) -> None:
    verdict = assess(record, obs)
    assert (verdict.action, verdict.state, verdict.phase) == (action, state, phase)
    assert verdict.error == ("the migration was cancelled" if state == "cancelled" else "")


@pytest.mark.parametrize(("record", "obs", "error"), [
    (MIRRORED, _obs(""), "disk mirror corral-mirror-0 ended before the migration finished"),
    (MIRRORED, _obs("", (_job("corral-mirror-0", ready=False, error="Input/output error"),)),
     "disk mirror corral-mirror-0 failed: Input/output error"),
    (MIRRORED, _obs("", (BlockJob(job_id="corral-mirror-0", kind="mirror", status="concluded",
                                  ready=False, offset=0, length=MIB),)),
     "disk mirror corral-mirror-0 ended before the migration finished"),
    (PLAIN, _obs("failed", error="Unable to write to socket: Broken pipe"),
     "Unable to write to socket: Broken pipe"),
    (PLAIN, _obs("failed"), "QEMU reports the migration failed"),
    (OutgoingRecord(name="web1", uri="u", jobs=("m0",), memory_started=True),
     _obs("active"), "disk mirror m0 ended before the migration finished"),
], ids=["mirror-gone", "mirror-error", "mirror-concluded", "memory-failed", "memory-failed-no-text",
        "mirror-gone-during-memory"])
def test_assess_failures(record: OutgoingRecord, obs: Observation, error: str) -> None:
    verdict = assess(record, obs)
    assert (verdict.action, verdict.state, verdict.error) == (
        Action.DONE, MigrationState.FAILED, error)


def test_status_of_converts_units_and_task_errors_win() -> None:
    obs = Observation(MigrateInfo.from_reply(QUERY_MIGRATE), {})
    figures = DiskFigures()
    figures.update({"m0": _job("m0", ready=False, offset=16 * MIB)}, ("m0",), 10.0)
    figures.update({"m0": _job("m0", ready=True, offset=64 * MIB)}, ("m0",), 12.0)
    figures.update({}, ("m0",), 13.0)  # the job ended: the figures stay
    assert figures.rate == 24 * MIB  # 48 MiB more copied in the 2 s after it was first seen
    status = status_of(assess(PLAIN, obs), obs, figures)
    assert status.state == MigrationState.ACTIVE
    assert (status.transferred_ram_mib, status.remaining_ram_mib, status.total_ram_mib) == (
        70, 30, 128)
    assert status.rate_mib_s == pytest.approx(268.4 / 8 * 1e6 / MIB)
    assert (status.expected_downtime_ms, status.total_time_ms) == (42, 1520)
    assert (status.disk_transferred_mib, status.disk_total_mib) == (64, 64)
    failed = status_of(assess(PLAIN, obs), obs, figures, "QMP migrate-continue failed")
    assert (failed.state, failed.error) == (MigrationState.FAILED,
                                            "QMP migrate-continue failed")


def test_query_replies_parse() -> None:
    assert MigrateInfo.from_reply({}) == MigrateInfo()
    blocked = MigrateInfo.from_reply({"blocked-reasons": ["device x is not migratable"]})
    assert blocked.blocked_reasons == ("device x is not migratable",)
    job = BlockJob.from_reply({"device": "corral-mirror-0", "type": "mirror", "len": 10,
                               "offset": 4, "ready": False, "status": "running"})
    assert (job.job_id, job.offset, job.length, job.ready) == ("corral-mirror-0", 4, 10, False)


def _spec(**changes: Any) -> InstanceSpec:
    fields: dict[str, Any] = {
        "name": "web1", "uuid": UUID, "hvparams": defaults("kvm"), "memory_mib": 128,
        "vcpus": 1, "nics": (NicSpec(mac="aa:00:00:00:00:01"), NicSpec(mac="aa:00:00:00:00:02"))}
    return InstanceSpec(**{**fields, **changes})


def test_tap_variants_fit_and_differ() -> None:
    spec = _spec()
    names = [taps_for(spec, variant) for variant in range(4)]
    assert names[0] == ("corral-4f1c2-0", "corral-4f1c2-1")
    assert names[1] == ("corral1-4f1c2-0", "corral1-4f1c2-1")
    assert len({tap for variant in names for tap in variant}) == 8
    assert all(len(tap) <= 15 for variant in names for tap in variant)
    own = _spec(nics=(NicSpec(mac="aa:00:00:00:00:01", tap="tap-of-web1-x"),))
    assert taps_for(own, 2) == ("tap-of-web1-.2",)


def test_unused_taps_picks_free_variants() -> None:
    choices = [taps_for(_spec(), variant) for variant in range(3)]
    taken = {"corral-4f1c2-0", "corral-4f1c2-1", "corral1-4f1c2-1"}
    assert unused_taps(choices, taken.__contains__) == ("corral1-4f1c2-0", "corral2-4f1c2-1")
    with pytest.raises(HypervisorError, match=r"NIC 0: tap names corral-4f1c2-0, .* in use"):
        unused_taps(choices, lambda _: True)


def test_bind_walks_the_window() -> None:
    tried: list[int] = []

    async def busy_until(port: int) -> None:
        tried.append(port)
        if port < 8104:
            raise HypervisorError("QMP migrate-incoming failed: Failed to bind socket: "
                                  "Address already in use")

    window = port_window(8102)
    assert asyncio.run(_bind(window, window, "10.0.0.2", busy_until)) == 8104
    assert tried == [8102, 8103, 8104]

    async def always_busy(port: int) -> None:
        raise HypervisorError("Failed to bind socket: Address already in use")

    with pytest.raises(HypervisorError, match=r"^no free migration port on 10\.0\.0\.2: "
                       r"ports 8102-8117 are all in use$"):
        asyncio.run(_bind(window, window, "10.0.0.2", always_busy))

    async def wrong_address(port: int) -> None:
        raise HypervisorError("Failed to bind socket: Cannot assign requested address")

    with pytest.raises(HypervisorError, match="Cannot assign requested address"):
        asyncio.run(_bind(window, window, "10.0.0.9", wrong_address))
    assert port_window(65530) == range(65530, 65536)


def _info(spec: InstanceSpec) -> MigrationInfo:
    return MigrationInfo(name=spec.name, accel="tcg", machine="pc-i440fx-7.2",
                         memory_mib=96, vcpus=2, instance=spec.to_dict())


def test_migration_info_round_trip_and_target_spec() -> None:
    source = _spec(disks=(DiskSpec(path="/srv/a/web1.disk0"),))
    info = decode_info(encode_info(_info(source)))
    local = _spec(disks=(DiskSpec(path="/srv/b/web1.disk0"),), memory_mib=512,
                  primary_node="node2")
    spec = target_spec(info, local)
    assert (spec.disks, spec.memory_mib, spec.vcpus, spec.primary_node) == (
        local.disks, 96, 2, "node2")
    assert spec.nics == source.nics
    with pytest.raises(HypervisorError, match="the source has 1 disks, this node 0"):
        target_spec(info, _spec())
    with pytest.raises(HypervisorError, match="migration info is for instance web1, not db1"):
        target_spec(info, _spec(name="db1", disks=local.disks))


@pytest.mark.parametrize(("text", "error"), [
    ("not json", "malformed KVM migration info"),
    ('{"name": "x"}', "malformed KVM migration info"),
    (encode_info(_info(_spec())).replace('"version":1', '"version":9'),
     "unsupported KVM migration info version 9"),
], ids=["garbage", "missing-fields", "future-version"])
def test_bad_migration_info_is_refused(text: str, error: str) -> None:
    with pytest.raises(HypervisorError, match=error):
        decode_info(text)


def test_small_helpers() -> None:
    assert capabilities_of({"migration_caps": "postcopy-ram: xbzrle:"}) == (
        "postcopy-ram", "xbzrle")
    assert capabilities_of({}) == ()
    assert migration_uri("10.0.0.2", 8102) == "tcp:10.0.0.2:8102"
    assert migration_uri("fd00::2", 8102) == "tcp:[fd00::2]:8102"
    assert nbd_uri("10.0.0.2", 8103, "web1-disk0") == "nbd://10.0.0.2:8103/web1-disk0"
    assert migration_blockers({"disk_type": "scsi-generic"}) == [
        "disk_type 'scsi-generic' passes a host device through"]
    assert migration_blockers(defaults("kvm")) == []


def test_incoming_command_line_defers_and_pauses() -> None:
    paths = instance_paths(NodeLayout(Path("/")), "web1")
    argv = build_argv(_spec(nics=()), LaunchContext(paths=paths, accel="tcg", paused=True,
                                                    incoming=True))
    assert "-incoming defer" in " ".join(argv)
    assert "-S" in argv
    plain = build_argv(_spec(nics=()), LaunchContext(paths=paths, accel="tcg"))
    assert "-incoming" not in plain
