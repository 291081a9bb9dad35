"""Ganeti's text output: tables, units, timestamps and query results.

Tables follow Ganeti's rules: without a separator the columns are padded to
their widest cell (numbers right-aligned, text left-aligned, no trailing
blanks after a left-aligned last column); with ``--separator`` the cells are
joined by it and never padded. Unit columns show MiB values as ``512M``,
``1.9G``, ``2.0T`` by default ("h"), or in one fixed unit (``m``/``g``/``t``);
with a separator the default unit becomes ``m``.
"""

from __future__ import annotations

import time

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up time)
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence
    from typing import Any

    Formatter = Callable[[Any], str]

UNITS = ("h", "m", "g", "t")

# Query result statuses (Ganeti's RS_*) and how a table shows them.
RS_NORMAL = 0
RS_UNKNOWN = 1
RS_NODATA = 2
RS_UNAVAIL = 3
RS_OFFLINE = 4
RS_TEXT = {RS_UNKNOWN: "??", RS_NODATA: "?", RS_UNAVAIL: "-", RS_OFFLINE: "*"}
RS_VERBOSE_TEXT = {
    RS_UNKNOWN: "(unknown)", RS_NODATA: "(nodata)", RS_UNAVAIL: "(unavail)",
    RS_OFFLINE: "(offline)",
}

# Overall status of a formatted query (Ganeti's QR_*).
QR_NORMAL = "normal"
QR_UNKNOWN = "unknown"
QR_INCOMPLETE = "incomplete"

EXIT_UNKNOWN_FIELD = 14
"""Ganeti's exit code when a list asked for fields that do not exist."""


def default_unit(units: str | None, separator: str | None) -> str:
    """The unit to use: the requested one, else ``m`` with a separator, else ``h``."""
    if units:
        return units
    return "m" if separator else "h"


def format_unit(value: float, units: str) -> str:
    """A size in MiB for humans (``h``) or in a fixed unit (``m``, ``g``, ``t``)."""
    if units not in UNITS:
        raise ValueError(f"Invalid unit '{units}'")
    if units == "m" or (units == "h" and value < 1024):
        return f"{value:.0f}" + ("M" if units == "h" else "")
    if units == "g" or (units == "h" and value < 1024 * 1024):
        return f"{value / 1024:.1f}" + ("G" if units == "h" else "")
    return f"{value / 1024 / 1024:.1f}" + ("T" if units == "h" else "")


def format_time(seconds: Any, usecs: int | None = None) -> str:
    """``YYYY-MM-DD HH:MM:SS`` in local time (with ``.uuuuuu`` if given); ``N/A`` if unknown."""
    if isinstance(seconds, bool) or not isinstance(seconds, int | float):
        return "N/A"
    text = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(seconds))
    return text if usecs is None else f"{text}.{int(usecs):06d}"


def format_timestamp(ts: Any) -> str:
    """A ``[seconds, microseconds]`` pair as :func:`format_time` shows it; ``?`` if malformed."""
    if not isinstance(ts, list | tuple) or len(ts) != 2:
        return "?"
    return format_time(ts[0], usecs=ts[1])


def merge_time(ts: Any) -> float:
    """``[seconds, microseconds]`` (or plain seconds) → float seconds."""
    if isinstance(ts, list | tuple) and len(ts) == 2:
        return float(ts[0]) + float(ts[1]) / 1e6
    return float(ts)


def format_bool(value: Any) -> str:
    return "Y" if value else "N"


def format_value(value: Any) -> str:
    """Generic cell text: lists comma-joined, booleans as Ganeti's ``str``."""
    if type(value) is str:
        return value
    if isinstance(value, list | tuple):
        return ",".join(format_value(v) for v in value)
    return str(value)


def _format_timestamp_cell(value: Any) -> str:
    if isinstance(value, list | tuple):
        return format_timestamp(value)
    return format_time(value)


def _format_size_cell(value: Any, unit: str) -> str:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return format_unit(value, unit)
    return format_value(value)


def column_formatter(kind: str, unit: str) -> tuple[Formatter, bool]:
    """(formatter, align right) for a query field kind."""
    if kind == "unit":
        return (lambda v: _format_size_cell(v, unit)), True
    if kind in ("number", "float"):
        return format_value, True
    if kind == "bool":
        return format_bool, False
    if kind == "timestamp":
        return _format_timestamp_cell, False
    return format_value, False


