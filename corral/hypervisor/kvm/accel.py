"""Which accelerator QEMU uses on this node: KVM when it really works, else TCG.

``/dev/kvm`` can exist and open yet hang ordinary guests (a host KVM module
variant that only runs some guests), so ``auto`` also boots tiny probe guests
under KVM with hard timeouts: a 512-byte boot sector, then (when a kernel is at
hand) Linux with an initramfs that prints a marker and powers off. The verdict
is cached in the node's run dir, keyed by the host kernel release, so the probe
runs once per node boot and kernel.
"""

from __future__ import annotations

import enum
import os
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec

from corral.errors import HypervisorError
from corral.process import CommandRunner
from corral.serde import atomic_write

KVM_DEVICE = Path("/dev/kvm")
PROBE_MARKER = "CORRAL-ACCEL-PROBE-OK"
PROBE_TIMEOUT = 5.0
"""Seconds a probe guest gets; a working KVM boots it in well under one second."""


class Accel(enum.StrEnum):
    KVM = "kvm"
    TCG = "tcg"


class Verdict(msgspec.Struct, frozen=True, kw_only=True):
    """A cached probe outcome."""

    accel: Accel
    reason: str
    release: str
    checked_at: float


@dataclass(frozen=True, slots=True)
class ProbeGuest:
    """Extra QEMU arguments that boot a guest printing :data:`PROBE_MARKER` and exiting."""

    args: tuple[str, ...]
    what: str


def requested_accel(hvparams: Mapping[str, Any]) -> str:
    """``auto``, ``kvm`` or ``tcg`` from ``accel``; Ganeti's legacy ``kvm_flag`` refines auto."""
    accel = str(hvparams.get("accel", "auto"))
    flag = str(hvparams.get("kvm_flag", ""))
    if accel == "auto" and flag:
        return "kvm" if flag == "enabled" else "tcg"
    return accel


def kvm_device_opens(device: Path = KVM_DEVICE) -> bool:
    """Whether ``device`` exists and opens read-write (blocking, quick)."""
    try:
        fd = os.open(device, os.O_RDWR | os.O_CLOEXEC)
    except OSError:
        return False
    os.close(fd)
    return True


def verdict_file(kvm_run_dir: Path, release: str | None = None) -> Path:
    """The cache file of the probe verdict for the running (or given) kernel release."""
    return kvm_run_dir / f"accel-{release or os.uname().release}.json"


def read_verdict(path: Path) -> Verdict | None:
    """The cached verdict, or None if absent or unreadable."""
    try:
        return msgspec.json.decode(path.read_bytes(), type=Verdict)
    except (OSError, msgspec.DecodeError, msgspec.ValidationError):
        return None


def write_verdict(path: Path, verdict: Verdict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, msgspec.json.encode(verdict))


Prober = Callable[[], Awaitable[tuple[bool, str]]]


async def resolve_accel(setting: str, *, cache: Path, probe: Prober, now: float,
                        device: Path = KVM_DEVICE) -> Accel:
    """The accelerator for ``setting`` (auto|kvm|tcg), probing and caching for ``auto``.

    Raises:
        HypervisorError: ``kvm`` was asked for explicitly but ``device`` does not open.
    """
    if setting == Accel.TCG:
        return Accel.TCG
    if setting == Accel.KVM:
        if not kvm_device_opens(device):
            raise HypervisorError(f"accel=kvm but {device} cannot be opened")
        return Accel.KVM
    cached = read_verdict(cache)
    if cached is not None:
        return cached.accel
    if not kvm_device_opens(device):
        ok, reason = False, f"{device} cannot be opened"
    else:
        ok, reason = await probe()
    release = cache.stem.removeprefix("accel-")
    verdict = Verdict(accel=Accel.KVM if ok else Accel.TCG, reason=reason, release=release,
                      checked_at=now)
    write_verdict(cache, verdict)
    return verdict.accel


async def run_probe(qemu: str, guest: ProbeGuest, runner: CommandRunner, *,
                    timeout: float = PROBE_TIMEOUT, accel: str = "kvm") -> tuple[bool, str]:
    """Boot ``guest`` under ``accel``; success means the marker appeared before the timeout.

    (``accel="tcg"`` checks the probe guests themselves.)
    """
    argv = [qemu, "-accel", accel, "-nodefaults", "-no-user-config", "-display", "none",
            "-serial", "stdio", "-no-reboot", *guest.args]
    result = await runner.run(argv, timeout=timeout)
    name = accel.upper()
    if PROBE_MARKER in result.stdout:
        return True, f"{guest.what} booted under {name}"
    if result.timed_out:
        return False, f"{guest.what} did not finish within {timeout:g}s under {name}"
    detail = result.stderr.strip()
    return False, f"{guest.what} failed under {name}: {result.fail_reason}: {detail}"


def linux_probe(kernel: Path, initrd: Path) -> ProbeGuest:
    """A Linux probe: ``initrd`` prints the marker and powers off (guestkit builds one)."""
    return ProbeGuest(("-machine", "pc", "-m", "128", "-kernel", str(kernel), "-initrd",
                       str(initrd), "-append", "console=ttyS0 quiet panic=-1"), "a Linux probe")


def boot_sector_probe(image: Path) -> ProbeGuest:
    """A 512-byte boot sector probe (see :func:`boot_sector`), for nodes without a kernel."""
    return ProbeGuest(("-machine", "pc", "-m", "16", "-drive",
                       f"file={image},format=raw,if=floppy", "-boot", "a",
                       "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"),
                      "a boot sector probe")


# Real-mode code at 0x7c00: clear DS, write the NUL-terminated message at 0x7c1d to the
# first serial port, then write to the isa-debug-exit port so QEMU ends, and halt.
_BOOT_CODE = bytes.fromhex("FA FC 31C0 8ED8 BE1D7C BAF803 AC 84C0 7403 EE EBF8"
                           " BAF400 B010 EE F4 EBFD")


def boot_sector() -> bytes:
    """A bootable floppy sector that prints :data:`PROBE_MARKER` on COM1 and exits QEMU."""
    message = (PROBE_MARKER + "\n").encode() + b"\0"
    return (_BOOT_CODE + message).ljust(510, b"\0") + b"\x55\xaa"
