"""Where the KVM driver keeps its per-instance files on a node."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from corral.errors import HypervisorError
from corral.layout import NodeLayout

UNIX_PATH_MAX = 107
"""Longest unix socket path Linux accepts (108 bytes with the terminating NUL)."""


@dataclass(frozen=True, slots=True)
class KvmPaths:
    """The files of one instance: control sockets, pid file, runtime record, serial log."""

    qmp_socket: Path
    serial_socket: Path
    serial_log: Path
    pidfile: Path
    runtime: Path
    outgoing: Path
    """The source's record of an outgoing migration (see ``migration_records``)."""
    mirror_creds: Path
    """QEMU's x509 directory for the NBD-over-TLS connections of mirror disks."""


def kvm_run_dir(layout: NodeLayout) -> Path:
    """The driver's directory under the node's run dir."""
    return layout.run_dir / "kvm"


def kvm_log_dir(layout: NodeLayout) -> Path:
    """The driver's directory under the node's log dir (serial logs)."""
    return layout.log_dir / "kvm"


def instance_paths(layout: NodeLayout, name: str) -> KvmPaths:
    """The files of instance ``name`` (nothing is created)."""
    run = kvm_run_dir(layout)
    return KvmPaths(
        qmp_socket=run / f"{name}.qmp",
        serial_socket=run / f"{name}.serial",
        serial_log=kvm_log_dir(layout) / f"{name}.serial.log",
        pidfile=run / f"{name}.pid",
        runtime=run / f"{name}.runtime",
        outgoing=run / f"{name}.outgoing",
        mirror_creds=run / f"{name}.x509",
    )


def check_socket_paths(paths: KvmPaths) -> None:
    """Refuse socket paths the kernel cannot bind.

    Raises:
        HypervisorError: a socket path is longer than :data:`UNIX_PATH_MAX` bytes.
    """
    for sock in (paths.qmp_socket, paths.serial_socket):
        if len(str(sock).encode()) > UNIX_PATH_MAX:
            raise HypervisorError(f"socket path too long for a unix socket: {sock}")
