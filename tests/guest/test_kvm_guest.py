"""Real QEMU guests (TCG) driven by the KVM driver: console, QMP, ACPI, ballooning, network."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from corral.clock import SystemClock
from corral.errors import HypervisorError
from corral.guestkit import READY_MARKER, build_probe_initramfs
from corral.hypervisor.base import DiskSpec, HvState, NicSpec
from corral.hypervisor.kvm import accel
from corral.hypervisor.kvm.cmdline import taps_for
from corral.hypervisor.kvm.console import SerialConsole
from corral.hypervisor.kvm.driver import KvmHypervisor
from corral.hypervisor.kvm.paths import kvm_run_dir
from corral.hypervisor.kvm.runtime import process_matches
from corral.objects.instance import DiskTemplate, NicMode
from corral.process import SubprocessRunner
from tests.guest.kit import (
    BOOT_TIMEOUT,
    QEMU,
    ask,
    guest_hvparams,
    guest_spec,
    initramfs,
    kernel,
)

BRIDGE = "corralgt0"
NETNS = "corral-guest-test"
VETH_HOST, VETH_NS = "corralgtv0", "corralgtv1"
HOST_IP, GUEST_IP = "10.231.0.1", "10.231.0.2"
"""The pinging side lives in a network namespace the test creates, joined to the bridge
by a veth pair: the host itself never sends to these addresses, and the bridge has no
address, so nothing can leave the machine."""


async def _until(predicate: Callable[[], Awaitable[bool]], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not await predicate():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.1)
    return True


async def _boot(kvm: KvmHypervisor, name: str,
                hv: dict[str, Any]) -> tuple[SerialConsole, float]:
    """Start a guest, attach to its console, wait for the marker; seconds it took."""
    started = time.monotonic()
    await kvm.start(guest_spec(name, hv))
    console = SerialConsole(kvm.paths(name).serial_socket)
    await console.open()
    await console.expect(READY_MARKER, timeout=BOOT_TIMEOUT)
    return console, time.monotonic() - started


async def _state(kvm: KvmHypervisor, name: str) -> HvState | None:
    info = await kvm.instance_info(name)
    return None if info is None else info.state


def test_paused_start_console_pause_balloon_reattach_and_acpi_shutdown(kvm: KvmHypervisor) -> None:
    hv = guest_hvparams()

    async def scenario() -> None:
        await kvm.start(guest_spec("g1", hv), paused=True)
        assert await _state(kvm, "g1") == HvState.PAUSED  # -S: vCPUs not started yet
        console = SerialConsole(kvm.paths("g1").serial_socket)
        await console.open()
        try:
            await asyncio.sleep(0.3)
            assert console.output == b""
            await kvm.resume("g1")
            await console.expect(READY_MARKER, timeout=BOOT_TIMEOUT)
            await ask(console)
            await kvm.pause("g1")
            paused = await _state(kvm, "g1")
            await kvm.resume("g1")
            assert (paused, await _state(kvm, "g1")) == (HvState.PAUSED, HvState.RUNNING)
            await ask(console)

            await kvm.balloon("g1", 128)

            async def ballooned() -> bool:
                info = await kvm.instance_info("g1")
                return info is not None and info.memory_mib == 128

            assert await _until(ballooned, 15)

            # a new driver (a restarted node daemon) re-attaches through the runtime file
            again = KvmHypervisor(kvm.layout, SubprocessRunner(), SystemClock())
            assert await again.list_instances() == ["g1"]
            record = await again.runtime("g1")
            info = await again.instance_info("g1")
            assert record is not None
            assert info is not None
            assert (info.id, info.state, info.vcpus) == (record.pid, HvState.RUNNING, 1)
            assert info.cpu_time_s > 0

            await kvm.stop("g1", force=False, timeout=10)

            async def gone() -> bool:
                return await kvm.instance_info("g1") is None

            assert await _until(gone, 15), "the guest ignored the ACPI power button"
            assert not process_matches(record.pid, record.argv)
            await kvm.cleanup("g1")
            assert not kvm.paths("g1").runtime.exists()
            assert READY_MARKER in kvm.paths("g1").serial_log.read_text(errors="replace")
        finally:
            await console.close()

    asyncio.run(scenario())


def test_guest_ignoring_acpi_survives_soft_stop_and_is_forced_off(kvm: KvmHypervisor) -> None:
    hv = guest_hvparams(acpid=False)

    async def scenario() -> None:
        console, _ = await _boot(kvm, "deaf", hv)
        try:
            mark = len(console.output)
            await kvm.reboot("deaf")  # a hardware reset boots the guest again
            await console.expect(READY_MARKER, timeout=BOOT_TIMEOUT, start=mark)
            record = await kvm.runtime("deaf")
            assert record is not None
            await kvm.stop("deaf", force=False, timeout=5)
            await asyncio.sleep(2.0)
            assert await _state(kvm, "deaf") == HvState.RUNNING
            await ask(console)
            started = time.monotonic()
            await kvm.stop("deaf", force=True, timeout=5)
            assert time.monotonic() - started < 10
            assert await kvm.instance_info("deaf") is None
            assert not process_matches(record.pid, record.argv)
            assert not kvm.paths("deaf").runtime.exists()
        finally:
            await console.close()

    asyncio.run(scenario())


def test_failed_starts_leave_nothing_behind(kvm: KvmHypervisor) -> None:
    bad_option = guest_spec("bad", guest_hvparams(kvm_extra="-no-such-qemu-option"))
    no_bridge = guest_spec("nobr", guest_hvparams(), nics=(
        NicSpec(mac="52:54:00:c0:ff:02", mode=NicMode.BRIDGED, link="corralnobr0"),))

    async def scenario() -> None:
        with pytest.raises(HypervisorError, match="no-such-qemu-option"):
            await kvm.start(bad_option)
        if os.geteuid() == 0:
            with pytest.raises(HypervisorError, match="corralnobr0"):
                await kvm.start(no_bridge)
            tap = taps_for(no_bridge)[0]
            assert await _ip("-o", "link", "show", tap, check=False) == ""
        assert await kvm.list_instances() == []
        assert sorted(p.name for p in kvm_run_dir(kvm.layout).iterdir()) == []

    asyncio.run(scenario())


async def _ip(*args: str, check: bool = True) -> str:
    result = await SubprocessRunner().run(["ip", *args], timeout=10)
    if check:
        assert not result.failed, result.output
    return result.stdout


@pytest.fixture
def bridge() -> Iterator[str]:
    if os.geteuid() != 0 or shutil.which("ip") is None:
        pytest.skip("bridges and taps need root and iproute2")
    _remove_test_network()  # left over by a killed run
    try:
        for argv in (
            ("link", "add", BRIDGE, "type", "bridge"),
            ("link", "set", BRIDGE, "up"),
            ("netns", "add", NETNS),
            ("link", "add", VETH_HOST, "type", "veth", "peer", "name", VETH_NS),
            ("link", "set", VETH_HOST, "master", BRIDGE, "up"),
            ("link", "set", VETH_NS, "netns", NETNS),
            ("-n", NETNS, "addr", "add", f"{HOST_IP}/24", "dev", VETH_NS),
            ("-n", NETNS, "link", "set", VETH_NS, "up"),
            ("-n", NETNS, "link", "set", "lo", "up"),
        ):
            asyncio.run(_ip(*argv))
        yield BRIDGE
    finally:
        _remove_test_network()


def _remove_test_network() -> None:
    asyncio.run(_ip("link", "del", VETH_HOST, check=False))
    asyncio.run(_ip("netns", "del", NETNS, check=False))
    asyncio.run(_ip("link", "del", BRIDGE, check=False))


async def _ping(address: str) -> bool:
    """One ping from inside the test's network namespace."""
    ping = ["ping", "-c", "1", "-W", "1", address]
    if shutil.which("ping") is None:
        ping = ["busybox", *ping]
    argv = ["ip", "netns", "exec", NETNS, *ping]
    return not (await SubprocessRunner().run(argv, timeout=5)).failed


