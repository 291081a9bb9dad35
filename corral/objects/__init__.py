"""Typed configuration objects (layer 1: imports only foundations)."""

from corral.objects.base import ConfigObject, NamedObject, new_uuid
from corral.objects.cluster import Cluster
from corral.objects.config_data import ConfigData, Kind
from corral.objects.instance import (
    AdminState,
    AdminStateSource,
    Disk,
    DiskMode,
    DiskTemplate,
    Instance,
    Nic,
    NicMode,
)
from corral.objects.network import Network
from corral.objects.node import DEFAULT_GROUP_NAME, AllocPolicy, Node, NodeGroup, NodeRole

__all__ = [
    "DEFAULT_GROUP_NAME",
    "AdminState",
    "AdminStateSource",
    "AllocPolicy",
    "Cluster",
    "ConfigData",
    "ConfigObject",
    "Disk",
    "DiskMode",
    "DiskTemplate",
    "Instance",
    "Kind",
    "NamedObject",
    "Network",
    "Nic",
    "NicMode",
    "Node",
    "NodeGroup",
    "NodeRole",
    "new_uuid",
]
