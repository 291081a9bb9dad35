"""Parsers for Ganeti's option value syntax.

``key=val,key=val`` dictionaries (``-B``, ``-N``, ``--node-parameters``), the
``ident:key=val,…`` form (``-H kvm:acpi=no``), booleans, sizes with units
(``1G`` → 1024 MiB) and time spans (``1h`` → 3600 s). Every parser raises
:class:`ParamError` with a one-line message that names the bad value.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up time)
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

NO_PREFIX = "no_"
UN_PREFIX = "-"

_TRUE = frozenset({"yes", "true"})
_FALSE = frozenset({"no", "false"})

_UNIT_FACTORS = {
    "m": 1, "mb": 1, "mib": 1,
    "g": 1024, "gb": 1024, "gib": 1024,
    "t": 1024 * 1024, "tb": 1024 * 1024, "tib": 1024 * 1024,
}

_TIME_SUFFIXES = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


class ParamError(ValueError):
    """A command line value does not parse; the message is shown as is."""


def unescape_and_split(text: str, sep: str = ",") -> list[str]:
    """Split ``text`` at ``sep``; a backslash escapes the next character."""
    parts: list[str] = []
    current: list[str] = []
    chars = iter(text)
    for char in chars:
        if char == "\\":
            current.append(next(chars, "\\"))
        elif char == sep:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return parts


def parse_list(text: str) -> list[str]:
    """Comma-separated list; the empty string is the empty list."""
    return unescape_and_split(text) if text else []


def parse_bool(text: str) -> bool:
    """``yes``/``true`` or ``no``/``false``, in any case."""
    value = text.lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ParamError(f"Invalid boolean value '{text}' (expected yes or no)")


def split_key_val(opt: str, data: str, parse_prefixes: bool = True) -> dict[str, Any]:
    """``a=1,no_b,-c,d`` → ``{"a": "1", "b": False, "c": None, "d": True}``.

    Without ``parse_prefixes`` every element needs an ``=``.
    """
    result: dict[str, Any] = {}
    if not data:
        return result
    for elem in unescape_and_split(data):
        key, value = _split_element(opt, elem, parse_prefixes)
        if key in result:
            raise ParamError(f"Duplicate key '{key}' in option {opt}")
        result[key] = value
    return result


def _split_element(opt: str, elem: str, parse_prefixes: bool) -> tuple[str, Any]:
    if "=" in elem:
        key, value = elem.split("=", 1)
        return key, value
    if not parse_prefixes:
        raise ParamError(f"Missing value for key '{elem}' in option {opt}")
    if elem.startswith(NO_PREFIX):
        return elem[len(NO_PREFIX):], False
    if elem.startswith(UN_PREFIX):
        return elem[len(UN_PREFIX):], None
    return elem, True


def split_ident_key_val(opt: str, value: str, parse_prefixes: bool = True) -> tuple[str, Any]:
    """``kvm:acpi=no,kernel_path=`` → ``("kvm", {...})``.

    ``no_kvm`` gives ``("kvm", False)`` and ``-kvm`` gives ``("kvm", None)``
    (remove the whole group); neither may carry parameters.
    """
    ident, _, rest = value.partition(":")
    removal = _removal_prefix(ident) if parse_prefixes else None
    if removal is not None:
        if rest:
            raise ParamError(f"Cannot pass options when removing parameter groups: {value}")
        return ident[len(removal):], (False if removal == NO_PREFIX else None)
    if not ident:
        raise ParamError(f"Missing name before ':' in option {opt}: {value}")
    return ident, split_key_val(opt, rest, parse_prefixes)


def _removal_prefix(ident: str) -> str | None:
    if ident.startswith(NO_PREFIX):
        return NO_PREFIX
    if ident.startswith(UN_PREFIX) and not ident[1:2].isdigit():
        return UN_PREFIX
    return None


def group_params(opt: str, entries: list[tuple[str, Any]]) -> dict[str, Any]:
    """Repeated ``-H``/``-D`` values → ``{ident: params}``; an ident may appear once."""
    result: dict[str, Any] = {}
    for ident, params in entries:
        if ident in result:
            raise ParamError(f"Duplicate parameter group '{ident}' in option {opt}")
        result[ident] = params
    return result


def parse_unit(text: str) -> int:
    """A size in MiB: ``512``, ``512M``, ``1.5G``, ``2T``; rounded up to a multiple of 4."""
    number, unit = _split_number(str(text).strip())
    factor = _UNIT_FACTORS.get(unit.lower() if unit else "m")
    if factor is None:
        raise ParamError(f"Invalid unit '{unit}' in '{text}' (use M, G or T)")
    value = number * factor
    mib = int(value) + (1 if int(value) < value else 0)
    return mib + (-mib % 4)


def _split_number(text: str) -> tuple[float, str]:
    idx = 0
    while idx < len(text) and (text[idx].isdigit() or text[idx] == "."):
        idx += 1
    digits, unit = text[:idx], text[idx:].strip()
    problem = f"Invalid size '{text}' (expected a number and a unit, e.g. 512M)"
    try:
        number = float(digits)
    except ValueError:
        raise ParamError(problem) from None
    if unit and not unit.isalpha():
        raise ParamError(problem)
    return number, unit


def parse_timespec(text: str) -> int:
    """Seconds from ``30``, ``30s``, ``5m``, ``2h``, ``1d`` or ``1w``."""
    value = str(text).strip()
    if not value:
        raise ParamError("Empty time specification passed")
    multiplier = _TIME_SUFFIXES.get(value[-1], 0)
    digits = value[:-1] if multiplier else value
    if not digits:
        raise ParamError("Invalid time specification (only suffix passed)")
    try:
        return int(digits) * (multiplier or 1)
    except ValueError:
        raise ParamError(f"Invalid time specification '{text}'") from None


def _as_int(text: Any) -> int:
    if isinstance(text, bool) or not isinstance(text, int | str):
        raise ParamError(f"'{text}' is not an integer")
    try:
        return int(text)
    except ValueError:
        raise ParamError(f"'{text}' is not an integer") from None


def _as_float(text: Any) -> float:
    try:
        return float(text)
    except (TypeError, ValueError):
        raise ParamError(f"'{text}' is not a number") from None


def _as_bool(value: Any) -> bool:
    return value if isinstance(value, bool) else parse_bool(str(value))


def _as_size(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else parse_unit(value)


def _as_str(value: Any) -> str:
    return value if isinstance(value, str) else str(value)


CONVERTERS: dict[str, Callable[[Any], Any]] = {
    "int": _as_int, "float": _as_float, "bool": _as_bool, "size": _as_size, "str": _as_str,
}

BEPARAM_TYPES = {
    "minmem": "size", "maxmem": "size", "memory": "size", "vcpus": "int",
    "auto_balance": "bool", "always_failover": "bool", "spindle_use": "int",
}
NICPARAM_TYPES = {"mode": "str", "link": "str", "vlan": "str"}
NDPARAM_TYPES = {
    "oob_program": "str", "spindle_count": "int", "exclusive_storage": "bool",
    "ovs": "bool", "ovs_name": "str", "ovs_link": "str", "ssh_port": "int", "cpu_speed": "float",
}


def coerce_params(what: str, params: dict[str, Any], types: dict[str, str]) -> dict[str, Any]:
    """Convert known keys to their types (as Ganeti's ForceDictType does).

    ``None`` (reset to default) passes through; unknown keys stay strings for the
    master to reject by name. ``memory`` is Ganeti's old name of ``maxmem``.
    """
    result: dict[str, Any] = {}
    for key, value in params.items():
        kind = types.get(key)
        if value is None or kind is None:
            result[key] = value
            continue
        try:
            result[key] = CONVERTERS[kind](value)
        except ParamError as err:
            raise ParamError(f"Invalid value for {what} parameter '{key}': {err}") from None
    if "memory" in result and types is BEPARAM_TYPES:
        memory = result.pop("memory")
        result.setdefault("maxmem", memory)
        result.setdefault("minmem", memory)
    return result
