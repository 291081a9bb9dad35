"""Ganeti's YAML-like layout for ``info`` commands (PrintGenericInfo).

The data is a tree of:

- ``dict``: keys printed sorted;
- a ``list`` of ``(key, value)`` or ``(key, value, group)`` tuples: an ordered
  mapping; values of entries sharing ``group`` are aligned;
- a ``tuple`` of scalars: printed inline as ``[a, b]``;
- any other ``list``/``tuple``: one ``- item`` per element;
- anything else: ``str(value)``.

Nested levels are indented by two spaces per level.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up time)
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

_INDENT = "  "


def format_generic_info(data: Any) -> str:
    """The whole tree as text, without a trailing newline."""
    out: list[str] = []
    _serialize(out, data, 0, afterkey=False)
    return "".join(out).rstrip("\n")


def _is_ordered(data: Any) -> bool:
    return isinstance(data, list) and bool(data) and isinstance(data[0], tuple)


def _serialize(out: list[str], data: Any, level: int, afterkey: bool) -> None:
    if isinstance(data, dict):
        _mapping(out, [(key, data[key]) for key in sorted(data)], level, afterkey)
    elif _is_ordered(data):
        _mapping(out, data, level, afterkey)
    elif isinstance(data, tuple) and not any(isinstance(v, list | dict | tuple) for v in data):
        out.append("[" + ", ".join(str(v) for v in data) + "]\n")
    elif isinstance(data, list | tuple):
        _sequence(out, data, level, afterkey)
    else:
        out.append(f"{data}\n")


def _mapping(out: list[str], entries: list[tuple[Any, ...]], level: int, afterkey: bool) -> None:
    if not entries:
        out.append("\n")
        return
    widths: dict[Any, int] = {}
    for entry in entries:
        if len(entry) > 2:
            widths[entry[2]] = max(widths.get(entry[2], 0), len(entry[0]))
    if afterkey:
        out.append("\n")
    for idx, entry in enumerate(entries):
        key, value = entry[0], entry[1]
        if afterkey or idx:
            out.append(_INDENT * level)
        pad = " " * (widths[entry[2]] - len(key)) if len(entry) > 2 else ""
        out.append(f"{key}: {pad}")
        _serialize(out, value, level + 1, afterkey=True)


def _sequence(out: list[str], items: Sequence[Any], level: int, afterkey: bool) -> None:
    if not items:
        out.append("\n")
        return
    if afterkey:
        out.append("\n")
    for idx, item in enumerate(items):
        if afterkey or idx:
            out.append(_INDENT * level)
        out.append("- ")
        _serialize(out, item, level + 1, afterkey=False)


def format_params_info(own: dict[str, Any], actual: dict[str, Any]) -> dict[str, Any]:
    """Effective parameters, non-own ones shown as ``default (value)`` (FormatParamsDictInfo)."""
    result: dict[str, Any] = {}
    for key, value in actual.items():
        if isinstance(value, dict) and value:
            result[key] = format_params_info(own.get(key) or {}, value)
        elif key in own:
            result[key] = str(own[key])
        else:
            result[key] = f"default ({value})"
    return result


def format_grouped_params(params: dict[str, Any]) -> dict[str, Any]:
    """Nested parameter groups with every leaf turned into text."""
    return {key: format_grouped_params(value) if isinstance(value, dict) else str(value)
            for key, value in params.items()}


_MINMAX_KEYS = ("max", "min")
_POLICY_RATIOS = ("spindle-ratio", "vcpu-ratio")


def _bounds(custom: dict[str, Any], effective: dict[str, Any]) -> list[Any]:
    own = custom.get("minmax")
    specs = own or effective.get("minmax") or []
    return [[(f"{key}/{idx}", format_params_info(minmax.get(key, {}) if own else {},
                                                 minmax.get(key, {})))
             for key in _MINMAX_KEYS]
            for idx, minmax in enumerate(specs)]


def format_policy_info(custom: dict[str, Any], effective: dict[str, Any] | None,
                       is_cluster: bool) -> list[Any]:
    """An instance policy as Ganeti shows it (FormatPolicyInfo); the cluster's is all own."""
    eff = custom if is_cluster or effective is None else effective
    result: list[Any] = [("bounds specs", _bounds(custom, eff))]
    if is_cluster and isinstance(custom.get("std"), dict):
        result.append(("std", format_params_info(custom["std"], custom["std"])))
    templates = custom.get("disk-templates")
    text = (", ".join(templates) if templates is not None
            else f"default ({', '.join(eff.get('disk-templates') or [])})")
    result.append(("allowed disk templates", text))
    ratios = [(key, str(custom.get(key, f"default ({eff.get(key)})"))) for key in _POLICY_RATIOS]
    result.extend(ratios)
    return result
