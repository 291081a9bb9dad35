"""What the master sends a node about an instance: the object, its disks, filled parameters."""

from __future__ import annotations

from typing import Any

import msgspec

from corral.objects.instance import Instance
from corral.objects.node_disk import NodeDisk


class InstanceBundle(msgspec.Struct, kw_only=True, frozen=True):
    """An instance as a node needs it to act on it.

    Parameters are *filled* on the master (defaults < cluster < instance), so the
    node never needs the cluster configuration. Node names replace UUIDs where
    scripts see them (OS and hook environments).
    """

    instance: Instance
    disks: tuple[NodeDisk, ...] = ()
    """The disks as the node the bundle goes to needs them (its drbd side)."""
    hvparams: dict[str, Any] = msgspec.field(default_factory=dict)
    beparams: dict[str, Any] = msgspec.field(default_factory=dict)
    nicparams: tuple[dict[str, Any], ...] = ()
    """Filled nicparams (mode, link, vlan), one per NIC of the instance, in order."""
    osparams: dict[str, Any] = msgspec.field(default_factory=dict)
    primary_node_name: str = ""
    secondary_node_names: tuple[str, ...] = ()
    file_storage_dir: str = ""
    """The cluster's file storage directory (file template), for node-side checks."""

    @property
    def name(self) -> str:
        return self.instance.name
