"""The lxc hypervisor passes the conformance kit with real containers (Debian's LXC).

The fixture builds a 32 MiB ext4 image holding a static busybox and the busybox
OS's own files (``os/busybox/rootfs``: busybox init, its inittab and rcS), so the
containers boot what ``gnt-instance add -o busybox`` installs. Each instance gets
its own sparse copy. Needs root, Debian's ``lxc``, ``mkfs.ext4`` and
``busybox-static``.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

import pytest

from corral.clock import SystemClock
from corral.hypervisor.base import DiskSpec, Hypervisor, InstanceSpec, NicSpec
from corral.hypervisor.lxc.driver import REQUIRED_TOOLS, LxcHypervisor
from corral.hypervisor.params import defaults
from corral.layout import NodeLayout
from corral.objects.instance import DiskTemplate
from corral.process import SubprocessRunner
from tests.contract.hypervisor_kit import HypervisorContract, KitOptions

BUSYBOX = Path("/bin/busybox")
OS_ROOTFS = Path(__file__).resolve().parents[2] / "os" / "busybox" / "rootfs"


def missing() -> str | None:
    """Why this machine cannot run the containers of these tests (None: it can)."""
    if os.geteuid() != 0:
        return "lxc containers need root here"
    for prog in (*REQUIRED_TOOLS, "mkfs.ext4"):
        if shutil.which(prog) is None:
            return f"{prog} is not installed (Debian packages lxc, e2fsprogs)"
    if not BUSYBOX.is_file() or b"ld-linux" in BUSYBOX.read_bytes()[:8192]:
        return "a static /bin/busybox is needed (Debian package busybox-static)"
    return None


pytestmark = pytest.mark.skipif(missing() is not None, reason=missing() or "")


class SpecFactory(Protocol):
    """``make_spec``: the kit's factory plus vCPUs, NICs and hvparams."""

    def __call__(self, name: str, *, vcpus: int = 1, nics: tuple[NicSpec, ...] = (),
                 **hvparams: str) -> InstanceSpec: ...


def build_image(work: Path, size_mib: int = 32) -> Path:
    """An ext4 image holding a busybox system with the busybox OS's init files."""
    stage = work / "stage"
    for sub in ("bin", "sbin", "usr/bin", "usr/sbin", "dev", "proc", "sys", "tmp", "run",
                "root", "var/run", "var/log"):
        (stage / sub).mkdir(parents=True, exist_ok=True)
    shutil.copy2(BUSYBOX, stage / "bin" / "busybox")
    applets = subprocess.run([str(BUSYBOX), "--list-full"], capture_output=True, text=True,
                             check=True).stdout.split()
    for applet in applets:
        link = stage / applet
        if not link.exists() and not link.is_symlink():
            link.symlink_to("/bin/busybox")
    shutil.copytree(OS_ROOTFS, stage, dirs_exist_ok=True)
    (stage / "etc" / "init.d" / "rcS").chmod(0o755)
    (stage / "etc" / "hostname").write_text("lxc-kit\n")
    image = work / "root.img"
    with image.open("wb") as fh:
        fh.truncate(size_mib * 1024 * 1024)
    subprocess.run(["mkfs.ext4", "-q", "-F", "-d", str(stage), str(image)], check=True)
    return image


@pytest.fixture(scope="module")
def base_image(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_image(tmp_path_factory.mktemp("lxc-image"))


def mounts_below(path: Path) -> list[str]:
    """Mount points under ``path``, read straight from the kernel."""
    prefix = str(path).rstrip("/") + "/"
    with open("/proc/self/mountinfo") as fh:
        return [p for p in (line.split()[4] for line in fh) if p.startswith(prefix)]


async def stop_everything(hv: LxcHypervisor) -> None:
    names = set(await hv.list_instances())
    if hv.lxc_path.is_dir():
        names |= set(os.listdir(hv.lxc_path))
    for name in names:
        await hv.stop(name, force=True, timeout=10.0)


@pytest.fixture
def driver(tmp_path: Path) -> Iterator[Hypervisor]:
    hv = LxcHypervisor(NodeLayout(tmp_path / "node"), SubprocessRunner(), SystemClock())
    yield hv
    asyncio.run(stop_everything(hv))
    assert mounts_below(tmp_path) == []


@pytest.fixture
def make_spec(base_image: Path, tmp_path: Path) -> SpecFactory:
    def make(name: str, *, vcpus: int = 1, nics: tuple[NicSpec, ...] = (),
             **hvparams: str) -> InstanceSpec:
        disk = tmp_path / f"{name}.img"
        if not disk.exists():
            subprocess.run(["cp", "--sparse=always", str(base_image), str(disk)], check=True)
        return InstanceSpec(
            name=name, uuid=str(uuid.uuid4()), hvparams={**defaults("lxc"), **hvparams},
            memory_mib=128, vcpus=vcpus, primary_node="node1.example.com", nics=nics,
            disks=(DiskSpec(path=str(disk), size_mib=32, dev_type=DiskTemplate.FILE),))

    return make


class TestLxcHypervisor(HypervisorContract):
    """Every kit check, on real containers (a busybox soft stop takes about 2 s)."""

    kit_options = KitOptions(stop_timeout=20.0, settle_timeout=20.0)
