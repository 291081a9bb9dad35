"""Real guests on a 1-node vcluster: chroot instance stop/start (jobs end to end, and the
bare driver for context) and KVM start-to-console-marker time beside a bare QEMU boot of
the same guest.

Both guests are ``busybox+default`` instances with one 64 MiB file disk. The KVM
figure runs from submitting OP_INSTANCE_STARTUP until ``CORRAL-GUEST-READY`` appears in
the instance's serial log; the bare boot runs ``qemu-system-x86_64`` directly (no
daemonizing, QMP, console socket or job) with the same kernel, initrd, kernel command
line, accelerator, memory, machine and devices, on a fresh copy of the cleanly shut
down instance disk, its serial port written to a file, until the same marker. Corral and
bare boots alternate so that the machine's load drifts over both alike.

Run from the checkout: ``.venv/bin/python -m bench.bench_guests``.
"""

from __future__ import annotations

import asyncio
import shlex
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from bench.common import (
    BenchError,
    Figure,
    fmt_list,
    load_average,
    median,
    report,
    report_leftovers,
    run_job,
    temp_dir,
    vcluster_at,
)
from corral.clock import SystemClock
from corral.guestkit import READY_MARKER
from corral.hypervisor.base import DiskSpec, InstanceSpec
from corral.hypervisor.chroot import ChrootHypervisor
from corral.hypervisor.kvm.paths import KvmPaths, instance_paths
from corral.hypervisor.kvm.runtime import KvmRuntime, read_runtime
from corral.layout import NodeLayout
from corral.luxi.client import Client, wait_for_job
from corral.objects import DiskTemplate
from corral.process import SubprocessRunner
from corral.vcluster.cluster import VCluster

PORT = 18170
"""Node daemon port of this benchmark's vcluster (other clusters use 1811)."""
CHROOT_NAME = "chroot1"
KVM_NAME = "kvm1"
RAW_NAME = "rawchroot"
"""The name the bare chroot driver runs the chroot instance's disk under."""
DISK_MIB = 64
KVM_MEMORY_MIB = 192
CHROOT_RUNS = 10
KVM_RUNS = 5
OVERHEAD_TARGET_S = 0.3
MARKER_TIMEOUT_S = 60.0
POLL_S = 0.005
QEMU_VALUE_OPTIONS = frozenset({"-machine", "-accel", "-m", "-smp", "-cpu", "-kernel",
                                "-initrd", "-append", "-blockdev", "-device", "-display",
                                "-vga"})
"""Options of Corral's QEMU command line the bare boot keeps (with their values)."""


def create_op(name: str, hypervisor: str, memory_mib: int) -> dict[str, Any]:
    """``gnt-instance add -t file --disk 0:size=64M -o busybox+default -H <hypervisor>``."""
    return {"OP_ID": "OP_INSTANCE_CREATE", "instance_name": name, "mode": "create",
            "disk_template": "file", "disks": [{"size": DISK_MIB}], "nics": [],
            "os_type": "busybox+default", "hypervisor": hypervisor, "pnode": "node1",
            "start": True, "beparams": {"maxmem": memory_mib, "minmem": memory_mib},
            "ip_check": False, "name_check": False}


def life_cycle_op(op_id: str, name: str) -> dict[str, Any]:
    return {"OP_ID": op_id, "instance_name": name}


def timed_job(client: Client, op: dict[str, Any]) -> float:
    start = time.perf_counter()
    run_job(client, [op], f"{op['OP_ID']} {op['instance_name']}")
    return time.perf_counter() - start


def check_status(client: Client, name: str, wanted: str) -> None:
    rows = client.Query("instance", ["status"], ["=", "name", name])["data"]
    status = rows[0][0][1] if rows else "missing"
    if status != wanted:
        raise BenchError(f"instance {name} is {status}, expected {wanted}")


# --- chroot ------------------------------------------------------------------------------


def disk_path(client: Client, name: str, root: Path) -> Path:
    """The node-side path of the instance's first disk."""
    op = {"OP_ID": "OP_INSTANCE_QUERY_DATA", "instances": [name], "static": False}
    disk = run_job(client, [op], f"query data of {name}")[0][name]["disks"][0]
    pstatus = disk.get("pstatus") or []
    if pstatus and pstatus[0]:
        return Path(pstatus[0])
    return root / str(disk["logical_id"][1]).lstrip("/")


def job_cycles(client: Client, name: str, runs: int) -> tuple[list[float], list[float]]:
    """(shutdown seconds, startup seconds) of ``runs`` shutdown + startup job pairs."""
    stops: list[float] = []
    starts: list[float] = []
    for _ in range(runs):
        stops.append(timed_job(client, life_cycle_op("OP_INSTANCE_SHUTDOWN", name)))
        check_status(client, name, "ADMIN_down")
        starts.append(timed_job(client, life_cycle_op("OP_INSTANCE_STARTUP", name)))
        check_status(client, name, "running")
    return stops, starts


