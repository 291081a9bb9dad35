"""``.../tags`` of the cluster, nodes, groups, instances and networks.

GET lists the tags; PUT adds and DELETE removes the tags given as repeated
``?tag=`` arguments (a body is ignored, as in Ganeti) and answer a job id.
"""

from __future__ import annotations

from typing import Any

from corral.rapi.context import RapiContext
from corral.rapi.opinput import DRY_RUN, Fixed, FromPath, FromValues, OpSpec, Source
from corral.rapi.request import RapiRequest
from corral.rapi.routing import Access, Handler, Route

TAGS = FromValues("tags", "tag", doc="a tag (repeat the argument for several)")


def _reader(kind: str, param: str | None) -> Handler:
    async def read(ctx: RapiContext, req: RapiRequest) -> Any:
        name = req.param(param) if param else ""
        return list(await ctx.call("QueryTags", kind, name))

    return read


def tag_routes(path: str, kind: str, param: str | None, noun: str) -> list[Route]:
    """GET, PUT and DELETE on ``path`` for objects of tag ``kind``.

    ``param`` is the path parameter naming the object (None for the cluster).
    """
    name: Source = FromPath("name", param) if param else Fixed("name", None)
    static = (Fixed("kind", kind), name, TAGS, DRY_RUN)
    return [
        Route("GET", path, Access.ANY, f"Tags of {noun}", handler=_reader(kind, param),
              response={"type": "array", "items": {"type": "string"}}),
        Route("PUT", path, Access.WRITE, f"Add tags to {noun}",
              op=OpSpec("OP_TAGS_SET", static=static, body=False)),
        Route("DELETE", path, Access.WRITE, f"Remove tags from {noun}",
              op=OpSpec("OP_TAGS_DEL", static=static, body=False)),
    ]


ROUTES = [
    *tag_routes("/2/tags", "cluster", None, "the cluster"),
    *tag_routes("/2/instances/{instance_name}/tags", "instance", "instance_name",
                "an instance"),
    *tag_routes("/2/nodes/{node_name}/tags", "node", "node_name", "a node"),
    *tag_routes("/2/groups/{group_name}/tags", "nodegroup", "group_name", "a node group"),
    *tag_routes("/2/networks/{network_name}/tags", "network", "network_name", "a network"),
]
