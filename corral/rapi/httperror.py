"""HTTP errors of the remote API and Ganeti's JSON error body.

Every error answer carries ``{"code": 404, "message": "...", "explain": "..."}``:
``message`` is the specific text (HTML-escaped, as Ganeti does) or the status
phrase, ``explain`` the standard description of the status (Python's, which is
what Ganeti's HTTP server uses). Ganeti's RAPI client formats its exception
text from these three keys.

:func:`from_exception` translates errors raised by the master's methods into
HTTP errors: a request a client got wrong is a 4xx, never a 5xx.
"""

from __future__ import annotations

import html
import http
import logging
from collections.abc import Mapping
from types import MappingProxyType

import msgspec

from corral.errors import (
    CorralError,
    ErrorCode,
    JobLost,
    JobQueueError,
    LuxiError,
    OpCodeUnknown,
    OpPrereqError,
    ParameterError,
    QueryFilterError,
    ResolverError,
    TagError,
)

log = logging.getLogger(__name__)

AUTH_REALM = "Ganeti Remote API"
"""The realm of Basic authentication (and of ``{HA1}`` password hashes)."""

_NO_HEADERS: Mapping[str, str] = MappingProxyType({})


class HttpError(Exception):
    """An error answer: status ``code``, optional specific ``message`` and extra headers."""

    def __init__(
        self, code: int, message: str | None = None, headers: Mapping[str, str] = _NO_HEADERS
    ) -> None:
        super().__init__(code, message)
        self.code = code
        self.message = message
        self.headers = headers

    def body(self) -> bytes:
        return error_body(self.code, self.message)


def bad_request(message: str) -> HttpError:
    return HttpError(400, message)


def not_found(message: str | None = None) -> HttpError:
    return HttpError(404, message)


def not_implemented(what: str) -> HttpError:
    """501 for a Ganeti resource whose operation Corral does not have yet."""
    return HttpError(501, f"{what} is not implemented by Corral yet")


def unauthorized() -> HttpError:
    return HttpError(401, None, {"WWW-Authenticate": f'Basic realm="{AUTH_REALM}"'})


def _phrases(code: int) -> tuple[str, str]:
    try:
        status = http.HTTPStatus(code)
    except ValueError:
        return "Unknown", "Unknown"
    return status.phrase, status.description


def error_body(code: int, message: str | None) -> bytes:
    """Ganeti's error document for ``code``."""
    short, long = _phrases(code)
    text = html.escape(message, quote=False) if message else short
    return msgspec.json.encode({"code": code, "message": text, "explain": long})


_PREREQ_STATUS: Mapping[ErrorCode, int] = MappingProxyType(
    {
        ErrorCode.INVAL: 400,
        ErrorCode.RESOLVER: 400,
        ErrorCode.NOENT: 404,
        ErrorCode.EXISTS: 409,
        ErrorCode.NOTUNIQUE: 409,
        ErrorCode.STATE: 409,
        ErrorCode.NORES: 503,
        ErrorCode.TEMP_NORES: 503,
        ErrorCode.FAULT: 500,
        ErrorCode.ENVIRON: 500,
    }
)
"""HTTP status for each OpPrereqError code."""

_CLIENT_ERRORS: tuple[type[CorralError], ...] = (
    ParameterError,
    OpCodeUnknown,
    QueryFilterError,
    TagError,
    ResolverError,
    LuxiError,
)
"""Families that mean the request carried something invalid (400)."""


def _text(err: BaseException) -> str:
    if isinstance(err, OpPrereqError):
        return err.message
    return "; ".join(str(a) for a in err.args) if err.args else type(err).__name__


def _prereq_status(err: OpPrereqError) -> int:
    try:
        return _PREREQ_STATUS[err.code]
    except (ValueError, IndexError):
        return 400


def from_exception(err: BaseException) -> HttpError:
    """The HTTP error answering a request whose handling raised ``err``."""
    if isinstance(err, HttpError):
        return err
    if isinstance(err, OpPrereqError):
        return HttpError(_prereq_status(err), _text(err))
    if isinstance(err, JobLost):
        return not_found(_text(err))
    if isinstance(err, JobQueueError):
        return HttpError(503, _text(err))
    if isinstance(err, _CLIENT_ERRORS):
        return bad_request(_text(err))
    if isinstance(err, CorralError):
        return HttpError(500, f"{type(err).__name__}: {_text(err)}")
    log.error("RAPI request failed", exc_info=err)
    return HttpError(500, f"Internal error: {type(err).__name__}")
