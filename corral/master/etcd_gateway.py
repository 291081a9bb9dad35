"""etcd's v3 API through its JSON gateway (``/v3/...``) over aiohttp.

Only the calls the master lease needs: lease grant/keep-alive/revoke, a create-if-absent
transaction, a range read of one key and a watch of one key. Keys and values travel base64
encoded; int64 fields arrive as JSON strings (decoded with ``strict=False``). Each request
goes to the endpoints in turn, starting with the last one that answered, and fails over to
the next on a connection error, a timeout or a 5xx answer (no leader, request timed out).
Errors name the endpoint(s) and what each said. See ARCHITECTURE.md, "Master lease".
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import aiohttp
import msgspec

T = TypeVar("T")

DEFAULT_REQUEST_TIMEOUT = 2.0


class EtcdError(Exception):
    """An etcd request failed; the message names the endpoint(s) and the reasons."""


class EtcdUnavailable(EtcdError):
    """No endpoint answered the request (unreachable, timed out, or without quorum)."""


class KeyValue(msgspec.Struct, frozen=True):
    """One key as etcd stores it (key and value base64-encoded on the wire)."""

    key: str
    create_revision: int = 0
    mod_revision: int = 0
    version: int = 0
    value: str = ""
    lease: int = 0

    @property
    def key_text(self) -> str:
        return base64.b64decode(self.key).decode()

    @property
    def value_bytes(self) -> bytes:
        return base64.b64decode(self.value)


class Header(msgspec.Struct, frozen=True):
    revision: int = 0
    member_id: int = 0


class _Grant(msgspec.Struct, frozen=True):
    ID: int = 0
    TTL: int = 0
    error: str = ""


class _KeepAliveResult(msgspec.Struct, frozen=True):
    ID: int = 0
    TTL: int = 0


class _KeepAlive(msgspec.Struct, frozen=True):
    result: _KeepAliveResult | None = None


class _Range(msgspec.Struct, frozen=True):
    header: Header = Header()
    kvs: list[KeyValue] = []


class _TxnResponse(msgspec.Struct, frozen=True):
    response_range: _Range | None = None


class _Txn(msgspec.Struct, frozen=True):
    header: Header = Header()
    succeeded: bool = False
    responses: list[_TxnResponse] = []


class WatchEvent(msgspec.Struct, frozen=True):
    """A change of a watched key: ``type`` is "PUT" or "DELETE"."""

    kv: KeyValue
    type: str = "PUT"


class _WatchResult(msgspec.Struct, frozen=True):
    header: Header = Header()
    created: bool = False
    canceled: bool = False
    events: list[WatchEvent] = []


class _WatchLine(msgspec.Struct, frozen=True):
    result: _WatchResult | None = None
    error: Any = None


@dataclass(frozen=True, slots=True)
class LeaseGrant:
    """A granted lease: its id and the TTL etcd granted (seconds)."""

    lease_id: int
    ttl: int


@dataclass(frozen=True, slots=True)
class CreateResult:
    """Outcome of create-if-absent: ``created``, or the key as it already was."""

    created: bool
    revision: int
    existing: KeyValue | None


def b64(text: str | bytes) -> str:
    """Base64 of ``text`` (UTF-8 for ``str``), as the gateway wants keys and values."""
    raw = text.encode() if isinstance(text, str) else text
    return base64.b64encode(raw).decode()


class EtcdGateway:
    """A client of etcd's JSON gateway over several member endpoints."""

    def __init__(
        self, endpoints: Sequence[str], *, request_timeout: float = DEFAULT_REQUEST_TIMEOUT
    ) -> None:
        if not endpoints:
            raise ValueError("no etcd endpoint given")
        self.endpoints = [e.rstrip("/") for e in endpoints]
        for endpoint in self.endpoints:
            if not endpoint.startswith(("http://", "https://")):
                raise ValueError(f"etcd endpoint {endpoint!r} is not an http(s) URL")
        self.request_timeout = request_timeout
        self._preferred = 0
        self._session: aiohttp.ClientSession | None = None

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession()
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _order(self) -> list[int]:
        count = len(self.endpoints)
        return [(self._preferred + i) % count for i in range(count)]

    async def _post(self, path: str, body: dict[str, Any], kind: type[T],
                    timeout: float | None = None) -> T:
        """POST ``body`` to ``path`` on the first endpoint that answers; decode as ``kind``."""
        failures: list[str] = []
        seconds = self.request_timeout if timeout is None else timeout
        for index in self._order():
            endpoint = self.endpoints[index]
            try:
                raw = await self._post_one(endpoint, path, body, seconds)
            except _Retry as exc:
                failures.append(f"{endpoint}: {exc}")
                continue
            self._preferred = index
            return msgspec.json.decode(raw, type=kind, strict=False)
        raise EtcdUnavailable(f"etcd {path} failed on every endpoint: " + "; ".join(failures))

    async def _post_one(self, endpoint: str, path: str, body: dict[str, Any],
                        seconds: float) -> bytes:
        timeout = aiohttp.ClientTimeout(total=seconds)
        try:
            async with self._get_session().post(endpoint + path, json=body,
                                                timeout=timeout) as reply:
                raw = await reply.read()
                status = reply.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise _Retry(_describe(exc)) from exc
        if status >= 500:
            raise _Retry(f"HTTP {status} {_error_text(raw)}")
        if status != 200:
            raise EtcdError(f"etcd {path} on {endpoint}: HTTP {status} {_error_text(raw)}")
        return raw

    async def grant(self, ttl: int) -> LeaseGrant:
        """Grant a lease of ``ttl`` seconds."""
        reply = await self._post("/v3/lease/grant", {"TTL": ttl}, _Grant)
        if reply.error or not reply.ID:
            raise EtcdError(f"etcd refused a lease of {ttl} s: {reply.error or 'no lease id'}")
        return LeaseGrant(reply.ID, reply.TTL)

    async def keepalive(self, lease_id: int, timeout: float | None = None) -> int:
        """Renew a lease once; returns the TTL granted again, 0 when the lease has expired."""
        reply = await self._post("/v3/lease/keepalive", {"ID": lease_id}, _KeepAlive, timeout)
        return reply.result.TTL if reply.result is not None else 0

    async def revoke(self, lease_id: int) -> None:
        """Revoke a lease (deleting the keys bound to it); an unknown lease is not an error."""
        try:
            await self._post("/v3/lease/revoke", {"ID": lease_id}, _Grant)
        except EtcdError as exc:
            if "lease not found" not in str(exc):
                raise

    async def get(self, key: str) -> tuple[int, KeyValue | None]:
        """Read ``key`` (linearizable): the store revision and the key, or None when absent."""
        reply = await self._post("/v3/kv/range", {"key": b64(key)}, _Range)
        return reply.header.revision, (reply.kvs[0] if reply.kvs else None)

    async def put(self, key: str, value: bytes, lease_id: int = 0) -> int:
        """Write ``key`` (bound to ``lease_id`` when not 0); returns the new revision."""
        body: dict[str, Any] = {"key": b64(key), "value": b64(value)}
        if lease_id:
            body["lease"] = lease_id
        reply = await self._post("/v3/kv/put", body, _Range)
        return reply.header.revision

    async def get_prefix(self, prefix: str) -> list[KeyValue]:
        """Every key starting with ``prefix`` (linearizable read)."""
        raw = prefix.encode()
        end = raw[:-1] + bytes([raw[-1] + 1])  # etcd's "prefix" range end (last byte < 0xff)
        body = {"key": b64(raw), "range_end": b64(end)}
        return (await self._post("/v3/kv/range", body, _Range)).kvs

    async def create(self, key: str, value: bytes, lease_id: int) -> CreateResult:
        """Create ``key`` bound to ``lease_id`` only if it does not exist (one transaction)."""
        body = {
            "compare": [{"key": b64(key), "target": "CREATE", "result": "EQUAL",
                         "create_revision": 0}],
            "success": [{"request_put": {"key": b64(key), "value": b64(value),
                                         "lease": lease_id}}],
            "failure": [{"request_range": {"key": b64(key)}}],
        }
        reply = await self._post("/v3/kv/txn", body, _Txn)
        existing = None
        if not reply.succeeded and reply.responses and reply.responses[0].response_range:
            kvs = reply.responses[0].response_range.kvs
            existing = kvs[0] if kvs else None
        return CreateResult(reply.succeeded, reply.header.revision, existing)

    async def watch(self, key: str, start_revision: int) -> AsyncGenerator[WatchEvent, None]:
        """Events of ``key`` from ``start_revision`` on, from one endpoint, until it fails.

        Raises EtcdUnavailable when no endpoint accepts the watch or the stream breaks.
        """
        body = {"create_request": {"key": b64(key), "start_revision": start_revision}}
        failures: list[str] = []
        for index in self._order():
            endpoint = self.endpoints[index]
            try:
                async with contextlib.aclosing(self._watch_one(endpoint, body)) as events:
                    async for event in events:
                        yield event
                return
            except _Retry as exc:
                failures.append(f"{endpoint}: {exc}")
        raise EtcdUnavailable(f"etcd watch of {key} failed on every endpoint: "
                              + "; ".join(failures))

    async def _watch_one(self, endpoint: str, body: dict[str, Any]
                         ) -> AsyncGenerator[WatchEvent, None]:
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=self.request_timeout)
        try:
            async with self._get_session().post(endpoint + "/v3/watch", json=body,
                                                timeout=timeout) as reply:
                if reply.status != 200:
                    raise _Retry(f"HTTP {reply.status} {_error_text(await reply.read())}")
                while line := await reply.content.readline():
                    decoded = msgspec.json.decode(line, type=_WatchLine, strict=False)
                    if decoded.error is not None or decoded.result is None:
                        raise _Retry(f"watch ended: {decoded.error}")
                    if decoded.result.canceled:
                        raise _Retry("watch canceled by the server")
                    for event in decoded.result.events:
                        yield event
        except (aiohttp.ClientError, TimeoutError, asyncio.IncompleteReadError) as exc:
            raise _Retry(_describe(exc)) from exc
        raise _Retry("watch stream closed")


class _Retry(Exception):
    """This endpoint failed in a way another endpoint may not."""


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _error_text(raw: bytes) -> str:
    return raw.decode(errors="replace").strip()[:300]
