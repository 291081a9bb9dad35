"""Build a gzip'ed newc initramfs: static busybox, the virtio modules and ``/init``."""

from __future__ import annotations

import asyncio
import gzip
import lzma
import os
import shutil
import tempfile
from pathlib import Path

from corral.errors import HypervisorError
from corral.guestkit.init_script import (
    MODULE_DIR,
    MODULE_LIST,
    POWER_BUTTON_ACTION,
    default_init_script,
)
from corral.guestkit.kernel import KernelFiles
from corral.process import CommandRunner

GUEST_MODULES: tuple[str, ...] = (
    "virtio_ring",
    "virtio",
    "virtio_pci_modern_dev",
    "virtio_pci_legacy_dev",
    "virtio_pci",
    "virtio_blk",
    "failover",
    "net_failover",
    "virtio_net",
    "virtio_balloon",
    "button",
    "evdev",
)
"""Loaded in this order by ``/init`` (each needs the ones before it)."""

DEFAULT_BUSYBOX = Path("/bin/busybox")
_DIRS = ("bin", "sbin", "usr/bin", "usr/sbin", "proc", "sys", "dev", "tmp", "run", "root",
         "newroot", "var/log", "etc/corral", "etc/acpi/PWRF", MODULE_DIR.lstrip("/"))
_POWER_OFF = "#!/bin/sh\npoweroff -f\n"


async def build_initramfs(
    kernel: KernelFiles,
    out: Path,
    runner: CommandRunner,
    *,
    init_script: str | None = None,
    busybox: Path = DEFAULT_BUSYBOX,
) -> Path:
    """Write the initramfs to ``out`` (atomically) and return ``out``.

    ``init_script`` replaces the standard ``/init`` (see ``default_init_script``).
    ``busybox`` must be a statically linked binary (Debian's ``busybox-static``).
    """
    script = default_init_script() if init_script is None else init_script
    return await _build(out, runner, script, kernel, busybox)


async def build_probe_initramfs(out: Path, runner: CommandRunner, marker: str, *,
                                busybox: Path = DEFAULT_BUSYBOX) -> Path:
    """A module-less initramfs whose ``/init`` prints ``marker`` and powers off at once."""
    script = f"#!/bin/sh\necho {marker}\npoweroff -f\n"
    return await _build(out, runner, script, None, busybox)


async def _build(out: Path, runner: CommandRunner, script: str, kernel: KernelFiles | None,
                 busybox: Path) -> Path:
    applets = await _applets(runner, busybox)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=".initramfs-") as tmp:
        stage = Path(tmp) / "root"
        await asyncio.to_thread(_stage, stage, kernel, busybox, applets, script)
        archive = Path(tmp) / "initramfs.cpio"
        await _cpio(runner, stage, archive)
        await asyncio.to_thread(_gzip_to, archive, out)
    return out


async def _applets(runner: CommandRunner, busybox: Path) -> list[str]:
    result = await runner.run([str(busybox), "--list-full"], timeout=30)
    if result.failed:
        raise HypervisorError(f"{busybox} --list-full: {result.fail_reason} "
                              "(a static busybox is needed: install busybox-static)")
    return [line.strip() for line in result.stdout.splitlines() if line.strip()]


def _stage(stage: Path, kernel: KernelFiles | None, busybox: Path, applets: list[str],
           script: str) -> None:
    for name in _DIRS:
        (stage / name).mkdir(parents=True, exist_ok=True)
    shutil.copy2(busybox, stage / "bin" / "busybox")
    for applet in applets:
        link = stage / applet
        if applet != "bin/busybox" and not link.exists():
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to("/bin/busybox")
    loaded = [] if kernel is None else [
        name for name in GUEST_MODULES if _copy_module(kernel, name, stage)]
    _write(stage / MODULE_LIST.lstrip("/"), "".join(f"{m}\n" for m in loaded), 0o644)
    _write(stage / POWER_BUTTON_ACTION.lstrip("/"), _POWER_OFF, 0o755)
    _write(stage / "init", script, 0o755)


def _write(path: Path, text: str, mode: int) -> None:
    path.write_text(text)
    path.chmod(mode)


def find_module(modules_dir: Path, name: str) -> Path | None:
    """The file of module ``name`` under ``modules_dir`` (``.ko``, ``.ko.xz`` or ``.ko.gz``)."""
    for suffix in (".ko", ".ko.xz", ".ko.gz"):
        found = sorted((modules_dir / "kernel").rglob(f"{name}{suffix}"))
        if found:
            return found[0]
    return None


def _copy_module(kernel: KernelFiles, name: str, stage: Path) -> bool:
    """Copy (decompressing) one module; False when the kernel has it built in or lacks it."""
    source = find_module(kernel.modules_dir, name)
    if source is None:
        return False
    target = stage / MODULE_DIR.lstrip("/") / f"{name}.ko"
    if source.name.endswith(".xz"):
        target.write_bytes(lzma.decompress(source.read_bytes()))
    elif source.name.endswith(".gz"):
        target.write_bytes(gzip.decompress(source.read_bytes()))
    else:
        shutil.copyfile(source, target)
    return True


def _listing(stage: Path) -> bytes:
    """Every path below ``stage``, parents first, NUL-separated, for ``cpio -0``."""
    names: list[str] = []
    for top, dirs, files in os.walk(stage):
        dirs.sort()
        rel = os.path.relpath(top, stage)
        if rel != ".":
            names.append(rel)
        names.extend(os.path.join(rel, f) if rel != "." else f for f in sorted(files))
    return b"".join(n.encode() + b"\0" for n in names)


async def _cpio(runner: CommandRunner, stage: Path, archive: Path) -> None:
    argv = ["cpio", "-o", "-0", "-H", "newc", "-R", "0:0", "--quiet", "-O", str(archive)]
    result = await runner.run(argv, cwd=str(stage), stdin=_listing(stage), timeout=120)
    if result.failed:
        raise HypervisorError(f"cpio: {result.fail_reason}: {result.stderr.strip()}")


def _gzip_to(archive: Path, out: Path) -> None:
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    with archive.open("rb") as src, gzip.open(tmp, "wb", compresslevel=6) as dst:
        shutil.copyfileobj(src, dst)
    os.replace(tmp, out)
