"""What the two sides of a KVM migration exchange and keep.

:class:`MigrationInfo` is the opaque ``migration_info`` string the source hands
the target (JSON): the device model the target's QEMU must reproduce. The
source keeps an :class:`OutgoingRecord` at ``<run_dir>/kvm/<name>.outgoing``
while a migration runs, so a restarted node daemon can report and finish it.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import msgspec

from corral.errors import HypervisorError
from corral.hypervisor.kvm.cmdline import hv_value
from corral.serde import atomic_write

INFO_VERSION = 1
OUTGOING_VERSION = 1
CAPS_SEPARATOR = ":"
POSTCOPY = "postcopy-ram"
PAUSE_BEFORE_SWITCHOVER = "pause-before-switchover"
"""Added (source only) for live storage migration: the disk mirrors end while the
guest is stopped, before QEMU sends the last state, so the target's disks are complete."""
TARGET_ONLY_EXCLUDED = frozenset({PAUSE_BEFORE_SWITCHOVER})


class MigrationInfo(msgspec.Struct, frozen=True, kw_only=True):
    """The source's view of a running guest, for the target's QEMU command line."""

    version: int = INFO_VERSION
    name: str
    accel: str
    machine: str
    """The versioned machine type the source runs (``pc`` resolved to ``pc-i440fx-…``)."""
    memory_mib: int
    vcpus: int
    instance: dict[str, Any]
    """The source's :class:`~corral.hypervisor.base.InstanceSpec` (``to_dict``)."""
    capabilities: tuple[str, ...] = ()
    """Migration capabilities both sides enable (from ``migration_caps``)."""
    was_running: bool = True
    """The guest's vCPUs ran when the migration was prepared (the target resumes it)."""


class OutgoingRecord(msgspec.Struct, frozen=True, kw_only=True):
    """An outgoing migration the source started (and how far it got)."""

    version: int = OUTGOING_VERSION
    name: str
    uri: str
    disk_exports: tuple[str, ...] = ()
    jobs: tuple[str, ...] = ()
    """Block job ids of the disk mirrors, one per disk export."""
    live: bool = True
    was_running: bool = True
    capabilities: tuple[str, ...] = ()
    """Capabilities set on the source for this migration (cleared afterwards)."""
    memory_started: bool = False
    postcopy_started: bool = False
    switchover_started: bool = False
    """The mirrors are being finished at switch-over: their ending is no failure."""

    @property
    def postcopy(self) -> bool:
        return self.live and POSTCOPY in self.capabilities


def capabilities_of(hvparams: Mapping[str, Any]) -> tuple[str, ...]:
    """The ``migration_caps`` hvparam as a tuple of QEMU capability names."""
    text = str(hv_value(hvparams, "migration_caps"))
    return tuple(cap.strip() for cap in text.split(CAPS_SEPARATOR) if cap.strip())


def encode_info(info: MigrationInfo) -> str:
    return msgspec.json.encode(info).decode()


def decode_info(text: str) -> MigrationInfo:
    """Parse the source's migration info.

    Raises:
        HypervisorError: malformed, or from an unknown (newer) version.
    """
    try:
        info = msgspec.json.decode(text.encode(), type=MigrationInfo)
    except (msgspec.DecodeError, msgspec.ValidationError) as err:
        raise HypervisorError(f"malformed KVM migration info: {err}") from err
    if info.version != INFO_VERSION:
        raise HypervisorError(f"unsupported KVM migration info version {info.version}")
    return info


def outgoing_path(run_dir: Path, name: str) -> Path:
    return run_dir / f"{name}.outgoing"


def write_outgoing(path: Path, record: OutgoingRecord) -> None:
    """Store ``record`` atomically (blocking)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, msgspec.json.encode(record), mode=0o600)


def read_outgoing(path: Path) -> OutgoingRecord | None:
    """The stored record, or None (missing or unreadable: no migration to resume)."""
    try:
        return msgspec.json.decode(path.read_bytes(), type=OutgoingRecord)
    except (OSError, msgspec.DecodeError, msgspec.ValidationError):
        return None


def remove_outgoing(path: Path) -> None:
    path.unlink(missing_ok=True)


def migration_uri(address: str, port: int) -> str:
    """QEMU's ``tcp:`` URI (IPv6 addresses in brackets)."""
    host = f"[{address}]" if ":" in address else address
    return f"tcp:{host}:{port}"


def nbd_uri(address: str, port: int, export: str) -> str:
    host = f"[{address}]" if ":" in address else address
    return f"nbd://{host}:{port}/{export}"
