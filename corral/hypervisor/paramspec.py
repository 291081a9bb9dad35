"""Parameter specs and the shared checks hypervisor tables are built from.

A :class:`ParamSpec`'s Python type is the type of its default (``bool``, ``int``
or ``str``); :meth:`ParamSpec.coerce` converts incoming values to it, because the
CLI sends ``-H kvm:acpi=false`` as strings. Checks follow Ganeti's split:
``syntax_check`` runs on the master and does no I/O, ``node_check`` runs on the
node and may look at files. An empty string skips both checks unless the
parameter is ``required``. The tables themselves live in
:mod:`corral.hypervisor.params`.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from corral.errors import HypervisorError, ParameterError

Value = bool | int | str


@dataclass(frozen=True, slots=True)
class Check:
    """A predicate on a coerced value and the text that explains a failure."""

    test: Callable[[Any], bool]
    message: str


@dataclass(frozen=True, slots=True)
class Rule:
    """Ganeti's ``(required, syntax check, node check)`` triple, shared by many params."""

    required: bool = False
    syntax_check: Check | None = None
    node_check: Check | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ParamSpec:
    """One hypervisor parameter.

    ``default`` fixes the type (bool, int or str). ``cluster_global`` parameters
    (migration port, mode, bandwidth) may only be set cluster-wide.
    """

    name: str
    default: Value
    required: bool = False
    syntax_check: Check | None = None
    node_check: Check | None = None
    doc: str = ""
    cluster_global: bool = False

    @property
    def value_type(self) -> type:
        return type(self.default)

    def coerce(self, value: Any) -> Value:
        """``value`` converted to this parameter's type.

        Raises:
            ParameterError: the value cannot be converted; the message names the parameter.
        """
        try:
            return _COERCERS[self.value_type](value)
        except (TypeError, ValueError) as err:
            raise ParameterError(f"hypervisor parameter '{self.name}': {err}") from err

    def check_syntax(self, value: Value) -> None:
        """Master-side check of a coerced value (no I/O). Raises ParameterError."""
        if isinstance(value, str) and _has_line_break(value):
            raise ParameterError(
                f"hypervisor parameter '{self.name}' must be one line, got {value!r}"
            )
        if _is_empty(value):
            if self.required:
                raise ParameterError(f"hypervisor parameter '{self.name}' is required")
            return
        if self.syntax_check and not self.syntax_check.test(value):
            msg = self.syntax_check.message
            raise ParameterError(f"hypervisor parameter '{self.name}' {msg}, got {value!r}")

    def check_node(self, value: Value) -> None:
        """Node-side check (may touch files). Raises HypervisorError."""
        if _is_empty(value) or self.node_check is None:
            return
        if not self.node_check.test(value):
            msg = self.node_check.message
            raise HypervisorError(f"hypervisor parameter '{self.name}' {msg}: {value!r}")


def _has_line_break(text: str) -> bool:
    """Whether ``text`` holds any line break Python (and so an ssconf reader) splits on."""
    return text != "" and text.splitlines() != [text]


def _is_empty(value: Value) -> bool:
    return isinstance(value, str) and value == ""


_TRUE = frozenset({"true", "yes", "1", "on"})
_FALSE = frozenset({"false", "no", "0", "off"})


def _to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    raise ValueError(f"expected a boolean (true/false/yes/no), got {value!r}")


