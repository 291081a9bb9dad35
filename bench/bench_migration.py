"""KVM live migration through Corral's driver beside a bare QEMU-to-QEMU migration.

Two KVM drivers on two node roots of this machine play source and target (as two
nodes of a virtual cluster); the guest is the busybox guest kit, 256 MiB, no NIC.

- Shared storage: each round boots a fresh guest, lets it idle 1 s after its
  console marker and migrates it; each Corral sample runs the driver path the master
  drives (check, info, accept on 127.0.0.1, migrate, status polls
  every 20 ms until completed, finalize on both sides), from the first call until
  the guest runs on the target. The bare migration starts two QEMUs with the very
  same argument vectors (the source's and the target's, paths moved to the bench's
  own directory), then over QMP: ``migrate-incoming`` on the target, the same
  ``migrate-set-parameters`` and ``migrate`` on the source, ``query-migrate`` every
  20 ms until completed, ``cont`` on the target and ``quit`` of the source, until
  its process is gone. Downtime and QEMU's own total time come from ``query-migrate``.
- Live storage migration: the same path with a 256 MiB raw file disk (filled with
  data; the guest migrates back and forth) mirrored to the target's empty disk over
  NBD before the memory moves.

Bandwidth is unlimited (``migration_bandwidth`` 0), downtime limit 30 ms. Corral and
bare samples alternate so that the machine's load drifts over both alike.

Run from the checkout: ``.venv/bin/python -m bench.bench_migration``.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from bench.bench_migration_cli import cli_samples
from bench.common import (
    BenchError,
    Figure,
    fmt_list,
    load_average,
    median,
    report,
    report_leftovers,
    temp_dir,
)
from corral.clock import SystemClock
from corral.guestkit import READY_MARKER, build_initramfs, default_init_script, ensure_kernel
from corral.hypervisor.base import DiskSpec, InstanceSpec, MigrationState, MigrationStatus
from corral.hypervisor.kvm.driver import KvmHypervisor
from corral.hypervisor.kvm.paths import kvm_run_dir
from corral.hypervisor.kvm.qmp import QmpSession
from corral.hypervisor.kvm.runtime import read_pidfile, read_runtime
from corral.hypervisor.params import defaults
from corral.layout import NodeLayout
from corral.objects import DiskTemplate
from corral.process import SubprocessRunner

ADDRESS = "127.0.0.1"
FIRST_PORT = 18500
BARE_PORT = 18530
MEMORY_MIB = 256
DISK_MIB = 256
RUNS = 3
POLL_S = 0.02
SETTLE_S = 1.0
"""Seconds a freshly booted guest idles before it migrates (both kinds alike)."""
OVERHEAD_TARGET_S = 0.3
BOOT_TIMEOUT_S = 60.0
MIGRATION_TIMEOUT_S = 120.0
_MIB = 1024 * 1024


@dataclass(frozen=True)
class Sample:
    seconds: float
    downtime_ms: int
    qemu_ms: int
    copied_mib: int = 0


# --- guest ---------------------------------------------------------------------------------


async def guest_files() -> tuple[Path, Path]:
    """The guest kit's cached kernel and a busybox initramfs (built once)."""
    cache = Path(os.environ.get("CORRAL_GUESTKIT_CACHE", "/var/tmp/corral-guestkit"))
    runner = SubprocessRunner()
    kernel = await ensure_kernel(cache, runner)
    initrd = cache / "images" / "bench-migration-initramfs.img"
    if not initrd.is_file():
        await build_initramfs(kernel, initrd, runner, init_script=default_init_script())
    return kernel.vmlinuz, initrd


def guest_spec(name: str, kernel: Path, initrd: Path, disks: tuple[DiskSpec, ...] = ()
               ) -> InstanceSpec:
    hv: dict[str, Any] = {**defaults("kvm"), "kernel_path": str(kernel),
                          "initrd_path": str(initrd), "kernel_args": "ro quiet",
                          "migration_port": FIRST_PORT, "migration_bandwidth": 0}
    return InstanceSpec(name=name, uuid=str(uuid.uuid4()), hvparams=hv,
                        memory_mib=MEMORY_MIB, vcpus=1, disks=disks, primary_node="node1")


def wait_marker(log: Path, offset: int = 0) -> None:
    deadline = time.monotonic() + BOOT_TIMEOUT_S
    while not (log.is_file() and READY_MARKER.encode() in log.read_bytes()[offset:]):
        if time.monotonic() > deadline:
            raise BenchError(f"no {READY_MARKER} in {log} after {BOOT_TIMEOUT_S:.0f} s")
        time.sleep(0.05)


