"""Ganeti's "nice" name ordering and its lookup of (possibly short) names."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from functools import lru_cache
from typing import Any, TypeVar

from corral.errors import ErrorCode, OpPrereqError
from corral.objects import NamedObject

T = TypeVar("T")
N = TypeVar("N", bound=NamedObject)

_DIGITS = re.compile(r"([0-9]+)")
_MAX_NUMBERS = 4
"""Ganeti compares at most 8 digit/text groups; the rest compares as text."""

NiceKey = tuple[Any, ...]


@lru_cache(maxsize=65536)
def nice_key(name: str) -> NiceKey:
    """Sort key where digit runs compare as numbers: ``node2`` < ``node10``.

    Text and numbers alternate (text first, possibly empty), so the same
    position always holds the same type. Cached: the master sorts the same
    names query after query.
    """
    parts: list[Any] = _DIGITS.split(name, _MAX_NUMBERS)
    parts[1::2] = map(int, parts[1::2])
    return tuple(parts)


def nice_sorted(names: Iterable[str]) -> list[str]:
    return sorted(names, key=nice_key)


def nice_sorted_by(items: Iterable[T], name: Callable[[T], str]) -> list[T]:
    return sorted(items, key=lambda item: nice_key(name(item)))


def hostname_matches(actual: str, wanted: str) -> bool:
    """True if ``wanted`` is ``actual`` or its leading components (``node1`` of
    ``node1.example.com``), ignoring case."""
    actual_l = actual.lower()
    wanted_l = wanted.lower()
    return actual_l == wanted_l or actual_l.startswith(wanted_l + ".")


def resolve_named(table: Mapping[str, N], wanted: Iterable[Any], label: str) -> list[N]:
    """Objects for ``wanted`` names (full, short or UUID), each once, nicely sorted.

    Raises:
        OpPrereqError: (NOENT) "<label> name X not found" or "... has multiple matches".
    """
    by_name = {obj.name: obj for obj in table.values()}
    found: dict[str, N] = {}
    short: dict[str, list[N]] | None = None
    for name in map(str, wanted):
        obj = table.get(name) or by_name.get(name)
        if obj is None:
            short = _short_name_index(by_name) if short is None else short
            obj = _resolve_short(short.get(name.lower(), []), name, label)
        found[obj.uuid] = obj
    return nice_sorted_by(found.values(), lambda o: o.name)


def _short_name_index(by_name: Mapping[str, N]) -> dict[str, list[N]]:
    """Lowered name → the objects :func:`hostname_matches` matches it with: each full
    name and each of its prefixes ending before a dot, lowered."""
    index: dict[str, list[N]] = {}
    for full, obj in by_name.items():
        lowered = full.lower()
        index.setdefault(lowered, []).append(obj)
        dot = lowered.find(".")
        while dot >= 0:
            index.setdefault(lowered[:dot], []).append(obj)
            dot = lowered.find(".", dot + 1)
    return index


def _resolve_short(matches: list[N], name: str, label: str) -> N:
    if len(matches) == 1:
        return matches[0]
    problem = "has multiple matches" if matches else "not found"
    raise OpPrereqError(f"{label} name {name} {problem}", ErrorCode.NOENT)
