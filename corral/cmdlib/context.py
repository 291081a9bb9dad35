"""What logical units work with: configuration, RPC, locks, clock."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from corral.clock import Clock
from corral.cmdlib.reservations import DrbdReservations, MemoryReservations
from corral.config.writer import ConfigWriter
from corral.layout import NodeLayout
from corral.locking.manager import LockManager
from corral.rpc.nodes import NodeRpc

if TYPE_CHECKING:
    from corral.cmdlib.common.nodes.join import NodeJoiner
    from corral.jobs.queue import JobQueue


@dataclass
class MasterContext:
    """Daemon-wide dependencies of the master, passed explicitly to every logical unit."""

    layout: NodeLayout
    config: ConfigWriter
    rpc: NodeRpc
    locks: LockManager
    clock: Clock
    queue: JobQueue | None = None
    joiner: NodeJoiner | None = None
    """Runs the join handshake with a new node; None for the real one over TLS."""
    reservations: MemoryReservations = field(default_factory=MemoryReservations)
    """Memory of instances on their way to a node (see :mod:`corral.cmdlib.reservations`)."""
    drbd: DrbdReservations = field(default_factory=DrbdReservations)
    """DRBD minors and ports of disks not yet committed."""
