"""Running queries: ``query``, ``query_fields`` and the legacy ``query_values``."""

from __future__ import annotations

import gc
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from types import MappingProxyType
from typing import Any

from corral.errors import ErrorCode, OpPrereqError, QueryFilterError
from corral.query import cluster, groups, instances, jobs, locks, networks, nodes
from corral.query.context import QueryContext, Resource
from corral.query.fields import RS_NORMAL, Abnormal, FieldDef, FieldKind, unknown_field
from corral.query.filter import compile_filter, make_simple_filter, requested_names

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


def _selected(res: Resource, fields: Sequence[str]) -> list[FieldDef]:
    return [res.fields.get(name) or unknown_field(name) for name in fields]


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
    predicate = None if qfilter is None else compile_filter(qfilter, res.fields).predicate
    getters = [fdef.getter for fdef in selected]
    data: list[list[list[Any]]] = []
    with _gc_paused():
        shared = res.prepare(ctx)
        for item in res.select(ctx, requested_names(qfilter, res.namefield)):
            if predicate is not None and not predicate(shared, item):
                continue
            data.append(
                [
                    [RS_NORMAL, v] if type(v := get(shared, item)) is not Abnormal
                    else [v.status, None]
                    for get in getters
                ]
            )
    return {"fields": [fdef.definition() for fdef in selected], "data": data}


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cycle collector while rows are built.

    A large result allocates ~10 small lists per row; each burst of allocations
    would otherwise start a collection that walks the master's whole heap
    (the configuration included), several times per query. Rows hold no cycles.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def query_fields(what: str, fields: Sequence[str] | None) -> dict[str, Any]:
    """``{"fields": [definition...]}`` for ``fields``, or all of them sorted by name.

    Raises:
        OpPrereqError: unknown resource.
    """
    res = resource(what)
    if not fields:
        selected = [res.fields[name] for name in sorted(res.fields)]
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
    unknown = [fdef.name for fdef in _selected(res, fields) if fdef.kind is FieldKind.UNKNOWN]
    if unknown:
        raise OpPrereqError(
            f"Unknown output fields selected: {', '.join(unknown)}", ErrorCode.INVAL
        )
    result = query(what, fields, qfilter, ctx)
    return [[value for _status, value in row] for row in result["data"]]


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
