"""Ganeti's query filter language (qlang) compiled to predicates.

A filter is a nested list whose first element is the operator::

    ["|", f1, f2, ...]   ["&", f1, ...]   ["!", f]   ["?", field]
    ["==", field, value]  ["!=", ...]  ["<", ...]  [">", ...]  ["<=", ...]  [">=", ...]
    ["=~", field, regex]  ["=[]", list_field, value]

``=`` is Ganeti's legacy spelling of ``==`` and means exactly the same.
A value must suit the field's kind (a string for text fields, an integer for
numbers and sizes, a boolean for flags, a number or ``(seconds, microseconds)``
for timestamps); ``=~`` takes a string and ``=[]`` tests membership in a list
field or, as Ganeti's ``operator.contains`` does, a substring of a text field.
As in Ganeti, a condition on a field without a normal value (no data, not
available, node offline) lets the item pass.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from itertools import islice
from typing import Any

from corral.errors import QueryFilterError
from corral.filter_ops import (
    OP_AND,
    OP_CONTAINS,
    OP_EQUAL,
    OP_EQUAL_LEGACY,
    OP_GE,
    OP_GT,
    OP_LE,
    OP_LT,
    OP_NOT,
    OP_NOT_EQUAL,
    OP_OR,
    OP_REGEXP,
    OP_TRUE,
)
from corral.query.fields import Abnormal, FieldDef, FieldFlag, FieldKind
from corral.query.names import hostname_matches

MAX_LEVELS = 10
"""How deep filters may nest (Ganeti's limit)."""
MAX_FILTER_NODES = 500_000
"""How many operators and conditions one filter may hold."""
SET_MIN_TERMS = 2
"""Consecutive ``==``/``=`` conditions on one field from which ``|`` tests them as one set
lookup."""

Predicate = Callable[[Any, Any], bool]
Compare = Callable[[Any, Any], bool]

_ORDERINGS: dict[str, Compare] = {
    OP_LT: operator.lt,
    OP_LE: operator.le,
    OP_GT: operator.gt,
    OP_GE: operator.ge,
}
_EQUALS = frozenset({OP_EQUAL, OP_EQUAL_LEGACY})
_BINARY = frozenset({OP_EQUAL, OP_EQUAL_LEGACY, OP_NOT_EQUAL, OP_REGEXP, OP_CONTAINS, *_ORDERINGS})


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)  # Ganeti's ht.TInt


def _is_number(value: Any) -> bool:
    """An integer or a float (Ganeti's ht.TNumber; floats fields take integers too)."""
    return isinstance(value, int | float) and not isinstance(value, bool)


_KIND_CHECKS: dict[FieldKind, tuple[Callable[[Any], bool], str]] = {
    FieldKind.TEXT: (lambda v: isinstance(v, str), "a string"),
    FieldKind.BOOL: (lambda v: isinstance(v, bool), "a boolean"),
    FieldKind.NUMBER: (_is_int, "an integer"),
    FieldKind.UNIT: (_is_int, "an integer"),
    FieldKind.FLOAT: (_is_number, "a number"),
    FieldKind.TIMESTAMP: (_is_number, "a number"),
}


def make_simple_filter(namefield: str, names: Sequence[Any] | None) -> list[Any] | None:
    """``["|", ["==", namefield, n1], ...]``, or None when there are no names."""
    if not names:
        return None
    return [OP_OR, *([OP_EQUAL, namefield, name] for name in names)]


@dataclass(frozen=True, slots=True)
class CompiledFilter:
    """A validated filter: the predicate and the field names it reads."""

    predicate: Predicate
    fields: frozenset[str]


def compile_filter(qfilter: Any, fields: Mapping[str, FieldDef]) -> CompiledFilter:
    """Validate ``qfilter`` against ``fields`` and build its predicate.

    Raises:
        QueryFilterError: the filter is malformed; the message says what is wrong.
    """
    compiler = _Compiler(fields)
    predicate = compiler.compile(qfilter, 0)
    return CompiledFilter(predicate, frozenset(compiler.used))


def requested_names(qfilter: Any, namefield: str) -> list[Any] | None:
    """Names asked for when the filter is only ``==``/``=`` on ``namefield`` joined by ``|``.

    None when the filter is absent or does anything else (all items are needed).
    """
    if qfilter is None:
        return None
    names: list[Any] = []
    return names if _collect_names(qfilter, namefield, names) else None


