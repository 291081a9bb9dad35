"""The KVM runtime record: round trip, versioning, and liveness by pid and command line."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from corral.errors import HypervisorError
from corral.hypervisor.kvm.runtime import (
    KvmRuntime,
    decode_runtime,
    is_alive,
    process_matches,
    read_pidfile,
    read_runtime,
    remove_runtime,
    write_runtime,
)


def _own_argv() -> tuple[str, ...]:
    raw = Path(f"/proc/{os.getpid()}/cmdline").read_bytes()
    return tuple(p.decode() for p in raw.split(b"\0")[:-1])


def _record(pid: int, argv: tuple[str, ...]) -> KvmRuntime:
    return KvmRuntime(name="web1", uuid="u-1", pid=pid, qmp_socket="/run/web1.qmp",
                      serial_socket="/run/web1.serial", serial_log="/log/web1.serial.log",
                      argv=argv, taps=("corral-abcde-0",), start_time=1700000000.5,
                      accel="tcg", memory_mib=512, vcpus=2,
                      hvparams={"acpi": True, "kernel_args": "ro"},
                      instance={"name": "web1", "disks": []})


def test_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "kvm" / "web1.runtime"
    record = _record(1234, ("/usr/bin/qemu-system-x86_64", "-name", "web1"))
    write_runtime(path, record)
    assert read_runtime(path) == record
    assert path.stat().st_mode & 0o777 == 0o600
    remove_runtime(path)
    assert read_runtime(path) is None
    remove_runtime(path)  # idempotent


def test_unknown_version_is_refused() -> None:
    with pytest.raises(HypervisorError, match="version 99"):
        decode_runtime(b'{"version": 99, "name": "web1"}')


def test_malformed_record_is_refused(tmp_path: Path) -> None:
    (tmp_path / "bad.runtime").write_bytes(b'{"version": 1, "name": 5}')
    with pytest.raises(HypervisorError, match="malformed"):
        read_runtime(tmp_path / "bad.runtime")
    with pytest.raises(HypervisorError, match="malformed"):
        decode_runtime(b"not json")


def test_live_process_with_matching_command_line() -> None:
    assert process_matches(os.getpid(), _own_argv())
    assert is_alive(_record(os.getpid(), _own_argv()))


def test_reused_pid_with_other_command_line_is_stale() -> None:
    assert not is_alive(_record(os.getpid(), ("/usr/bin/qemu-system-x86_64", "-name", "web1")))


def test_exited_and_zombie_processes_are_stale() -> None:
    argv = (sys.executable, "-c", "pass")
    proc = subprocess.Popen(argv)
    deadline = time.monotonic() + 10
    while Path(f"/proc/{proc.pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z":
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert not process_matches(proc.pid, argv)  # exited, not yet reaped
    proc.wait()
    assert not process_matches(proc.pid, argv)  # gone


def test_pidfile(tmp_path: Path) -> None:
    (tmp_path / "a.pid").write_text("4321\n")
    (tmp_path / "b.pid").write_text("garbage")
    assert read_pidfile(tmp_path / "a.pid") == 4321
    assert read_pidfile(tmp_path / "b.pid") is None
    assert read_pidfile(tmp_path / "c.pid") is None
