"""Route records and path matching (the table itself is in :mod:`corral.rapi.routes`).

A :class:`Route` is one method on one path pattern (``/2/instances/{instance_name}``)
with the right it needs and either an :class:`~corral.rapi.opinput.OpSpec` (a
one-opcode job built declaratively) or a handler (reads and composite actions).
Ganeti's answers for paths and methods that do not exist: 404 for an unknown
path; for a known path without the method, Corral answers 405 with ``Allow``
(Ganeti says 501, which would read as a server fault).
"""

from __future__ import annotations

import enum
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from corral.rapi.context import RapiContext
from corral.rapi.httperror import HttpError
from corral.rapi.opinput import OpSpec
from corral.rapi.request import RapiRequest

Handler = Callable[[RapiContext, RapiRequest], Awaitable[Any]]

MAX_ID = 2**63 - 1
"""Largest job id a path may carry (larger ones cannot exist)."""

PARAM_PATTERN = re.compile(r"\{([a-z_]+)\}")
_PARAM_PATTERNS: Mapping[str, str] = MappingProxyType(
    {"job_id": r"[0-9]{1,19}", "disk_index": r"[0-9]{1,9}"}
)
_DEFAULT_PARAM = r"[^/]+"


class Access(enum.Enum):
    """Who may call a route. Every route but the public ones needs a valid user."""

    PUBLIC = "public"
    """No authentication: ``/version`` and the legacy roots (health checks use them)."""
    ANY = "any"
    """Any valid user."""
    READ = "read-or-write"
    """A user with the ``read`` or ``write`` option (results may be sensitive)."""
    WRITE = "write"
    """A user with the ``write`` option."""


JOB_ID_SCHEMA: Mapping[str, Any] = MappingProxyType(
    {"type": "integer", "description": "id of the submitted job"}
)


@dataclass(frozen=True, slots=True)
class QueryDoc:
    """A query argument a handler reads (documentation only)."""

    name: str
    kind: str = "string"
    """``string``, ``flag`` (integer 0/1) or ``list`` (repeated)."""
    doc: str = ""


@dataclass(frozen=True, slots=True)
class Route:
    """One method on one path: who may call it and what it does."""

    method: str
    path: str
    access: Access
    summary: str
    op: OpSpec | None = None
    """The opcode a plain job route submits (its answer is the job id)."""
    handler: Handler | None = None
    """Reads and composite actions (used when ``op`` is None)."""
    opcodes: tuple[str, ...] = ()
    """Opcodes a handler submits; any missing from Corral makes the route answer 501."""
    query: tuple[QueryDoc, ...] = ()
    body: Mapping[str, Any] | None = None
    """JSON schema of a handler's request body (documentation)."""
    response: Mapping[str, Any] = field(default_factory=lambda: JOB_ID_SCHEMA)
    pending: str | None = None
    """What Corral lacks for this route (``"Job filters"``): it always answers 501."""

    @property
    def resource(self) -> str:
        """Ganeti-style resource name for reason trails (``instances_name_reboot``)."""
        segments = self.path.strip("/").split("/")
        if segments[0] == "2" and len(segments) > 1:
            segments = segments[1:]
        parts = [_segment_name(seg) for seg in segments]
        return "_".join(p for p in parts if p) or "root"

    @property
    def submitted(self) -> tuple[str, ...]:
        """Every opcode the route may submit."""
        return (self.op.op_id, *self.opcodes) if self.op else self.opcodes


def _segment_name(segment: str) -> str:
    param = PARAM_PATTERN.fullmatch(segment)
    if param is None:
        return segment.replace("-", "_")
    name = param.group(1)
    if name.endswith(("_id", "_uuid")):
        return "id"
    return "name" if name.endswith("_name") or name == "resource" else ""


def compile_path(path: str) -> re.Pattern[str]:
    """The regular expression matching ``path``'s concrete forms, one group per parameter."""
    out, pos = [], 0
    for match in PARAM_PATTERN.finditer(path):
        out.append(re.escape(path[pos : match.start()]))
        name = match.group(1)
        out.append(f"(?P<{name}>{_PARAM_PATTERNS.get(name, _DEFAULT_PARAM)})")
        pos = match.end()
    out.append(re.escape(path[pos:]))
    return re.compile("".join(out))


class RouteTable:
    """Finds the route for a method and a concrete path."""

    def __init__(self, routes: Iterable[Route]) -> None:
        self.routes = tuple(routes)
        by_path: dict[str, dict[str, Route]] = {}
        for route in self.routes:
            methods = by_path.setdefault(route.path, {})
            if route.method in methods:
                raise ValueError(f"duplicate route {route.method} {route.path}")
            methods[route.method] = route
        self._paths = [(compile_path(p), methods) for p, methods in by_path.items()]

    def match(self, method: str, path: str) -> tuple[Route, dict[str, str]]:
        """The route and its path parameters.

        Raises:
            HttpError: 404 for an unknown path, 405 (with ``Allow``) for a known
                path without ``method``.
        """
        for regex, methods in self._paths:
            found = regex.fullmatch(path)
            if found is None:
                continue
            route = methods.get(method)
            if route is None:
                allow = ", ".join(sorted(methods))
                raise HttpError(
                    405, f"Method {method} is unsupported for path {path}", {"Allow": allow}
                )
            return route, found.groupdict()
        raise HttpError(404)
