"""KvmHypervisor without QEMU: failed starts leave nothing, records, cleanup, console."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path

import msgspec
import pytest

from corral.clock import FakeClock
from corral.errors import HypervisorError
from corral.hypervisor.base import ConsoleKind, DiskSpec, InstanceSpec, NicSpec
from corral.hypervisor.kvm.driver import KvmHypervisor, disk_backends
from corral.hypervisor.kvm.runtime import KvmRuntime, write_runtime
from corral.hypervisor.params import defaults
from corral.layout import NodeLayout
from corral.objects.instance import NicMode
from corral.process import CommandResult


class ScriptedRunner:
    """``ip`` succeeds; QEMU fails with a message, like a bad option would."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, ...]] = []

    async def run(self, argv: Sequence[str], *, timeout: float | None = None,
                  env: Mapping[str, str] | None = None, cwd: str | None = None,
                  stdin: bytes | None = None, reset_env: bool = False) -> CommandResult:
        self.calls.append(tuple(argv))
        if argv[0] == "ip":
            return CommandResult(tuple(argv), 0, "", "")
        return CommandResult(tuple(argv), 1, "", "qemu: -netdev tap: could not open tap")


def _own_argv() -> tuple[str, ...]:
    raw = Path(f"/proc/{os.getpid()}/cmdline").read_bytes()
    return tuple(p.decode() for p in raw.split(b"\0")[:-1])


@pytest.fixture
def runner() -> ScriptedRunner:
    return ScriptedRunner()


@pytest.fixture
def kvm(tmp_path: Path, runner: ScriptedRunner) -> KvmHypervisor:
    return KvmHypervisor(NodeLayout(tmp_path), runner, FakeClock(), kvm_device=tmp_path / "no")


def _spec(**hv: object) -> InstanceSpec:
    return InstanceSpec(name="web1", uuid="abcdef12-0000", hvparams={**defaults("kvm"), **hv},
                        memory_mib=256, vcpus=1, primary_node="node1",
                        nics=(NicSpec(mac="aa:00:00:00:00:01", link="br0"),))


def _record(kvm: KvmHypervisor, argv: tuple[str, ...],
            hvparams: dict[str, object] | None = None) -> KvmRuntime:
    paths = kvm.paths("web1")
    record = KvmRuntime(name="web1", uuid="u", pid=os.getpid(), qmp_socket=str(paths.qmp_socket),
                        serial_socket=str(paths.serial_socket), serial_log="", argv=argv,
                        taps=("corral-abcde-0",), start_time=0.0, accel="tcg", memory_mib=256,
                        vcpus=1, hvparams=dict(hvparams or {}))
    write_runtime(paths.runtime, record)
    return record


def test_failed_start_removes_taps_and_files(kvm: KvmHypervisor, runner: ScriptedRunner) -> None:
    with pytest.raises(HypervisorError, match="could not open tap"):
        asyncio.run(kvm.start(_spec(accel="auto")))
    ip_calls = [c[1:] for c in runner.calls if c[0] == "ip"]
    assert ("tuntap", "add", "dev", "corral-abcde-0", "mode", "tap") in ip_calls
    assert ("link", "set", "corral-abcde-0", "master", "br0", "up") in ip_calls
    assert ip_calls[-1] == ("link", "del", "dev", "corral-abcde-0")
    qemu = next(c for c in runner.calls if c[0] != "ip")
    assert qemu[qemu.index("-accel") + 1] == "tcg"  # /dev/kvm stand-in is missing
    assert not kvm.paths("web1").runtime.exists()
    assert asyncio.run(kvm.list_instances()) == []


def test_routed_nic_gets_a_host_route(kvm: KvmHypervisor, runner: ScriptedRunner) -> None:
    spec = InstanceSpec(name="web2", uuid="fedcba98", hvparams={**defaults("kvm"), "accel": "tcg"},
                        memory_mib=256, vcpus=1,
                        nics=(NicSpec(mac="aa:00:00:00:00:02", mode=NicMode.ROUTED,
                                      ip="192.0.2.9", link="100"),))
    with pytest.raises(HypervisorError):
        asyncio.run(kvm.start(spec))
    ip_calls = [c[1:] for c in runner.calls if c[0] == "ip"]
    assert ip_calls == [
        ("tuntap", "add", "dev", "corral-fedcb-0", "mode", "tap"),
        ("link", "set", "corral-fedcb-0", "up"),
        ("route", "replace", "192.0.2.9/32", "dev", "corral-fedcb-0", "table", "100"),
        ("link", "del", "dev", "corral-fedcb-0"),
    ]


