"""The chroot hypervisor passes the conformance kit, with real mounts and processes.

The fixture builds a 32 MiB ext4 image holding a static busybox and a
``/ganeti-chroot`` that starts ``sleep 1000`` in the background (its pid goes to
``/dev/shm``, writable even on a read-only disk) and kills it on ``stop``. Each
instance gets its own sparse copy of the image. Needs root, ``mkfs.ext4`` and
Debian's ``busybox-static``.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Protocol

import pytest

from corral.clock import SystemClock
from corral.errors import HypervisorError
from corral.hypervisor.base import DiskSpec, Hypervisor, InstanceSpec
from corral.hypervisor.chroot import ChrootHypervisor
from corral.hypervisor.linux import processes_below
from corral.hypervisor.params import defaults
from corral.layout import NodeLayout
from corral.objects.instance import DiskMode, DiskTemplate
from corral.process import SubprocessRunner
from tests.contract.hypervisor_kit import HypervisorContract

BUSYBOX = Path("/bin/busybox")
INIT_SCRIPT = """#!/bin/sh
case "$1" in
start) /bin/sleep 1000 </dev/null >/dev/null 2>&1 &
       echo $! >/dev/shm/sleep.pid ;;
stop)  [ -f /dev/shm/sleep.pid ] && kill "$(cat /dev/shm/sleep.pid)"
       rm -f /dev/shm/sleep.pid ;;
esac
exit 0
"""


def _missing() -> str | None:
    if os.geteuid() != 0:
        return "chroot instances need root (mount, chroot)"
    if shutil.which("mkfs.ext4") is None:
        return "mkfs.ext4 (e2fsprogs) is not installed"
    if not BUSYBOX.is_file() or b"ld-linux" in BUSYBOX.read_bytes()[:8192]:
        return "a static /bin/busybox is needed (Debian package busybox-static)"
    for prog in ("unshare", "chroot", "mount", "umount"):
        if shutil.which(prog) is None:
            return f"{prog} is not installed"
    return None


class SpecFactory(Protocol):
    """``make_spec`` of this module: the kit's factory plus disk mode and hvparams."""

    def __call__(self, name: str, mode: DiskMode = DiskMode.RW,
                 **hvparams: str) -> InstanceSpec: ...


