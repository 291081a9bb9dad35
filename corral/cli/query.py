"""``list`` and ``list-fields`` for any resource (Ganeti's GenericList/GenericListFields)."""

from __future__ import annotations

from corral.cli.output import (
    EXIT_UNKNOWN_FIELD,
    QR_UNKNOWN,
    format_query_result,
    format_table,
    unknown_fields,
)
from corral.cli.qlang import make_filter, name_filter
from corral.filter_ops import OP_AND

__all__ = ["build_filter", "generic_list", "generic_list_fields", "name_filter"]

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up time)
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

    from corral.cli.commands import Context
    from corral.cli.output import Formatter


FIELD_KIND_NAMES = {
    "unknown": "Unknown", "text": "Text", "bool": "Boolean", "number": "Number",
    "float": "Floating-point number", "unit": "Storage size", "timestamp": "Timestamp",
    "other": "Custom",
}


def build_filter(ctx: Context, args: Sequence[str], namefield: str = "name",
                 numeric: bool = False, extra: Any = None) -> Any:
    """The filter for ``list`` (Ganeti's ``GenericList``): the arguments as names, globs or
    one filter (:func:`corral.cli.qlang.make_filter`), and'ed with ``extra``."""
    qfilter = make_filter(args, bool(getattr(ctx.opts, "force_filter", False)), namefield,
                          numeric)
    if extra is None:
        return qfilter
    if qfilter is None:
        return extra
    return [OP_AND, qfilter, extra]


def generic_list(
    ctx: Context,
    resource: str,
    fields: list[str],
    qfilter: Any,
    overrides: dict[str, tuple[Formatter, bool]] | None = None,
) -> int:
    """Query ``resource`` and print the table; exit code 14 for unknown fields."""
    opts = ctx.opts
    response = ctx.client.Query(resource, fields, qfilter)
    missing = unknown_fields(response)
    if missing:
        ctx.err(f"Warning: Queried for unknown fields {', '.join(missing)}")
    status, lines = format_query_result(
        response,
        unit=getattr(opts, "units", None),
        overrides=overrides,
        separator=getattr(opts, "separator", None),
        header=not getattr(opts, "no_headers", False),
        verbose=bool(getattr(opts, "verbose", False)),
    )
    if lines:
        ctx.out("\n".join(lines))  # one write: listings can have thousands of lines
    return EXIT_UNKNOWN_FIELD if status == QR_UNKNOWN else 0


def generic_list_fields(ctx: Context, resource: str, fields: list[str]) -> int:
    """Print name, type, title and description of the resource's fields."""
    response = ctx.client.QueryFields(resource, fields or None)
    defs = response.get("fields") or []
    missing = [f["name"] for f in defs if f.get("kind") == "unknown"]
    if missing:
        ctx.err(f"Warning: Queried for unknown fields {', '.join(missing)}")
    rows = [[f["name"], FIELD_KIND_NAMES.get(f.get("kind", ""), str(f.get("kind"))),
             str(f.get("title", "")), str(f.get("doc", ""))] for f in defs]
    lines = format_table(rows, ["Name", "Type", "Title", "Description"], [False] * 4,
                         not getattr(ctx.opts, "no_headers", False),
                         getattr(ctx.opts, "separator", None))
    for line in lines:
        ctx.out(line)
    return EXIT_UNKNOWN_FIELD if missing else 0