def filter_size(qfilter: Any, limit: int) -> int:
    """How many operators and conditions ``qfilter`` holds, counting no further than ``limit``
    (cheap: tells a small query from a big one before compiling it)."""
    count = 0
    pending = [qfilter]
    while pending and count < limit:
        node = pending.pop()
        if not isinstance(node, list | tuple) or not node:
            continue
        count += 1
        if isinstance(node[0], str) and node[0] in (OP_OR, OP_AND, OP_NOT):
            pending.extend(islice(node, 1, 1 + limit - count))
    return min(count, limit)


def _collect_names(qfilter: Any, namefield: str, out: list[Any]) -> bool:
    if not isinstance(qfilter, list | tuple) or not qfilter:
        return False
    op = qfilter[0]
    if op == OP_OR:
        return all(_collect_names(sub, namefield, out) for sub in qfilter[1:])
    if isinstance(op, str) and op in _EQUALS and len(qfilter) == 3 and qfilter[1] == namefield:
        out.append(qfilter[2])
        return True
    return False


class _Compiler:
    """Turns one filter into nested closures, remembering the fields used."""

    def __init__(self, fields: Mapping[str, FieldDef]) -> None:
        self._fields = fields
        self.used: set[str] = set()
        self._nodes = 0

    def _enter(self, qfilter: Any, level: int) -> None:
        """Check one node's shape and depth, and count it against MAX_FILTER_NODES."""
        if not isinstance(qfilter, list | tuple) or not qfilter:
            raise QueryFilterError(f"Invalid filter on level {level}")
        if level >= MAX_LEVELS:
            raise QueryFilterError(
                f"Only up to {MAX_LEVELS} levels are allowed (filter nested too deep)"
            )
        self._nodes += 1
        if self._nodes > MAX_FILTER_NODES:
            raise QueryFilterError(
                f"Filter too large: more than {MAX_FILTER_NODES} operators and conditions"
            )

    def compile(self, qfilter: Any, level: int) -> Predicate:
        self._enter(qfilter, level)
        op, operands = qfilter[0], list(qfilter[1:])
        if op in (OP_OR, OP_AND):
            return self._logic(op, operands, level)
        if op in (OP_NOT, OP_TRUE):
            return self._unary(op, operands, level)
        if isinstance(op, str) and op in _BINARY:
            return self._binary(op, operands)
        raise QueryFilterError(f"Unknown operator {op!r}")

    def _lookup(self, name: Any) -> FieldDef:
        fdef = self._fields.get(name) if isinstance(name, str) else None
        if fdef is None:
            raise QueryFilterError(f"Unknown field {name!r}")
        self.used.add(fdef.name)
        return fdef

    def _logic(self, op: str, operands: list[Any], level: int) -> Predicate:
        if op == OP_OR:
            subs = self._or_terms(operands, level + 1)
            if len(subs) == 1:
                return subs[0]
            return lambda sh, item: any(sub(sh, item) for sub in subs)
        subs = [self.compile(sub, level + 1) for sub in operands]
        return lambda sh, item: all(sub(sh, item) for sub in subs)

    def _or_terms(self, operands: list[Any], level: int) -> list[Predicate]:
        """The operands' predicates, in order; each run of consecutive ``==``/``=`` conditions on
        one field becomes one predicate (a set lookup where that is exactly equivalent)."""
        subs: list[Predicate] = []
        run: list[Any] = []
        run_field: FieldDef | None = None
        for sub in operands:
            term = self._equality(sub, level)
            if term is not None and term[0] is run_field:
                run.append(term[1])
                continue
            if run_field is not None:
                subs.append(_any_equal(run_field, run))
            run_field, run = (None, []) if term is None else (term[0], [term[1]])
            if term is None:
                subs.append(self.compile(sub, level))
        if run_field is not None:
            subs.append(_any_equal(run_field, run))
        return subs

    def _equality(self, qfilter: Any, level: int) -> tuple[FieldDef, Any] | None:
        """``(field, prepared value)`` of an ``==``/``=`` condition, checked in the order
        :meth:`compile` checks it; None for any other filter."""
        if not (
            isinstance(qfilter, list | tuple) and len(qfilter) == 3
            and isinstance(qfilter[0], str) and qfilter[0] in _EQUALS
        ):
            return None
        self._enter(qfilter, level)
        fdef = self._lookup(qfilter[1])
        return fdef, _prepare_value(fdef, OP_EQUAL, qfilter[2])

    def _unary(self, op: str, operands: list[Any], level: int) -> Predicate:
        if len(operands) != 1:
            raise QueryFilterError(f"Unary operator {op!r} expects exactly one operand")
        if op == OP_NOT:
            inner = self.compile(operands[0], level + 1)
            return lambda sh, item: not inner(sh, item)
        return _wrap(self._lookup(operands[0]).getter, bool)

    def _binary(self, op: str, operands: list[Any]) -> Predicate:
        if len(operands) != 2:
            raise QueryFilterError(
                f"Invalid binary operator {op!r}, expected exactly two operands"
            )
        if op == OP_EQUAL_LEGACY:
            op = OP_EQUAL
        fdef = self._lookup(operands[0])
        test = _binary_test(op, fdef, _prepare_value(fdef, op, operands[1]))
        return _wrap(fdef.getter, test)