def test_bridged_nic_answers_ping(kvm: KvmHypervisor, bridge: str) -> None:
    nic = NicSpec(mac="52:54:00:c0:ff:01", mode=NicMode.BRIDGED, link=bridge)
    hv = guest_hvparams(kernel_args=f"ro quiet corral.ip={GUEST_IP}/24")
    spec = guest_spec("netg", hv, nics=(nic,))

    async def scenario() -> None:
        await kvm.start(spec)
        console = SerialConsole(kvm.paths("netg").serial_socket)
        await console.open()
        try:
            await console.expect(READY_MARKER, timeout=BOOT_TIMEOUT)
            record = await kvm.runtime("netg")
            assert record is not None
            assert len(record.taps) == 1
            tap = record.taps[0]
            assert len(tap) <= 15
            assert f"master {bridge}" in await _ip("-o", "link", "show", tap)
            assert await _until(lambda: _ping(GUEST_IP), 15), "guest did not answer ping"
            await kvm.stop("netg", force=True, timeout=5)
            assert await _ip("-o", "link", "show", tap, check=False) == ""
        finally:
            await console.close()

    asyncio.run(scenario())


def _bare_argv() -> list[str]:
    return [QEMU, "-accel", "tcg", "-m", "192", "-nodefaults", "-no-user-config",
            "-display", "none", "-kernel", str(kernel().vmlinuz), "-initrd", str(initramfs()),
            "-append", "console=ttyS0,38400 ro quiet", "-serial", "stdio",
            "-device", "virtio-balloon-pci"]


