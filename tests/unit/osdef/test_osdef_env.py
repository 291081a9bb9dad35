"""The OS script environment: exact contents, and exactly what a real script receives."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest

from corral.objects.instance import DiskMode, DiskTemplate, NicMode
from corral.osdef.discovery import OsInfo, OsScript, inspect_os
from corral.osdef.env import (
    OsDisk,
    OsInstanceData,
    OsNetwork,
    OsNic,
    disk_backend_type,
    os_core_environment,
    os_environment,
    with_export,
    with_import,
    with_reinstall,
    with_rename,
)
from corral.osdef.run import run_os_script
from corral.process import SubprocessRunner

MakeOs = Callable[..., Path]
LoadEnvDump = Callable[[Path], dict[str, str]]

INSTANCE = OsInstanceData(
    name="web1.example.com",
    os="testos+other",
    uuid="0b7c-inst",
    ctime=1700000000.25,
    mtime=1700000100.5,
    primary_node="node1.example.com",
    secondary_nodes=("node2.example.com", "node3.example.com"),
)

DISKS = (
    OsDisk(uuid="d-0", size=1024, path="/dev/xenvg/disk0", name="root", backend_type="block"),
    OsDisk(
        uuid="d-1",
        size=256,
        mode=DiskMode.RO,
        uri="rbd:pool/vol",
        backend_type="file:loop",
    ),
)

NETWORK = OsNetwork(
    name="lan",
    uuid="net-1",
    tags=("a", "b"),
    subnet="192.0.2.0/24",
    gateway="192.0.2.1",
    mac_prefix="aa:00:00",
)

NICS = (
    OsNic(mac="aa:00:00:11:22:33", uuid="n-0", link="br0", name="eth-a", ip="192.0.2.10"),
    OsNic(mac="aa:00:00:44:55:66", uuid="n-1", mode=NicMode.ROUTED, link="", network=NETWORK),
)

EXPECTED = {
    "OS_API_VERSION": "20",
    "OS_NAME": "testos",
    "OS_VARIANT": "other",
    "DEBUG_LEVEL": "1",
    "OSP_SIZE": "10G",
    "OSP_ROOT_PASSWORD": "secret",
    "PATH": "/sbin:/bin:/usr/sbin:/usr/bin",
    "INSTANCE_NAME": "web1.example.com",
    "INSTANCE_OS": "testos+other",
    "INSTANCE_UUID": "0b7c-inst",
    "INSTANCE_CTIME": "1700000000.25",
    "INSTANCE_MTIME": "1700000100.5",
    "INSTANCE_PRIMARY_NODE": "node1.example.com",
    "INSTANCE_SECONDARY_NODES": "node2.example.com node3.example.com",
    "HYPERVISOR": "kvm",
    "DISK_COUNT": "2",
    "DISK_0_ACCESS": "rw",
    "DISK_0_UUID": "d-0",
    "DISK_0_SIZE": "1024",
    "DISK_0_PATH": "/dev/xenvg/disk0",
    "DISK_0_NAME": "root",
    "DISK_0_FRONTEND_TYPE": "paravirtual",
    "DISK_0_BACKEND_TYPE": "block",
    "DISK_1_ACCESS": "ro",
    "DISK_1_UUID": "d-1",
    "DISK_1_SIZE": "256",
    "DISK_1_URI": "rbd:pool/vol",
    "DISK_1_FRONTEND_TYPE": "paravirtual",
    "DISK_1_BACKEND_TYPE": "file:loop",
    "NIC_COUNT": "2",
    "NIC_0_MAC": "aa:00:00:11:22:33",
    "NIC_0_UUID": "n-0",
    "NIC_0_NAME": "eth-a",
    "NIC_0_IP": "192.0.2.10",
    "NIC_0_MODE": "bridged",
    "NIC_0_BRIDGE": "br0",
    "NIC_0_LINK": "br0",
    "NIC_0_FRONTEND_TYPE": "e1000",
    "NIC_1_MAC": "aa:00:00:44:55:66",
    "NIC_1_UUID": "n-1",
    "NIC_1_MODE": "routed",
    "NIC_1_NETWORK_NAME": "lan",
    "NIC_1_NETWORK_UUID": "net-1",
    "NIC_1_NETWORK_TAGS": "a b",
    "NIC_1_NETWORK_SUBNET": "192.0.2.0/24",
    "NIC_1_NETWORK_GATEWAY": "192.0.2.1",
    "NIC_1_NETWORK_MAC_PREFIX": "aa:00:00",
    "NIC_1_FRONTEND_TYPE": "e1000",
    "INSTANCE_BE_memory": "512",
    "INSTANCE_BE_auto_balance": "True",
    "INSTANCE_HV_disk_type": "paravirtual",
    "INSTANCE_HV_nic_type": "e1000",
    "INSTANCE_HV_kernel_args": "ro console=ttyS0",
}


def _osinfo(make_os: MakeOs, **options: object) -> OsInfo:
    path = make_os(**options)
    info = inspect_os(path.name, path)
    assert info.valid, info.error
    return info


def _full_env(os: OsInfo, variant: str | None = "other") -> dict[str, str]:
    return os_environment(
        os,
        variant=variant,
        osparams={"size": "10G", "root-password": "secret"},
        instance=INSTANCE,
        disks=DISKS,
        nics=NICS,
        hypervisor="kvm",
        hvparams={
            "disk_type": "paravirtual",
            "nic_type": "e1000",
            "kernel_args": "ro console=ttyS0",
        },
        beparams={"memory": 512, "auto_balance": True},
        debug=1,
    )


def test_full_environment_is_exact(make_os: MakeOs) -> None:
    assert _full_env(_osinfo(make_os)) == EXPECTED


def test_minimal_environment_is_exact(make_os: MakeOs) -> None:
    os = _osinfo(make_os, api=(10,), omit=("verify", "parameters.list"))
    instance = OsInstanceData(
        name="i", os="testos", uuid="u", ctime=1.0, mtime=2.0, primary_node="n"
    )
    env = os_environment(
        os,
        variant=None,
        osparams={},
        instance=instance,
        disks=[],
        nics=[],
        hypervisor="fake",
        hvparams={},
        beparams={},
    )
    assert env == {
        "OS_API_VERSION": "10",
        "OS_NAME": "testos",
        "OS_VARIANT": "",
        "DEBUG_LEVEL": "0",
        "PATH": "/sbin:/bin:/usr/sbin:/usr/bin",
        "INSTANCE_NAME": "i",
        "INSTANCE_OS": "testos",
        "INSTANCE_UUID": "u",
        "INSTANCE_CTIME": "1.0",
        "INSTANCE_MTIME": "2.0",
        "INSTANCE_PRIMARY_NODE": "n",
        "INSTANCE_SECONDARY_NODES": "",
        "HYPERVISOR": "fake",
        "DISK_COUNT": "0",
        "NIC_COUNT": "0",
    }


@pytest.mark.parametrize(
    ("api", "variants", "given", "expected"),
    [
        ((20,), "default\nother\n", "other", "other"),
        ((20,), "default\nother\n", None, "default"),
        ((15,), "first\n", None, "first"),
        ((20,), None, "ignored", ""),
        ((10,), "default\n", "default", ""),
    ],
    ids=["given", "first-listed", "v15", "no-variants", "v10"],
)
def test_os_variant(
    make_os: MakeOs,
    api: tuple[int, ...],
    variants: str | None,
    given: str | None,
    expected: str,
) -> None:
    os = _osinfo(make_os, api=api, variants=variants)
    assert os_core_environment(os, given, {})["OS_VARIANT"] == expected


def test_core_environment_mangles_parameter_names(make_os: MakeOs) -> None:
    env = os_core_environment(_osinfo(make_os), None, {"dhcp-server": "on", "Mixed_Case": 3})
    assert env["OSP_DHCP_SERVER"] == "on"
    assert env["OSP_MIXED_CASE"] == "3"
    assert set(env) == {
        "OS_API_VERSION",
        "OS_NAME",
        "OS_VARIANT",
        "DEBUG_LEVEL",
        "OSP_DHCP_SERVER",
        "OSP_MIXED_CASE",
        "PATH",
    }


def test_operation_additions() -> None:
    base = {"DISK_0_PATH": "/dev/a", "DISK_1_URI": "rbd:x", "INSTANCE_NAME": "new"}
    assert with_import(base, 0) == {
        **base,
        "IMPORT_DEVICE": "/dev/a",
        "IMPORT_DISK_PATH": "/dev/a",
        "IMPORT_INDEX": "0",
    }
    assert with_export(base, 1) == {**base, "EXPORT_DISK_URI": "rbd:x", "EXPORT_INDEX": "1"}
    assert with_rename(base, "old") == {**base, "OLD_INSTANCE_NAME": "old"}
    assert with_reinstall(base) == {**base, "INSTANCE_REINSTALL": "1"}
    assert "OLD_INSTANCE_NAME" not in base


@pytest.mark.parametrize(
    ("template", "logical_id", "expected"),
    [
        (DiskTemplate.PLAIN, ("xenvg", "lv"), "block"),
        (DiskTemplate.BLOCKDEV, ("manual", "/dev/sdb"), "block"),
        (DiskTemplate.DRBD, (), "block"),
        (DiskTemplate.FILE, ("loop", "/srv/f"), "file:loop"),
        (DiskTemplate.SHAREDFILE, ("blktap2", "/srv/f"), "file:blktap2"),
        (DiskTemplate.DISKLESS, (), None),
    ],
    ids=lambda v: str(v),
)
def test_disk_backend_type(
    template: DiskTemplate, logical_id: tuple[str, ...], expected: str | None
) -> None:
    assert disk_backend_type(template, logical_id) == expected


def test_script_receives_exactly_the_environment(
    make_os: MakeOs, env_dumper: str, load_env_dump: LoadEnvDump, tmp_path: Path
) -> None:
    os = _osinfo(make_os, scripts={"create": env_dumper})
    env = _full_env(os)
    asyncio.run(
        run_os_script(os, OsScript.CREATE, env, SubprocessRunner(), tmp_path / "log", timeout=30)
    )
    assert load_env_dump(os.path / "env.dump") == EXPECTED


def test_redirected_script_receives_exactly_the_environment(
    make_os: MakeOs, env_dumper: str, load_env_dump: LoadEnvDump, tmp_path: Path
) -> None:
    os = _osinfo(make_os, scripts={"export": env_dumper})
    env = with_export(_full_env(os), 0)
    out = tmp_path / "exported"
    asyncio.run(
        run_os_script(
            os, "export", env, SubprocessRunner(), tmp_path / "log", timeout=30, stdout_path=out
        )
    )
    dumped = load_env_dump(os.path / "env.dump")
    assert dumped == env
    assert dumped["EXPORT_DEVICE"] == "/dev/xenvg/disk0"
    assert out.read_bytes() == b""
