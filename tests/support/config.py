"""Builders of in-memory configurations with readable, stable UUIDs (``<kind>-<name>``)."""

from __future__ import annotations

from typing import Any

import msgspec

from corral.objects import (
    Cluster,
    ConfigData,
    Disk,
    DiskTemplate,
    Instance,
    Nic,
    Node,
    NodeGroup,
)


class ConfigBuilder:
    """Adds groups, nodes and instances; the first node added is the master (a candidate)."""

    def __init__(self, cluster_name: str = "cluster.example.com", *,
                 default_group: str = "default", **cluster: Any) -> None:
        cluster.setdefault("enabled_hypervisors", ("fake",))
        self.data = ConfigData(cluster=Cluster(
            uuid="cluster-uuid", cluster_name=cluster_name, master_node="", **cluster
        ))
        self.default_group = self.group(default_group)

    def set_cluster(self, **changes: Any) -> Cluster:
        self.data.cluster = msgspec.structs.replace(self.data.cluster, **changes)
        return self.data.cluster

    def group(self, name: str, **kw: Any) -> NodeGroup:
        group = NodeGroup(uuid=f"group-{name}", name=name, **kw)
        self.data.put(group)
        return group

    def node(self, name: str, group: NodeGroup | None = None, **kw: Any) -> Node:
        """A node at ``192.0.2.<n>``; the first one becomes master and candidate."""
        first = not self.data.nodes
        kw.setdefault("primary_ip", f"192.0.2.{len(self.data.nodes) + 1}")
        kw.setdefault("master_candidate", first)
        node = Node(uuid=f"node-{name}", name=name, group=(group or self.default_group).uuid,
                    **kw)
        self.data.put(node)
        if first:
            self.set_cluster(master_node=node.uuid)
        return node

    def nodes(self, *names: str, **kw: Any) -> list[Node]:
        return [self.node(name, **kw) for name in names]

    def instance(self, name: str, primary: Node, secondary: Node | None = None,
                 **kw: Any) -> Instance:
        """An instance; with ``secondary`` it gets one DRBD disk on both nodes."""
        disks: tuple[str, ...] = ()
        if secondary is not None:
            disk = Disk(uuid=f"disk-{name}-0", dev_type=DiskTemplate.DRBD, size=1024,
                        nodes=(primary.uuid, secondary.uuid))
            self.data.put(disk)
            disks = (disk.uuid,)
            kw.setdefault("disk_template", DiskTemplate.DRBD)
        kw.setdefault("hypervisor", "fake")
        inst = Instance(uuid=f"inst-{name}", name=name, primary_node=primary.uuid,
                        disks=disks, **kw)
        self.data.put(inst)
        return inst

    @staticmethod
    def nic(mac: str) -> Nic:
        return Nic(uuid=f"nic-{mac}", mac=mac)


def standard_cluster(nodes: int = 3, pool_size: int = 10, **cluster: Any) -> ConfigBuilder:
    """A cluster of ``node1`` (master) .. ``node<n>``, all candidates while the pool allows."""
    builder = ConfigBuilder(candidate_pool_size=pool_size, **cluster)
    for index in range(1, nodes + 1):
        builder.node(f"node{index}", master_candidate=index <= pool_size)
    return builder
