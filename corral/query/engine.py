"""Running queries: ``query``, ``query_fields`` and the legacy ``query_values``."""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from functools import lru_cache
from itertools import repeat
from operator import itemgetter
from types import MappingProxyType
from typing import Any

from corral.errors import ErrorCode, OpPrereqError, QueryFilterError
from corral.query import cluster, groups, instances, jobs, locks, networks, nodes
from corral.query.context import QueryContext, Resource
from corral.query.fields import (
    RS_NORMAL,
    Abnormal,
    FieldDef,
    FieldKind,
    Getter,
    ItemGetter,
    PartGetter,
    Whole,
    unknown_field,
)
from corral.query.filter import compile_filter, make_simple_filter, requested_names

AGE_YOUNG_ABOVE = 50_000
"""Young objects after a query above which they skip the young collections."""
BLOCK_ITEMS = 128
"""Items whose columns are built together (a 10,000-instance listing runs ~20% faster
than with whole-list columns, its configuration objects being scattered in memory)."""

RESOURCES: Mapping[str, Resource] = MappingProxyType(
    {
        res.name: res
        for res in (
            nodes.RESOURCE,
            groups.RESOURCE,
            instances.RESOURCE,
            jobs.RESOURCE,
            locks.RESOURCE,
            cluster.RESOURCE,
            networks.RESOURCE,
        )
    }
)


def resource(what: str) -> Resource:
    """The resource called ``what``.

    Raises:
        OpPrereqError: (INVAL) no such resource.
    """
    found = RESOURCES.get(what) if isinstance(what, str) else None
    if found is None:
        raise OpPrereqError(f"Unknown query resource '{what}'", ErrorCode.INVAL)
    return found


def _selected(res: Resource, fields: Sequence[str]) -> tuple[FieldDef, ...]:
    if all(type(name) is str for name in fields):
        return _selected_cached(res.name, tuple(fields))
    return tuple(res.fields.get(name) or unknown_field(name) for name in fields)


@lru_cache(maxsize=256)
def _selected_cached(what: str, fields: tuple[str, ...]) -> tuple[FieldDef, ...]:
    """The definitions of ``fields``; cached as clients repeat the same lists."""
    table = RESOURCES[what].fields
    return tuple(table.get(name) or unknown_field(name) for name in fields)


def query(what: str, fields: Sequence[str], qfilter: Any, ctx: QueryContext) -> dict[str, Any]:
    """Ganeti's query2 result: ``{"fields": [definition...], "data": [[[status, value]...]...]}``.

    Unknown field names give kind "unknown" and RS_UNKNOWN cells. Rows come in
    nice-sorted name order (jobs: by id).

    Raises:
        OpPrereqError: unknown resource, or (NOENT) a name filter names a missing item.
        QueryFilterError: the filter is malformed.
    """
    res = resource(what)
    selected = _selected(res, fields)
    with _gc_paused():
        data = _rows(res, selected, qfilter, ctx, _Columns.cells)
    return {"fields": [fdef.definition() for fdef in selected], "data": data}


def _items(res: Resource, qfilter: Any, ctx: QueryContext) -> tuple[Any, list[Any]]:
    """The shared per-query data and the items passing ``qfilter``, in result order."""
    predicate = None if qfilter is None else compile_filter(qfilter, res.fields).predicate
    shared = res.prepare(ctx)
    items = list(res.select(ctx, requested_names(qfilter, res.namefield)))
    if predicate is not None:
        items = [item for item in items if predicate(shared, item)]
    return shared, items


class _Columns:
    """One query's columns, built field by field (columns are cheaper than rows: one
    C-level ``map`` per field instead of a call per cell).

    The whole a :class:`PartGetter` reads is built once per item, for all the
    selected fields sharing it.
    """

    def __init__(self, shared: Any, items: list[Any]) -> None:
        self.shared = shared
        self.items = items
        self._wholes: dict[Whole, list[tuple[Any, ...]]] = {}

    def _values(self, get: Getter) -> Iterator[Any]:
        if type(get) is ItemGetter:
            return map(get.fn, self.items)
        if type(get) is PartGetter:
            return map(itemgetter(get.index), self._whole(get.whole))
        return map(get, repeat(self.shared), self.items)

    def _whole(self, whole: Whole) -> list[tuple[Any, ...]]:
        column = self._wholes.get(whole)
        if column is None:
            column = self._wholes[whole] = list(map(whole, repeat(self.shared), self.items))
        return column

    def cells(self, get: Getter) -> list[list[Any]]:
        """One field's ``[status, value]`` cells."""
        values = self._values(get)
        if type(get) is ItemGetter:
            return [[RS_NORMAL, v] for v in values]
        return [[RS_NORMAL, v] if type(v) is not Abnormal else [v.status, None] for v in values]

    def plain(self, get: Getter) -> list[Any]:
        """One field's values, None where a cell is not normal."""
        values = self._values(get)
        if type(get) is ItemGetter:
            return list(values)
        return [None if type(v) is Abnormal else v for v in values]


def _rows(
    res: Resource,
    selected: Sequence[FieldDef],
    qfilter: Any,
    ctx: QueryContext,
    column: Callable[[_Columns, Getter], list[Any]],
) -> list[list[Any]]:
    """One row per item of ``column(columns, getter)`` for each selected field."""
    rows: list[list[Any]] = []
    for block in _row_blocks(res, selected, qfilter, ctx, column):
        rows += block
    return rows


