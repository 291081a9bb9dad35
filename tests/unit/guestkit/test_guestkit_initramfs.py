"""build_initramfs: a newc cpio (gzip) with busybox, the modules in order, and /init."""

from __future__ import annotations

import asyncio
import gzip
import lzma
import shutil
import subprocess
from pathlib import Path

import pytest

from corral.guestkit import GUEST_MODULES, KernelFiles, build_initramfs, default_init_script
from corral.guestkit.initramfs import build_probe_initramfs, find_module
from corral.process import SubprocessRunner

BUSYBOX = Path("/bin/busybox")


@pytest.fixture(autouse=True)
def _tools() -> None:
    if not BUSYBOX.is_file() or shutil.which("cpio") is None:
        pytest.skip("needs busybox-static and cpio")


def _kernel(tmp_path: Path) -> KernelFiles:
    modules = tmp_path / "lib" / "modules" / "6.1.0-t"
    drivers = modules / "kernel" / "drivers"
    drivers.mkdir(parents=True)
    (drivers / "virtio_ring.ko").write_bytes(b"ring-module")
    (drivers / "virtio.ko.xz").write_bytes(lzma.compress(b"virtio-module"))
    (drivers / "virtio_net.ko.gz").write_bytes(gzip.compress(b"net-module"))
    (drivers / "unrelated.ko").write_bytes(b"x")
    return KernelFiles(vmlinuz=tmp_path / "vmlinuz", modules_dir=modules, version="6.1.0-t")


def _listing(image: Path) -> list[str]:
    out = subprocess.run(["cpio", "-it", "--quiet"], input=gzip.decompress(image.read_bytes()),
                         capture_output=True, check=True)
    return out.stdout.decode().splitlines()


def _extract(image: Path, into: Path) -> None:
    into.mkdir()
    subprocess.run(["cpio", "-id", "--quiet", "--no-absolute-filenames"], cwd=into,
                   input=gzip.decompress(image.read_bytes()), check=True)


def test_find_module_prefers_plain_then_compressed(tmp_path: Path) -> None:
    kernel = _kernel(tmp_path)
    assert find_module(kernel.modules_dir, "virtio_ring") is not None
    found = find_module(kernel.modules_dir, "virtio")
    assert found is not None
    assert found.name == "virtio.ko.xz"
    assert find_module(kernel.modules_dir, "evdev") is None


def test_image_contents(tmp_path: Path) -> None:
    kernel = _kernel(tmp_path)
    image = asyncio.run(build_initramfs(kernel, tmp_path / "out" / "initrd.img",
                                        SubprocessRunner()))
    names = set(_listing(image))
    assert {"init", "bin/busybox", "bin/sh", "sbin/acpid", "etc/acpi/PWRF/00000080",
            "var/log", "etc/corral/modules", "lib/modules/corral/virtio_ring.ko",
            "lib/modules/corral/virtio.ko", "lib/modules/corral/virtio_net.ko"} <= names
    assert "lib/modules/corral/unrelated.ko" not in names
    root = tmp_path / "x"
    _extract(image, root)
    assert (root / "lib/modules/corral/virtio.ko").read_bytes() == b"virtio-module"
    assert (root / "lib/modules/corral/virtio_net.ko").read_bytes() == b"net-module"
    order = (root / "etc/corral/modules").read_text().split()
    assert order == ["virtio_ring", "virtio", "virtio_net"]
    assert order == [m for m in GUEST_MODULES if m in order]
    assert (root / "init").read_text() == default_init_script()
    assert (root / "init").stat().st_mode & 0o111
    assert (root / "etc/acpi/PWRF/00000080").stat().st_mode & 0o111
    assert (root / "bin/sh").readlink() == Path("/bin/busybox")


def test_custom_init_and_probe_image(tmp_path: Path) -> None:
    kernel = _kernel(tmp_path)
    custom = asyncio.run(build_initramfs(kernel, tmp_path / "c.img", SubprocessRunner(),
                                         init_script="#!/bin/sh\necho custom\n"))
    _extract(custom, tmp_path / "c")
    assert (tmp_path / "c" / "init").read_text() == "#!/bin/sh\necho custom\n"
    probe = asyncio.run(build_probe_initramfs(tmp_path / "p.img", SubprocessRunner(), "MARK"))
    names = _listing(probe)
    assert "init" in names
    assert not any(n.endswith(".ko") for n in names)


def test_default_init_scripts_parse(tmp_path: Path) -> None:
    for acpid in (True, False):
        script = tmp_path / f"init-{acpid}"
        script.write_text(default_init_script(acpid=acpid))
        subprocess.run([str(BUSYBOX), "sh", "-n", str(script)], check=True)
        assert ("acpid -l" in script.read_text()) is acpid
    text = default_init_script()
    assert text.index("insmod") < text.index("acpid -l") < text.index("switch_root")
    assert text.rstrip().endswith("done")
    assert "CORRAL-GUEST-READY" in text
