"""Common base of configuration objects: identity, serial number, times, tags."""

from __future__ import annotations

import uuid as uuid_mod
from typing import Any, Self

import msgspec


def new_uuid() -> str:
    """A fresh random UUID string."""
    return str(uuid_mod.uuid4())


class ConfigObject(msgspec.Struct, kw_only=True, frozen=True):
    """A versioned, tagged configuration object. Changes produce new objects."""

    uuid: str
    serial_no: int = 1
    ctime: float = 0.0
    mtime: float = 0.0
    tags: tuple[str, ...] = ()

    def evolve(self, now: float, **changes: Any) -> Self:
        """A copy with ``changes`` applied, the serial number bumped and mtime set."""
        return msgspec.structs.replace(self, serial_no=self.serial_no + 1, mtime=now, **changes)

    def with_tags(self, tags: set[str] | frozenset[str], now: float) -> Self:
        return self.evolve(now, tags=tuple(sorted(tags)))


class NamedObject(ConfigObject, kw_only=True, frozen=True):
    """A configuration object users refer to by name."""

    name: str
