"""``/2/query/[resource]`` and ``/2/query/[resource]/fields``: Ganeti's query2 over RAPI.

Answers are query2 documents (``{"fields": [...], "data": [[[status, value]...]...]}``).
"""

from __future__ import annotations

from typing import Any

from corral.rapi.context import RapiContext
from corral.rapi.httperror import bad_request, not_found, not_implemented
from corral.rapi.request import RapiRequest, check_type
from corral.rapi.routing import Access, QueryDoc, Route

RESOURCES = frozenset({"group", "export", "instance", "job", "lock", "network", "node",
                       "filter"})
"""Resources Ganeti offers through RAPI."""
PENDING = {"export": "Querying exports", "filter": "Querying job filters"}
"""Of those, the ones Corral cannot query yet."""


def _resource(req: RapiRequest) -> str:
    what = req.param("resource")
    if what not in RESOURCES:
        raise not_found(f"Unknown query resource '{what}'")
    if what in PENDING:
        raise not_implemented(PENDING[what])
    return what


def split_fields(raw: str) -> list[str]:
    return [name.strip() for name in raw.split(",")]


def _query_fields(req: RapiRequest) -> list[str]:
    raw = req.text("fields")
    if raw is None:
        raise bad_request("Missing 'fields' query argument")
    return split_fields(raw)


def _checked_fields(fields: Any) -> list[str]:
    if not isinstance(fields, list) or not all(isinstance(f, str) for f in fields):
        raise bad_request("'fields' must be a list of field names")
    return fields


async def query_get(ctx: RapiContext, req: RapiRequest) -> Any:
    return await ctx.call("Query", _resource(req), _query_fields(req), None)


async def query_put(ctx: RapiContext, req: RapiRequest) -> Any:
    """Body ``fields`` (else ``?fields=``) and ``qfilter`` (Ganeti's older key: ``filter``)."""
    what = _resource(req)
    body = check_type(req.body, dict, "Body contents")
    fields = _checked_fields(body["fields"]) if "fields" in body else _query_fields(req)
    qfilter = body.get("qfilter")
    if qfilter is None:
        qfilter = body.get("filter")
    return await ctx.call("Query", what, fields, qfilter)


async def query_fields(ctx: RapiContext, req: RapiRequest) -> Any:
    what = _resource(req)
    raw = req.text("fields")
    return await ctx.call("QueryFields", what, None if raw is None else split_fields(raw))


_FIELDS = QueryDoc("fields", doc="comma-separated field names")
_RESULT = {"type": "object", "properties": {"fields": {"type": "array"},
                                            "data": {"type": "array"}}}
_BODY = {"type": "object", "properties": {
    "fields": {"type": "array", "items": {"type": "string"}},
    "qfilter": {"description": "a query2 filter, e.g. [\"=\", \"name\", \"node1\"]"},
    "filter": {"description": "older name of qfilter"}}}

ROUTES = [
    Route("GET", "/2/query/{resource}", Access.READ, "Query a resource (no filter)",
          handler=query_get, query=(_FIELDS,), response=_RESULT),
    Route("PUT", "/2/query/{resource}", Access.READ, "Query a resource with a filter",
          handler=query_put, query=(_FIELDS,), body=_BODY, response=_RESULT),
    Route("GET", "/2/query/{resource}/fields", Access.ANY, "Describe a resource's fields",
          handler=query_fields, query=(_FIELDS,), response={"type": "object"}),
]
