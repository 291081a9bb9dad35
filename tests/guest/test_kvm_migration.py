"""Real QEMU migrations (TCG) between two KVM drivers on two node roots of this host.

The source and the target are two :class:`KvmHypervisor` instances with their own
roots, as two nodes of a virtual cluster; the target listens on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from corral.clock import SystemClock
from corral.errors import HypervisorError
from corral.guestkit import READY_MARKER
from corral.hypervisor.base import (
    DiskSpec,
    HvState,
    InstanceSpec,
    MigrationPhase,
    MigrationState,
    MigrationStatus,
    NicSpec,
)
from corral.hypervisor.kvm.cmdline import taps_for
from corral.hypervisor.kvm.console import SerialConsole
from corral.hypervisor.kvm.driver import KvmHypervisor
from corral.hypervisor.kvm.migration_records import read_outgoing
from corral.hypervisor.kvm.paths import kvm_run_dir
from corral.hypervisor.kvm.qmp import QmpSession
from corral.objects.instance import DiskTemplate, NicMode
from corral.process import SubprocessRunner
from tests.guest.kit import BOOT_TIMEOUT, ask, guest_hvparams, guest_spec, qemu_pids_of

Pair = tuple[KvmHypervisor, KvmHypervisor]
ADDRESS = "127.0.0.1"
MEMORY_MIB = 96
DISK_MIB = 32
MIGRATION_TIMEOUT = 120.0
MARKER = "CORRAL-MIGRATED-DISK"


def _hv(port: int, **extra: Any) -> dict[str, Any]:
    """Guest params with unlimited migration bandwidth and a test-specific port."""
    return guest_hvparams(migration_port=port, migration_bandwidth=0, **extra)


def _disk(path: Path) -> DiskSpec:
    with path.open("wb") as handle:
        handle.truncate(DISK_MIB * 1024 * 1024)
    return DiskSpec(path=str(path), dev_type=DiskTemplate.FILE, size_mib=DISK_MIB)


async def _boot(driver: KvmHypervisor, spec: InstanceSpec) -> SerialConsole:
    await driver.start(spec)
    console = SerialConsole(driver.paths(spec.name).serial_socket)
    await console.open()
    await console.expect(READY_MARKER, timeout=BOOT_TIMEOUT)
    return console


async def _console(driver: KvmHypervisor, name: str) -> SerialConsole:
    console = SerialConsole(driver.paths(name).serial_socket)
    await console.open()
    return console


async def _wait(driver: KvmHypervisor, spec: InstanceSpec) -> list[MigrationStatus]:
    """Poll the source's status until the migration is no longer active; all statuses."""
    seen: list[MigrationStatus] = []
    async with asyncio.timeout(MIGRATION_TIMEOUT):
        while True:
            status = await driver.migration_status(spec)
            seen.append(status)
            if not status.active:
                return seen
            await asyncio.sleep(0.1)


async def _state(driver: KvmHypervisor, name: str) -> HvState | None:
    info = await driver.instance_info(name)
    return None if info is None else info.state


async def _run_files(driver: KvmHypervisor) -> list[str]:
    run = kvm_run_dir(driver.layout)
    return sorted(p.name for p in run.iterdir()) if run.is_dir() else []


async def _capabilities(driver: KvmHypervisor, name: str) -> dict[str, bool]:
    async with QmpSession(driver.paths(name).qmp_socket) as qmp:
        caps = await qmp.execute("query-migrate-capabilities")
    return {c["capability"]: c["state"] for c in caps}


async def _ip_link(tap: str) -> str:
    return (await SubprocessRunner().run(["ip", "-o", "link", "show", tap], timeout=10)).stdout


def _routed_nics() -> tuple[NicSpec, ...]:
    """One routed NIC when this test may create taps (root), else none."""
    if os.geteuid() != 0:
        return ()
    return (NicSpec(mac="52:54:00:c0:ff:31", mode=NicMode.ROUTED),)