def disk_file(path: Path, fill: bool) -> DiskSpec:
    """A raw disk of DISK_MIB, full of non-zero data when ``fill``, else sparse."""
    with path.open("wb") as handle:
        if fill:
            chunk = os.urandom(_MIB)
            for _ in range(DISK_MIB):
                handle.write(chunk)
        else:
            handle.truncate(DISK_MIB * _MIB)
    return DiskSpec(path=str(path), dev_type=DiskTemplate.FILE, size_mib=DISK_MIB)


# --- Corral's driver path ------------------------------------------------------------------


async def wait_status(driver: KvmHypervisor, spec: InstanceSpec) -> MigrationStatus:
    deadline = time.monotonic() + MIGRATION_TIMEOUT_S
    while (status := await driver.migration_status(spec)).active:
        if time.monotonic() > deadline:
            raise BenchError(f"migration of {spec.name} still {status.state} after "
                             f"{MIGRATION_TIMEOUT_S:.0f} s")
        await asyncio.sleep(POLL_S)
    if status.state != MigrationState.COMPLETED:
        raise BenchError(f"migration of {spec.name} ended {status.state}: {status.error}")
    return status


async def corral_migrate(src: KvmHypervisor, dst: KvmHypervisor, src_spec: InstanceSpec,
                         dst_spec: InstanceSpec, copy_disks: bool = False) -> Sample:
    """One migration through the driver calls the master makes, timed end to end."""
    start = time.perf_counter()
    await src.check_migratable(src_spec)
    info = await src.migration_info(src_spec)
    target = await dst.accept_instance(dst_spec, info, ADDRESS, copy_disks=copy_disks)
    await src.migrate_instance("bench", src_spec, target, True)
    status = await wait_status(src, src_spec)
    await src.finalize_migration_src(src_spec, True, True)
    await dst.finalize_migration_dst(dst_spec, info, True)
    return Sample(time.perf_counter() - start, status.downtime_ms, status.total_time_ms,
                  status.disk_transferred_mib)


# --- bare QEMU ---------------------------------------------------------------------------


def moved_argv(argv: Sequence[str], old_root: Path, new_root: Path) -> list[str]:
    """``argv`` with every path under ``old_root`` moved under ``new_root``."""
    return [arg.replace(str(old_root), str(new_root)) for arg in argv]


