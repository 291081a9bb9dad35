"""One remote API request as resources see it, and Ganeti's rules for reading its arguments.

Query arguments may repeat (``?tag=a&tag=b``); flags are integers (``?bulk=1``):
Ganeti accepts ``0``/``1`` (any integer) and rejects anything else with 400.
The body is the decoded JSON document, or None when the request had none.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from corral.rapi.httperror import bad_request


@dataclass(frozen=True, slots=True)
class RapiRequest:
    """What a resource handler receives.

    ``params`` are the path parameters by name (``instance_name``, ``job_id``...),
    ``query`` every query argument with all its values in order, ``body`` the
    decoded JSON body (None without one), ``user`` the authenticated user name.
    """

    method: str
    path: str
    params: Mapping[str, str] = field(default_factory=dict)
    query: Mapping[str, Sequence[str]] = field(default_factory=dict)
    body: Any = None
    user: str | None = None

    def param(self, name: str) -> str:
        """A path parameter (the route guarantees it exists)."""
        return self.params[name]

    def values(self, name: str) -> list[str]:
        """Every value of a repeatable query argument (``tag``)."""
        return list(self.query.get(name, ()))

    def text(self, name: str, default: str | None = None) -> str | None:
        """The first value of a query argument, or ``default``."""
        values = self.query.get(name)
        return values[0] if values else default

    def integer(self, name: str, default: int = 0) -> int:
        """An integer query argument (Ganeti's ``_checkIntVariable``).

        Raises:
            HttpError: 400 when the value is not an integer.
        """
        raw = self.text(name)
        if raw is None:
            return default
        try:
            return int(raw)
        except ValueError:
            raise bad_request(f"Invalid value for the '{name}' parameter") from None

    def flag(self, name: str, default: bool = False) -> bool:
        """A boolean query argument given as an integer (``dry-run=1``)."""
        return bool(self.integer(name, int(default)))

    @property
    def bulk(self) -> bool:
        return self.flag("bulk")

    @property
    def dry_run(self) -> bool:
        return self.flag("dry-run")

    @property
    def force(self) -> bool:
        return self.flag("force")


def type_name(value: Any) -> str:
    return type(value).__name__


def check_type(value: Any, expected: type, what: str) -> Any:
    """``value`` if it is an ``expected``, else 400 naming ``what`` (Ganeti's CheckType)."""
    if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
        raise bad_request(
            f"{what}: Type is '{type_name(value)}', but '{expected.__name__}' is expected"
        )
    return value


def body_dict(req: RapiRequest) -> dict[str, Any]:
    """The body as a dict of parameters; no body counts as ``{}``."""
    if req.body is None:
        return {}
    return dict(check_type(req.body, dict, "Body contents"))


_MISSING = object()


def body_param(
    body: Mapping[str, Any], name: str, expected: type | None = None, default: Any = _MISSING
) -> Any:
    """One body parameter, checked (Ganeti's CheckParameter).

    Raises:
        HttpError: 400 when it is missing without a default, or of the wrong type.
    """
    if name not in body:
        if default is _MISSING:
            raise bad_request(f"Required parameter '{name}' is missing")
        return default
    value = body[name]
    if expected is not None:
        check_type(value, expected, f"'{name}' parameter")
    return value
