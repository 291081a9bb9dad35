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
from corral.objects.ipolicy import small_instance_ipolicy


class ConfigBuilder:
    """Adds groups, nodes and instances; the first node added is the master (a candidate)."""

    def __init__(self, cluster_name: str = "cluster.example.com", *,
                 default_group: str = "default", **cluster: Any) -> None:
        cluster.setdefault("enabled_hypervisors", ("fake",))
        # Test instances are tiny: the policy a test cluster gets (as the vcluster's).
        cluster.setdefault("ipolicy", small_instance_ipolicy())
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


def instance_with_disks(
    builder: ConfigBuilder, name: str, primary: Node, *,
    template: DiskTemplate = DiskTemplate.FILE, sizes: tuple[int, ...] = (1024,),
    nics: tuple[Nic, ...] = (), **kw: Any,
) -> Instance:
    """An instance with ``sizes`` (MiB) disks of ``template`` on ``primary``.

    Disks get stable UUIDs (``disk-<name>-<index>``) and the logical ids the
    master computes; the cluster's file storage dir / volume group must be set
    for the file-based and plain templates.
    """
    from corral.cmdlib.common.instances.disks import iv_name, logical_id

    cluster = builder.data.cluster
    disk_uuids: list[str] = []
    for index, size in enumerate(sizes):
        uuid = f"disk-{name}-{index}"
        adopt = f"/dev/disk/by-id/{name}-{index}" if template is DiskTemplate.BLOCKDEV else None
        disk = Disk(uuid=uuid, dev_type=template, size=size, iv_name=iv_name(index),
                    logical_id=logical_id(template, cluster, name, uuid, index, adopt=adopt),
                    nodes=(primary.uuid,))
        builder.data.put(disk)
        disk_uuids.append(uuid)
    kw.setdefault("hypervisor", "fake")
    kw.setdefault("os", "busybox")
    inst = Instance(uuid=f"inst-{name}", name=name, primary_node=primary.uuid,
                    disk_template=template, disks=tuple(disk_uuids), nics=nics, **kw)
    builder.data.put(inst)
    return inst


def instance_cluster(nodes: int = 2, **cluster: Any) -> ConfigBuilder:
    """A cluster ready for instances: fake and kvm hypervisors, the diskless, file,
    sharedfile, plain and blockdev templates, storage directories and a volume group."""
    cluster.setdefault("enabled_hypervisors", ("fake", "kvm"))
    cluster.setdefault("enabled_disk_templates",
                       ("file", "diskless", "sharedfile", "plain", "blockdev"))
    cluster.setdefault("file_storage_dir", "/srv/corral/file-storage")
    cluster.setdefault("shared_file_storage_dir", "/srv/corral/shared-file-storage")
    cluster.setdefault("volume_group_name", "xenvg")
    return standard_cluster(nodes=nodes, **cluster)
