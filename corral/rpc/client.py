"""The master's side of the node RPC: parallel calls over one keep-alive session.

Every call is checked against the table (name and argument count) before anything
is sent; then the JSON body is built once and sent to all targets in parallel. One
node's failure (refused connection, TLS failure, timeout, HTTP error, garbage
answer) becomes a failed :class:`NodeResult` for that node and never raises.
"""

from __future__ import annotations

import asyncio
import enum
import errno
import io
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import aiohttp
import msgspec

from corral import serde
from corral.errors import RpcError
from corral.rpc.access import EPOCH_HEADER, FENCED_PREFIX, Access
from corral.rpc.calls import CALLS, RpcCall
from corral.rpc.results import NodeResult, typed

DEFAULT_PORT = 1811
POOL_SIZE = 1024
"""Connections kept across all nodes: a few per node for 200 nodes, long calls included."""
KEEPALIVE = 15.0
"""Seconds an idle connection is kept; below the server's 75 s so the client closes first."""

_HEADERS = {"Content-Type": "application/json"}
_STREAM_ABOVE = 1 << 20
"""Bodies above this go as a stream so the event loop is not held while sending."""


@dataclass(frozen=True, slots=True)
class NodeTarget:
    """Where to reach one node."""

    name: str
    address: str
    port: int = DEFAULT_PORT
    offline: bool = False


class ClientState(enum.Enum):
    OPEN = "open"
    CLOSED = "closed"


def _url(scheme: str, target: NodeTarget, call: str) -> str:
    host = f"[{target.address}]" if ":" in target.address else target.address
    return f"{scheme}://{host}:{target.port}/{call}"


def describe_error(err: BaseException, connect_timeout: float) -> str:
    """A one-line reason for a transport failure."""
    if isinstance(err, aiohttp.ConnectionTimeoutError):
        return f"Connection timed out after {connect_timeout:g} s"
    if isinstance(err, aiohttp.ClientConnectorCertificateError):
        return f"TLS certificate verification failed: {err.certificate_error}"
    if isinstance(err, aiohttp.ClientConnectorSSLError | aiohttp.ClientSSLError):
        return f"TLS error: {err}"
    if isinstance(err, aiohttp.ClientConnectorError):
        reason = err.os_error.strerror or str(err.os_error)
        return f"Cannot connect to {err.host}:{err.port}: {reason}"
    if isinstance(err, aiohttp.ServerDisconnectedError):
        return "Connection closed by the node before it answered"
    if isinstance(err, OSError) and err.errno == errno.ECONNRESET:
        # TLS 1.3 servers refuse a client certificate after the client already sent.
        return f"Connection reset by the node (was our client certificate refused?): {err}"
    return f"Connection error: {err or type(err).__name__}"


def _http_error(status: int, data: bytes) -> str:
    try:
        reply = serde.loads(data)
    except msgspec.DecodeError:
        reply = None
    if isinstance(reply, dict) and isinstance(reply.get("error"), str):
        return f"HTTP {status}: {reply['error']}"
    return f"HTTP {status}: {data[:200].decode(errors='replace')}"


def decode_reply(node: str, call: str, status: int, data: bytes) -> NodeResult[Any]:
    """Turn one HTTP answer into a result (``[true, payload]`` / ``[false, message]``)."""
    if status != 200:
        return NodeResult.failure(node, call, _http_error(status, data))
    try:
        reply = serde.loads(data)
    except msgspec.DecodeError as err:
        return NodeResult.failure(node, call, f"Invalid answer (not JSON): {err}")
    if not (isinstance(reply, list) and len(reply) == 2 and isinstance(reply[0], bool)):
        return NodeResult.failure(node, call, "Invalid answer: expected [success, payload]")
    if reply[0]:
        return NodeResult(node=node, call=call, payload=reply[1])
    return NodeResult.failure(node, call, str(reply[1]))


