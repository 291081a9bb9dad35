"""The RAPI HTTPS server (aiohttp, HTTP/1.1 keep-alive), run inside the master daemon.

Order of checks, as Ganeti's: the route (404 unknown path, 405 known path without
the method), then authentication (401/403), then the body (415 when it is not
``application/json``, 400 when it is not JSON or nests too deep, 413 when it
is too large), then the resource. Answers are JSON; errors carry Ganeti's
``{"code", "message", "explain"}`` body. The OpenAPI document of the route table
is served, without authentication, at :data:`OPENAPI_PATH`.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Mapping, Sequence
from typing import Any

import msgspec
from aiohttp import web

from corral.jsonlimits import JsonTooDeep, check_depth
from corral.rapi.auth import Authenticator
from corral.rapi.context import Dispatch, RapiContext, StreamRows
from corral.rapi.httperror import HttpError, bad_request, from_exception
from corral.rapi.openapi import build_document
from corral.rapi.records import RecordStream
from corral.rapi.request import RapiRequest
from corral.rapi.routes import ROUTES, run_route
from corral.rapi.routing import RouteTable
from corral.rpc.listener import ConnectionBudget, GuardedSite, Limits, rapi_limits

log = logging.getLogger(__name__)

OPENAPI_PATH = "/openapi.json"
JSON = "application/json"
MAX_BODY = 16 * 1024 * 1024
"""Largest request body accepted, in bytes."""


def json_response(data: bytes, status: int = 200, headers: Mapping[str, str] | None = None
                  ) -> web.Response:
    return web.Response(body=data, status=status, content_type=JSON, headers=headers)


def encode(result: Any) -> bytes:
    return msgspec.json.encode(result)


def query_args(request: web.Request) -> dict[str, Sequence[str]]:
    query = request.query
    return {key: query.getall(key) for key in query}


async def read_body(request: web.Request) -> Any:
    """The decoded JSON body, None when there is none.

    Raises:
        HttpError: 413 above :data:`MAX_BODY`, 415 when not JSON by type, 400 when
            not JSON or nested deeper than :data:`~corral.jsonlimits.MAX_DEPTH`.
    """
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise HttpError(413, f"Request body larger than the limit of {MAX_BODY} bytes") from None
    except web.HTTPException as err:
        raise HttpError(err.status, err.reason) from None
    if not raw.strip():
        return None
    if request.content_type.lower() != JSON:
        raise HttpError(415, f"Request bodies must be {JSON}")
    try:
        check_depth(raw)
        return msgspec.json.decode(raw)
    except JsonTooDeep as err:
        raise bad_request(f"Unable to parse JSON data: {err}") from None
    except msgspec.DecodeError:
        raise bad_request("Unable to parse JSON data") from None


class RapiServer:
    """The remote API over ``dispatch`` (the master's LUXI method table)."""

    def __init__(
        self,
        dispatch: Dispatch,
        authenticator: Authenticator,
        ssl_context: ssl.SSLContext | None,
        table: RouteTable | None = None,
        limits: Limits | None = None,
        stream: StreamRows | None = None,
    ) -> None:
        self.ctx = RapiContext(dispatch, stream)
        self.limits = limits
        """Connection limits of each listening address; None: :func:`rapi_limits` at start."""
        self.auth = authenticator
        self.ssl_context = ssl_context
        self.table = table or RouteTable(ROUTES)
        self.openapi = encode(build_document(self.table.routes))
        self._runner: web.AppRunner | None = None
        self.budget: ConnectionBudget | None = None
        """The connections held over every listening address (set by :meth:`start`)."""

    def app(self) -> web.Application:
        app = web.Application(client_max_size=MAX_BODY)
        app.router.add_route("*", r"/{tail:[\s\S]*}", self.handle)
        return app

    async def handle(self, request: web.Request) -> web.StreamResponse:
        try:
            answer = await self._answer(request)
        except Exception as err:
            error = from_exception(err)
            if error.code >= 500:
                log.warning("RAPI %s %s: %d %s", request.method, request.path, error.code,
                            error.message)
            return json_response(error.body(), error.code, error.headers)
        if isinstance(answer, RecordStream):
            return await answer.send(request, JSON)
        return json_response(answer)

    async def _answer(self, request: web.Request) -> bytes | RecordStream:
        """The encoded answer, or a bulk one to encode while it is sent."""
        if request.path == OPENAPI_PATH and request.method == "GET":
            return self.openapi
        route, params = self.table.match(request.method, request.path)
        user = self.auth.authorize(route.access, request.headers.get("Authorization"))
        req = RapiRequest(
            method=request.method,
            path=request.path,
            params=params,
            query=query_args(request),
            body=await read_body(request),
            user=user,
        )
        result = await run_route(route, self.ctx, req)
        return result if isinstance(result, RecordStream) else encode(result)

    async def start(self, hosts: Sequence[str], port: int) -> None:
        """Listen on ``port`` of each address in ``hosts``; an address that cannot be
        bound is skipped with a warning.

        Raises:
            OSError: no address could be bound.
        """
        limits = self.limits or rapi_limits()
        self.budget = ConnectionBudget(limits)
        runner = web.AppRunner(self.app(), access_log=None, handle_signals=False,
                               keepalive_timeout=limits.idle_timeout)
        await runner.setup()
        self._runner = runner
        failure: OSError | None = None
        for host in hosts:
            site = GuardedSite(runner, host, port, self.budget, self.ssl_context)
            try:
                await site.start()
            except OSError as err:
                log.warning("RAPI cannot listen on %s:%d: %s", host, port, err.strerror)
                failure = err
        if not runner.addresses and failure is not None:
            await self.close()
            raise failure
        log.info("RAPI serving on %s", ", ".join(f"{h}:{p}" for h, p in self.addresses()))

    def addresses(self) -> list[tuple[str, int]]:
        """(address, port) of every listening socket."""
        if self._runner is None:
            return []
        return [(str(a[0]), int(a[1])) for a in self._runner.addresses]

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