def format_table(
    rows: Sequence[Sequence[str]],
    titles: Sequence[str],
    align_right: Sequence[bool],
    header: bool,
    separator: str | None,
) -> list[str]:
    """Lay out already formatted cells (Ganeti's FormatTable)."""
    data = [list(titles)] if header else []
    data.extend(list(row) for row in rows)
    if separator is not None:
        return [separator.join(row) for row in data]
    columns = []
    for index, right in enumerate(align_right):
        cells = [row[index] for row in data]
        width = max(map(len, cells), default=0)
        if index == len(align_right) - 1 and not right:
            width = 0  # no trailing padding on the last column, as Ganeti
        columns.append([c.rjust(width) if right else c.ljust(width) for c in cells])
    return [" ".join(row) for row in zip(*columns, strict=True)] if columns else ["" for _ in data]


def generate_table(
    headers: dict[str, str] | None,
    fields: Sequence[str],
    separator: str | None,
    data: Iterable[Sequence[Any]],
    numfields: Iterable[str] = (),
    unitfields: Iterable[str] = (),
    units: str | None = None,
) -> list[str]:
    """Ganeti's GenerateTable: rows of raw values, numbers right-aligned, unit fields scaled."""
    unit = default_unit(units, separator)
    numeric, scaled = set(numfields), set(unitfields)
    rows = [[_cell(row[i], fields[i] in scaled, unit) for i in range(len(fields))] for row in data]
    titles = [(headers or {}).get(f, f) for f in fields]
    right = [f in numeric for f in fields]
    return format_table(rows, titles, right, headers is not None, separator)


def _cell(value: Any, scaled: bool, unit: str) -> str:
    if scaled:
        try:
            return format_unit(int(value), unit)
        except (TypeError, ValueError):
            pass
    return str(value)


def format_query_result(
    response: dict[str, Any],
    unit: str | None = None,
    overrides: dict[str, tuple[Formatter, bool]] | None = None,
    separator: str | None = None,
    header: bool = True,
    verbose: bool = False,
) -> tuple[str, list[str]]:
    """Format a LUXI ``Query`` answer; returns (overall QR_* status, lines).

    ``response`` is ``{"fields": [{"name", "title", "kind", "doc"}…],
    "data": [[[status, value]…]…]}``.
    """
    chosen = default_unit(unit, separator)
    fields = response.get("fields") or []
    custom = overrides or {}
    formatters = [custom.get(f["name"]) or column_formatter(f.get("kind", "text"), chosen)
                  for f in fields]
    statuses: set[int] = set()
    data = response.get("data") or []
    columns = [
        _query_column([row[index] for row in data], fmt[0], verbose, statuses)
        for index, fmt in enumerate(formatters)
    ]
    rows = [list(row) for row in zip(*columns, strict=True)] if columns else [[] for _ in data]
    titles = [f.get("title") or f["name"] for f in fields]
    lines = format_table(rows, titles, [fmt[1] for fmt in formatters], header, separator)
    return _overall_status(statuses, fields), lines


def _query_column(
    cells: list[Any], fmt: Formatter, verbose: bool, statuses: set[int]
) -> list[str]:
    """One column's text; records the result statuses seen."""
    statuses.update({cell[0] for cell in cells})
    table = RS_VERBOSE_TEXT if verbose else RS_TEXT
    return [fmt(value) if status == RS_NORMAL else table.get(status, "??")
            for status, value in cells]


def _overall_status(statuses: set[int], fields: list[dict[str, Any]]) -> str:
    if RS_UNKNOWN in statuses or any(f.get("kind") == "unknown" for f in fields):
        return QR_UNKNOWN
    if statuses - {RS_NORMAL}:
        return QR_INCOMPLETE
    return QR_NORMAL


def unknown_fields(response: dict[str, Any]) -> list[str]:
    """Names of requested fields the master does not know."""
    return [f["name"] for f in response.get("fields") or [] if f.get("kind") == "unknown"]


def parse_fields(selected: str | None, default: Sequence[str]) -> list[str]:
    """``-o`` value: None → defaults, ``+a,b`` → defaults plus a and b, else the list."""
    if selected is None:
        return list(default)
    if selected.startswith("+"):
        return [*default, *selected[1:].split(",")]
    return selected.split(",")