async def raw_chroot_cycles(layout: NodeLayout, disk: Path,
                            runs: int) -> tuple[list[float], list[float]]:
    """(start seconds, soft stop seconds) of the chroot driver called directly."""
    driver = ChrootHypervisor(layout, SubprocessRunner(), SystemClock())
    spec = InstanceSpec(name=RAW_NAME, uuid=str(uuid.uuid4()), memory_mib=128, vcpus=1,
                        hvparams={"init_script": "/ganeti-chroot"},
                        disks=(DiskSpec(path=str(disk), dev_type=DiskTemplate.FILE),))
    starts: list[float] = []
    stops: list[float] = []
    try:
        for _ in range(runs):
            start = time.perf_counter()
            await driver.start(spec)
            starts.append(time.perf_counter() - start)
            if await driver.instance_info(RAW_NAME) is None:
                raise BenchError("the chroot driver started nothing")
            start = time.perf_counter()
            await driver.stop(RAW_NAME, force=False, timeout=60.0)
            stops.append(time.perf_counter() - start)
    finally:
        await driver.stop(RAW_NAME, force=True, timeout=10.0)
    return starts, stops


def chroot_figures(client: Client, vc: VCluster) -> list[Figure]:
    root = Path(vc.master.root)
    run_job(client, [create_op(CHROOT_NAME, "chroot", 128)], f"create {CHROOT_NAME}")
    disk = disk_path(client, CHROOT_NAME, root)
    stops, starts = job_cycles(client, CHROOT_NAME, CHROOT_RUNS)
    run_job(client, [life_cycle_op("OP_INSTANCE_SHUTDOWN", CHROOT_NAME)], "shutdown")
    raw_starts, raw_stops = asyncio.run(raw_chroot_cycles(NodeLayout(root), disk,
                                                          CHROOT_RUNS))
    what = f"busybox chroot instance, {DISK_MIB} MiB file disk"
    runs = f"median of {CHROOT_RUNS}"
    return [
        report(Figure("chroot instance startup job", median(starts), "s",
                      detail=f"{what}, submit to success; {runs}: {fmt_list(starts, 's')}")),
        report(Figure("chroot instance shutdown job", median(stops), "s",
                      detail=f"{what}, submit to success; {runs}: {fmt_list(stops, 's')}")),
        report(Figure("chroot driver start", median(raw_starts), "s",
                      detail=f"same disk, driver called directly; {runs}: "
                      f"{fmt_list(raw_starts, 's')}")),
        report(Figure("chroot driver soft stop", median(raw_stops), "s",
                      detail=f"same disk, driver called directly; {runs}: "
                      f"{fmt_list(raw_stops, 's')}")),
    ]


# --- KVM -----------------------------------------------------------------------------------


def console_times(path: Path, start: float,
                  check: Callable[[], None] | None = None) -> tuple[float, float]:
    """Seconds from ``start`` (a perf_counter value) until QEMU created the console log
    ``path`` (removed beforehand), and until the console marker is in it; ``check`` may
    raise to give up early."""
    marker = READY_MARKER.encode()
    seen = b""
    handle = None
    opened = 0.0
    try:
        while True:
            if handle is None and path.exists():
                opened = time.perf_counter() - start
                handle = path.open("rb")
            if handle is not None:
                seen += handle.read()
                if marker in seen:
                    return opened, time.perf_counter() - start
            if time.perf_counter() - start > MARKER_TIMEOUT_S:
                raise BenchError(f"no {READY_MARKER} in {path} after {MARKER_TIMEOUT_S:.0f} s")
            if check is not None:
                check()
            time.sleep(POLL_S)
    finally:
        if handle is not None:
            handle.close()


def corral_boot(client: Client, paths: KvmPaths) -> tuple[float, float]:
    """Seconds from submitting OP_INSTANCE_STARTUP to the serial log's creation and to
    the marker in it."""
    paths.serial_log.unlink(missing_ok=True)  # the last boot's log holds a marker too
    start = time.perf_counter()
    job_id = client.SubmitJob([life_cycle_op("OP_INSTANCE_STARTUP", KVM_NAME)])
    try:
        seconds = console_times(paths.serial_log, start)
    finally:
        status, _, result = wait_for_job(client, job_id)
    if status != "success":
        raise BenchError(f"startup of {KVM_NAME}: job {job_id} ended with {status}: {result}")
    return seconds


def bare_argv(corral_argv: Sequence[str], corral_disk: Path, disk: Path,
              serial_log: Path) -> list[str]:
    """Corral's QEMU command line reduced to the guest itself: the kept options, the
    disk ``disk`` instead of the instance's, the serial port to ``serial_log``."""
    kept: list[str] = []
    index = 1
    while index < len(corral_argv):
        option = corral_argv[index]
        if option in QEMU_VALUE_OPTIONS and index + 1 < len(corral_argv):
            value = corral_argv[index + 1].replace(f"filename={corral_disk},",
                                                   f"filename={disk},")
            kept += [option, value]
            index += 2
        else:
            index += 1
    return [corral_argv[0], "-nodefaults", "-no-user-config", *kept,
            "-serial", f"file:{serial_log}"]