def test_live_migration_with_shared_storage(kvm_pair: Pair, tmp_path: Path) -> None:
    source, target = kvm_pair
    spec = replace(guest_spec("mig1", _hv(18300), memory_mib=MEMORY_MIB,
                              nics=_routed_nics()), disks=(_disk(tmp_path / "shared.img"),))

    async def scenario() -> None:
        console = await _boot(source, spec)
        await ask(console)
        await source.check_migratable(spec)
        info = await source.migration_info(spec)
        endpoint = await target.accept_instance(spec, info, ADDRESS)
        assert (endpoint.address, endpoint.disk_exports) == (ADDRESS, ())
        assert 18300 <= endpoint.port < 18316
        assert await target.list_instances() == ["mig1"]
        assert await _state(target, "mig1") == HvState.PAUSED  # incoming: vCPUs stopped
        await source.migrate_instance("cluster", spec, endpoint, True)
        statuses = await _wait(source, spec)
        assert statuses[-1].state == MigrationState.COMPLETED, statuses[-1]
        assert statuses[-1].total_ram_mib > 0
        # QEMU stopped the source copy at switch-over; the target waits for finalize
        assert (await _state(source, "mig1"), await _state(target, "mig1")) == (
            HvState.PAUSED, HvState.PAUSED)
        source_record = await source.runtime("mig1")
        assert source_record is not None
        # a restarted source daemon still reports the finished migration, and finishes it
        again = KvmHypervisor(source.layout, SubprocessRunner(), SystemClock())
        assert (await again.migration_status(spec)).state == MigrationState.COMPLETED
        await again.finalize_migration_src(spec, True, True)
        await console.close()
        # no info needed: a cleanup finalizes so once the source's QEMU is gone
        await target.finalize_migration_dst(spec, "", True)
        assert await _state(target, "mig1") == HvState.RUNNING
        moved = await _console(target, "mig1")
        try:
            await ask(moved)
        finally:
            await moved.close()
        assert await source.list_instances() == []
        assert await _run_files(source) == []
        target_record = await target.runtime("mig1")
        assert target_record is not None
        assert qemu_pids_of(spec.uuid) == [target_record.pid]
        if spec.nics:
            assert target_record.taps != source_record.taps  # the source's name was taken
            assert await _ip_link(source_record.taps[0]) == ""
            assert "UP" in await _ip_link(target_record.taps[0])

    asyncio.run(scenario())


def test_live_storage_migration_copies_a_file_disk(kvm_pair: Pair, tmp_path: Path) -> None:
    source, target = kvm_pair
    hv = _hv(18320)
    spec = replace(guest_spec("mig2", hv, memory_mib=MEMORY_MIB),
                   disks=(_disk(tmp_path / "source.img"),))
    target_spec = replace(spec, disks=(_disk(tmp_path / "target.img"),))

    async def scenario() -> None:
        console = await _boot(source, spec)
        await console.send(f"echo {MARKER}-1 > /dev/vda; sync\n")
        await ask(console)
        info = await source.migration_info(spec)
        endpoint = await target.accept_instance(target_spec, info, ADDRESS, copy_disks=True)
        assert endpoint.disk_exports == (f"nbd://{ADDRESS}:{endpoint.port + 1}/mig2-disk0",)
        await source.migrate_instance("cluster", spec, endpoint, True)
        # written while the disk is being copied: the mirror carries it over
        await console.send(f"echo {MARKER}-2 | dd of=/dev/vda bs=512 seek=4096; sync\n")
        await ask(console)
        statuses = await _wait(source, spec)
        assert statuses[-1].state == MigrationState.COMPLETED, statuses[-1]
        assert statuses[-1].disk_total_mib == DISK_MIB
        assert statuses[-1].disk_transferred_mib >= DISK_MIB
        assert all(s.phase == MigrationPhase.DISKS for s in statuses
                   if s.state == MigrationState.ACTIVE and s.total_ram_mib == 0
                   and s.disk_transferred_mib < DISK_MIB)
        await source.finalize_migration_src(spec, True, True)
        await console.close()
        await target.finalize_migration_dst(target_spec, info, True)
        copied = (tmp_path / "target.img").read_bytes()
        assert copied.startswith(f"{MARKER}-1\n".encode())
        assert copied[4096 * 512:].startswith(f"{MARKER}-2\n".encode())
        moved = await _console(target, "mig2")
        try:
            start = len(moved.output)
            await moved.send("head -c 22 /dev/vda; echo\n")
            await moved.expect(f"{MARKER}-1", timeout=10, start=start)
        finally:
            await moved.close()
        assert await source.list_instances() == []

    asyncio.run(scenario())