class RpcClient:
    """Parallel RPC to nodes over one shared aiohttp session (created on first use).

    ``ssl_context`` None means plain HTTP (only for tests of the wire format).
    :attr:`epoch`, when set, goes with every call in the :data:`EPOCH_HEADER` header.
    Once a node refuses a call as fenced (a later master term exists), :attr:`fenced`
    holds the refusal and master-only calls fail with it without contacting any node.
    """

    def __init__(
        self,
        ssl_context: ssl.SSLContext | None,
        *,
        connect_timeout: float = 5.0,
        pool_size: int = POOL_SIZE,
    ) -> None:
        self._ssl = ssl_context
        self._scheme = "http" if ssl_context is None else "https"
        self._connect_timeout = connect_timeout
        self._pool_size = pool_size
        self._session: aiohttp.ClientSession | None = None
        self.state = ClientState.OPEN
        self.epoch: int | None = None
        """The sender's master epoch (the master's term); None for tools without a master."""
        self.fenced: str | None = None
        """The first fenced refusal seen under :attr:`epoch`, if any."""

    def _get_session(self) -> aiohttp.ClientSession:
        if self.state is not ClientState.OPEN:
            raise RpcError("RPC client is closed")
        if self._session is None:
            connector = aiohttp.TCPConnector(
                ssl=self._ssl if self._ssl is not None else True,
                limit=self._pool_size,
                limit_per_host=0,
                keepalive_timeout=KEEPALIVE,
            )
            self._session = aiohttp.ClientSession(connector=connector)
        return self._session

    @staticmethod
    def _check(name: str, args: tuple[Any, ...]) -> RpcCall:
        call = CALLS.get(name)
        if call is None:
            raise RpcError(f"Unknown RPC call {name!r}")
        if len(args) != len(call.args):
            names = ", ".join(a.name for a in call.args) or "none"
            raise RpcError(
                f"RPC call {name!r} takes {len(call.args)} argument(s) ({names}), got {len(args)}"
            )
        return call

    async def call(
        self,
        name: str,
        targets: Sequence[NodeTarget],
        *args: Any,
        timeout: float | None = None,
    ) -> dict[str, NodeResult[Any]]:
        """Run ``name`` on every target in parallel; node name → result, each payload
        decoded into the call's ``returns`` (a wrong shape is a failed result).

        ``timeout`` (seconds) overrides the call's table timeout. Offline targets are
        not contacted and get an offline failure result.

        Raises:
            RpcError: unknown call, wrong argument count, unencodable arguments, or
                the client is closed. Never for one node's failure.
        """
        call = self._check(name, args)
        if self.fenced is not None and call.access is Access.MASTER:
            return {t.name: NodeResult.failure(t.name, name, self.fenced) for t in targets}
        try:
            body = serde.dumps(list(args))
        except (TypeError, msgspec.EncodeError) as err:
            raise RpcError(f"Cannot encode the arguments of RPC call {name!r}: {err}") from err
        seconds = float(call.timeout if timeout is None else timeout)
        session = self._get_session()
        results = await asyncio.gather(
            *(self._one(session, call.name, t, body, seconds) for t in targets)
        )
        self._note_fencing(results)
        return {r.node: typed(r, call.returns) for r in results}

    def _note_fencing(self, results: Sequence[NodeResult[Any]]) -> None:
        if self.fenced is not None or self.epoch is None:
            return
        for result in results:
            if result.fail_msg is not None and result.fail_msg.startswith(FENCED_PREFIX):
                self.fenced = result.fail_msg
                return

    async def call_single(
        self, name: str, target: NodeTarget, *args: Any, timeout: float | None = None
    ) -> NodeResult[Any]:
        """:meth:`call` on one node."""
        return (await self.call(name, [target], *args, timeout=timeout))[target.name]

    async def _one(
        self,
        session: aiohttp.ClientSession,
        call: str,
        target: NodeTarget,
        body: bytes,
        seconds: float,
    ) -> NodeResult[Any]:
        if target.offline:
            return NodeResult.failure(target.name, call, "Node is marked offline", offline=True)
        timeout = aiohttp.ClientTimeout(total=seconds, sock_connect=self._connect_timeout)
        url = _url(self._scheme, target, call)
        data = io.BytesIO(body) if len(body) > _STREAM_ABOVE else body
        headers = _HEADERS if self.epoch is None else {**_HEADERS, EPOCH_HEADER: str(self.epoch)}
        try:
            async with session.put(url, data=data, headers=headers, timeout=timeout) as resp:
                status, answer = resp.status, await resp.read()
        except aiohttp.ConnectionTimeoutError as err:
            message = describe_error(err, self._connect_timeout)
        except TimeoutError:
            message = f"Timed out after {seconds:g} s waiting for the answer"
        except (aiohttp.ClientError, OSError) as err:
            message = describe_error(err, self._connect_timeout)
        else:
            return decode_reply(target.name, call, status, answer)
        return NodeResult.failure(target.name, call, message)

    async def close(self) -> None:
        """Close every connection; later calls raise RpcError."""
        self.state = ClientState.CLOSED
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def __aenter__(self) -> RpcClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
