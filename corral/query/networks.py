"""The ``network`` resource (``gnt-network list``); configuration fields only."""

from __future__ import annotations

from functools import cached_property
from typing import Any

from corral.objects import Network
from corral.query.context import QueryContext, Resource
from corral.query.fields import FieldDef, FieldKind, common_fields, field_table, maybe_attr
from corral.query.names import nice_sorted, nice_sorted_by, resolve_named

K = FieldKind


class NetworkShared:
    """Per-query data: which groups and instances use each network."""

    def __init__(self, ctx: QueryContext) -> None:
        self.config = ctx.config

    @cached_property
    def groups(self) -> dict[str, list[list[Any]]]:
        """Network UUID → ``[group name, NIC mode, NIC link]`` per connected group."""
        result: dict[str, list[list[Any]]] = {}
        for group in nice_sorted_by(self.config.nodegroups.values(), lambda g: g.name):
            for net_uuid, params in group.networks.items():
                entry = [group.name, params.get("mode"), params.get("link")]
                result.setdefault(net_uuid, []).append(entry)
        return result

    @cached_property
    def instances(self) -> dict[str, list[str]]:
        """Network UUID → names of instances with a NIC in it."""
        result: dict[str, set[str]] = {}
        for inst in self.config.instances.values():
            for nic in inst.nics:
                if nic.network:
                    result.setdefault(nic.network, set()).add(inst.name)
        return {uuid: nice_sorted(names) for uuid, names in result.items()}


NETWORK_FIELDS = field_table(
    [
        FieldDef("name", "Network", K.TEXT, "Name", maybe_attr("name")),
        FieldDef("network", "Subnet", K.TEXT, "IPv4 subnet", maybe_attr("network")),
        FieldDef("gateway", "Gateway", K.OTHER, "IPv4 gateway", maybe_attr("gateway")),
        FieldDef("network6", "IPv6Subnet", K.OTHER, "IPv6 subnet", maybe_attr("network6")),
        FieldDef("gateway6", "IPv6Gateway", K.OTHER, "IPv6 gateway", maybe_attr("gateway6")),
        FieldDef("mac_prefix", "MacPrefix", K.OTHER, "MAC address prefix",
                 maybe_attr("mac_prefix")),
        FieldDef("group_cnt", "NodeGroups", K.NUMBER, "Number of nodegroups",
                 lambda sh, n: len(sh.groups.get(n.uuid, ()))),
        FieldDef("group_list", "GroupList", K.OTHER,
                 "List of nodegroups (group name, NIC mode, NIC link)",
                 lambda sh, n: sh.groups.get(n.uuid, [])),
        FieldDef("inst_cnt", "Instances", K.NUMBER, "Number of instances",
                 lambda sh, n: len(sh.instances.get(n.uuid, ()))),
        FieldDef("inst_list", "InstanceList", K.OTHER, "List of instances",
                 lambda sh, n: sh.instances.get(n.uuid, [])),
        *common_fields("Network"),
    ]
)


def select_networks(ctx: QueryContext, wanted: list[Any] | None) -> list[Network]:
    if wanted is not None:
        return resolve_named(ctx.config.networks, wanted, "Network")
    return nice_sorted_by(ctx.config.networks.values(), lambda n: n.name)


RESOURCE = Resource("network", NETWORK_FIELDS, "name", NetworkShared, select_networks)