def _wait(predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def _comms(root: Path) -> set[str]:
    names = set()
    for pid, _ in processes_below(str(root)):
        try:
            names.add(Path(f"/proc/{pid}/comm").read_text().strip())
        except OSError:
            continue
    return names


pytestmark = pytest.mark.skipif(_missing() is not None, reason=_missing() or "")


@pytest.fixture(scope="module")
def base_image(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 32 MiB ext4 image with busybox and the init script."""
    work = tmp_path_factory.mktemp("chroot-image")
    stage = work / "stage"
    for sub in ("bin", "proc", "dev", "tmp", "run"):
        (stage / sub).mkdir(parents=True)
    shutil.copy2(BUSYBOX, stage / "bin" / "busybox")
    for applet in ("sh", "sleep", "cat", "rm", "kill", "echo", "ls"):
        (stage / "bin" / applet).symlink_to("busybox")
    script = stage / "ganeti-chroot"
    script.write_text(INIT_SCRIPT)
    script.chmod(0o755)
    image = work / "root.img"
    with image.open("wb") as fh:
        fh.truncate(32 * 1024 * 1024)
    subprocess.run(["mkfs.ext4", "-q", "-F", "-d", str(stage), str(image)], check=True)
    return image


@pytest.fixture
def driver(tmp_path: Path) -> Iterator[Hypervisor]:
    hv = ChrootHypervisor(NodeLayout(tmp_path / "node"), SubprocessRunner(), SystemClock())
    yield hv
    asyncio.run(_stop_everything(hv))
    assert _mounts_below(tmp_path) == []


async def _stop_everything(hv: ChrootHypervisor) -> None:
    names = set(await hv.list_instances())
    if hv.base_dir.is_dir():
        names |= set(os.listdir(hv.base_dir))
    for name in names:
        await hv.stop(name, force=True, timeout=2.0)


@pytest.fixture
def make_spec(base_image: Path, tmp_path: Path) -> SpecFactory:
    def make(name: str, mode: DiskMode = DiskMode.RW, **hvparams: str) -> InstanceSpec:
        disk = tmp_path / f"{name}.img"
        if not disk.exists():
            subprocess.run(["cp", "--sparse=always", str(base_image), str(disk)], check=True)
        return InstanceSpec(
            name=name, uuid=str(uuid.uuid4()), hvparams={**defaults("chroot"), **hvparams},
            memory_mib=128, vcpus=1, primary_node="node1.example.com",
            disks=(DiskSpec(path=str(disk), mode=mode, size_mib=32,
                            dev_type=DiskTemplate.FILE),))

    return make


def _mounts_below(path: Path) -> list[str]:
    """Mount points under ``path``, read straight from the kernel."""
    prefix = str(path).rstrip("/") + "/"
    with open("/proc/self/mountinfo") as fh:
        points = [line.split()[4] for line in fh]
    return [p for p in points if p.startswith(prefix)]


def _mount_options(point: Path) -> list[str]:
    with open("/proc/self/mountinfo") as fh:
        for line in fh:
            fields = line.split()
            if fields[4] == str(point):
                return fields[5].split(",")
    return []


class TestChrootHypervisor(HypervisorContract):
    """Every kit check, on real chroots."""


def test_instance_runs_a_process_and_stop_leaves_nothing(
        driver: ChrootHypervisor, make_spec: SpecFactory) -> None:
    spec = make_spec("web1")
    root = driver.root_dir("web1")
    t0 = time.monotonic()
    asyncio.run(driver.start(spec))
    started = time.monotonic() - t0
    assert processes_below(str(root)), "no process has the chroot as its root"
    # the script's background child shows up as "sleep" once it has exec'd
    assert _wait(lambda: "sleep" in _comms(root))
    assert {str(root), str(root / "proc"), str(root / "dev")} <= set(_mounts_below(root.parent))
    t0 = time.monotonic()
    asyncio.run(driver.stop("web1", force=False, timeout=5.0))
    stopped = time.monotonic() - t0
    assert processes_below(str(root)) == []
    assert _mounts_below(root.parent) == []
    assert not root.exists()
    assert started < 2.0
    assert stopped < 2.0


def test_killed_processes_mean_crashed_and_cleanup_unmounts(
        driver: ChrootHypervisor, make_spec: SpecFactory) -> None:
    asyncio.run(driver.start(make_spec("crash1")))
    root = driver.root_dir("crash1")
    for pid, _ in processes_below(str(root)):
        os.kill(pid, signal.SIGKILL)
    assert _wait(lambda: not processes_below(str(root)))
    assert asyncio.run(driver.instance_info("crash1")) is None
    assert "crash1" not in asyncio.run(driver.list_instances())
    assert str(root) in _mounts_below(root.parent)
    with pytest.raises(HypervisorError, match="not running"):
        asyncio.run(driver.stop("crash1", force=False, timeout=1.0))
    asyncio.run(driver.cleanup("crash1"))
    assert _mounts_below(root.parent) == []


def test_read_only_disk_is_mounted_read_only(
        driver: ChrootHypervisor, make_spec: SpecFactory) -> None:
    asyncio.run(driver.start(make_spec("ro1", DiskMode.RO)))
    root = driver.root_dir("ro1")
    assert "ro" in _mount_options(root)
    assert asyncio.run(driver.instance_info("ro1")) is not None
    asyncio.run(driver.stop("ro1", force=True, timeout=2.0))
    assert _mounts_below(root.parent) == []


def test_failed_start_script_rolls_back(
        driver: ChrootHypervisor, make_spec: SpecFactory) -> None:
    spec = make_spec("bad1", init_script="/no-such-script")
    with pytest.raises(HypervisorError, match="no-such-script"):
        asyncio.run(driver.start(spec))
    root = driver.root_dir("bad1")
    assert _mounts_below(root.parent) == []
    assert not root.exists()
    assert asyncio.run(driver.list_instances()) == []


def test_console_command_gives_a_shell_inside(
        driver: ChrootHypervisor, make_spec: SpecFactory) -> None:
    spec = make_spec("con1")
    asyncio.run(driver.start(spec))
    console = driver.console(spec)
    out = subprocess.run(list(console.command), input="ls /; echo marker-$((6*7))\n",
                         capture_output=True, text=True, timeout=10, check=True)
    assert "marker-42" in out.stdout
    assert "ganeti-chroot" in out.stdout
    asyncio.run(driver.stop("con1", force=True, timeout=2.0))
