"""``/2/networks`` and ``/2/networks/[network_name]``.

Reads work from the configuration; every change needs a network opcode, and
until Corral has them those routes answer 501.
"""

from __future__ import annotations

from typing import Any

from corral.rapi.context import RapiContext
from corral.rapi.opinput import DRY_RUN, FromPath, OpSpec
from corral.rapi.request import RapiRequest
from corral.rapi.resources.instances import COMMON_FIELDS
from corral.rapi.routing import Access, QueryDoc, Route

NET_FIELDS = [
    "name", "network", "gateway", "network6", "gateway6", "mac_prefix", "free_count",
    "reserved_count", "map", "group_list", "inst_list", "external_reservations",
    *COMMON_FIELDS,
]  # fmt: skip
"""The fields of a network record (Ganeti 3.0's NET_FIELDS)."""
NETWORK = FromPath("network_name", "network_name")
BASE = "/2/networks/{network_name}"


async def list_networks(ctx: RapiContext, req: RapiRequest) -> Any:
    return await ctx.listing("network", NET_FIELDS, req.bulk, "/2/networks/%s", "name")


async def get_network(ctx: RapiContext, req: RapiRequest) -> Any:
    return await ctx.query_one("network", req.param("network_name"), NET_FIELDS)


def _change(op_id: str, *static: Any, body: bool = True) -> OpSpec:
    return OpSpec(op_id, static=(NETWORK, *static), body=body)


ROUTES = [
    Route("GET", "/2/networks", Access.ANY, "List networks", handler=list_networks,
          query=(QueryDoc("bulk", "flag", "full records instead of names"),),
          response={"type": "array", "items": {"type": "object"}}),
    Route("POST", "/2/networks", Access.WRITE, "Create a network",
          op=OpSpec("OP_NETWORK_ADD", static=(DRY_RUN,), renames={"name": "network_name"})),
    Route("GET", BASE, Access.ANY, "One network's record", handler=get_network,
          response={"type": "object"}),
    Route("DELETE", BASE, Access.WRITE, "Remove a network",
          op=_change("OP_NETWORK_REMOVE", DRY_RUN)),
    Route("PUT", f"{BASE}/modify", Access.WRITE, "Modify a network",
          op=_change("OP_NETWORK_SET_PARAMS")),
    Route("PUT", f"{BASE}/connect", Access.WRITE, "Connect a network to a node group",
          op=_change("OP_NETWORK_CONNECT", DRY_RUN)),
    Route("PUT", f"{BASE}/disconnect", Access.WRITE, "Disconnect a network from a node group",
          op=_change("OP_NETWORK_DISCONNECT", DRY_RUN)),
    Route("PUT", f"{BASE}/rename", Access.WRITE, "Rename a network",
          op=_change("OP_NETWORK_RENAME")),
]