ROOTFS_MARKER = "CORRAL-ROOTFS-OK"


def _ext4_root(where: Path) -> Path:
    """A 16 MiB ext4 image whose /sbin/init prints :data:`ROOTFS_MARKER` and waits."""
    if shutil.which("mkfs.ext4") is None:
        pytest.skip("mkfs.ext4 (e2fsprogs) is needed to build a root file system")
    tree = where / "tree"
    for sub in ("bin", "sbin", "dev", "proc", "sys"):
        (tree / sub).mkdir(parents=True)
    shutil.copy2("/bin/busybox", tree / "bin" / "busybox")
    (tree / "bin" / "sh").symlink_to("busybox")
    init = tree / "sbin" / "init"
    init.write_text(f"#!/bin/sh\necho {ROOTFS_MARKER}\nwhile true; do sleep 1; done\n")
    init.chmod(0o755)
    image = where / "root.img"
    subprocess.run(["mkfs.ext4", "-q", "-F", "-d", str(tree), str(image), "16M"], check=True)
    return image


def test_initramfs_switches_to_an_ext4_root_disk(kvm: KvmHypervisor, tmp_path: Path) -> None:
    image = _ext4_root(tmp_path)
    hv = guest_hvparams(root_path="/dev/vda")
    spec = replace(guest_spec("rooted", hv),
                   disks=(DiskSpec(path=str(image), dev_type=DiskTemplate.FILE),))

    async def scenario() -> None:
        await kvm.start(spec)
        console = SerialConsole(kvm.paths("rooted").serial_socket)
        await console.open()
        try:
            await console.expect(ROOTFS_MARKER, timeout=BOOT_TIMEOUT)
            assert READY_MARKER not in console.text
        finally:
            await console.close()

    asyncio.run(scenario())


async def _bare_boot_seconds(argv: list[str]) -> float:
    """The same guest started by hand, QEMU writing the serial console to a pipe."""
    started = time.monotonic()
    proc = await asyncio.create_subprocess_exec(*argv, stdin=asyncio.subprocess.DEVNULL,
                                                stdout=asyncio.subprocess.PIPE)
    try:
        assert proc.stdout is not None
        seen = b""
        async with asyncio.timeout(BOOT_TIMEOUT):
            while READY_MARKER.encode() not in seen:
                chunk = await proc.stdout.read(4096)
                assert chunk, "bare QEMU ended before the marker"
                seen += chunk
        return time.monotonic() - started
    finally:
        proc.kill()
        await proc.wait()


def test_boot_time_against_bare_qemu(kvm: KvmHypervisor) -> None:
    hv, bare_argv = guest_hvparams(), _bare_argv()

    async def scenario() -> tuple[float, float]:
        bare = await _bare_boot_seconds(bare_argv)
        console, corral = await _boot(kvm, "timed", hv)
        await console.close()
        return bare, corral

    bare, corral = asyncio.run(scenario())
    print(f"\nKVM start to console marker (TCG): corral {corral:.2f}s, bare qemu {bare:.2f}s, "
          f"overhead {corral - bare:+.2f}s")


def test_probe_guests_print_the_marker_under_tcg(tmp_path: Path) -> None:
    """The probe guests work when the accelerator does (so a KVM verdict can be trusted)."""
    vmlinuz = kernel().vmlinuz
    runner = SubprocessRunner()

    async def scenario() -> list[tuple[bool, str]]:
        sector = tmp_path / "probe.bin"
        sector.write_bytes(accel.boot_sector())
        initrd = await build_probe_initramfs(tmp_path / "probe.img", runner,
                                             accel.PROBE_MARKER)
        guests = [accel.boot_sector_probe(sector), accel.linux_probe(vmlinuz, initrd)]
        return [await accel.run_probe(QEMU, g, runner, timeout=BOOT_TIMEOUT, accel="tcg")
                for g in guests]

    outcomes = asyncio.run(scenario())
    assert [ok for ok, _ in outcomes] == [True, True], outcomes


def test_auto_accel_probes_once_and_caches(kvm: KvmHypervisor) -> None:
    hv = guest_hvparams(accel="auto")

    async def scenario() -> None:
        first = await kvm.resolve_accel(hv)
        verdict = accel.read_verdict(accel.verdict_file(kvm_run_dir(kvm.layout)))
        assert verdict is not None
        assert verdict.accel == first
        assert verdict.reason
        if not accel.kvm_device_opens():
            assert first == "tcg"
        started = time.monotonic()
        assert await kvm.resolve_accel(hv) == first
        assert time.monotonic() - started < 0.5  # cached: no second probe
        print(f"\naccel auto → {first} ({verdict.reason})")

    asyncio.run(scenario())