def test_non_live_migration_pauses_first(kvm_pair: Pair) -> None:
    source, target = kvm_pair
    spec = guest_spec("mig3", _hv(18340), memory_mib=MEMORY_MIB)

    async def scenario() -> None:
        console = await _boot(source, spec)
        await console.close()
        info = await source.migration_info(spec)
        endpoint = await target.accept_instance(spec, info, ADDRESS)
        await source.migrate_instance("cluster", spec, endpoint, False)
        assert await _state(source, "mig3") == HvState.PAUSED
        statuses = await _wait(source, spec)
        assert statuses[-1].state == MigrationState.COMPLETED, statuses[-1]
        await source.finalize_migration_src(spec, True, False)
        await target.finalize_migration_dst(spec, info, True)
        assert await _state(target, "mig3") == HvState.RUNNING
        moved = await _console(target, "mig3")
        try:
            await ask(moved)
        finally:
            await moved.close()

    asyncio.run(scenario())


@pytest.fixture
def taken_ports() -> Iterator[dict[int, socket.socket]]:
    """Every port of a migration port window, held by listening sockets."""
    with ExitStack() as stack:
        held = {}
        for port in range(18360, 18376):
            sock = stack.enter_context(socket.socket())
            sock.bind((ADDRESS, port))
            sock.listen()
            held[port] = sock
        yield held


def test_full_port_window_fails_and_leaves_nothing(
        kvm_pair: Pair, taken_ports: dict[int, socket.socket]) -> None:
    source, target = kvm_pair
    spec = guest_spec("mig4", _hv(18360), memory_mib=MEMORY_MIB, nics=_routed_nics())

    async def scenario() -> None:
        await source.start(spec)
        info = await source.migration_info(spec)
        with pytest.raises(HypervisorError, match=rf"^no free migration port on {ADDRESS}: "
                           r"ports 18360-18375 are all in use$"):
            await target.accept_instance(spec, info, ADDRESS)
        assert await target.list_instances() == []
        assert await _run_files(target) == []
        assert len(qemu_pids_of(spec.uuid)) == 1  # the source's
        for tap in taps_for(spec, 1):
            assert await _ip_link(tap) == ""
        taken_ports.pop(18373).close()  # one port of the window frees up
        endpoint = await target.accept_instance(spec, info, ADDRESS)
        assert endpoint.port == 18373
        assert len(qemu_pids_of(spec.uuid)) == 2
        await target.finalize_migration_dst(spec, info, False)
        assert await target.list_instances() == []
        assert await _run_files(target) == []
        assert len(qemu_pids_of(spec.uuid)) == 1

    asyncio.run(scenario())


def test_target_killed_mid_migration_keeps_the_guest_on_the_source(kvm_pair: Pair) -> None:
    source, target = kvm_pair
    spec = guest_spec("mig5", guest_hvparams(migration_port=18380, migration_bandwidth=1),
                      memory_mib=MEMORY_MIB)

    async def scenario() -> None:
        console = await _boot(source, spec)
        info = await source.migration_info(spec)
        endpoint = await target.accept_instance(spec, info, ADDRESS)
        await source.migrate_instance("cluster", spec, endpoint, True)
        async with asyncio.timeout(30):
            while (await source.migration_status(spec)).transferred_ram_mib < 1:
                await asyncio.sleep(0.1)
        incoming = await target.runtime("mig5")
        assert incoming is not None
        os.kill(incoming.pid, signal.SIGKILL)
        statuses = await _wait(source, spec)
        assert statuses[-1].state == MigrationState.FAILED
        assert statuses[-1].error
        await source.finalize_migration_src(spec, False, True)
        assert await _state(source, "mig5") == HvState.RUNNING
        await ask(console)
        await console.close()
        await target.finalize_migration_dst(spec, info, False)
        assert await target.list_instances() == []
        assert await _run_files(target) == []
        assert await source.list_instances() == ["mig5"]
        assert not source.paths("mig5").outgoing.exists()

    asyncio.run(scenario())