def bare_boot(argv: list[str], serial_log: Path, errors: Path) -> tuple[float, float]:
    """Seconds from starting QEMU directly to its serial file's creation and to the
    marker in it; QEMU is killed by its PID."""
    serial_log.unlink(missing_ok=True)
    with errors.open("wb") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=err)

    def alive() -> None:
        if proc.poll() is not None:
            raise BenchError(f"bare QEMU exited with {proc.returncode}: "
                             f"{errors.read_text(errors='replace')[-400:]}")

    try:
        return console_times(serial_log, start, alive)
    finally:
        proc.kill()
        proc.wait()


def kvm_runtime(paths: KvmPaths) -> KvmRuntime:
    record = read_runtime(paths.runtime)
    if record is None:
        raise BenchError(f"{KVM_NAME} runs but has no runtime record at {paths.runtime}")
    return record


def kvm_rounds(client: Client, paths: KvmPaths, corral_disk: Path,
               scratch: Path) -> dict[str, list[float]]:
    """Alternating bare and Corral boots; the soft shutdown jobs between them."""
    argv = list(kvm_runtime(paths).argv)
    times: dict[str, list[float]] = {key: [] for key in ("corral", "bare", "corral_open",
                                                         "bare_open", "shutdown")}
    times["shutdown"].append(timed_job(client, life_cycle_op("OP_INSTANCE_SHUTDOWN",
                                                             KVM_NAME)))
    clean = scratch / "clean.img"
    shutil.copyfile(corral_disk, clean)
    disk, serial, errors = scratch / "bare.img", scratch / "bare.serial", scratch / "bare.err"
    bare = bare_argv(argv, corral_disk, disk, serial)
    print(f"  (bare QEMU command: {shlex.join(bare)})", flush=True)
    for _ in range(KVM_RUNS):
        shutil.copyfile(clean, disk)
        for kind, (opened, marker) in (("bare", bare_boot(bare, serial, errors)),
                                       ("corral", corral_boot(client, paths))):
            times[f"{kind}_open"].append(opened)
            times[kind].append(marker)
        times["shutdown"].append(timed_job(client, life_cycle_op("OP_INSTANCE_SHUTDOWN",
                                                                 KVM_NAME)))
    return times


def kvm_figures(client: Client, vc: VCluster) -> list[Figure]:
    root = Path(vc.master.root)
    paths = instance_paths(NodeLayout(root), KVM_NAME)
    start = time.perf_counter()
    run_job(client, [create_op(KVM_NAME, "kvm", KVM_MEMORY_MIB)], f"create {KVM_NAME}")
    first = console_times(paths.serial_log, start)[1]
    accel = kvm_runtime(paths).accel
    corral_disk = disk_path(client, KVM_NAME, root)
    scratch = temp_dir("guests-bare")
    try:
        times = kvm_rounds(client, paths, corral_disk, scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return kvm_report(times, first, accel)


def kvm_report(times: dict[str, list[float]], first: float, accel: str) -> list[Figure]:
    corral, bare = median(times["corral"]), median(times["bare"])
    pairs = [c - b for c, b in zip(times["corral"], times["bare"], strict=True)]
    guest = f"busybox guest, {KVM_MEMORY_MIB} MiB, accel {accel}"
    runs = f"median of {KVM_RUNS}"
    return [
        report(Figure("KVM startup job to console marker", corral, "s",
                      detail=f"{guest}; {runs}: {fmt_list(times['corral'], 's')}")),
        report(Figure("bare QEMU boot to console marker", bare, "s",
                      detail=f"same guest and command line essentials; {runs}: "
                      f"{fmt_list(times['bare'], 's')}")),
        report(Figure("KVM start overhead (Corral - bare QEMU)", corral - bare, "s",
                      OVERHEAD_TARGET_S, "max",
                      f"difference of the medians; per interleaved pair: "
                      f"{fmt_list(pairs, 's')}")),
        report(Figure("KVM start overhead until QEMU opens the console",
                      median(times["corral_open"]) - median(times["bare_open"]), "s",
                      detail="the same difference without the guest's boot, whose time under "
                      f"TCG varies by more; Corral {fmt_list(times['corral_open'], 's')}, "
                      f"bare {fmt_list(times['bare_open'], 's')}")),
        report(Figure("KVM create+install+first start to marker", first, "s",
                      detail="one run; includes the OS install and the accelerator probe")),
        report(Figure("KVM soft shutdown job (ACPI)", median(times["shutdown"]), "s",
                      detail=f"median of {len(times['shutdown'])}: "
                      f"{fmt_list(times['shutdown'], 's')}")),
    ]


def run() -> list[Figure]:
    print("guests: chroot stop/start and KVM start to console marker on a 1-node vcluster "
          f"(load average {load_average()})", flush=True)
    with vcluster_at(1, "guests", PORT) as vc, Client(str(vc.luxi_socket)) as client:
        return chroot_figures(client, vc) + kvm_figures(client, vc)


def main() -> int:
    run()
    return 0 if report_leftovers() else 1


if __name__ == "__main__":
    sys.exit(main())
