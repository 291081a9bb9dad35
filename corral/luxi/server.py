"""The LUXI server: ETX-framed JSON requests on a unix socket, answered by a dispatcher."""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import msgspec

from corral.errors import CorralError, LuxiError, ProtocolError
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

log = logging.getLogger(__name__)

MAX_MESSAGE = 64 * 1024 * 1024

Dispatcher = Callable[[str, list[Any]], Awaitable[Any]]


def encode_reply(success: bool, result: Any) -> bytes:
    """A reply message; msgspec encodes large query answers several times faster than json."""
    body = {KEY_SUCCESS: success, KEY_RESULT: result, KEY_VERSION: LUXI_VERSION}
    return msgspec.json.encode(body) + ETX


def parse_request(raw: bytes) -> tuple[str, list[Any]]:
    """Method and arguments of one request.

    Raises:
        ProtocolError: not JSON, not an object, or an unknown method.
    """
    try:
        data = json.loads(raw)
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


class LuxiServer:
    """Serves LUXI on a unix socket; every connection may carry many requests."""

    def __init__(self, path: Path, dispatch: Dispatcher) -> None:
        self.path = path
        self.dispatch = dispatch
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.exists():
            self.path.unlink()
        old_umask = os.umask(0o117)
        try:
            self._server = await asyncio.start_unix_server(
                self._serve, path=str(self.path), limit=MAX_MESSAGE
            )
        finally:
            os.umask(old_umask)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        self.path.unlink(missing_ok=True)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                try:
                    raw = await reader.readuntil(ETX)
                except asyncio.IncompleteReadError:
                    return
                except asyncio.LimitOverrunError:
                    writer.write(encode_reply(False, LuxiError("LUXI message too large").encode()))
                    await writer.drain()
                    return
                writer.write(await self._answer(raw[:-1]))
                await writer.drain()
        except (ConnectionError, OSError):
            return
        finally:
            writer.close()

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
