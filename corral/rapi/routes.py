"""The route table of RAPI v2: every method and path of Ganeti's remote API.

Each resource module contributes its :class:`~corral.rapi.routing.Route` records;
this module collects them, and :func:`run_route` executes one. A route whose
opcode Corral does not have yet (or which needs a feature Corral lacks) answers
501 with "… is not implemented by Corral yet"; once the opcode is registered,
the same route works without any change here.
"""

from __future__ import annotations

from typing import Any

from corral.opcodes.codec import opcode_class
from corral.rapi.context import RapiContext
from corral.rapi.httperror import not_implemented
from corral.rapi.opinput import build_op
from corral.rapi.request import RapiRequest
from corral.rapi.resources import (
    cluster,
    filters,
    groups,
    instance_actions,
    instances,
    jobs,
    networks,
    nodes,
    query,
    tags,
)
from corral.rapi.routing import Route, RouteTable

ROUTES: tuple[Route, ...] = (
    *cluster.ROUTES,
    *instances.ROUTES,
    *instance_actions.ROUTES,
    *nodes.ROUTES,
    *groups.ROUTES,
    *networks.ROUTES,
    *jobs.ROUTES,
    *query.ROUTES,
    *filters.ROUTES,
    *tags.ROUTES,
)


def table() -> RouteTable:
    """A matcher over :data:`ROUTES`."""
    return RouteTable(ROUTES)


def missing_opcodes(route: Route) -> list[str]:
    """The opcodes ``route`` submits that Corral does not have."""
    return [op_id for op_id in route.submitted if opcode_class(op_id) is None]


def check_available(route: Route) -> None:
    """Raises HttpError(501) when the route needs something Corral lacks."""
    if route.pending:
        raise not_implemented(route.pending)
    missing = missing_opcodes(route)
    if missing:
        raise not_implemented(f"{route.summary} ({', '.join(missing)})")


async def run_route(route: Route, ctx: RapiContext, req: RapiRequest) -> Any:
    """Execute ``route``: submit its job (answering the job id) or run its handler."""
    check_available(route)
    if route.op is not None:
        return await ctx.submit([build_op(route.op, req, route.resource)])
    if route.handler is None:
        raise not_implemented(route.summary)
    return await route.handler(ctx, req)
