"""Field definitions, kinds and result statuses of Ganeti's query2 format.

A resource's fields form one declarative table of :class:`FieldDef` records.
Each getter receives the resource's shared per-query data and one item and
returns either the value or one of the abnormal markers (:data:`NODATA`,
:data:`UNAVAIL`, :data:`OFFLINE`, :data:`UNKNOWN`), which the engine turns
into ``[status, None]``.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from operator import attrgetter
from types import MappingProxyType
from typing import Any

Getter = Callable[[Any, Any], Any]
"""``getter(shared, item) -> value or Abnormal``."""
Whole = Callable[[Any, Any], tuple[Any, ...]]
"""``whole(shared, item) -> parts``: values of several fields built together."""


class FieldKind(enum.StrEnum):
    """Ganeti's QFT_* field types."""

    UNKNOWN = "unknown"
    TEXT = "text"
    NUMBER = "number"
    FLOAT = "float"
    BOOL = "bool"
    TIMESTAMP = "timestamp"
    UNIT = "unit"
    OTHER = "other"


class FieldFlag(enum.Flag):
    """How filters compare a field (Ganeti's QFF_* flags)."""

    NONE = 0
    HOSTNAME = enum.auto()
    """Equality also matches the short form of a host name."""
    JOB_ID = enum.auto()
    """Filter values may be job ids written as strings."""
    SPLIT_TIMESTAMP = enum.auto()
    """Value is ``[seconds, microseconds]``; compared as one number."""


RS_NORMAL = 0
RS_UNKNOWN = 1
RS_NODATA = 2
RS_UNAVAIL = 3
RS_OFFLINE = 4


@dataclass(frozen=True, slots=True)
class Abnormal:
    """Marker a getter returns instead of a value; carries the RS_* status."""

    status: int


UNKNOWN = Abnormal(RS_UNKNOWN)
NODATA = Abnormal(RS_NODATA)
UNAVAIL = Abnormal(RS_UNAVAIL)
OFFLINE = Abnormal(RS_OFFLINE)


def entry(value: Any) -> list[Any]:
    """One result cell: ``[status, value]``, value None unless RS_NORMAL."""
    if type(value) is Abnormal:
        return [value.status, None]
    return [RS_NORMAL, value]


@dataclass(frozen=True, slots=True)
class FieldDef:
    """One queryable field of a resource."""

    name: str
    title: str
    kind: FieldKind
    doc: str
    getter: Getter
    live: bool = False
    """True when the value needs live data gathered from nodes."""
    flags: FieldFlag = FieldFlag.NONE

    def definition(self) -> dict[str, str]:
        """Ganeti's wire form of the definition."""
        return {"name": self.name, "title": self.title, "kind": self.kind.value, "doc": self.doc}

    def renamed(self, name: str) -> FieldDef:
        return dataclasses.replace(self, name=name)


def _unknown_getter(_shared: Any, _item: Any) -> Abnormal:
    return UNKNOWN


def unknown_field(name: str) -> FieldDef:
    """The placeholder Ganeti returns for a field name it does not know."""
    return FieldDef(name, name, FieldKind.UNKNOWN, f"Unknown field '{name}'", _unknown_getter)


FieldTable = Mapping[str, FieldDef]


def field_table(
    fields: Iterable[FieldDef], aliases: Iterable[tuple[str, str]] = ()
) -> FieldTable:
    """A read-only name → definition map; ``aliases`` are (alias, target) pairs."""
    table: dict[str, FieldDef] = {}
    for fdef in fields:
        if fdef.name in table:
            raise ValueError(f"duplicate query field {fdef.name!r}")
        table[fdef.name] = fdef
    for alias, target in aliases:
        table[alias] = table[target].renamed(alias)
    return MappingProxyType(table)


# --- fields shared by config objects ------------------------------------


@dataclass(frozen=True, slots=True)
class ItemGetter:
    """A getter whose value depends on the item alone, never abnormal.

    The engine calls ``fn(item)`` directly (with C-level ``attrgetter``s, no
    Python frame per cell); as a plain getter it ignores the shared data.
    """

    fn: Callable[[Any], Any]

    def __call__(self, _shared: Any, item: Any) -> Any:
        return self.fn(item)


@dataclass(frozen=True, slots=True)
class PartGetter:
    """A getter for part ``index`` of the tuple ``whole(shared, item)`` builds for
    several fields at once (an instance's NIC lists, its disk lists).

    The engine builds each whole once per item and query, however many of its
    parts are selected; as a plain getter (filters) it builds the whole for one
    part. A part may be an Abnormal marker.
    """

    whole: Whole
    index: int

    def __call__(self, shared: Any, item: Any) -> Any:
        return self.whole(shared, item)[self.index]


def parts(whole: Whole, count: int) -> list[PartGetter]:
    """One getter per part of ``whole``'s tuples, in order."""
    return [PartGetter(whole, index) for index in range(count)]


def attr(name: str) -> Getter:
    """Getter returning an attribute of the item."""
    return ItemGetter(attrgetter(name))


def maybe_attr(name: str) -> Getter:
    """Getter returning an attribute, or UNAVAIL when it is None."""

    def get(_s: Any, item: Any) -> Any:
        value = getattr(item, name)
        return UNAVAIL if value is None else value

    return get


def _sorted_tags(item: Any) -> list[str]:
    return sorted(item.tags)


def common_fields(kind_label: str) -> list[FieldDef]:
    """uuid, serial_no, ctime, mtime and tags, with Ganeti's titles and docs."""
    serial_doc = f"{kind_label} object serial number, incremented on each modification"
    return [
        FieldDef("uuid", "UUID", FieldKind.TEXT, f"{kind_label} UUID", attr("uuid")),
        FieldDef("serial_no", "SerialNo", FieldKind.NUMBER, serial_doc, attr("serial_no")),
        FieldDef("ctime", "CTime", FieldKind.TIMESTAMP, "Creation timestamp", attr("ctime")),
        FieldDef("mtime", "MTime", FieldKind.TIMESTAMP, "Modification timestamp", attr("mtime")),
        FieldDef("tags", "Tags", FieldKind.OTHER, "Tags", ItemGetter(_sorted_tags)),
    ]


def fill(defaults: Mapping[str, Any] | None, custom: Mapping[str, Any] | None) -> dict[str, Any]:
    """``defaults`` overridden by ``custom`` (Ganeti's FillDict)."""
    merged = dict(defaults or {})
    merged.update(custom or {})
    return merged


def ordinal(number: int) -> str:
    """``1`` → ``1st``, ``2`` → ``2nd``, ``11`` → ``11th`` (Ganeti's FormatOrdinal)."""
    if 10 <= number % 100 <= 20:
        suffix = "th"
    else:
        suffix = {1: "st", 2: "nd", 3: "rd"}.get(number % 10, "th")
    return f"{number}{suffix}"
