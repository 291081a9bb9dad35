"""``/2/groups`` and ``/2/groups/[group_name]`` with its actions."""

from __future__ import annotations

from typing import Any

from corral.rapi.context import RapiContext
from corral.rapi.opinput import DRY_RUN, FORCE, FromPath, OpSpec
from corral.rapi.request import RapiRequest
from corral.rapi.resources.instances import COMMON_FIELDS
from corral.rapi.routing import Access, QueryDoc, Route

G_FIELDS = [
    "alloc_policy", "name", "node_cnt", "node_list", "ipolicy", "custom_ipolicy",
    "diskparams", "custom_diskparams", "ndparams", "custom_ndparams", *COMMON_FIELDS,
]  # fmt: skip
"""The fields of a node group record (Ganeti 3.0's G_FIELDS)."""
GROUP = FromPath("group_name", "group_name")
BASE = "/2/groups/{group_name}"


async def list_groups(ctx: RapiContext, req: RapiRequest) -> Any:
    return await ctx.listing("group", G_FIELDS, req.bulk, "/2/groups/%s", "name")


async def get_group(ctx: RapiContext, req: RapiRequest) -> Any:
    return await ctx.query_one("group", req.param("group_name"), G_FIELDS)


ROUTES = [
    Route("GET", "/2/groups", Access.ANY, "List node groups", handler=list_groups,
          query=(QueryDoc("bulk", "flag", "full records instead of names"),),
          response={"type": "array", "items": {"type": "object"}}),
    Route("POST", "/2/groups", Access.WRITE, "Create a node group",
          op=OpSpec("OP_GROUP_ADD", static=(DRY_RUN,), renames={"name": "group_name"})),
    Route("GET", BASE, Access.ANY, "One node group's record", handler=get_group,
          response={"type": "object"}),
    Route("DELETE", BASE, Access.WRITE, "Remove a node group",
          op=OpSpec("OP_GROUP_REMOVE", static=(GROUP, DRY_RUN), body=False)),
    Route("PUT", f"{BASE}/modify", Access.WRITE, "Modify a node group",
          op=OpSpec("OP_GROUP_SET_PARAMS", static=(GROUP,), renames={
              "custom_ndparams": "ndparams", "custom_ipolicy": "ipolicy",
              "custom_diskparams": "diskparams"})),
    Route("PUT", f"{BASE}/rename", Access.WRITE, "Rename a node group",
          op=OpSpec("OP_GROUP_RENAME", static=(GROUP, DRY_RUN))),
    Route("PUT", f"{BASE}/assign-nodes", Access.WRITE, "Move nodes into a node group",
          op=OpSpec("OP_GROUP_ASSIGN_NODES", static=(GROUP, DRY_RUN, FORCE))),
]
