"""KVM defaults for a virtual cluster: the cached Debian cloud kernel and a busybox initramfs.

Instances of the ``busybox`` OS hold an ext4 root file system on their first
disk; the initramfs loads the virtio modules and switches to ``/dev/vda``.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

from corral.guestkit import build_initramfs, ensure_kernel
from corral.process import SubprocessRunner

DEFAULT_CACHE = Path(os.environ.get("CORRAL_GUESTKIT_CACHE", "/var/tmp/corral-guestkit"))
INITRD_NAME = "corral-vcluster-initrd.img"


async def _prepare(cache_dir: Path) -> tuple[Path, Path]:
    runner = SubprocessRunner()
    kernel = await ensure_kernel(cache_dir, runner)
    initrd = cache_dir / INITRD_NAME
    if not initrd.exists():
        await build_initramfs(kernel, initrd, runner)
    return kernel.vmlinuz, initrd


def kvm_hvparams(cache_dir: Path = DEFAULT_CACHE) -> dict[str, Any]:
    """Cluster-level kvm hvparams that boot busybox instances (fetches the kernel once)."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    vmlinuz, initrd = asyncio.run(_prepare(cache_dir))
    return {
        "kernel_path": str(vmlinuz),
        "initrd_path": str(initrd),
        "root_path": "/dev/vda",
        "serial_console": True,
        "kernel_args": "ro",
        # The virtual nodes talk over loopback: no link to spare from Ganeti's 32 MiB/s.
        "migration_bandwidth": 1024,
    }
