"""The runtime record of a running KVM instance, so any node daemon can re-attach to it.

Written atomically to ``<run_dir>/kvm/<name>.runtime`` after QEMU started. A
record is trusted only while its pid is alive and ``/proc/<pid>/cmdline`` is
exactly the recorded argument vector (pids are reused).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import msgspec

from corral.errors import HypervisorError
from corral.serde import atomic_write

RUNTIME_VERSION = 1


class KvmRuntime(msgspec.Struct, frozen=True, kw_only=True):
    """What the driver knows about one QEMU process it (or a predecessor) started."""

    version: int = RUNTIME_VERSION
    name: str
    uuid: str
    pid: int
    qmp_socket: str
    serial_socket: str
    serial_log: str
    argv: tuple[str, ...]
    taps: tuple[str, ...] = ()
    start_time: float
    accel: str
    memory_mib: int
    vcpus: int
    hvparams: dict[str, Any] = msgspec.field(default_factory=dict)
    instance: dict[str, Any] = msgspec.field(default_factory=dict)
    """The :class:`~corral.hypervisor.base.InstanceSpec` it was started with (``to_dict``)."""
    incoming: bool = False
    """Started to receive a migration that is not finalized yet (vCPUs stopped)."""
    migration_port: int = 0
    nbd_port: int = 0
    """Ports an incoming migration listens on (0: none)."""
    resume_after_migration: bool = True
    """The source's vCPUs ran when the migration was prepared: finalizing an incoming
    migration resumes the guest (kept here so finalizing needs no migration info)."""


def encode_runtime(record: KvmRuntime) -> bytes:
    return msgspec.json.encode(record)


def decode_runtime(data: bytes) -> KvmRuntime:
    """Parse a runtime record.

    Raises:
        HypervisorError: malformed, or written by an unknown (newer) record version.
    """
    try:
        header = msgspec.json.decode(data)
        version = header.get("version") if isinstance(header, dict) else None
        if version != RUNTIME_VERSION:
            raise HypervisorError(f"unsupported KVM runtime record version {version!r}")
        return msgspec.json.decode(data, type=KvmRuntime)
    except (msgspec.DecodeError, msgspec.ValidationError) as err:
        raise HypervisorError(f"malformed KVM runtime record: {err}") from err


def write_runtime(path: Path, record: KvmRuntime) -> None:
    """Store ``record`` atomically (blocking)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, encode_runtime(record), mode=0o600)


def read_runtime(path: Path) -> KvmRuntime | None:
    """The stored record, or None when there is none (blocking).

    Raises:
        HypervisorError: the file exists but cannot be understood.
    """
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as err:
        raise HypervisorError(f"cannot read {path}: {err}") from err
    return decode_runtime(data)


def remove_runtime(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass


def process_matches(pid: int, argv: tuple[str, ...], proc: Path = Path("/proc")) -> bool:
    """True when ``pid`` is a live (non-zombie) process whose command line is ``argv``."""
    try:
        cmdline = (proc / str(pid) / "cmdline").read_bytes()
        stat = (proc / str(pid) / "stat").read_text()
    except OSError:
        return False
    if stat.rpartition(")")[2].split()[:1] == ["Z"]:
        return False
    return tuple(part.decode(errors="replace") for part in cmdline.split(b"\0")[:-1]) == argv


def is_alive(record: KvmRuntime, proc: Path = Path("/proc")) -> bool:
    """Whether the QEMU process the record describes is still running."""
    return process_matches(record.pid, record.argv, proc)


def read_pidfile(path: Path) -> int | None:
    """The pid QEMU wrote with ``-pidfile`` (blocking), or None."""
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def pid_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
