"""Declarative opcode input: how a route fills one opcode from its request.

This is Ganeti's ``PUT_OPCODE``/``PUT_RENAME``/``PUT_FORBIDDEN``/``GetPutOpInput``
made data: an :class:`OpSpec` names the opcode, whether the body carries opcode
parameters, renamed and forbidden body keys, and the *static* fields the server
sets from the path and the query (:class:`FromPath`, :class:`FromFlag`, ...).
The static sources also document the route's query parameters in OpenAPI.

Every opcode gets Ganeti's reason trail: the user's ``?reason=`` (source
``gnt:user``) and ``gnt:library:rlib2:<resource>``, with nanosecond timestamps.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from corral.rapi.httperror import HttpError, bad_request
from corral.rapi.request import RapiRequest, body_dict

REASON_SRC_USER = "gnt:user"
REASON_SRC_RLIB2 = "gnt:library:rlib2"

@dataclass(frozen=True, slots=True)
class FromPath:
    """An opcode field taken from a path parameter: as an integer when ``integer``,
    as a one-item list when ``listed``."""

    field: str
    param: str
    integer: bool = False
    listed: bool = False

    def value(self, req: RapiRequest) -> Any:
        raw = req.param(self.param)
        value = int(raw) if self.integer else raw
        return [value] if self.listed else value


@dataclass(frozen=True, slots=True)
class FromFlag:
    """A boolean opcode field from an integer query argument (``?dry-run=1``)."""

    field: str
    arg: str
    default: bool = False
    doc: str = ""

    def value(self, req: RapiRequest) -> Any:
        return req.flag(self.arg, self.default)


@dataclass(frozen=True, slots=True)
class FromText:
    """A string opcode field from a query argument."""

    field: str
    arg: str
    default: str | None = None
    doc: str = ""

    def value(self, req: RapiRequest) -> Any:
        return req.text(self.arg, self.default)


@dataclass(frozen=True, slots=True)
class FromValues:
    """A list opcode field from a repeated query argument (``?tag=a&tag=b``)."""

    field: str
    arg: str
    doc: str = ""

    def value(self, req: RapiRequest) -> Any:
        return req.values(self.arg)


@dataclass(frozen=True, slots=True)
class Fixed:
    """An opcode field the server always sets to ``value``."""

    field: str
    value_: Any

    def value(self, req: RapiRequest) -> Any:
        return self.value_


Source = FromPath | FromFlag | FromText | FromValues | Fixed
QuerySource = FromFlag | FromText | FromValues

DRY_RUN = FromFlag("dry_run", "dry-run", doc="only check the operation's prerequisites")
FORCE = FromFlag("force", "force", doc="force the operation")

BodyTransform = Callable[[dict[str, Any]], dict[str, Any]]


@dataclass(frozen=True, slots=True)
class OpSpec:
    """How one opcode is filled: Ganeti's per-method opcode attributes as a record."""

    op_id: str
    static: tuple[Source, ...] = ()
    body: bool = True
    """Whether the request body (a dict) carries opcode parameters."""
    renames: Mapping[str, str] = dataclasses.field(default_factory=dict)
    """Body key → opcode field (``os`` → ``os_type``)."""
    forbidden: frozenset[str] = frozenset()
    """Parameters that cannot be set through RAPI (403)."""
    transform: BodyTransform | None = None
    """Checks and rewrites the body parameters (after renaming)."""

    @property
    def static_fields(self) -> list[str]:
        return [source.field for source in self.static]

    @property
    def query_sources(self) -> list[QuerySource]:
        return [s for s in self.static if isinstance(s, FromFlag | FromText | FromValues)]


def reason_trail(req: RapiRequest, resource: str) -> list[list[Any]]:
    """Ganeti's reason trail for an opcode submitted through RAPI."""
    trail: list[list[Any]] = []
    user_reason = req.text("reason")
    if user_reason:
        trail.append([REASON_SRC_USER, user_reason, time.time_ns()])
    trail.append([f"{REASON_SRC_RLIB2}:{resource}", "", time.time_ns()])
    return trail


def _check_forbidden(spec: OpSpec, req: RapiRequest, body: Mapping[str, Any]) -> None:
    for name in spec.forbidden:
        if name in body or name in req.query:
            raise HttpError(403, f"The parameter {name} cannot be set via RAPI")


def _renamed(params: dict[str, Any], renames: Mapping[str, str]) -> dict[str, Any]:
    for old, new in renames.items():
        if old in params and new in params:
            raise bad_request(f"Parameter '{old}' was renamed to '{new}', but both are specified")
        if old in params:
            params[new] = params.pop(old)
    return params


def _depends(req: RapiRequest) -> dict[str, Any]:
    """``depends`` from a dict body: accepted by every opcode, whatever the resource."""
    if isinstance(req.body, dict) and req.body.get("depends"):
        return {"depends": req.body["depends"]}
    return {}


def build_op(spec: OpSpec, req: RapiRequest, resource: str) -> dict[str, Any]:
    """The opcode dict (``OP_ID`` and fields) a request asks for.

    Raises:
        HttpError: 400 for a body that is not a dict, a renamed key given twice or a
            static parameter in the body; 403 for a forbidden parameter.
    """
    params = body_dict(req) if spec.body else {}
    _check_forbidden(spec, req, params)
    params = _renamed(params, spec.renames)
    if spec.transform is not None:
        params = spec.transform(params)
    params.update(_depends(req))
    static = {source.field: source.value(req) for source in spec.static}
    static["reason"] = reason_trail(req, resource)
    overlap = sorted(set(params) & set(static))
    if overlap:
        raise bad_request(f"Can't overwrite static parameters {overlap}")
    return {"OP_ID": spec.op_id, **params, **static}