def launch(argv: list[str], root: Path) -> int:
    """Start a daemonizing QEMU; its pid (from the ``-pidfile`` under ``root``)."""
    for sub in ("run/corral/kvm", "var/log/corral/kvm"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    result = subprocess.run(argv, capture_output=True, check=False)
    pid_path = Path(argv[argv.index("-pidfile") + 1])
    pid = read_pidfile(pid_path)
    if result.returncode or pid is None:
        raise BenchError(f"bare QEMU failed: {result.stderr.decode(errors='replace')[-300:]}")
    return pid


def qmp_path(argv: Sequence[str]) -> Path:
    spec = argv[argv.index("-qmp") + 1]
    return Path(spec.removeprefix("unix:").split(",")[0])


async def wait_gone(pid: int) -> None:
    while _state(pid) != "Z":
        await asyncio.sleep(0.005)


def _state(pid: int) -> str:
    """The process state letter; ``Z`` for a zombie or a process that is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except (OSError, IndexError):
        return "Z"


async def bare_migrate(src_argv: list[str], dst_argv: list[str], dst_root: Path,
                       src_pid: int) -> Sample:
    """Target QEMU started, migrated into over QMP, resumed; the source quit and gone."""
    uri = f"tcp:{ADDRESS}:{BARE_PORT}"
    start = time.perf_counter()
    await asyncio.to_thread(launch, dst_argv, dst_root)
    async with QmpSession(qmp_path(dst_argv)) as dst, QmpSession(qmp_path(src_argv)) as src:
        await dst.migrate_set_capabilities({})
        await dst.migrate_incoming(uri)
        await src.migrate_set_parameters(max_bandwidth=0, downtime_limit_ms=30)
        await src.migrate(uri)
        while (info := await src.query_migrate()).status not in ("completed", "failed"):
            await asyncio.sleep(POLL_S)
        if info.status != "completed":
            raise BenchError(f"bare migration failed: {info.error}")
        await dst.cont()
        await src.quit()
    await wait_gone(src_pid)
    return Sample(time.perf_counter() - start, info.downtime_ms, info.total_time_ms)


async def bare_round(src_argv: list[str], dst_argv: list[str], roots: tuple[Path, Path]
                     ) -> Sample:
    """Boot the bare source to its console marker (not timed), then migrate it."""
    log = Path(next(a for a in src_argv if "logfile=" in a).split("logfile=")[1].split(",")[0])
    await asyncio.to_thread(log.unlink, missing_ok=True)
    src_pid = await asyncio.to_thread(launch, src_argv, roots[0])
    try:
        await asyncio.to_thread(wait_marker, log)
        await asyncio.sleep(SETTLE_S)
        return await bare_migrate(src_argv, dst_argv, roots[1], src_pid)
    finally:
        for root in roots:
            kill_pidfiles(root)


def kill_pidfiles(root: Path) -> None:
    """SIGKILL every QEMU whose pid file lies under ``root`` (the bench's own)."""
    for pidfile in root.glob("run/corral/kvm/*.pid"):
        pid = read_pidfile(pidfile)
        if pid is not None and _state(pid) != "Z" and str(root) in _cmdline(pid):
            os.kill(pid, signal.SIGKILL)
        pidfile.unlink(missing_ok=True)


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return ""


# --- rounds --------------------------------------------------------------------------------


@dataclass
class Bench:
    """The two drivers, their roots and the bare QEMUs' roots."""

    roots: tuple[Path, Path, Path, Path]
    nodes: tuple[KvmHypervisor, KvmHypervisor]
    kernel: Path
    initrd: Path

    async def shared_rounds(self) -> tuple[list[Sample], list[Sample]]:
        """Per round: a fresh guest migrated by Corral, then the same by bare QEMU."""
        spec = guest_spec("migbench", self.kernel, self.initrd)
        a, b = self.nodes
        corral: list[Sample] = []
        bare: list[Sample] = []
        for _ in range(RUNS):
            await a.start(spec)
            await asyncio.to_thread(wait_marker, a.paths(spec.name).serial_log)
            await asyncio.sleep(SETTLE_S)
            corral.append(await corral_migrate(a, b, spec, spec))
            src_argv, dst_argv = self.bare_argvs(b, spec.name)
            await self.stop_all()
            bare.append(await bare_round(src_argv, dst_argv, (self.roots[2], self.roots[3])))
        return corral, bare

    def bare_argvs(self, node: KvmHypervisor, name: str) -> tuple[list[str], list[str]]:
        """The argument vector of the QEMU that just received the guest on ``node``, moved
        to the bare roots: without ``-incoming defer -S`` for the bare source, as is for
        the bare target."""
        record = read_runtime(node.paths(name).runtime)
        if record is None:
            raise BenchError(f"no runtime record of {name}")
        incoming = list(record.argv)
        plain = [arg for arg in incoming if arg not in ("-incoming", "defer", "-S")]
        return (moved_argv(plain, node.layout.root, self.roots[2]),
                moved_argv(incoming, node.layout.root, self.roots[3]))

    async def storage_rounds(self, scratch: Path) -> list[Sample]:
        a, b = self.nodes
        disks = (disk_file(scratch / "a.img", fill=True), disk_file(scratch / "b.img", False))
        specs = [guest_spec("migdisk", self.kernel, self.initrd, (disks[0],))]
        specs.append(replace(specs[0], disks=(disks[1],)))
        await a.start(specs[0])
        await asyncio.to_thread(wait_marker, a.paths("migdisk").serial_log)
        samples = []
        for index in range(RUNS):
            src, dst = (a, b) if index % 2 == 0 else (b, a)
            src_spec, dst_spec = (specs[0], specs[1]) if index % 2 == 0 else (specs[1], specs[0])
            samples.append(await corral_migrate(src, dst, src_spec, dst_spec, copy_disks=True))
        await self.stop_all()
        return samples

    async def stop_all(self) -> None:
        for driver in self.nodes:
            for name in await driver.list_instances():
                await driver.stop(name, force=True, timeout=5.0)
            for record in kvm_run_dir(driver.layout).glob("*.runtime"):
                await driver.cleanup(record.name.removesuffix(".runtime"))
        for root in self.roots:
            kill_pidfiles(root)


def outside(samples: Sequence[Sample]) -> list[float]:
    """Seconds of each sample not spent in QEMU's own migration (its total-time)."""
    return [s.seconds - s.qemu_ms / 1000.0 for s in samples]


def cli_figures(cli: list[float], bare: list[Sample]) -> list[Figure]:
    """The whole ``gnt-instance migrate`` beside the bare migrations of the same run."""
    bare_secs = [s.seconds for s in bare]
    return [
        report(Figure("gnt-instance migrate, 256 MiB KVM guest on sharedfile (whole command)",
                      median(cli), "s", detail=f"3-node vcluster, command as a subprocess, "
                      f"node2 <-> node3; median of {len(cli)}: {fmt_list(cli, 's')}")),
        report(Figure("gnt-instance migrate overhead over bare QEMU (whole command - bare)",
                      median(cli) - median(bare_secs), "s", OVERHEAD_TARGET_S, "max",
                      "difference of the medians: command start, job, locks, hooks, the "
                      "master's RPCs to both node daemons, status polls, both finalizes, "
                      "the configuration change and the command following its job")),
    ]


def figures(shared: tuple[list[Sample], list[Sample]], storage: list[Sample]) -> list[Figure]:
    corral, bare = shared
    secs = [s.seconds for s in corral]
    bare_secs = [s.seconds for s in bare]
    pairs = [c - b for c, b in zip(secs, bare_secs, strict=True)]
    guest = f"busybox guest, {MEMORY_MIB} MiB, median of {RUNS}"
    disk_secs = [s.seconds for s in storage]
    return [
        report(Figure("KVM live migration, shared storage (Corral driver path)", median(secs),
                      "s", detail=f"{guest}: {fmt_list(secs, 's')}; QEMU's total-time "
                      f"{fmt_list([s.qemu_ms for s in corral], 'ms')}")),
        report(Figure("bare QEMU-to-QEMU migration of the same guest", median(bare_secs), "s",
                      detail=f"same argv, QMP directly: {fmt_list(bare_secs, 's')}; QEMU's "
                      f"total-time {fmt_list([s.qemu_ms for s in bare], 'ms')}")),
        report(Figure("KVM migration overhead (Corral - bare)", median(secs) - median(bare_secs),
                      "s", OVERHEAD_TARGET_S, "max",
                      f"difference of the medians; per pair: {fmt_list(pairs, 's')}")),
        report(Figure("KVM migration time outside QEMU's transfer (Corral - bare)",
                      median(outside(corral)) - median(outside(bare)), "s",
                      detail="wall time less QEMU's total-time, difference of the medians "
                      f"(the transfer itself varies by more); Corral "
                      f"{fmt_list(outside(corral), 's')}, bare {fmt_list(outside(bare), 's')}")),
        report(Figure("KVM live migration downtime (query-migrate)",
                      median([s.downtime_ms for s in corral]), "ms",
                      detail=f"Corral {fmt_list([s.downtime_ms for s in corral], 'ms')}, bare "
                      f"{fmt_list([s.downtime_ms for s in bare], 'ms')}")),
        report(Figure(f"KVM live storage migration, {DISK_MIB} MiB file disk", median(disk_secs),
                      "s", detail=f"{guest}; disk mirrored over NBD, then memory: "
                      f"{fmt_list(disk_secs, 's')}; downtime "
                      f"{fmt_list([s.downtime_ms for s in storage], 'ms')}")),
        report(Figure("KVM live storage migration, disk bytes copied",
                      median([s.copied_mib for s in storage]), "MiB",
                      detail=f"per run: {fmt_list([s.copied_mib for s in storage], 'MiB')}")),
    ]


async def measure() -> list[Figure]:
    kernel, initrd = await guest_files()
    base = temp_dir("migration")
    roots = (base / "a", base / "b", base / "ba", base / "bb")
    nodes = tuple(KvmHypervisor(NodeLayout(root), SubprocessRunner(), SystemClock())
                  for root in roots[:2])
    bench = Bench(roots, (nodes[0], nodes[1]), kernel, initrd)
    try:
        shared = await bench.shared_rounds()
        storage = await bench.storage_rounds(base)
    finally:
        await bench.stop_all()
        shutil.rmtree(base, ignore_errors=True)
    cli = await asyncio.to_thread(cli_samples, RUNS, MEMORY_MIB)
    return figures(shared, storage) + cli_figures(cli, shared[1])


def run() -> list[Figure]:
    if not os.access("/usr/bin/qemu-system-x86_64", os.X_OK):
        raise BenchError("qemu-system-x86_64 is not installed")
    print(f"migration: KVM live migration, Corral's driver path beside bare QEMU "
          f"(load average {load_average()})", flush=True)
    return asyncio.run(measure())


def main() -> int:
    run()
    return 0 if report_leftovers() else 1


if __name__ == "__main__":
    sys.exit(main())
