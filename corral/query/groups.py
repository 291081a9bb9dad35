"""The ``group`` resource (``gnt-group list``)."""

from __future__ import annotations

from functools import cached_property
from typing import Any

from corral.objects import NodeGroup
from corral.objects.ipolicy import group_ipolicy
from corral.query.context import QueryContext, Resource
from corral.query.fields import (
    NODATA,
    FieldDef,
    FieldKind,
    Getter,
    attr,
    common_fields,
    field_table,
    fill,
)
from corral.query.names import nice_sorted, nice_sorted_by, resolve_named
from corral.query.paramfields import ND_PARAMS, dict_lookup, param_fields

K = FieldKind


class GroupShared:
    """Per-query data for group rows."""

    def __init__(self, ctx: QueryContext) -> None:
        self.config = ctx.config
        self.cluster = ctx.config.cluster

    @cached_property
    def members(self) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
        """Group UUID → node names, and → names of instances with a primary there."""
        nodes: dict[str, list[str]] = {}
        for node in self.config.nodes.values():
            nodes.setdefault(node.group, []).append(node.name)
        instances: dict[str, list[str]] = {}
        for inst in self.config.instances.values():
            pnode = self.config.nodes.get(inst.primary_node)
            if pnode is not None:
                instances.setdefault(pnode.group, []).append(inst.name)
        return nodes, instances

    def ndparams(self, group: NodeGroup) -> dict[str, Any]:
        return fill(self.cluster.ndparams, group.ndparams)

    def ipolicy(self, group: NodeGroup) -> dict[str, Any]:
        return group_ipolicy(self.cluster.ipolicy, group.ipolicy)

    def diskparams(self, group: NodeGroup) -> dict[str, Any]:
        templates = set(self.cluster.diskparams) | set(group.diskparams)
        return {
            t: fill(self.cluster.diskparams.get(t), group.diskparams.get(t))
            for t in sorted(templates)
        }

    def network_names(self, group: NodeGroup) -> list[str]:
        nets = self.config.networks
        return nice_sorted(nets[u].name if u in nets else u for u in group.networks)


def _count(which: int) -> Getter:
    return lambda sh, g: len(sh.members[which].get(g.uuid, ()))


def _names(which: int) -> Getter:
    return lambda sh, g: nice_sorted(sh.members[which].get(g.uuid, ()))


GROUP_FIELDS = field_table(
    [
        FieldDef("name", "Group", K.TEXT, "Group name", attr("name")),
        FieldDef("alloc_policy", "AllocPolicy", K.TEXT, "Allocation policy for group",
                 lambda _s, g: g.alloc_policy.value),
        FieldDef("node_cnt", "Nodes", K.NUMBER, "Number of nodes", _count(0)),
        FieldDef("node_list", "NodeList", K.OTHER, "List of nodes", _names(0)),
        FieldDef("pinst_cnt", "Instances", K.NUMBER, "Number of primary instances", _count(1)),
        FieldDef("pinst_list", "InstanceList", K.OTHER, "List of primary instances",
                 _names(1)),
        FieldDef("ipolicy", "InstancePolicy", K.OTHER, "Instance policy limitations (merged)",
                 lambda sh, g: sh.ipolicy(g)),
        FieldDef("custom_ipolicy", "CustomInstancePolicy", K.OTHER,
                 "Custom instance policy limitations", lambda _s, g: dict(g.ipolicy)),
        FieldDef("ndparams", "NDParams", K.OTHER, "Node parameters",
                 lambda sh, g: sh.ndparams(g)),
        FieldDef("custom_ndparams", "CustomNDParams", K.OTHER, "Custom node parameters",
                 lambda _s, g: dict(g.ndparams)),
        FieldDef("diskparams", "DiskParameters", K.OTHER, "Disk parameters (merged)",
                 lambda sh, g: sh.diskparams(g)),
        FieldDef("custom_diskparams", "CustomDiskParameters", K.OTHER,
                 "Custom disk parameters", lambda _s, g: dict(g.diskparams)),
        FieldDef("networks", "Networks", K.OTHER, "Names of the networks connected to the group",
                 lambda sh, g: sh.network_names(g)),
        *param_fields("ndp", "node", ND_PARAMS, dict_lookup(lambda sh, g: sh.ndparams(g), NODATA)),
        *common_fields("Group"),
    ]
)


def select_groups(ctx: QueryContext, wanted: list[Any] | None) -> list[NodeGroup]:
    if wanted is not None:
        return resolve_named(ctx.config.nodegroups, wanted, "NodeGroup")
    return nice_sorted_by(ctx.config.nodegroups.values(), lambda g: g.name)


RESOURCE = Resource("group", GROUP_FIELDS, "name", GroupShared, select_groups)