def _row_blocks(
    res: Resource,
    selected: Sequence[FieldDef],
    qfilter: Any,
    ctx: QueryContext,
    column: Callable[[_Columns, Getter], list[Any]],
) -> Iterator[list[list[Any]]]:
    """The rows of :func:`_rows`, :data:`BLOCK_ITEMS` items at a time.

    A block's objects stay in the CPU caches while each of its columns is built
    (whole-list columns re-read every item from memory once per field).
    """
    shared, items = _items(res, qfilter, ctx)
    for start in range(0, len(items), BLOCK_ITEMS):
        columns = _Columns(shared, items[start : start + BLOCK_ITEMS])
        yield _transpose([column(columns, fdef.getter) for fdef in selected], len(columns.items))


def _transpose(columns: list[list[Any]], count: int) -> list[list[Any]]:
    if not columns:
        return [[] for _ in range(count)]
    return list(map(list, zip(*columns, strict=True)))


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cycle collector while rows are built.

    A large result allocates ~20 containers per row; each burst of allocations
    would otherwise start a collection that walks the master's whole heap
    (the configuration included), several times per query. Rows hold no cycles.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            _age_young_objects()
            gc.enable()


def _age_young_objects() -> None:
    """After a big result, move every tracked object to the oldest generation unwalked.

    A big result fills the youngest generation (~250,000 containers at 10,000
    instances); resuming the collector as it is would walk them all at the next
    allocation (~30 ms) for no cycle. ``freeze`` + ``unfreeze`` moves them to the
    oldest generation, walked only by full collections; they are usually freed
    long before. The young objects of other threads move too, so a cycle among
    them waits for a full collection: hence only above :data:`AGE_YOUNG_ABOVE`
    young objects, and never when objects are frozen on purpose (``unfreeze``
    would release them).
    """
    if gc.get_count()[0] > AGE_YOUNG_ABOVE and gc.get_freeze_count() == 0:
        gc.freeze()
        gc.unfreeze()


def query_fields(what: str, fields: Sequence[str] | None) -> dict[str, Any]:
    """``{"fields": [definition...]}`` for ``fields``, or all of them sorted by name.

    Raises:
        OpPrereqError: unknown resource.
    """
    res = resource(what)
    if not fields:
        selected = tuple(res.fields[name] for name in sorted(res.fields))
    else:
        selected = _selected(res, fields)
    return {"fields": [fdef.definition() for fdef in selected]}


def query_values(
    what: str, fields: Sequence[str], qfilter: Any, ctx: QueryContext
) -> list[list[Any]]:
    """The legacy positional form (LUXI QueryNodes/QueryGroups/QueryJobs...):
    plain values per row, None where a cell is not RS_NORMAL.

    Raises:
        OpPrereqError: (INVAL) "Unknown output fields selected: a, b", or as :func:`query`.
        QueryFilterError: the filter is malformed.
    """
    res = resource(what)
    selected = _known_fields(res, fields)
    with _gc_paused():
        return _rows(res, selected, qfilter, ctx, _Columns.plain)


def query_value_blocks(
    what: str, fields: Sequence[str], qfilter: Any, ctx: QueryContext, block_rows: int
) -> Iterator[list[list[Any]]]:
    """The rows of :func:`query_values` in blocks of about ``block_rows`` (the last may
    be shorter; none when nothing matches), so a caller can send the first while the
    rest are built. Errors are raised by the first ``next``, as :func:`query_values`'s.
    """
    res = resource(what)
    selected = _known_fields(res, fields)
    with _gc_paused():
        pending: list[list[Any]] = []
        for block in _row_blocks(res, selected, qfilter, ctx, _Columns.plain):
            pending += block
            if len(pending) >= block_rows:
                yield pending
                pending = []
        if pending:
            yield pending


def _known_fields(res: Resource, fields: Sequence[str]) -> tuple[FieldDef, ...]:
    selected = _selected(res, fields)
    unknown = [fdef.name for fdef in selected if fdef.kind is FieldKind.UNKNOWN]
    if unknown:
        raise OpPrereqError(
            f"Unknown output fields selected: {', '.join(unknown)}", ErrorCode.INVAL
        )
    return selected


def names_filter(what: str, names: Sequence[Any] | None) -> list[Any] | None:
    """The filter for a list of names (ids for jobs), None for all items."""
    return make_simple_filter(resource(what).namefield, names)


def needs_live_data(what: str, fields: Sequence[str], qfilter: Any) -> bool:
    """Whether the selected fields or the filter read live data (node_info for
    nodes, instance info for instances), so the master must gather it first.

    Raises:
        OpPrereqError: unknown resource.
        QueryFilterError: the filter is malformed.
    """
    res = resource(what)
    names = set(fields)
    if qfilter is not None:
        names |= compile_filter(qfilter, res.fields).fields
    return any(res.fields[name].live for name in names if name in res.fields)


@contextmanager
def filter_errors_as_prereq() -> Iterator[None]:
    """Turn QueryFilterError into OpPrereqError(INVAL), as Ganeti reports filters."""
    try:
        yield
    except QueryFilterError as err:
        raise OpPrereqError(str(err), ErrorCode.INVAL) from err


def query_prereq(
    what: str, fields: Sequence[str], qfilter: Any, ctx: QueryContext
) -> dict[str, Any]:
    """:func:`query` for opcode and LUXI callers: filter errors become OpPrereqError.

    Raises:
        OpPrereqError: (INVAL) malformed filter or unknown resource; (NOENT) missing name.
    """
    with filter_errors_as_prereq():
        return query(what, fields, qfilter, ctx)