def test_bridged_nic_without_bridge_is_refused(kvm: KvmHypervisor,
                                               runner: ScriptedRunner) -> None:
    spec = replace(_spec(accel="tcg"), nics=(NicSpec(mac="aa:00:00:00:00:03"),))
    with pytest.raises(HypervisorError, match="needs a bridge"):
        asyncio.run(kvm.start(spec))
    assert [c for c in runner.calls if c[0] == "ip"] == []


def test_unsupported_parameter_fails_before_any_tap(kvm: KvmHypervisor,
                                                    runner: ScriptedRunner) -> None:
    with pytest.raises(HypervisorError, match="use_chroot"):
        asyncio.run(kvm.start(_spec(accel="tcg", use_chroot=True)))
    assert runner.calls == []


def test_overlong_socket_path_is_refused(tmp_path: Path, runner: ScriptedRunner) -> None:
    kvm = KvmHypervisor(NodeLayout(tmp_path / ("x" * 90)), runner, FakeClock())
    with pytest.raises(HypervisorError, match="too long"):
        asyncio.run(kvm.start(_spec(accel="tcg")))


def test_live_record_is_listed_and_not_cleaned(kvm: KvmHypervisor) -> None:
    _record(kvm, _own_argv())
    assert asyncio.run(kvm.list_instances()) == ["web1"]
    with pytest.raises(HypervisorError, match="still running"):
        asyncio.run(kvm.cleanup("web1"))
    with pytest.raises(HypervisorError, match="already running"):
        asyncio.run(kvm.start(_spec(accel="tcg")))


def test_stale_record_is_ignored_and_cleaned(kvm: KvmHypervisor,
                                             runner: ScriptedRunner) -> None:
    _record(kvm, ("/usr/bin/qemu-system-x86_64", "-name", "web1"))
    assert asyncio.run(kvm.list_instances()) == []
    assert asyncio.run(kvm.instance_info("web1")) is None
    with pytest.raises(HypervisorError, match="not running"):
        asyncio.run(kvm.stop("web1", force=False, timeout=1))
    asyncio.run(kvm.stop("web1", force=True, timeout=1))  # forced stop of a dead one: fine
    assert ("ip", "link", "del", "dev", "corral-abcde-0") in runner.calls
    assert not kvm.paths("web1").runtime.exists()
    with pytest.raises(HypervisorError, match="not running"):
        asyncio.run(kvm.reboot("web1"))


def test_console_kinds(kvm: KvmHypervisor) -> None:
    serial = kvm.console(_spec())
    assert serial.kind == ConsoleKind.SOCKET
    assert serial.command[0] == "socat"
    assert serial.command[-1] == f"unix-connect:{kvm.paths('web1').serial_socket}"
    assert serial.host == "node1"
    vnc_spec = InstanceSpec(name="web1", uuid="u", memory_mib=1, vcpus=1, network_port=5905,
                            hvparams={**defaults("kvm"), "serial_console": False,
                                      "vnc_bind_address": "0.0.0.0"})
    vnc = kvm.console(vnc_spec)
    assert (vnc.kind, vnc.port, vnc.display) == (ConsoleKind.VNC, 5905, 5)
    none = kvm.console(_spec(serial_console=False))
    assert none.kind == ConsoleKind.MESSAGE
    assert "no serial console" in none.message


def test_verify_reports_a_missing_binary(kvm: KvmHypervisor) -> None:
    problems = asyncio.run(kvm.verify({"kvm_path": "/nonexistent/qemu"}))
    assert problems == ["QEMU binary /nonexistent/qemu is missing or not executable"]


def test_disk_backends(tmp_path: Path) -> None:
    raw, qcow = tmp_path / "raw.img", tmp_path / "disk.qcow2"
    raw.write_bytes(b"\0" * 512)
    qcow.write_bytes(b"QFI\xfb" + b"\0" * 508)
    disks = [DiskSpec(path=str(p)) for p in (raw, qcow, tmp_path / "missing")]
    found = [(b.driver, b.format) for b in disk_backends(disks)]
    assert found == [("file", "raw"), ("file", "qcow2"), ("file", "raw")]


def test_soft_stop_without_acpi_kills_the_recorded_process(kvm: KvmHypervisor,
                                                          runner: ScriptedRunner) -> None:
    argv = ("sleep", "30")
    proc = subprocess.Popen(argv)
    try:
        record = _record(kvm, argv, {"acpi": False})
        assert record.pid == os.getpid()  # the helper records our pid; point it at sleep
        write_runtime(kvm.paths("web1").runtime, msgspec.structs.replace(record, pid=proc.pid))
        assert asyncio.run(kvm.list_instances()) == ["web1"]
        asyncio.run(kvm.stop("web1", force=False, timeout=1))  # no QMP socket: SIGKILL
        assert proc.wait(timeout=5) == -signal.SIGKILL
        assert not kvm.paths("web1").runtime.exists()
        assert ("ip", "link", "del", "dev", "corral-abcde-0") in runner.calls
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