def _any_equal(fdef: FieldDef, values: list[Any]) -> Predicate:
    """``|`` of ``["=", fdef, value]`` for each value (already prepared)."""
    member = _member_test(fdef, values) if len(values) >= SET_MIN_TERMS else None
    if member is not None:
        return _wrap(fdef.getter, member)
    subs = [_wrap(fdef.getter, _binary_test(OP_EQUAL, fdef, value)) for value in values]
    if len(subs) == 1:
        return subs[0]
    return lambda sh, item: any(sub(sh, item) for sub in subs)


_NO_KEY = object()
_EXACT_SCALARS = frozenset({str, int, float, bool, type(None)})
_STR_EQ: object = str.__eq__
_INT_EQ: object = int.__eq__


def _set_member(value: Any) -> bool:
    """Whether ``value`` can stand in a set with ``==`` meaning membership (no NaN)."""
    return type(value) in _EXACT_SCALARS and value == value


def _scalar_key(actual: Any) -> Any:
    """``actual`` as an exact built-in scalar that compares ``==`` the same way to every
    set member, or _NO_KEY (the caller then compares one by one)."""
    kind = type(actual)
    if kind in _EXACT_SCALARS:
        return actual
    if isinstance(actual, str) and kind.__eq__ is _STR_EQ:
        return str.__str__(actual)  # e.g. a StrEnum member: its plain text
    if isinstance(actual, int) and kind.__eq__ is _INT_EQ:
        return int.__int__(actual)
    return _NO_KEY


def _member_test(fdef: FieldDef, values: list[Any]) -> Callable[[Any], bool] | None:
    """A set lookup equal to ``any(actual == v for v in values)`` under the field's
    equality; None where no lookup is exactly equivalent (timestamps, odd values)."""
    if FieldFlag.SPLIT_TIMESTAMP in fdef.flags or not all(map(_set_member, values)):
        return None
    exact = _equal_any(tuple(values))
    if FieldFlag.HOSTNAME not in fdef.flags:
        return exact
    if not all(type(value) is str for value in values):
        return None
    return _hostname_any(frozenset(value.lower() for value in values), exact)


def _equal_any(values: tuple[Any, ...]) -> Callable[[Any], bool]:
    members = frozenset(values)

    def test(actual: Any) -> bool:
        key = _scalar_key(actual)
        if key is _NO_KEY:
            return any(actual == value for value in values)
        return key in members

    return test


def _hostname_any(
    lowered: frozenset[str], exact: Callable[[Any], bool]
) -> Callable[[Any], bool]:
    """:func:`hostname_matches` against any wanted name: the whole lowered name or a
    prefix ending before one of its dots is wanted."""

    def test(actual: Any) -> bool:
        if not isinstance(actual, str):
            return exact(actual)
        name = actual.lower()
        if name in lowered:
            return True
        dot = name.find(".")
        while dot >= 0:
            if name[:dot] in lowered:
                return True
            dot = name.find(".", dot + 1)
        return False

    return test


