"""``list`` and ``list-fields`` for any resource (Ganeti's GenericList/GenericListFields)."""

from __future__ import annotations

import json

from corral.cli.errors import UsageError
from corral.cli.output import (
    EXIT_UNKNOWN_FIELD,
    QR_UNKNOWN,
    format_query_result,
    format_table,
    unknown_fields,
)

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up time)
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

    from corral.cli.commands import Context
    from corral.cli.output import Formatter

OP_OR = "|"
OP_AND = "&"
OP_EQUAL = "="
OP_REGEXP = "=~"

FIELD_KIND_NAMES = {
    "unknown": "Unknown", "text": "Text", "bool": "Boolean", "number": "Number",
    "float": "Floating-point number", "unit": "Storage size", "timestamp": "Timestamp",
    "other": "Custom",
}


def glob_pattern(text: str) -> str:
    """A DNS name glob (``*.site``, ``node?``) as a regular expression.

    ``*`` and ``?`` never match the dot between name parts; the pattern matches
    from the first part and may stop before the domain.
    """
    import re

    parts = ["[^.]*" if c == "*" else "[^.]" if c == "?" else re.escape(c) for c in text]
    return "^" + "".join(parts) + r"(\..*)?$"


def _is_glob(text: str) -> bool:
    return "*" in text or "?" in text


def _name_part(namefield: str, text: str, numeric: bool) -> list[Any]:
    if numeric:
        try:
            return [OP_EQUAL, namefield, int(text)]
        except ValueError:
            raise UsageError(f"Invalid job ID passed: '{text}'") from None
    if _is_glob(text):
        return [OP_REGEXP, namefield, glob_pattern(text)]
    return [OP_EQUAL, namefield, text]


def name_filter(names: Sequence[str], namefield: str = "name", numeric: bool = False
                ) -> list[Any] | None:
    """``["|", ["=", field, name], …]`` for the names given, None for none."""
    if not names:
        return None
    return [OP_OR, *(_name_part(namefield, n, numeric) for n in names)]


def json_filter(args: Sequence[str]) -> Any:
    """``-F``: the arguments joined are one filter in LUXI's JSON form."""
    text = " ".join(args)
    if not text.strip():
        raise UsageError("Error: -F/--filter needs a filter in JSON, e.g. "
                         "'[\"=\", \"name\", \"x\"]'")
    try:
        value = json.loads(text)
    except ValueError as err:
        raise UsageError(f"Error while parsing query filter: {err} (expected JSON)") from None
    if not isinstance(value, list):
        raise UsageError("Error while parsing query filter: a filter is a JSON list")
    return value


def build_filter(ctx: Context, args: Sequence[str], namefield: str = "name",
                 numeric: bool = False, extra: Any = None) -> Any:
    """The filter for ``list``: positional names (or ``-F`` JSON), and'ed with ``extra``."""
    if getattr(ctx.opts, "force_filter", False):
        qfilter = json_filter(args)
    else:
        qfilter = name_filter(args, namefield, numeric)
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
