"""Guest kit: the cached Debian cloud kernel and a busybox initramfs for QEMU guests."""

from __future__ import annotations

from corral.guestkit.init_script import READY_MARKER, default_init_script
from corral.guestkit.initramfs import (
    GUEST_MODULES,
    build_initramfs,
    build_probe_initramfs,
    find_module,
)
from corral.guestkit.kernel import KernelFiles, cached_kernel, ensure_kernel

__all__ = [
    "GUEST_MODULES",
    "READY_MARKER",
    "KernelFiles",
    "build_initramfs",
    "build_probe_initramfs",
    "cached_kernel",
    "default_init_script",
    "ensure_kernel",
    "find_module",
]