def test_postcopy_capability_is_set_on_both_sides_and_used(kvm_pair: Pair) -> None:
    source, target = kvm_pair
    spec = guest_spec("mig6", guest_hvparams(migration_port=18400, migration_bandwidth=8,
                                             migration_caps="postcopy-ram"),
                      memory_mib=MEMORY_MIB)

    async def scenario() -> None:
        console = await _boot(source, spec)
        # keep dirtying memory so that precopy alone would not converge at 8 MiB/s
        await console.send("while true; do dd if=/dev/urandom of=/tmp/churn bs=64k count=32 "
                           "2>/dev/null; done &\n")
        info = await source.migration_info(spec)
        endpoint = await target.accept_instance(spec, info, ADDRESS)
        assert (await _capabilities(target, "mig6"))["postcopy-ram"]
        await source.migrate_instance("cluster", spec, endpoint, True)
        assert (await _capabilities(source, "mig6"))["postcopy-ram"]
        statuses = await _wait(source, spec)
        assert statuses[-1].state == MigrationState.COMPLETED, statuses[-1]
        record = read_outgoing(source.paths("mig6").outgoing)
        assert record is not None
        assert record.postcopy_started
        await source.finalize_migration_src(spec, True, True)
        await console.close()
        await target.finalize_migration_dst(spec, info, True)
        moved = await _console(target, "mig6")
        try:
            await ask(moved)
        finally:
            await moved.close()

    asyncio.run(scenario())


def test_restarted_source_daemon_carries_the_migration_on(kvm_pair: Pair,
                                                          tmp_path: Path) -> None:
    source, target = kvm_pair
    hv = guest_hvparams(migration_port=18420, migration_bandwidth=16)
    spec = replace(guest_spec("mig7", hv, memory_mib=MEMORY_MIB),
                   disks=(_disk(tmp_path / "source.img"),))
    target_spec = replace(spec, disks=(_disk(tmp_path / "target.img"),))

    async def until_disks_copy() -> str:
        console = await _boot(source, spec)
        await console.send(f"echo {MARKER}-7 > /dev/vda; sync\n")
        await ask(console)
        await console.close()
        info = await source.migration_info(spec)
        endpoint = await target.accept_instance(target_spec, info, ADDRESS, copy_disks=True)
        await source.migrate_instance("cluster", spec, endpoint, True)
        async with asyncio.timeout(30):
            while True:
                status = await source.migration_status(spec)
                if status.phase == MigrationPhase.DISKS and status.disk_transferred_mib > 0:
                    return info
                await asyncio.sleep(0.05)

    # the event loop ends with the copy under way: the daemon's task dies with it
    info = asyncio.run(until_disks_copy())

    async def restarted() -> None:
        again = KvmHypervisor(source.layout, SubprocessRunner(), SystemClock())
        statuses = await _wait(again, spec)
        assert statuses[-1].state == MigrationState.COMPLETED, statuses[-1]
        await again.finalize_migration_src(spec, True, True)
        await target.finalize_migration_dst(target_spec, info, True)
        assert (tmp_path / "target.img").read_bytes().startswith(f"{MARKER}-7\n".encode())
        moved = await _console(target, "mig7")
        try:
            await ask(moved)
        finally:
            await moved.close()
        assert await again.list_instances() == []

    asyncio.run(restarted())


def test_target_killed_while_disks_copy_cancels_the_mirrors(kvm_pair: Pair,
                                                            tmp_path: Path) -> None:
    source, target = kvm_pair
    hv = guest_hvparams(migration_port=18440, migration_bandwidth=6)
    spec = replace(guest_spec("mig8", hv, memory_mib=MEMORY_MIB),
                   disks=(_disk(tmp_path / "source.img"),))
    target_spec = replace(spec, disks=(_disk(tmp_path / "target.img"),))

    async def scenario() -> None:
        console = await _boot(source, spec)
        info = await source.migration_info(spec)
        endpoint = await target.accept_instance(target_spec, info, ADDRESS, copy_disks=True)
        await source.migrate_instance("cluster", spec, endpoint, True)
        async with asyncio.timeout(30):
            while (await source.migration_status(spec)).disk_transferred_mib < 1:
                await asyncio.sleep(0.05)
        incoming = await target.runtime("mig8")
        assert incoming is not None
        os.kill(incoming.pid, signal.SIGKILL)
        statuses = await _wait(source, spec)
        assert (statuses[-1].state, statuses[-1].phase) == (MigrationState.FAILED,
                                                            MigrationPhase.DISKS)
        assert "disk mirror" in statuses[-1].error
        await source.finalize_migration_src(spec, False, True)
        assert await _state(source, "mig8") == HvState.RUNNING
        async with QmpSession(source.paths("mig8").qmp_socket) as qmp:
            assert await qmp.query_block_jobs() == []
        await ask(console)
        await console.close()
        await target.finalize_migration_dst(target_spec, info, False)
        assert await _run_files(target) == []

    asyncio.run(scenario())


