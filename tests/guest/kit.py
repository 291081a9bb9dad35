"""Shared setup of the real-QEMU guest tests: the cached kernel, initramfs images, specs.

The kernel is fetched once into a persistent cache (``$CORRAL_GUESTKIT_CACHE`` or
``/var/tmp/corral-guestkit``) so repeated runs do not download it again. Every
helper skips the calling test, with the reason, when this machine cannot run
guests (no QEMU, no static busybox, no cpio, kernel not fetchable).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import random
import shutil
import signal
import tempfile
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from corral.errors import CorralError, HypervisorError
from corral.guestkit import KernelFiles, build_initramfs, default_init_script, ensure_kernel
from corral.hypervisor.base import InstanceSpec, NicSpec
from corral.hypervisor.kvm.console import SerialConsole
from corral.hypervisor.kvm.driver import KvmHypervisor
from corral.hypervisor.kvm.paths import kvm_run_dir
from corral.hypervisor.kvm.runtime import read_pidfile
from corral.hypervisor.params import defaults
from corral.process import SubprocessRunner

QEMU = "/usr/bin/qemu-system-x86_64"
BOOT_TIMEOUT = 30.0
"""Seconds a TCG guest gets to reach the console marker (it needs about 3-4 here)."""
_kernel: list[KernelFiles] = []


def cache_dir() -> Path:
    return Path(os.environ.get("CORRAL_GUESTKIT_CACHE", "/var/tmp/corral-guestkit"))


def require_qemu() -> None:
    """Skip unless QEMU, a static busybox and cpio are installed."""
    if not os.access(QEMU, os.X_OK):
        pytest.skip(f"{QEMU} missing (install qemu-system-x86)")
    if not Path("/bin/busybox").is_file() or shutil.which("cpio") is None:
        pytest.skip("busybox-static and cpio are needed to build guest initramfs images")


def kernel() -> KernelFiles:
    """The cached cloud kernel (fetched on first use), or skip."""
    require_qemu()
    if not _kernel:
        try:
            _kernel.append(asyncio.run(ensure_kernel(cache_dir(), SubprocessRunner())))
        except CorralError as err:
            pytest.skip(f"cannot fetch the Debian cloud kernel: {err}")
    return _kernel[0]


def initramfs(*, acpid: bool = True) -> Path:
    """A busybox initramfs, cached beside the kernel and keyed by its ``/init``."""
    files = kernel()
    script = default_init_script(acpid=acpid)
    digest = hashlib.sha256(f"{files.version}\n{script}".encode()).hexdigest()[:16]
    out = cache_dir() / "images" / f"initramfs-{digest}.img"
    if not out.is_file():
        asyncio.run(build_initramfs(files, out, SubprocessRunner(), init_script=script))
    return out


def guest_hvparams(*, acpid: bool = True, kernel_args: str = "ro quiet",
                   **extra: Any) -> dict[str, Any]:
    """Filled kvm hvparams booting the guest kit's kernel under TCG."""
    return {**defaults("kvm"), "kernel_path": str(kernel().vmlinuz),
            "initrd_path": str(initramfs(acpid=acpid)), "accel": "tcg",
            "kernel_args": kernel_args, **extra}


def guest_spec(name: str, hvparams: Mapping[str, Any], *, memory_mib: int = 192,
               nics: tuple[NicSpec, ...] = ()) -> InstanceSpec:
    return InstanceSpec(name=name, uuid=str(uuid.uuid4()), hvparams=dict(hvparams),
                        memory_mib=memory_mib, vcpus=1, nics=nics, primary_node="node1")


@contextmanager
def short_root() -> Iterator[Path]:
    """A node root with a short path (unix socket paths are limited to 107 bytes)."""
    root = Path(tempfile.mkdtemp(prefix="cg-", dir="/tmp"))
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


async def stop_everything(driver: KvmHypervisor) -> None:
    """Force off every guest the driver has a record of (by pid) and remove its taps."""
    run_dir = kvm_run_dir(driver.layout)
    names = [p.name.removesuffix(".runtime") for p in run_dir.glob("*.runtime")]
    for name in names:
        await driver.stop(name, force=True, timeout=5.0)
    for pidfile in run_dir.glob("*.pid"):  # a start that died before its record
        pid = read_pidfile(pidfile)
        if pid is not None and b"qemu" in _cmdline(pid):
            os.kill(pid, signal.SIGKILL)


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


async def ask(console: SerialConsole, *, attempts: int = 5) -> str:
    """Have the guest shell compute a sum; return the answer once it is on the console."""
    a, b = random.randrange(10_000, 20_000), random.randrange(10_000, 20_000)
    answer = f"hello-{a + b}"
    for attempt in range(attempts):
        start = len(console.output)
        await console.send(f"echo hello-$(({a}+{b}))\n")
        try:
            await console.expect(answer, timeout=3.0, start=start)
            return answer
        except HypervisorError:
            if attempt == attempts - 1:
                raise
    raise AssertionError("unreachable")


def qemu_pids_of(uuid_text: str) -> list[int]:
    """Live QEMU processes started for the instance with this UUID (``-uuid``)."""
    wanted = f"\0-uuid\0{uuid_text}\0".encode()
    return [int(entry.name) for entry in Path("/proc").iterdir()
            if entry.name.isdigit() and wanted in _cmdline(int(entry.name))
            and not _zombie(entry)]


def _zombie(proc: Path) -> bool:
    try:
        return (proc / "stat").read_text().rpartition(")")[2].split()[:1] == ["Z"]
    except OSError:
        return True
