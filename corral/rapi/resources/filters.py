"""``/2/filters`` and ``/2/filters/[filter_uuid]``: Ganeti's job filter rules.

Corral has no job filters yet: the lists are empty, a rule is never found, and
adding, replacing or deleting one answers 501.
"""

from __future__ import annotations

from typing import Any

from corral.rapi.context import RapiContext, uri_list
from corral.rapi.httperror import not_found
from corral.rapi.request import RapiRequest
from corral.rapi.routing import Access, QueryDoc, Route

FILTER_RULE_FIELDS = ["watermark", "priority", "predicates", "action", "reason_trail", "uuid"]
PENDING = "Job filters"


async def list_filters(ctx: RapiContext, req: RapiRequest) -> Any:
    if req.bulk:
        rows = await ctx.call("QueryFilters", None, FILTER_RULE_FIELDS)
        return [dict(zip(FILTER_RULE_FIELDS, row, strict=True)) for row in rows]
    uuids = [row[0] for row in await ctx.call("QueryFilters", None, ["uuid"])]
    return uri_list(uuids, "/2/filters/%s", "uuid")


async def get_filter(ctx: RapiContext, req: RapiRequest) -> Any:
    rows = await ctx.call("QueryFilters", [req.param("filter_uuid")], FILTER_RULE_FIELDS)
    if not rows:
        raise not_found()
    return dict(zip(FILTER_RULE_FIELDS, rows[0], strict=True))


_UUID = {"type": "string", "description": "the rule's UUID"}
_RULE = {"type": "object", "properties": {
    "priority": {"type": "integer"}, "predicates": {"type": "array"},
    "action": {}, "reason": {"type": "array"}}}
BASE = "/2/filters/{filter_uuid}"

ROUTES = [
    Route("GET", "/2/filters", Access.ANY, "List job filter rules", handler=list_filters,
          query=(QueryDoc("bulk", "flag", "full rules instead of UUIDs"),),
          response={"type": "array", "items": {"type": "object"}}),
    Route("POST", "/2/filters", Access.WRITE, "Add a job filter rule", pending=PENDING,
          body=_RULE, response=_UUID),
    Route("GET", BASE, Access.ANY, "One job filter rule", handler=get_filter,
          response={"type": "object"}),
    Route("PUT", BASE, Access.WRITE, "Replace (or add) a job filter rule", pending=PENDING,
          body=_RULE, response=_UUID),
    Route("DELETE", BASE, Access.WRITE, "Delete a job filter rule", pending=PENDING,
          response={"type": "null"}),
]