def test_source_killed_mid_migration_target_is_discarded(kvm_pair: Pair) -> None:
    source, target = kvm_pair
    spec = guest_spec("mig9", guest_hvparams(migration_port=18460, migration_bandwidth=1),
                      memory_mib=MEMORY_MIB)

    async def scenario() -> None:
        await (await _boot(source, spec)).close()
        info = await source.migration_info(spec)
        endpoint = await target.accept_instance(spec, info, ADDRESS)
        await source.migrate_instance("cluster", spec, endpoint, True)
        record = await source.runtime("mig9")
        assert record is not None
        os.kill(record.pid, signal.SIGKILL)
        statuses = await _wait(source, spec)
        assert statuses[-1].state == MigrationState.FAILED
        assert statuses[-1].error == "the QEMU process of mig9 ended during the migration"
        with pytest.raises(HypervisorError, match="no longer running on the source node"):
            await source.finalize_migration_src(spec, False, True)
        assert await _run_files(source) == []
        await target.finalize_migration_dst(spec, info, False)
        assert await _run_files(target) == []
        assert qemu_pids_of(spec.uuid) == []

    asyncio.run(scenario())


def test_paused_guest_arrives_paused(kvm_pair: Pair) -> None:
    source, target = kvm_pair
    spec = guest_spec("mig10", _hv(18480), memory_mib=MEMORY_MIB)

    async def scenario() -> None:
        await (await _boot(source, spec)).close()
        await source.pause("mig10")
        info = await source.migration_info(spec)
        endpoint = await target.accept_instance(spec, info, ADDRESS)
        await source.migrate_instance("cluster", spec, endpoint, True)
        statuses = await _wait(source, spec)
        assert statuses[-1].state == MigrationState.COMPLETED, statuses[-1]
        await source.finalize_migration_src(spec, True, True)
        await target.finalize_migration_dst(spec, info, True)
        assert await _state(target, "mig10") == HvState.PAUSED
        record = await target.runtime("mig10")
        assert record is not None
        assert not record.incoming
        await target.resume("mig10")
        moved = await _console(target, "mig10")
        try:
            await ask(moved)
        finally:
            await moved.close()

    asyncio.run(scenario())


def test_cleanup_keeps_a_received_guest_where_it_is(kvm_pair: Pair) -> None:
    """A cleanup that finds the guest only on the target resumes it there with
    ``finalize_migration_src(False)`` (the target is now the primary node)."""
    source, target = kvm_pair
    spec = guest_spec("mig11", _hv(18500), memory_mib=MEMORY_MIB)

    async def scenario() -> None:
        await (await _boot(source, spec)).close()
        info = await source.migration_info(spec)
        endpoint = await target.accept_instance(spec, info, ADDRESS)
        await source.migrate_instance("cluster", spec, endpoint, True)
        statuses = await _wait(source, spec)
        assert statuses[-1].state == MigrationState.COMPLETED, statuses[-1]
        await source.finalize_migration_src(spec, True, True)
        assert await _state(target, "mig11") == HvState.PAUSED
        await target.finalize_migration_src(spec, False, True)
        record = await target.runtime("mig11")
        assert record is not None
        assert not record.incoming
        assert await _state(target, "mig11") == HvState.RUNNING
        moved = await _console(target, "mig11")
        try:
            await ask(moved)
        finally:
            await moved.close()

    asyncio.run(scenario())