def _wrap(getter: Callable[[Any, Any], Any], test: Callable[[Any], bool]) -> Predicate:
    def predicate(shared: Any, item: Any) -> bool:
        value = getter(shared, item)
        if type(value) is Abnormal:
            return True
        return test(value)

    return predicate


def _prepare_value(fdef: FieldDef, op: str, value: Any) -> Any:
    if op == OP_REGEXP:
        if not isinstance(value, str):
            raise QueryFilterError(
                f"Regular expression for field '{fdef.name}' must be a string,"
                f" not {type(value).__name__}"
            )
        _check_kind(fdef, value)  # as Ganeti: no regexp on numbers, flags or timestamps
        try:
            return re.compile(value)
        except re.error as err:
            raise QueryFilterError(f"Invalid regex pattern ({err})") from err
    if FieldFlag.JOB_ID in fdef.flags and op != OP_CONTAINS:
        return parse_job_id(value)
    if FieldFlag.SPLIT_TIMESTAMP in fdef.flags and op in (OP_EQUAL, OP_NOT_EQUAL, *_ORDERINGS):
        return _merge_time(value, fdef.name)
    _check_kind(fdef, value)
    return value


def _check_kind(fdef: FieldDef, value: Any) -> None:
    check = _KIND_CHECKS.get(fdef.kind)
    if check is not None and not check[0](value):
        raise QueryFilterError(
            f"Unable to compare field '{fdef.name}' (type '{fdef.kind.value}') with"
            f" '{type(value).__name__}', expected {check[1]}"
        )


def parse_job_id(value: Any) -> int:
    """A job id given as a number or a string of digits.

    Raises:
        QueryFilterError: not a valid job id.
    """
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return int(value)
    raise QueryFilterError(f"Invalid job ID {value!r}")


def _merge_time(value: Any, name: str) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, list | tuple) and len(value) == 2 and all(map(_is_number, value)):
        return float(value[0] + value[1] / 1e6)
    raise QueryFilterError(f"Unable to compare field '{name}' with {value!r}, expected a timestamp")


def _binary_test(op: str, fdef: FieldDef, value: Any) -> Callable[[Any], bool]:
    if op == OP_REGEXP:
        return lambda actual: _regex_search(value, actual)
    if op == OP_CONTAINS:
        return lambda actual: _contains(actual, value)
    if FieldFlag.SPLIT_TIMESTAMP in fdef.flags:
        return _timestamp_test(op, value, fdef.name)
    if op in _ORDERINGS:
        order = _ORDERINGS[op]
        return lambda actual: _ordered(order, actual, value)
    equal = _hostname_equal if FieldFlag.HOSTNAME in fdef.flags else operator.eq
    if op == OP_EQUAL:
        return lambda actual: bool(equal(actual, value))
    return lambda actual: not equal(actual, value)


def _hostname_equal(actual: Any, wanted: Any) -> bool:
    if isinstance(actual, str) and isinstance(wanted, str):
        return hostname_matches(actual, wanted)
    return bool(actual == wanted)


def _timestamp_test(op: str, value: float, name: str) -> Callable[[Any], bool]:
    if op == OP_EQUAL:
        return lambda actual: _merge_time(actual, name) == value
    if op == OP_NOT_EQUAL:
        return lambda actual: _merge_time(actual, name) != value
    order = _ORDERINGS[op]
    return lambda actual: bool(order(_merge_time(actual, name), value))


def _ordered(order: Compare, actual: Any, value: Any) -> bool:
    try:
        return bool(order(actual, value))
    except TypeError as err:
        raise QueryFilterError(
            f"Invalid types in comparison, trying to compare {actual!r} with {value!r}"
        ) from err


def _regex_search(regex: re.Pattern[str], actual: Any) -> bool:
    if not isinstance(actual, str):
        raise QueryFilterError(
            "Invalid field value used in regexp matching, expecting string but got"
            f" {actual!r}"
        )
    return regex.search(actual) is not None


def _contains(actual: Any, value: Any) -> bool:
    if isinstance(actual, str) and isinstance(value, str):
        return value in actual
    if not isinstance(actual, list | tuple):
        raise QueryFilterError(f"Value {actual!r} is not a list; cannot test containment")
    return value in actual
