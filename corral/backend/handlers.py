"""Registry of node-side handlers for the RPC table.

Backend modules decorate one async function per call::

    @handles("node_info")
    async def node_info(ctx: NodeContext, storage_units: list, hv_specs: list) -> dict: ...

The handler's parameters after ``ctx`` must be the call's argument names, in order.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from corral.rpc.calls import CALLS

Handler = Callable[..., Awaitable[Any]]
F = TypeVar("F", bound=Handler)

HANDLERS: dict[str, Handler] = {}


def handles(name: str) -> Callable[[F], F]:
    """Register the decorated coroutine function as the handler of call ``name``."""
    if name not in CALLS:
        raise KeyError(f"no RPC call named {name!r} in the table")

    def register(func: F) -> F:
        if name in HANDLERS:
            raise ValueError(f"RPC call {name!r} already has a handler")
        HANDLERS[name] = func
        return func

    return register
