"""The whole configuration: one cluster plus maps of objects by UUID."""

from __future__ import annotations

import enum
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TypeVar

from corral.objects.base import ConfigObject, NamedObject
from corral.objects.cluster import Cluster
from corral.objects.instance import Disk, Instance
from corral.objects.network import Network
from corral.objects.node import Node, NodeGroup
from corral.version import CONFIG_VERSION


class Kind(enum.StrEnum):
    """Object kinds of the store, with the keys Ganeti's config.data uses."""

    CLUSTER = "cluster"
    NODEGROUP = "nodegroups"
    NODE = "nodes"
    INSTANCE = "instances"
    DISK = "disks"
    NETWORK = "networks"


KIND_TYPES: dict[Kind, type[ConfigObject]] = {
    Kind.CLUSTER: Cluster,
    Kind.NODEGROUP: NodeGroup,
    Kind.NODE: Node,
    Kind.INSTANCE: Instance,
    Kind.DISK: Disk,
    Kind.NETWORK: Network,
}

T = TypeVar("T", bound=NamedObject)


def kind_of(obj: ConfigObject) -> Kind:
    for kind, cls in KIND_TYPES.items():
        if type(obj) is cls:
            return kind
    raise TypeError(f"not a stored configuration object: {type(obj).__name__}")


@dataclass
class ConfigData:
    """The configuration held in memory by the master and by every candidate."""

    cluster: Cluster
    nodegroups: dict[str, NodeGroup] = field(default_factory=dict)
    nodes: dict[str, Node] = field(default_factory=dict)
    instances: dict[str, Instance] = field(default_factory=dict)
    disks: dict[str, Disk] = field(default_factory=dict)
    networks: dict[str, Network] = field(default_factory=dict)
    serial_no: int = 1
    ctime: float = 0.0
    mtime: float = 0.0
    version: int = CONFIG_VERSION
    _by_name: dict[Kind, dict[str, str]] = field(default_factory=dict, repr=False)

    def table(self, kind: Kind) -> dict[str, ConfigObject]:
        if kind is Kind.CLUSTER:
            return {self.cluster.uuid: self.cluster}
        return getattr(self, kind.value)  # type: ignore[no-any-return]

    def put(self, obj: ConfigObject) -> None:
        kind = kind_of(obj)
        if kind is Kind.CLUSTER:
            assert isinstance(obj, Cluster)
            self.cluster = obj
            return
        table = self.table(kind)
        old = table.get(obj.uuid)
        table[obj.uuid] = obj
        index = self._by_name.get(kind)
        if index is not None and isinstance(obj, NamedObject):
            if isinstance(old, NamedObject) and index.get(old.name) == old.uuid:
                del index[old.name]
            index[obj.name] = obj.uuid

    def delete(self, kind: Kind, uuid: str) -> None:
        old = self.table(kind).pop(uuid, None)
        index = self._by_name.get(kind)
        if index is not None and isinstance(old, NamedObject):
            index.pop(old.name, None)

    def uuid_by_name(self, kind: Kind, name: str) -> str | None:
        index = self._by_name.get(kind)
        if index is None:
            index = {o.name: u for u, o in self.table(kind).items() if isinstance(o, NamedObject)}
            self._by_name[kind] = index
        return index.get(name)

    def find(self, kind: Kind, name_or_uuid: str) -> ConfigObject | None:
        table = self.table(kind)
        if name_or_uuid in table:
            return table[name_or_uuid]
        uuid = self.uuid_by_name(kind, name_or_uuid)
        return table.get(uuid) if uuid else None

    def all_objects(self) -> Iterator[tuple[Kind, ConfigObject]]:
        yield Kind.CLUSTER, self.cluster
        for kind in (Kind.NODEGROUP, Kind.NODE, Kind.INSTANCE, Kind.DISK, Kind.NETWORK):
            for obj in self.table(kind).values():
                yield kind, obj

    # --- convenience lookups -------------------------------------------
    @property
    def master_node(self) -> Node:
        return self.nodes[self.cluster.master_node]

    def node_by_name(self, name: str) -> Node | None:
        found = self.find(Kind.NODE, name)
        return found if isinstance(found, Node) else None

    def group_by_name(self, name: str) -> NodeGroup | None:
        found = self.find(Kind.NODEGROUP, name)
        return found if isinstance(found, NodeGroup) else None

    def instance_by_name(self, name: str) -> Instance | None:
        found = self.find(Kind.INSTANCE, name)
        return found if isinstance(found, Instance) else None

    def group_nodes(self, group_uuid: str) -> list[Node]:
        return [n for n in self.nodes.values() if n.group == group_uuid]

    def master_candidates(self) -> list[Node]:
        return [n for n in self.nodes.values() if n.master_candidate]

    def online_nodes(self) -> list[Node]:
        return [n for n in self.nodes.values() if not n.offline]

    def instance_secondary_nodes(self, inst: Instance) -> list[str]:
        nodes: list[str] = []
        for disk_uuid in inst.disks:
            disk = self.disks.get(disk_uuid)
            if disk is None:
                continue
            nodes.extend(n for n in disk.nodes if n != inst.primary_node and n not in nodes)
        return nodes

    def node_instances(self, node_uuid: str) -> tuple[list[Instance], list[Instance]]:
        """Instances with the node as primary, and as secondary."""
        primary = [i for i in self.instances.values() if i.primary_node == node_uuid]
        secondary = [
            i for i in self.instances.values() if node_uuid in self.instance_secondary_nodes(i)
        ]
        return primary, secondary