def _to_int(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError(f"expected an integer, got {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            return int(value.strip(), 10)
        except ValueError:
            pass
    raise ValueError(f"expected an integer, got {value!r}")


def _to_str(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise ValueError(f"expected a string, got {value!r}")


_COERCERS: dict[type, Callable[[Any], Value]] = {bool: _to_bool, int: _to_int, str: _to_str}


# --- shared checks -----------------------------------------------------------------------

def is_norm_abs_path(value: str) -> bool:
    """Absolute and normalised (no ``..``, no double slashes, no trailing slash)."""
    return os.path.isabs(value) and os.path.normpath(value) == value


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def _is_ipv4(value: str) -> bool:
    try:
        ipaddress.IPv4Address(value)
    except ValueError:
        return False
    return True


_CPU_RANGE = re.compile(r"^(\d+)(?:-(\d+))?$")


def parse_cpu_list(text: str) -> list[int]:
    """``"0-2,5"`` → ``[0, 1, 2, 5]``.

    Raises:
        ValueError: malformed list or a reversed range.
    """
    cpus: list[int] = []
    for part in text.split(","):
        match = _CPU_RANGE.match(part.strip())
        if not match:
            raise ValueError(f"invalid CPU range {part!r}")
        low = int(match[1])
        high = int(match[2]) if match[2] is not None else low
        if high < low:
            raise ValueError(f"invalid CPU range {part!r}")
        cpus.extend(range(low, high + 1))
    return cpus


def parse_cpu_mask(text: str) -> list[tuple[int, ...] | None]:
    """Ganeti's (multi) CPU mask: ``"all"``, ``"0-3,5"`` or per-vCPU ``"1:2-3:all"``.

    Each entry is the CPUs one vCPU may use; ``None`` means all CPUs.

    Raises:
        ValueError: malformed mask.
    """
    return [None if part.strip() == "all" else tuple(parse_cpu_list(part))
            for part in text.split(":")]


def _is_cpu_mask(value: str) -> bool:
    try:
        parse_cpu_mask(value)
    except ValueError:
        return False
    return True


def one_of(*choices: Value, required: bool = False) -> Rule:
    """The value must be one of ``choices``."""
    shown = ", ".join(repr(c) for c in choices)
    return Rule(required, Check(lambda v: v in choices, f"must be one of {shown}"))


def int_range(low: int, high: int | None = None) -> Rule:
    """An integer with ``low <= value`` (and ``value <= high`` when given)."""
    if high is None:
        return Rule(False, Check(lambda v: v >= low, f"must be >= {low}"))
    return Rule(False, Check(lambda v: low <= v <= high, f"must be between {low} and {high}"))


_ABS = Check(is_norm_abs_path, "must be an absolute normalized path")
NO_CHECK = Rule()
BOOL = NO_CHECK
REQ_FILE = Rule(True, _ABS, Check(os.path.isfile, "is not an existing regular file"))
OPT_FILE = Rule(False, _ABS, Check(os.path.isfile, "is not an existing regular file"))
REQ_DIR = Rule(True, _ABS, Check(os.path.isdir, "is not an existing directory"))
OPT_DIR = Rule(False, _ABS, Check(os.path.isdir, "is not an existing directory"))
ABS_PATH = Rule(True, _ABS)
NET_PORT = Rule(True, Check(lambda v: 0 < v < 65536, "must be a TCP port (1-65535)"))
CPU_MASK = Rule(False, Check(_is_cpu_mask, "must be 'all', a CPU list like '0-3,5' or "
                                           "per-vCPU lists separated by ':'"))
NON_NEG_INT = int_range(0)
NON_EMPTY = Rule(True, Check(lambda v: bool(v.strip()), "must not be empty"))
IP_ADDRESS = Rule(False, Check(_is_ip, "must be an IP address"))
IP_OR_PATH = Rule(False, Check(lambda v: _is_ip(v) or is_norm_abs_path(v),
                               "must be an IP address or an absolute path"))
IP_OR_IFACE = Rule(False, Check(lambda v: _is_ip(v) or re.fullmatch(r"[\w.:-]{1,15}", v)
                                is not None, "must be an IP address or an interface name"))
XEN_BOOT_ORDER = Rule(True, Check(lambda v: set(v) <= set("acdn"),
                                  "must consist of the letters a, c, d and n"))
IPV4_ADDRESS = Rule(False, Check(_is_ipv4, "must be an IPv4 address"))
BLOCKDEV_PREFIX = Rule(True, Check(lambda v: re.fullmatch(r"[a-z]+", v) is not None,
                                   "must be lower-case letters (e.g. 'sd', 'hd', 'xvd')"))


def spec(name: str, default: Value, rule: Rule = NO_CHECK, doc: str = "",
         *, cluster_global: bool = False) -> ParamSpec:
    """A :class:`ParamSpec` built from a shared :class:`Rule`."""
    return ParamSpec(name=name, default=default, required=rule.required,
                     syntax_check=rule.syntax_check, node_check=rule.node_check, doc=doc,
                     cluster_global=cluster_global)


def table(*specs: ParamSpec) -> Mapping[str, ParamSpec]:
    """Specs keyed by name (a read-only view)."""
    return MappingProxyType({s.name: s for s in specs})
