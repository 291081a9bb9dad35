"""Corral's own ``busybox`` OS definition (os/busybox), run for real on image files.

Needs Debian's busybox-static and e2fsprogs; the mount/chroot and block-device cases need root.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from corral.osdef import OsParamsError, OsScriptError
from corral.osdef.discovery import OsInfo, diagnose, find_os
from corral.osdef.env import (
    OsDisk,
    OsInstanceData,
    os_environment,
    with_export,
    with_import,
    with_rename,
)
from corral.osdef.run import run_os_script
from corral.osdef.validation import validate_os
from corral.process import SubprocessRunner

OS_DIR = Path(__file__).resolve().parents[3] / "os"
MiB = 1024 * 1024


def _busybox_is_static() -> bool:
    busybox = Path("/bin/busybox")
    if not busybox.is_file():
        return False
    return subprocess.run(["ldd", str(busybox)], capture_output=True, check=False).returncode != 0


pytestmark = [
    pytest.mark.skipif(
        not _busybox_is_static(), reason="needs a static /bin/busybox (busybox-static)"
    ),
    pytest.mark.skipif(
        shutil.which("mkfs.ext4") is None or shutil.which("debugfs") is None,
        reason="needs mkfs.ext4 and debugfs (e2fsprogs)",
    ),
]
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="mount, chroot and losetup need root")


@pytest.fixture(scope="module")
def busybox() -> OsInfo:
    return find_os([OS_DIR], "busybox+default")


def _sparse(path: Path, mib: int) -> Path:
    with path.open("wb") as f:
        f.truncate(mib * MiB)
    return path


def _env(
    os_: OsInfo, disk: Path, name: str = "bb1.example.com", osparams: Mapping[str, str] = {}
) -> dict[str, str]:
    size = disk.stat().st_size // MiB if disk.is_file() else 64
    return os_environment(
        os_,
        variant="default",
        osparams=osparams,
        instance=OsInstanceData(
            name=name, os="busybox+default", uuid="u-1", ctime=1.0, mtime=1.0, primary_node="n1"
        ),
        disks=[OsDisk(uuid="d-0", size=size, path=str(disk), backend_type="file:loop")],
        nics=[],
        hypervisor="chroot",
        hvparams={},
        beparams={},
    )


def _run(os_: OsInfo, script: str, env: Mapping[str, str], logs: Path, **kwargs: Any) -> None:
    coro = run_os_script(os_, script, env, SubprocessRunner(), logs, timeout=60, **kwargs)
    asyncio.run(coro)


def _debugfs(image: Path, request: str) -> str:
    done = subprocess.run(
        ["debugfs", "-R", request, str(image)], capture_output=True, text=True, check=True
    )
    return done.stdout


def _create(os_: OsInfo, tmp: Path, mib: int = 64, **env_options: Any) -> Path:
    disk = _sparse(tmp / "disk0.img", mib)
    _run(os_, "create", _env(os_, disk, **env_options), tmp / "logs")
    return disk


def test_diagnose_finds_a_valid_api20_os() -> None:
    [info] = diagnose([OS_DIR])
    assert (info.name, info.valid, info.error, info.trusted) == ("busybox", True, None, True)
    assert info.api_version == 20
    assert info.variants == ("default",)
    assert info.parameter_names == ("hostname",)


def test_create_builds_a_busybox_root_without_mounting(busybox: OsInfo, tmp_path: Path) -> None:
    started = time.monotonic()
    disk = _create(busybox, tmp_path)
    assert time.monotonic() - started < 10
    assert disk.stat().st_size == 64 * MiB
    root = _debugfs(disk, "ls -p /")
    for name in ("bin", "sbin", "etc", "dev", "proc", "sys", "tmp", "var", "ganeti-chroot"):
        assert f"/{name}/" in root
    assert "/100755/0/0/busybox/" in _debugfs(disk, "ls -p /bin")
    assert 'Fast link dest: "/bin/busybox"' in _debugfs(disk, "stat /sbin/init")
    assert 'Fast link dest: "/bin/busybox"' in _debugfs(disk, "stat /sbin/acpid")
    inittab = _debugfs(disk, "cat /etc/inittab")
    assert "::sysinit:/etc/init.d/rcS" in inittab
    assert "ttyS0::respawn:-/bin/sh" in inittab
    assert "CORRAL-GUEST-READY" in _debugfs(disk, "cat /etc/init.d/rcS")
    assert "/100755/0/0/00000080/" in _debugfs(disk, "ls -p /etc/acpi/PWRF")
    assert "/100755/0/0/ganeti-chroot/" in root
    assert _debugfs(disk, "cat /etc/hostname") == "bb1.example.com\n"
    devices = _debugfs(disk, "ls -p /dev")
    assert "/020600/0/0/console/" in devices
    assert "/020666/0/0/null/" in devices
    [log] = (tmp_path / "logs").iterdir()
    assert log.name.startswith("add-busybox-bb1.example.com-")
    assert "holds a busybox system named bb1.example.com" in log.read_text()


def test_create_uses_the_hostname_parameter(busybox: OsInfo, tmp_path: Path) -> None:
    disk = _create(busybox, tmp_path, osparams={"hostname": "guest.internal"})
    assert _debugfs(disk, "cat /etc/hostname") == "guest.internal\n"


@pytest.mark.parametrize(
    ("mib", "osparams", "message"),
    [
        (4, {}, "disk 0 (DISK) has 4 MiB; at least 8 MiB are needed"),
        (64, {"hostname": "bad_name"}, "'bad_name' is not a valid host name"),
    ],
    ids=["too-small", "bad-hostname"],
)
def test_create_refuses(
    busybox: OsInfo, tmp_path: Path, mib: int, osparams: dict[str, str], message: str
) -> None:
    disk = _sparse(tmp_path / "small.img", mib)
    with pytest.raises(OsScriptError) as caught:
        _run(busybox, "create", _env(busybox, disk, osparams=osparams), tmp_path / "logs")
    assert message.replace("DISK", str(disk)) in str(caught.value)


def test_create_needs_a_disk(busybox: OsInfo, tmp_path: Path) -> None:
    env = _env(busybox, _sparse(tmp_path / "unused.img", 8))
    env = {k: v for k, v in env.items() if not k.startswith("DISK_")} | {"DISK_COUNT": "0"}
    with pytest.raises(OsScriptError, match="the instance needs at least one disk"):
        _run(busybox, "create", env, tmp_path / "logs")


def test_verify_checks_the_hostname_parameter(busybox: OsInfo) -> None:
    runner = SubprocessRunner()
    asyncio.run(validate_os(busybox, "default", {"hostname": "ok-name.example"}, runner))
    asyncio.run(validate_os(busybox, "default", {}, runner))
    with pytest.raises(OsParamsError, match=r"invalid value 'a\.\.b' for the hostname parameter"):
        asyncio.run(validate_os(busybox, "default", {"hostname": "a..b"}, runner))
    with pytest.raises(OsParamsError, match="not supported by the OS busybox: root_password"):
        asyncio.run(validate_os(busybox, "default", {"root_password": "x"}, runner))


def test_rename_rewrites_the_hostname(busybox: OsInfo, tmp_path: Path) -> None:
    disk = _create(busybox, tmp_path)
    env = with_rename(_env(busybox, disk, name="bb2.example.com"), "bb1.example.com")
    _run(busybox, "rename", env, tmp_path / "logs")
    assert _debugfs(disk, "cat /etc/hostname") == "bb2.example.com\n"
    assert "/100644/0/0/hostname/" in _debugfs(disk, "ls -p /etc")
    logs = sorted(p.name for p in (tmp_path / "logs").iterdir())
    assert logs[1].startswith("rename-busybox-bb1.example.com-bb2.example.com-")


def test_rename_keeps_an_explicit_hostname(busybox: OsInfo, tmp_path: Path) -> None:
    disk = _create(busybox, tmp_path, osparams={"hostname": "fixed"})
    env = _env(busybox, disk, name="bb2.example.com", osparams={"hostname": "fixed"})
    _run(busybox, "rename", with_rename(env, "bb1.example.com"), tmp_path / "logs")
    assert _debugfs(disk, "cat /etc/hostname") == "fixed\n"


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_export_then_import_copies_the_disk(busybox: OsInfo, tmp_path: Path) -> None:
    disk = _create(busybox, tmp_path, mib=16)
    stream = tmp_path / "stream"
    env = with_export(_env(busybox, disk), 0) | {"EXP_SIZE_FD": "2"}
    _run(busybox, "export", env, tmp_path / "export-logs", stdout_path=stream)
    assert _digest(stream) == _digest(disk)
    [log] = (tmp_path / "export-logs").iterdir()
    assert f"{16 * MiB}\n" in log.read_text()
    target = _sparse(tmp_path / "target.img", 16)
    env = with_import(_env(busybox, target), 0)
    _run(busybox, "import", env, tmp_path / "import-logs", stdin_path=stream)
    assert _digest(target) == _digest(disk)
    assert _debugfs(target, "cat /etc/hostname") == "bb1.example.com\n"


def test_import_refuses_an_image_larger_than_the_disk(busybox: OsInfo, tmp_path: Path) -> None:
    stream = _sparse(tmp_path / "big-stream", 16)
    target = _sparse(tmp_path / "target.img", 8)
    env = with_import(_env(busybox, target), 0)
    with pytest.raises(OsScriptError, match="the image is larger than the disk"):
        _run(busybox, "import", env, tmp_path / "logs", stdin_path=stream)


@pytest.fixture
def loop_device(tmp_path: Path) -> Iterator[Path]:
    backing = _sparse(tmp_path / "backing.img", 64)
    done = subprocess.run(
        ["losetup", "--find", "--show", str(backing)], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        pytest.skip(f"no loop device available: {done.stderr.strip()}")
    device = Path(done.stdout.strip())
    try:
        yield device
    finally:
        subprocess.run(["losetup", "-d", str(device)], check=False)


@needs_root
def test_create_on_a_block_device(busybox: OsInfo, tmp_path: Path, loop_device: Path) -> None:
    _run(busybox, "create", _env(busybox, loop_device), tmp_path / "logs")
    assert 'Fast link dest: "/bin/busybox"' in _debugfs(loop_device, "stat /sbin/init")
    assert _debugfs(loop_device, "cat /etc/hostname") == "bb1.example.com\n"


def _processes_rooted_at(root: Path) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if os.readlink(entry / "root") == str(root):
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def _wait_until(predicate: Callable[[], object], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return bool(predicate())


@pytest.fixture
def mounted_root(busybox: OsInfo, tmp_path: Path) -> Iterator[Path]:
    disk = _create(busybox, tmp_path)
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    subprocess.run(["mount", "-o", "loop", str(disk), str(mnt)], check=True)
    try:
        yield mnt
    finally:
        for pid in _processes_rooted_at(mnt):
            try:
                os.kill(pid, 9)
            except ProcessLookupError:
                pass
        _wait_until(lambda: not _processes_rooted_at(mnt))
        subprocess.run(["umount", str(mnt)], check=False)


@needs_root
def test_image_works_as_a_chroot(mounted_root: Path) -> None:
    chroot = ["chroot", str(mounted_root), "/ganeti-chroot"]
    started = subprocess.run([*chroot, "start"], capture_output=True, text=True, timeout=10)
    assert started.returncode == 0, started.stderr
    assert started.stdout == "CORRAL-GUEST-READY bb1.example.com\n"
    assert _processes_rooted_at(mounted_root)
    beat = mounted_root / "var" / "run" / "heartbeat"
    assert _wait_until(beat.exists)
    first = beat.read_text()
    assert _wait_until(lambda: beat.read_text() not in ("", first), timeout=4)
    again = subprocess.run([*chroot, "start"], capture_output=True, text=True, timeout=10)
    assert "already running" in again.stderr
    stopped = subprocess.run([*chroot, "stop"], capture_output=True, text=True, timeout=10)
    assert stopped.returncode == 0, stopped.stderr
    assert _wait_until(lambda: not _processes_rooted_at(mounted_root), timeout=3)
    assert not beat.exists()
