"""The node daemon's RPC listener: ``PUT /<call>`` dispatched through the RPC table.

Wire shape (Ganeti's): the body is a JSON list of the call's arguments in table
order; the answer is HTTP 200 with ``[true, payload]`` or ``[false, "message"]``.
Requests the server cannot dispatch get a JSON ``{"error": ...}`` body: 400 for a
malformed body (not JSON, wrong arity, wrong type), 403 for a call that needs a
client certificate on a connection without one, 404 for an unknown call, 405 for
a method other than PUT, 413 for a body over 64 MiB.

Security: a call marked ``needs_certificate`` runs only on a connection whose
client certificate TLS verified against the cluster CA. A node that has not
joined serves with :func:`corral.rpc.tls.join_server_ssl_context`, so only the
join calls can run; once ``node_join_finish`` succeeds the listener is restarted
with the strict context and the join-mode connections are closed.

Fencing: a call carrying the master epoch header is admitted by
:func:`corral.backend.fencing.admit`; a master-only call from an older epoch is
answered ``[false, "fenced: master epoch N is older than M"]`` without running.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import ssl
import typing
from collections.abc import Mapping
from typing import Any

import msgspec
from aiohttp import web

from corral import serde
from corral.backend.context import NodeContext
from corral.backend.fencing import admit
from corral.backend.handlers import HANDLERS, Handler
from corral.backend.join import ensure_join_token
from corral.errors import CorralError, RpcError
from corral.rpc import tls
from corral.rpc.access import EPOCH_HEADER
from corral.rpc.calls import CALLS, RpcCall
from corral.rpc.listener import ConnectionBudget, GuardedSite, Limits, noded_limits

log = logging.getLogger(__name__)

MAX_BODY = 64 * 1024 * 1024
SHUTDOWN_GRACE = 10.0
"""Seconds a stopping listener waits for running handlers."""


class BadRequest(Exception):
    """The request body cannot be turned into the call's arguments."""


# --- decoding ----------------------------------------------------------------


def _type_name(value: Any) -> str:
    return "null" if value is None else type(value).__name__


_PLAIN: dict[Any, type] = {
    kind: typing.get_origin(kind) or kind
    for kind in (int, float, str, bool, list, dict, list[Any], dict[str, Any])
}
"""Argument types checked by isinstance alone (JSON object keys are always strings)."""


def _check_arg(call: RpcCall, index: int, value: Any) -> Any:
    arg = call.args[index]
    expected = arg.type
    if expected is Any:
        return value
    where = f"call {call.name!r}: argument {index + 1} ({arg.name})"
    if expected is float and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if expected is int and isinstance(value, bool):
        raise BadRequest(f"{where} must be int, got bool")
    plain = _PLAIN.get(expected)
    if plain is not None:
        if not isinstance(value, plain):
            raise BadRequest(f"{where} must be {plain.__name__}, got {_type_name(value)}")
        return value
    try:
        return msgspec.convert(value, expected)
    except msgspec.ValidationError as err:
        raise BadRequest(f"{where} is invalid: {err}") from err


def decode_args(call: RpcCall, body: bytes) -> dict[str, Any]:
    """The handler's keyword arguments from a request body.

    Raises:
        BadRequest: the body is not a JSON list of the right length and types.
    """
    if not body:
        raise BadRequest(f"call {call.name!r}: body is empty; expected a JSON list")
    try:
        values = serde.loads(body)
    except msgspec.DecodeError as err:
        raise BadRequest(f"call {call.name!r}: body is not valid JSON: {err}") from err
    if not isinstance(values, list):
        raise BadRequest(
            f"call {call.name!r}: body must be a JSON list of arguments, got {_type_name(values)}"
        )
    if len(values) != len(call.args):
        names = ", ".join(a.name for a in call.args) or "none"
        raise BadRequest(
            f"call {call.name!r} takes {len(call.args)} argument(s) ({names}), got {len(values)}"
        )
    return {arg.name: _check_arg(call, i, values[i]) for i, arg in enumerate(call.args)}


# --- dispatch ----------------------------------------------------------------


def _json_error(
    status: int, message: str, headers: Mapping[str, str] | None = None
) -> web.Response:
    return web.Response(
        status=status,
        body=serde.dumps({"error": message}),
        content_type="application/json",
        headers=headers,
    )


def has_verified_peer(request: web.BaseRequest) -> bool:
    """Whether TLS verified a client certificate on this request's connection."""
    transport = request.transport
    ssl_object = transport.get_extra_info("ssl_object") if transport is not None else None
    return isinstance(ssl_object, ssl.SSLObject | ssl.SSLSocket) and bool(ssl_object.getpeercert())


def _failure_message(err: BaseException) -> str:
    return str(err) or type(err).__name__


