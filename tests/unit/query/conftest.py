"""Builders of configurations for query tests."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from corral.objects import (
    AdminState,
    Cluster,
    ConfigData,
    Disk,
    DiskTemplate,
    Instance,
    Network,
    Nic,
    Node,
    NodeGroup,
)
from corral.query import QueryContext


class ConfigBuilder:
    """Adds nodes, groups, instances and networks with readable, stable UUIDs.

    The first node added becomes the master. UUIDs are ``<kind>-<name>``.
    """

    def __init__(self, cluster_name: str = "cluster.example.com") -> None:
        cluster = Cluster(uuid="cluster-uuid", cluster_name=cluster_name, master_node="")
        self.config = ConfigData(cluster=cluster)
        self.default_group = self.group("default")

    def set_cluster(self, **changes: Any) -> Cluster:
        self.config.cluster = msgspec.structs.replace(self.config.cluster, **changes)
        return self.config.cluster

    def group(self, name: str, **kw: Any) -> NodeGroup:
        group = NodeGroup(uuid=f"group-{name}", name=name, **kw)
        self.config.put(group)
        return group

    def node(self, name: str, group: NodeGroup | None = None, **kw: Any) -> Node:
        kw.setdefault("primary_ip", f"192.0.2.{len(self.config.nodes) + 1}")
        grp = group or self.default_group
        node = Node(uuid=f"node-{name}", name=name, group=grp.uuid, **kw)
        self.config.put(node)
        if not self.config.cluster.master_node:
            self.set_cluster(master_node=node.uuid)
        return node

    def disk(self, inst_name: str, index: int, size: int, template: DiskTemplate,
             nodes: tuple[str, ...], **kw: Any) -> Disk:
        disk = Disk(uuid=f"disk-{inst_name}-{index}", dev_type=template, size=size,
                    nodes=nodes, **kw)
        self.config.put(disk)
        return disk

    def instance(
        self,
        name: str,
        pnode: Node,
        snode: Node | None = None,
        disks: tuple[int, ...] = (),
        nics: tuple[Nic, ...] = (),
        template: DiskTemplate | None = None,
        **kw: Any,
    ) -> Instance:
        if template is None:
            template = DiskTemplate.DRBD if snode else (
                DiskTemplate.PLAIN if disks else DiskTemplate.DISKLESS)
        nodes = (pnode.uuid, snode.uuid) if snode else (pnode.uuid,)
        disk_uuids = tuple(
            self.disk(name, i, size, template, nodes).uuid for i, size in enumerate(disks)
        )
        kw.setdefault("hypervisor", "fake")
        kw.setdefault("admin_state", AdminState.UP)
        inst = Instance(uuid=f"inst-{name}", name=name, primary_node=pnode.uuid,
                        disk_template=template, disks=disk_uuids, nics=nics, **kw)
        self.config.put(inst)
        return inst

    @staticmethod
    def nic(index: int, **kw: Any) -> Nic:
        kw.setdefault("mac", f"aa:00:00:00:00:{index:02x}")
        return Nic(uuid=f"nic-{kw['mac']}", **kw)

    def context(self, **kw: Any) -> QueryContext:
        return QueryContext(config=self.config, **kw)

    def network(self, name: str, subnet: str, **kw: Any) -> Network:
        net = Network(uuid=f"net-{name}", name=name, network=subnet, **kw)
        self.config.put(net)
        return net


@pytest.fixture
def builder() -> ConfigBuilder:
    return ConfigBuilder()

