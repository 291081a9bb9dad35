"""The cached Debian cloud kernel that Corral's test and demo guests boot.

The kernel package is fetched with ``apt-get download`` and unpacked with
``dpkg-deb -x`` into a cache directory; nothing is installed into ``/boot``.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from corral.errors import HypervisorError
from corral.process import CommandRunner

META_PACKAGE = "linux-image-cloud-amd64"
_CURRENT = "current"
_LOCK = ".lock"


@dataclass(frozen=True, slots=True)
class KernelFiles:
    """An unpacked kernel: its image, its module tree and its release string."""

    vmlinuz: Path
    modules_dir: Path
    version: str


def kernel_files(cache_dir: Path, version: str) -> KernelFiles:
    """Where the kernel ``version`` lives once unpacked in ``cache_dir``."""
    tree = cache_dir / version
    return KernelFiles(
        vmlinuz=tree / "boot" / f"vmlinuz-{version}",
        modules_dir=tree / "lib" / "modules" / version,
        version=version,
    )


def cached_kernel(cache_dir: Path) -> KernelFiles | None:
    """The kernel already unpacked in ``cache_dir``, if complete."""
    try:
        version = (cache_dir / _CURRENT).read_text().strip()
    except OSError:
        return None
    files = kernel_files(cache_dir, version)
    if version and files.vmlinuz.is_file() and files.modules_dir.is_dir():
        return files
    return None


def parse_depends(output: str) -> str:
    """The versioned image package named by ``apt-cache depends`` of the meta package."""
    match = re.search(r"Depends:\s*(linux-image-\S+)", output)
    if match is None:
        raise HypervisorError(f"cannot find the kernel package behind {META_PACKAGE}")
    return match.group(1)


async def ensure_kernel(cache_dir: Path, runner: CommandRunner) -> KernelFiles:
    """Fetch and unpack the cloud kernel into ``cache_dir`` once; later calls reuse it.

    A lock file serialises concurrent callers (threads, tasks or processes).
    """
    found = cached_kernel(cache_dir)
    if found is not None:
        return found
    lock_fd = await asyncio.to_thread(_lock, cache_dir / _LOCK)
    try:
        found = cached_kernel(cache_dir)
        if found is None:
            found = await _fetch(cache_dir, runner)
        return found
    finally:
        os.close(lock_fd)


def _lock(path: Path) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    fcntl.flock(fd, fcntl.LOCK_EX)
    return fd


async def _fetch(cache_dir: Path, runner: CommandRunner) -> KernelFiles:
    deps = await _run(runner, ["apt-cache", "depends", META_PACKAGE])
    package = parse_depends(deps)
    version = package.removeprefix("linux-image-")
    download = cache_dir / "download"
    shutil.rmtree(download, ignore_errors=True)
    download.mkdir()
    download.chmod(0o755)
    await _run(runner, ["apt-get", "download", "-q", package], cwd=str(download), timeout=600)
    debs = sorted(download.glob(f"{package}_*.deb"))
    if not debs:
        raise HypervisorError(f"apt-get download left no package file for {package}")
    tree = cache_dir / version
    shutil.rmtree(tree, ignore_errors=True)
    await _run(runner, ["dpkg-deb", "-x", str(debs[-1]), str(tree)], timeout=300)
    shutil.rmtree(download, ignore_errors=True)
    (cache_dir / _CURRENT).write_text(version + "\n")
    found = cached_kernel(cache_dir)
    if found is None:
        raise HypervisorError(f"package {package} holds no vmlinuz-{version} or modules")
    return found


async def _run(
    runner: CommandRunner, argv: list[str], *, cwd: str | None = None, timeout: float = 60
) -> str:
    result = await runner.run(argv, cwd=cwd, timeout=timeout)
    if result.failed:
        raise HypervisorError(f"{' '.join(argv)}: {result.fail_reason}: {result.stderr.strip()}")
    return result.stdout
