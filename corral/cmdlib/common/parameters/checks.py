"""Parameter dictionaries: merging changes and checking value types (Ganeti's
``GetUpdatedParams`` and ``ForceDictType``).
"""

from __future__ import annotations

import enum
import math
import re
from collections.abc import Iterable, Mapping
from typing import Any

from corral.errors import ErrorCode, OpPrereqError
from corral.objects.config_data import ConfigData
from corral.objects.node import Node

VALUE_DEFAULT = "default"
"""A parameter value that means "remove the override, use the default"."""


class ParamType(enum.Enum):
    STRING = "string"
    MAYBE_STRING = "maybe-string"
    BOOL = "bool"
    INT = "int"
    FLOAT = "float"
    SIZE = "size"
    """MiB; strings may carry a unit suffix (``512M``, ``2G``, ``1T``)."""


BE_TYPES: dict[str, ParamType] = {
    "minmem": ParamType.SIZE,
    "maxmem": ParamType.SIZE,
    "memory": ParamType.SIZE,
    "vcpus": ParamType.INT,
    "auto_balance": ParamType.BOOL,
    "always_failover": ParamType.BOOL,
    "spindle_use": ParamType.INT,
}
ND_TYPES: dict[str, ParamType] = {
    "oob_program": ParamType.STRING,
    "spindle_count": ParamType.INT,
    "exclusive_storage": ParamType.BOOL,
    "ovs": ParamType.BOOL,
    "ovs_name": ParamType.STRING,
    "ovs_link": ParamType.STRING,
    "ssh_port": ParamType.INT,
    "cpu_speed": ParamType.FLOAT,
}
NIC_TYPES: dict[str, ParamType] = {
    "mode": ParamType.STRING,
    "link": ParamType.STRING,
    "vlan": ParamType.STRING,
}

_SIZE_RE = re.compile(r"^\s*([0-9]+(?:\.[0-9]*)?)\s*([mgtMGT]?)[iI]?[bB]?\s*$")
_UNIT_MIB = {"": 1, "m": 1, "g": 1024, "t": 1024 * 1024}


def merge_params(old: Mapping[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    """``old`` updated with ``changes``; a value of ``None`` or ``"default"`` removes the key."""
    merged = dict(old)
    for key, value in changes.items():
        if value is None or value == VALUE_DEFAULT:
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


def parse_size(value: Any) -> int:
    """A size in MiB, rounded up to a multiple of 4 like Ganeti's ``ParseUnit``.

    Raises:
        ValueError: not a number, negative, or an unknown unit.
    """
    if isinstance(value, bool):
        raise ValueError("a boolean is not a size")
    if isinstance(value, int | float):
        amount = float(value)
    else:
        match = _SIZE_RE.match(str(value))
        if match is None:
            raise ValueError(f"invalid size {value!r}")
        amount = float(match.group(1)) * _UNIT_MIB[match.group(2).lower()]
    if amount < 0:
        raise ValueError("negative size")
    mib = math.ceil(amount)
    return mib + (-mib % 4)


def _to_bool(value: Any) -> bool:
    if isinstance(value, str) and value:
        lowered = value.lower()
        if lowered not in ("true", "false"):
            raise ValueError("not a valid boolean")
        return lowered == "true"
    return bool(value)


def _coerce(kind: ParamType, value: Any) -> Any:
    if kind is ParamType.BOOL:
        return _to_bool(value)
    if kind is ParamType.SIZE:
        return parse_size(value)
    if isinstance(value, bool) and kind in (ParamType.INT, ParamType.FLOAT):
        raise ValueError("a boolean is not a number")
    if kind is ParamType.INT:
        return int(value)
    if kind is ParamType.FLOAT:
        return float(value)
    if kind is ParamType.MAYBE_STRING and value is None:
        return None
    if not isinstance(value, str):
        raise ValueError("not a valid string")
    return value


def check_types(
    params: Mapping[str, Any], types: Mapping[str, ParamType], what: str
) -> dict[str, Any]:
    """``params`` with values converted to their declared types.

    Raises:
        OpPrereqError: (INVAL) an unknown key, or a value of the wrong type; names both.
    """
    unknown = sorted(set(params) - set(types))
    if unknown:
        raise OpPrereqError(
            f"Unknown {what} parameter(s): {', '.join(unknown)}", ErrorCode.INVAL
        )
    checked: dict[str, Any] = {}
    for key, value in params.items():
        try:
            checked[key] = _coerce(types[key], value)
        except (TypeError, ValueError) as err:
            raise OpPrereqError(
                f"Invalid value {value!r} for {what} parameter '{key}': {err}", ErrorCode.INVAL
            ) from None
    return checked


def upgrade_beparams(params: Mapping[str, Any]) -> dict[str, Any]:
    """Ganeti's legacy ``memory`` backend parameter sets both ``minmem`` and ``maxmem``."""
    upgraded = dict(params)
    if "memory" in upgraded:
        memory = upgraded.pop("memory")
        upgraded.setdefault("minmem", memory)
        upgraded.setdefault("maxmem", memory)
    return upgraded


def unsupported(name: str) -> OpPrereqError:
    """The error for a parameter Corral accepts on the wire but cannot change yet."""
    return OpPrereqError(f"Corral does not support changing {name} yet", ErrorCode.INVAL)


def refuse_unsupported(values: Mapping[str, Any]) -> None:
    """Raise :func:`unsupported` for the first name whose value is not ``None`` nor an empty
    dict or list: Ganeti's own clients send ``{}`` (``hv_state``, ``disk_state``) for "no
    change"."""
    for name, value in values.items():
        if value is not None and not (isinstance(value, dict | list) and not value):
            raise unsupported(name)


def filled_ndparams(cfg: ConfigData, node: Node, changes: Mapping[str, Any]) -> dict[str, Any]:
    """The node parameters in effect: cluster, then group, then node, then ``changes``."""
    group = cfg.nodegroups.get(node.group)
    return {
        **cfg.cluster.ndparams,
        **(group.ndparams if group else {}),
        **merge_params(node.ndparams, changes),
    }


def merge_nested(
    old: Mapping[str, Mapping[str, Any]],
    changes: Mapping[str, Mapping[str, Any] | None],
    allowed: Iterable[str] | None,
    what: str,
) -> dict[str, dict[str, Any]]:
    """Merge per-key dictionaries (per hypervisor, disk template, OS).

    Each inner dictionary is merged with :func:`merge_params`; an inner change of
    ``None`` or a merge that leaves nothing removes the key.

    Raises:
        OpPrereqError: (INVAL) an outer key is not in ``allowed`` (None: any key is);
            ``what`` names the kind of key.
    """
    known = None if allowed is None else set(allowed)
    merged = {key: dict(value) for key, value in old.items()}
    for key, inner in changes.items():
        if known is not None and key not in known:
            raise OpPrereqError(f"Unknown {what} '{key}'", ErrorCode.INVAL)
        if inner is None:
            merged.pop(key, None)
            continue
        if not isinstance(inner, Mapping):
            raise OpPrereqError(f"Parameters of {what} '{key}' must be a dictionary",
                                ErrorCode.INVAL)
        value = merge_params(merged.get(key, {}), inner)
        if value:
            merged[key] = value
        else:
            merged.pop(key, None)
    return merged
