"""What every RPC handler receives: the node's layout and its services."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from corral.backend.epoch_store import EpochStore
from corral.backend.impexp_transfer import Transfer
from corral.clock import Clock, SystemClock
from corral.hypervisor.base import Hypervisor
from corral.layout import NodeLayout
from corral.process import CommandRunner, SubprocessRunner

if TYPE_CHECKING:
    from corral.backend.restricted import RestrictedSettings
    from corral.config.store import ConfigStore


@dataclass
class NodeServices:
    """Daemon services handlers may need; each starts unset (or at its default) and is
    installed by the daemon's wiring or by a test."""

    hypervisors: dict[str, Hypervisor] = field(default_factory=dict)
    """Drivers built on first use, by hypervisor name."""
    lvm_runner: CommandRunner | None = None
    """Runs LVM tools instead of the node's runner (a simulator where LVM cannot run)."""
    storage_dev_dir: Path | None = None
    """Where device nodes of simulated storage appear (``/dev`` when unset)."""
    xen_runner: CommandRunner | None = None
    """Runs the Xen drivers' commands instead of the node's runner (the xl simulator)."""
    drbd_runner: CommandRunner | None = None
    """Runs the DRBD tools instead of the node's runner (a simulator where DRBD cannot run)."""
    drbd_dev_dir: Path | None = None
    """Where DRBD devices appear (``/dev`` when unset)."""
    drbd_proc_reader: Callable[[], str] | None = None
    """Reads ``/proc/drbd`` (the kernel's file when unset)."""
    config_replica: ConfigStore | None = None
    """The open configuration replica of a master candidate."""
    shutdown: Callable[[], None] | None = None
    """Stops the node daemon gracefully."""
    on_joined: Callable[[], object] | None = None
    """Runs after a successful join, once the answer is sent (restarts TLS strictly)."""
    restricted_settings: RestrictedSettings | None = None
    """Overrides the defaults of restricted commands."""
    hook_timeout: float | None = None
    """Overrides the per-script hook timeout, in seconds."""
    announce_master_ip: bool = True
    """Send the gratuitous ARP after turning the master IP up."""
    transfers: dict[str, Transfer] = field(default_factory=dict)
    """Imports and exports of disks (``import_start``/``export_start``), by name."""
    master_epoch: EpochStore | None = None
    """The highest master epoch seen (:mod:`corral.backend.fencing`; created on first use)."""


@dataclass
class NodeContext:
    """Per-daemon state shared by handlers. One per node daemon (several in one test)."""

    layout: NodeLayout
    node_name: str
    address: str = "127.0.0.1"
    port: int = 1811
    runner: CommandRunner = field(default_factory=SubprocessRunner)
    clock: Clock = field(default_factory=SystemClock)
    services: NodeServices = field(default_factory=NodeServices)
