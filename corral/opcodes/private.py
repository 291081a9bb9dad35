"""Private and secret opcode parameters (Ganeti 2.15+'s ``Private`` and ``Secret`` values).

* private (``osparams_private``, ``osparams_private_cluster``): stored in the job and the
  configuration, given to the OS scripts, served to nobody: every job or instance read
  shows ``<redacted>`` in place of each value.
* secret (``osparams_secret``, and ``gnt-node add``'s ``join_token``): given to the running
  job only; the stored job keeps the names with ``<redacted>`` values, and the configuration
  never sees them.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from typing import Any

REDACTED = "<redacted>"
"""What a private or secret value reads as (Ganeti's ``show`` of ``Private``/``Secret``)."""

PRIVATE_FIELDS = frozenset({"osparams_private", "osparams_private_cluster"})
SECRET_FIELDS = frozenset({"osparams_secret", "join_token"})
_HIDDEN_FIELDS = PRIVATE_FIELDS | SECRET_FIELDS

SECRETS_LOST = ("secret parameters were lost when the master daemon restarted;"
                " resubmit the job")
"""Why a job with secret parameters that had not run yet fails at a master restart."""

MIN_SCRUBBED_LENGTH = 4
"""Values shorter than this are not searched for in free text (they would mangle it)."""


def redacted(value: Any) -> Any:
    """``value`` with every leaf replaced by ``<redacted>``; mappings keep their keys."""
    if isinstance(value, Mapping):
        return {key: redacted(item) for key, item in value.items()}
    return None if value is None else REDACTED


def _masked(op_input: Mapping[str, Any], fields: Collection[str]) -> dict[str, Any]:
    return {key: redacted(value) if key in fields else value for key, value in op_input.items()}


def without_secrets(op_input: Mapping[str, Any]) -> dict[str, Any]:
    """The opcode input as the queue stores it: secret values are ``<redacted>``."""
    return _masked(op_input, SECRET_FIELDS)


def served_input(op_input: Any) -> Any:
    """The opcode input as any reader gets it: private and secret values ``<redacted>``."""
    if not isinstance(op_input, Mapping) or _HIDDEN_FIELDS.isdisjoint(op_input):
        return op_input
    return _masked(op_input, _HIDDEN_FIELDS)


def has_secrets(op_input: Mapping[str, Any]) -> bool:
    """Whether the input names secret parameters (after a restart their values are gone)."""
    return any(op_input.get(name) for name in SECRET_FIELDS)


def _leaves(value: Any) -> Iterable[str]:
    if isinstance(value, Mapping):
        for item in value.values():
            yield from _leaves(item)
    elif value is not None:
        yield str(value)


def _field(op_input: Any, name: str) -> Any:
    if isinstance(op_input, Mapping):
        return op_input.get(name)
    return getattr(op_input, name, None)


def hidden_values(op_input: Any, fields: Collection[str]) -> frozenset[str]:
    """The values of ``fields`` in an opcode input (or decoded opcode) long enough to scrub."""
    found = (leaf for name in fields for leaf in _leaves(_field(op_input, name)))
    return frozenset(leaf for leaf in found if len(leaf) >= MIN_SCRUBBED_LENGTH
                     and leaf != REDACTED)


def scrub(value: Any, hidden: Collection[str]) -> Any:
    """``value`` (JSON-like) with each occurrence of a ``hidden`` string ``<redacted>``."""
    if not hidden:
        return value
    if isinstance(value, str):
        for secret in sorted(hidden, key=len, reverse=True):
            value = value.replace(secret, REDACTED)
        return value
    if isinstance(value, list | tuple):
        return [scrub(item, hidden) for item in value]
    if isinstance(value, Mapping):
        return {key: scrub(item, hidden) for key, item in value.items()}
    return value
