"""Debian's own Ganeti OS definitions, run unchanged through corral.osdef.

Packages: ganeti-os-noop (installs /usr/share/ganeti/os/noop) and ganeti-instance-debootstrap
(installs /usr/share/ganeti/os/debootstrap). Each test skips when its package is missing.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from corral.osdef import OsParamsError
from corral.osdef.discovery import OsInfo, diagnose, find_os
from corral.osdef.env import (
    OsDisk,
    OsInstanceData,
    OsNic,
    os_environment,
    with_export,
    with_import,
    with_rename,
)
from corral.osdef.run import run_os_script
from corral.osdef.validation import validate_os
from corral.process import SubprocessRunner

DEBIAN_OS_DIR = Path("/usr/share/ganeti/os")
MiB = 1024 * 1024

needs_noop = pytest.mark.skipif(
    not (DEBIAN_OS_DIR / "noop").is_dir(),
    reason="Debian package ganeti-os-noop is not installed (/usr/share/ganeti/os/noop)",
)
needs_debootstrap = pytest.mark.skipif(
    not (DEBIAN_OS_DIR / "debootstrap").is_dir(),
    reason="Debian package ganeti-instance-debootstrap is not installed",
)


def _env(os_: OsInfo, disk: Path, variant: str | None = None) -> dict[str, str]:
    return os_environment(
        os_,
        variant=variant,
        osparams={},
        instance=OsInstanceData(
            name="deb1.example.com",
            os=os_.name,
            uuid="3f0c-uuid",
            ctime=1700000000.0,
            mtime=1700000000.0,
            primary_node="node1.example.com",
        ),
        disks=[OsDisk(uuid="d-0", size=8, path=str(disk), backend_type="file:loop")],
        nics=[OsNic(mac="aa:00:00:00:00:01", uuid="n-0", link="br0")],
        hypervisor="kvm",
        hvparams={"serial_console": True},
        beparams={"memory": 128},
    )


def _run(os_: OsInfo, script: str, env: Mapping[str, str], logs: Path, **kwargs: Any) -> None:
    coro = run_os_script(os_, script, env, SubprocessRunner(), logs, timeout=60, **kwargs)
    asyncio.run(coro)


@needs_noop
def test_noop_is_diagnosed_as_api10() -> None:
    info = {i.name: i for i in diagnose([DEBIAN_OS_DIR])}["noop"]
    assert info.valid, info.error
    assert info.api_versions == (5, 10)
    assert info.api_version == 10
    assert (info.variants, info.parameters, info.trusted) == ((), (), True)


@needs_noop
def test_noop_scripts_run_unchanged(tmp_path: Path) -> None:
    noop = find_os([tmp_path / "nothing-here", DEBIAN_OS_DIR], "noop")
    disk = tmp_path / "disk0.img"
    disk.write_bytes(bytes(range(256)) * 4096)
    env = _env(noop, disk)
    assert env["OS_VARIANT"] == ""
    _run(noop, "create", env, tmp_path / "logs")
    _run(noop, "rename", with_rename(env, "old.example.com"), tmp_path / "logs")
    stream = tmp_path / "stream"
    _run(noop, "export", with_export(env, 0), tmp_path / "logs", stdout_path=stream)
    assert stream.read_bytes() == disk.read_bytes()
    target = tmp_path / "target.img"
    target.write_bytes(b"\0" * len(stream.read_bytes()))
    _run(noop, "import", with_import(_env(noop, target), 0), tmp_path / "logs", stdin_path=stream)
    assert (
        hashlib.sha256(target.read_bytes()).digest() == hashlib.sha256(disk.read_bytes()).digest()
    )
    names = sorted(p.name.rsplit("-", 3)[0] for p in (tmp_path / "logs").iterdir())
    assert names == [
        "add-noop-deb1.example.com",
        "export-noop-deb1.example.com",
        "import-noop-deb1.example.com",
        "rename-noop-old.example.com-deb1.example.com",
    ]


@needs_debootstrap
def test_debootstrap_is_diagnosed_as_api20() -> None:
    info = find_os([DEBIAN_OS_DIR], "debootstrap+default")
    assert info.api_version == 20
    assert "default" in info.variants
    assert info.parameter_names == ("filesystem",)


@needs_debootstrap
def test_debootstrap_verify_runs_unchanged() -> None:
    info = find_os([DEBIAN_OS_DIR], "debootstrap")
    runner = SubprocessRunner()
    asyncio.run(validate_os(info, "default", {"filesystem": "ext4"}, runner))
    asyncio.run(validate_os(info, "default", {}, runner))
    with pytest.raises(OsParamsError) as caught:
        asyncio.run(validate_os(info, "default", {"filesystem": "xfs"}, runner))
    assert "Invalid value 'xfs' for the filesystem parameter" in str(caught.value)
    with pytest.raises(OsParamsError, match="not supported by the OS debootstrap: mirror"):
        asyncio.run(validate_os(info, "default", {"mirror": "x"}, runner))
    with pytest.raises(OsParamsError, match="does not support variant 'sid'"):
        asyncio.run(validate_os(info, "sid", {}, runner))