class Dispatcher:
    """The aiohttp handler for ``/{name}``: check, decode, run, encode."""

    def __init__(self, ctx: NodeContext, handlers: Mapping[str, Handler], joined: bool) -> None:
        self._ctx = ctx
        self._handlers = handlers
        self._joined = joined

    async def handle(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        call = CALLS.get(name)
        handler = self._handlers.get(name)
        if call is None or handler is None:
            why = "unknown RPC call" if call is None else "RPC call not implemented on this node"
            return _json_error(404, f"{why}: {name!r}")
        if request.method != "PUT":
            return _json_error(405, f"RPC call {name!r} needs PUT, not {request.method}",
                               {"Allow": "PUT"})
        if call.needs_certificate and not has_verified_peer(request):
            return _json_error(403, self._refusal(name))
        try:
            kwargs = decode_args(call, await request.read())
        except web.HTTPRequestEntityTooLarge:
            return _json_error(413, f"RPC call {name!r}: body larger than {MAX_BODY} bytes")
        except BadRequest as err:
            return _json_error(400, str(err))
        try:
            fenced = admit(self._ctx, call, request.headers.get(EPOCH_HEADER))
        except CorralError as err:
            return _json_error(400, str(err))
        if fenced is not None:
            log.warning("refused RPC call %s: %s", name, fenced)
            return web.Response(body=serde.dumps([False, fenced]), content_type="application/json")
        body = await self._run(name, handler, kwargs)
        return web.Response(body=body, content_type="application/json")

    def _refusal(self, name: str) -> str:
        if self._joined:
            return f"RPC call {name!r} needs a verified client certificate"
        return (f"RPC call {name!r} refused: this node has not joined a cluster yet "
                "(only the join calls are allowed)")

    async def _run(self, name: str, handler: Handler, kwargs: dict[str, Any]) -> bytes:
        try:
            return serde.dumps([True, await handler(self._ctx, **kwargs)])
        except (CorralError, OSError) as err:
            return serde.dumps([False, _failure_message(err)])
        except Exception as err:
            log.exception("RPC call %s failed unexpectedly", name)
            return serde.dumps([False, f"Internal error: {type(err).__name__}: {err}"])


def build_app(
    ctx: NodeContext, handlers: Mapping[str, Handler] | None = None, joined: bool = True
) -> web.Application:
    """The aiohttp application serving every call that has a handler."""
    app = web.Application(client_max_size=MAX_BODY)
    dispatcher = Dispatcher(ctx, HANDLERS if handlers is None else handlers, joined)
    app.router.add_route("*", "/{name:.*}", dispatcher.handle)
    return app


# --- the listener --------------------------------------------------------------


class ServerState(enum.Enum):
    STOPPED = "stopped"
    JOINING = "joining"
    """Not joined: self-signed certificate, only the join calls."""
    JOINED = "joined"
    """Client certificates from the cluster CA required."""


class RpcServer:
    """One node's RPC listener; switches from join mode to joined mode in place."""

    def __init__(
        self,
        ctx: NodeContext,
        host: str,
        port: int,
        *,
        handlers: Mapping[str, Handler] | None = None,
        shutdown_grace: float = SHUTDOWN_GRACE,
        limits: Limits | None = None,
    ) -> None:
        self._ctx = ctx
        self._limits = limits
        self.budget: ConnectionBudget | None = None
        """The connections held, over both modes (set by :meth:`start`)."""
        self._host = host
        self._port = port
        self._handlers = handlers
        self._grace = shutdown_grace
        self._runner: web.AppRunner | None = None
        self._switch_task: asyncio.Task[None] | None = None
        self.state = ServerState.STOPPED

    @property
    def port(self) -> int:
        """The bound port (the real one when started with port 0)."""
        return self._port

    async def start(self) -> None:
        """Listen in joined mode when the node has a certificate, else in join mode.

        Raises:
            RpcError: already started, crypto files unusable, or the port cannot be bound.
        """
        if self.state is not ServerState.STOPPED:
            raise RpcError(f"RPC server is already {self.state.value}")
        layout = self._ctx.layout
        self.budget = ConnectionBudget(self._limits or noded_limits())
        if tls.is_joined(layout):
            self._runner = await self._listen(tls.server_ssl_context(layout), joined=True)
            self.state = ServerState.JOINED
            return
        ensure_join_token(layout)
        self._runner = await self._listen(tls.join_server_ssl_context(layout), joined=False)
        self._ctx.services.on_joined = self._on_joined
        self.state = ServerState.JOINING

    async def _listen(self, context: ssl.SSLContext, joined: bool) -> web.AppRunner:
        app = build_app(self._ctx, self._handlers, joined)
        assert self.budget is not None
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=self._grace,
                               keepalive_timeout=self.budget.limits.idle_timeout)
        await runner.setup()
        site = GuardedSite(runner, self._host, self._port, self.budget, context)
        try:
            await site.start()
        except OSError as err:
            await runner.cleanup()
            raise RpcError(f"Cannot listen on {self._host}:{self._port}: {err.strerror}") from err
        self._port = int(runner.addresses[0][1])
        return runner

    def _on_joined(self) -> None:
        """Installed as ``ctx.services.on_joined``; runs after the finish response is sent."""
        if self._switch_task is None and self.state is ServerState.JOINING:
            self._switch_task = asyncio.get_running_loop().create_task(self._switch())

    async def _switch(self) -> None:
        old = self._runner
        assert old is not None
        try:
            context = tls.server_ssl_context(self._ctx.layout)
            for site in list(old.sites):
                await site.stop()
            self._runner = await self._listen(context, joined=True)
        except Exception:
            log.exception("Cannot switch the RPC listener to joined mode")
            raise
        self.state = ServerState.JOINED
        self._ctx.services.on_joined = None
        await old.cleanup()
        tls.remove_join_cert(self._ctx.layout)
        log.info("Node joined; RPC now requires client certificates")

    async def wait_switched(self) -> None:
        """Wait until a pending switch to joined mode has finished (re-raises its error)."""
        if self._switch_task is not None:
            await asyncio.shield(self._switch_task)

    async def stop(self) -> None:
        """Stop listening and close connections, waiting up to the grace for handlers."""
        task = self._switch_task
        if task is not None:
            await asyncio.wait([task])
            if not task.cancelled():
                task.exception()  # logged by _switch; mark it retrieved
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        self._ctx.services.on_joined = None
        self.state = ServerState.STOPPED


async def start_server(
    ctx: NodeContext,
    host: str,
    port: int,
    *,
    handlers: Mapping[str, Handler] | None = None,
) -> RpcServer:
    """Start a node's RPC listener (see :class:`RpcServer`); ``port`` 0 picks a free one."""
    server = RpcServer(ctx, host, port, handlers=handlers)
    await server.start()
    return server
