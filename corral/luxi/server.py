"""The LUXI server: ETX-framed JSON requests on a unix socket, answered by a dispatcher."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import msgspec

from corral.errors import CorralError, LuxiError, ProtocolError
from corral.jsonlimits import JsonTooDeep, check_depth
from corral.luxi.protocol import (
    ETX,
    KEY_ARGS,
    KEY_METHOD,
    KEY_RESULT,
    KEY_SUCCESS,
    KEY_VERSION,
    LUXI_VERSION,
    METHODS,
)
from corral.rpc.listener import GuardedListener, Limits, luxi_limits

log = logging.getLogger(__name__)

MAX_MESSAGE = 64 * 1024 * 1024
"""Largest request accepted, in bytes (SubmitManyJobs with 1,000 jobs is about 0.5 MiB)."""
BACKLOG = 128

Dispatcher = Callable[[str, list[Any]], Awaitable[Any]]


def encode_reply(success: bool, result: Any) -> bytes:
    """A reply message; msgspec encodes large query answers several times faster than json."""
    body = {KEY_SUCCESS: success, KEY_RESULT: result, KEY_VERSION: LUXI_VERSION}
    return msgspec.json.encode(body) + ETX


def parse_request(raw: bytes) -> tuple[str, list[Any]]:
    """Method and arguments of one request.

    Raises:
        ProtocolError: not JSON, nested too deep, not an object, or an unknown method.
    """
    try:
        check_depth(raw)
        data = json.loads(raw)
    except JsonTooDeep as err:
        raise ProtocolError(f"Invalid LUXI request: {err}") from None
    except (ValueError, UnicodeDecodeError) as err:
        raise ProtocolError(f"Invalid LUXI request: not JSON ({err})") from err
    if not isinstance(data, dict) or KEY_METHOD not in data or KEY_ARGS not in data:
        raise ProtocolError("Invalid LUXI request: expected an object with 'method' and 'args'")
    method, args = data[KEY_METHOD], data[KEY_ARGS]
    if method not in METHODS:
        raise ProtocolError(f"Unknown LUXI method {method!r}")
    if args is None:
        args = []
    if not isinstance(args, list):
        args = [args]
    return str(method), args


async def _skip_message(reader: asyncio.StreamReader) -> None:
    """Discard the rest of an oversized message, through its ETX, without buffering it whole.

    Raises:
        asyncio.IncompleteReadError: the client closed the connection first.
    """
    while True:
        try:
            await reader.readuntil(ETX)
            return
        except asyncio.LimitOverrunError as err:
            await reader.readexactly(err.consumed)


class LuxiServer:
    """Serves LUXI on a unix socket; every connection may carry many requests.

    A connection that sends no whole message for ``limits.idle_timeout`` seconds (after it
    opened or after its last answer) is closed; see :mod:`corral.rpc.listener`.
    """

    def __init__(self, path: Path, dispatch: Dispatcher, max_message: int = MAX_MESSAGE) -> None:
        self.path = path
        self.dispatch = dispatch
        self.max_message = max_message
        self.limits: Limits | None = None
        """Set before :meth:`start` to override :func:`~corral.rpc.listener.luxi_limits`."""
        self.listener: GuardedListener | None = None

    async def start(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.exists():
            self.path.unlink()
        self.limits = self.limits or luxi_limits()
        self.listener = GuardedListener(self._bind(), self._protocol, self.limits,
                                        name=f"LUXI {self.path}")
        self.listener.start()

    def _bind(self) -> socket.socket:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old_umask = os.umask(0o117)
        try:
            sock.bind(str(self.path))
            sock.listen(BACKLOG)
        except OSError:
            sock.close()
            raise
        finally:
            os.umask(old_umask)
        return sock

    def _protocol(self) -> asyncio.StreamReaderProtocol:
        reader = asyncio.StreamReader(limit=self.max_message)
        return asyncio.StreamReaderProtocol(reader, self._serve)

    async def close(self) -> None:
        if self.listener is not None:
            self.listener.close()
            self.listener = None
        self.path.unlink(missing_ok=True)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        idle = self.limits.idle_timeout if self.limits is not None else None
        try:
            while True:
                try:
                    async with asyncio.timeout(idle):
                        raw = await reader.readuntil(ETX)
                except (asyncio.IncompleteReadError, TimeoutError):
                    return
                except asyncio.LimitOverrunError:
                    await _skip_message(reader)
                    writer.write(self._too_large())
                    await writer.drain()
                    continue
                writer.write(await self._answer(raw[:-1]))
                await writer.drain()
        except (ConnectionError, OSError, asyncio.IncompleteReadError):
            return
        finally:
            writer.close()

    def _too_large(self) -> bytes:
        error = LuxiError(f"LUXI message larger than the limit of {self.max_message} bytes")
        return encode_reply(False, error.encode())

    async def _answer(self, raw: bytes) -> bytes:
        try:
            method, args = parse_request(raw)
            result = await self.dispatch(method, args)
            return encode_reply(True, result)
        except CorralError as err:
            return encode_reply(False, err.encode())
        except (TypeError, ValueError, KeyError, IndexError) as err:
            return encode_reply(False, LuxiError(f"Invalid arguments: {err}").encode())
        except Exception as err:
            log.exception("LUXI request failed")
            return encode_reply(
                False, LuxiError(f"Internal error: {type(err).__name__}: {err}").encode()
            )
