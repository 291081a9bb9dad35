"""A disk as the master sends it to one node (``NodeDisk``), with that node's DRBD side.

Kept beside the configuration objects so that both the RPC calls and the
:class:`corral.objects.bundle.InstanceBundle` can carry it; the master builds it
(:mod:`corral.cmdlib.common.instances.node_disks`).
"""

from __future__ import annotations

import msgspec

from corral.objects.instance import Disk


class DrbdLink(msgspec.Struct, frozen=True):
    """This node's side of a DRBD disk: Ganeti's ``dynamic_params`` (its address and minor,
    the peer's), filled by the master for each node it sends the disk to."""

    local_ip: str = msgspec.field(name="local-ip")
    remote_ip: str = msgspec.field(name="remote-ip")
    local_minor: int = msgspec.field(name="local-minor")
    remote_minor: int = msgspec.field(name="remote-minor")


class NodeDisk(Disk, kw_only=True, frozen=True):
    """A disk as a node needs it: the configured disk plus what a node cannot look up —
    its child disks in ``child_disks`` (drbd: the data volume, then the metadata volume)
    and, for a drbd disk, this node's side in ``dynamic_params``."""

    child_disks: tuple[NodeDisk, ...] = ()
    dynamic_params: DrbdLink | None = None
