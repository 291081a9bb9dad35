"""Ganeti's textual query filter language, turned into LUXI filter lists.

``gnt-* list`` accepts a filter such as ``status == "running" and not admin_state``
(one argument, or any argument with ``-F``/``--filter``). :func:`parse_filter` reads it
the way Ganeti 3.0's ``qlang.ParseFilter`` does and :func:`make_filter` chooses, as
``qlang.MakeFilter`` does, between a filter, globbing patterns and plain names.

Grammar (whitespace is space, tab, CR and LF, and may stand between any two tokens)::

    filter    := or
    or        := and ("or" and)*            -> ["|", a, b, ...] for two or more
    and       := not ("and" not)*           -> ["&", a, b, ...] for two or more
    not       := "not" not | atom           -> ["!", x]
    atom      := condition | "(" or ")"
    condition := field                      -> ["?", field]
               | field OP value             -> [op, field, value]; OP is ==, =, !=, <, <=, >, >=
               | value "in" field           -> ["=[]", field, value]
               | value "not" "in" field     -> ["!", ["=[]", field, value]]
               | field "=~" regexp          -> ["=~", field, regexp]
               | field "!~" regexp          -> ["!", ["=~", field, regexp]]
               | field "=*" string          -> ["=~", field, <glob as regexp>]
               | field "!*" string          -> ["!", ["=~", field, <glob as regexp>]]
    field     := [A-Za-z][A-Za-z0-9_/.]*
    value     := integer | string
    integer   := [-+]?[0-9]+                (no space after the sign)
    string    := "..." or '...'             (taken verbatim between the quotes: a backslash
                                             protects the next character but stays)
    regexp    := ["m"] D body D [flags]      D is one of / # ^ |; in body a backslash escapes
                                             any character and is removed, and \\t \\n \\f \\r
                                             are the control characters; flags are i and s

Both ``=`` and ``==`` produce ``==``. The keywords ``and``, ``or`` and ``not`` are
case-sensitive and must not touch a letter, digit, ``_`` or ``$`` on either side; where
the grammar does not expect an operator they are field names (``not`` alone is
``["?", "not"]``). As in Ganeti, letters right after a regexp are its flags even after a
space (``name =~ /x/ and y`` is refused: ``and`` is not a flag; write ``(name =~ /x/)``).
A filter that starts with ``[`` is LUXI's JSON form: a Corral extension (Ganeti refuses
it) that cannot be mistaken for the textual language, where no filter starts with ``[``.
"""

from __future__ import annotations

import json
import re

from corral.cli.errors import CliError, UsageError, describe_error
from corral.filter_ops import (
    OP_AND,
    OP_CONTAINS,
    OP_EQUAL,
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

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up time)
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any


FILTER_DETECTION_CHARS = frozenset(" \t\n\v\f\r!\"'()/<=>\\~")
"""A single argument holding one of these is a filter, not a name (Ganeti's set)."""
GLOB_DETECTION_CHARS = frozenset("*?")
"""A name holding one of these is a DNS name glob."""

MAX_NESTING = 100
"""Parentheses and ``not`` nest at most this deep (the query engine allows far less)."""

_BINARY_OPS = {"==": OP_EQUAL, "=": OP_EQUAL, "!=": OP_NOT_EQUAL,
               "<": OP_LT, "<=": OP_LE, ">": OP_GT, ">=": OP_GE}
_BINARY_RE = re.compile(r"==|!=|<=|>=|=|<|>")
_WHITESPACE = " \t\r\n"
_OPERATOR_CHARS = frozenset("=!<>~*")
_KEYWORD_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_$")
_FIELD_RE = re.compile(r"[A-Za-z][A-Za-z0-9_/.]*")
_NUMBER_RE = re.compile(r"[-+]?[0-9]+")
_REGEXP_DELIMITERS = "/#^|"
_REGEXP_FLAGS = frozenset("si")
_FLAGS_RE = re.compile(r"[A-Za-z]+")
_WS_ESCAPES = ((r"\t", "\t"), (r"\n", "\n"), (r"\f", "\f"), (r"\r", "\r"))


def _string_re(quote: str) -> re.Pattern[str]:
    """An opening quote and the body of a quoted string (the closing quote is separate)."""
    q = re.escape(quote)
    escape = r"(?:\\(?:[^x]|x[0-9a-fA-F]+))"
    return re.compile(q + r"(?:[^" + q + r"\n\r\\]|(?:" + q + q + r")|" + escape + ")*")


def _regexp_re(delimiter: str) -> re.Pattern[str]:
    d = re.escape(delimiter)
    return re.compile(d + r"(?:(?:\\.)|(?:[^" + d + r"\n\r\\]))*" + d)


_STRING_RES = {quote: _string_re(quote) for quote in "\"'"}
_REGEXP_RES = {delimiter: _regexp_re(delimiter) for delimiter in _REGEXP_DELIMITERS}


class QueryFilterParseError(CliError):
    """A filter that does not parse; the message is one line, like Ganeti's first line."""

    def __init__(self, text: str, detail: str) -> None:
        super().__init__(
            f"Error while parsing query filter: Failed to parse query filter {text!r}: {detail}"
        )
        self.detail = detail


def glob_pattern(text: str) -> str:
    """A DNS name glob (``*.site``, ``node?``) as a regular expression.

    ``*`` and ``?`` never match the dot between name parts; the pattern matches
    from the first part and may stop before the domain.
    """
    parts = ["[^.]*" if c == "*" else "[^.]" if c == "?" else re.escape(c) for c in text]
    return "^" + "".join(parts) + r"(\..*)?$"


class _Mismatch(Exception):
    """This alternative does not match here; the parser tries the next one."""


class _Fatal(Exception):
    """A definite error (bad regexp flags or pattern): parsing stops."""

    def __init__(self, pos: int, message: str) -> None:
        super().__init__(message)
        self.pos = pos
        self.message = message


class _Parser:
    """Recursive descent over one filter text, with Ganeti's precedence and backtracking.

    Every failed expectation is noted; the one furthest into the text explains an error.
    """

    def __init__(self, text: str) -> None:
        self.text = text
        self.far = -1
        self.expected: list[str] = []

    def parse(self) -> Any:
        try:
            result, pos = self._or(0, 0)
            pos = self._skip(pos)
            if pos != len(self.text):
                raise self._mismatch(pos, "end of text")
        except _Fatal as err:
            detail = f"{err.message} {self._where(err.pos)}"
            raise QueryFilterParseError(self.text, detail) from None
        except _Mismatch:
            raise QueryFilterParseError(self.text, self._explain()) from None
        return result

    # --- errors -----------------------------------------------------------
    def _note(self, pos: int, what: str) -> None:
        if pos > self.far:
            self.far, self.expected = pos, [what]
        elif pos == self.far and what not in self.expected:
            self.expected.append(what)

    def _mismatch(self, pos: int, what: str) -> _Mismatch:
        self._note(pos, what)
        return _Mismatch()

    def _where(self, pos: int) -> str:
        line = self.text.count("\n", 0, pos) + 1
        col = pos - (self.text.rfind("\n", 0, pos) + 1) + 1
        return f"(at char {pos}), (line:{line}, col:{col})"

    def _explain(self) -> str:
        pos = max(self.far, 0)
        wanted = self.expected or ["a condition"]
        expected = wanted[0] if len(wanted) == 1 else ", ".join(wanted[:-1]) + " or " + wanted[-1]
        return f"Expected {expected}, found {self._token(pos)} {self._where(pos)}"

    def _token(self, pos: int) -> str:
        if pos >= len(self.text):
            return "end of text"
        end = pos
        while end < len(self.text) and self.text[end] in _KEYWORD_CHARS:
            end += 1
        return repr(self.text[pos:max(end, pos + 1)])

    # --- lexical helpers --------------------------------------------------
    def _skip(self, pos: int) -> int:
        text = self.text
        while pos < len(text) and text[pos] in _WHITESPACE:
            pos += 1
        return pos

    def _keyword(self, pos: int, word: str) -> int | None:
        """The position after ``word`` as a keyword at ``pos`` (after whitespace), or None."""
        text, start = self.text, self._skip(pos)
        end = start + len(word)
        if (text.startswith(word, start)
                and (start == 0 or text[start - 1] not in _KEYWORD_CHARS)
                and (end >= len(text) or text[end] not in _KEYWORD_CHARS)):
            return end
        return None

    def _literal(self, pos: int, word: str) -> int | None:
        start = self._skip(pos)
        return start + len(word) if self.text.startswith(word, start) else None

    # --- logic levels -----------------------------------------------------
    def _or(self, pos: int, depth: int) -> tuple[Any, int]:
        return self._chain(pos, depth, "or", OP_OR, self._and)

    def _and(self, pos: int, depth: int) -> tuple[Any, int]:
        return self._chain(pos, depth, "and", OP_AND, self._not)

    def _chain(self, pos: int, depth: int, word: str, op: str, operand: Any) -> tuple[Any, int]:
        first, pos = operand(pos, depth)
        items = [first]
        while True:
            after = self._keyword(pos, word)
            if after is None:
                self._note(self._skip(pos), f"'{word}'")
                break
            try:
                item, after = operand(after, depth)
            except _Mismatch:
                break
            items.append(item)
            pos = after
        return (items[0] if len(items) == 1 else [op, *items]), pos

    def _not(self, pos: int, depth: int) -> tuple[Any, int]:
        after = self._keyword(pos, "not")
        if after is not None:
            self._check_depth(pos, depth)
            try:
                inner, end = self._not(after, depth + 1)
            except _Mismatch:
                pass  # "not" is then a field name
            else:
                return [OP_NOT, inner], end
        return self._atom(pos, depth)

    def _atom(self, pos: int, depth: int) -> tuple[Any, int]:
        try:
            return self._condition(pos)
        except _Mismatch:
            start = self._skip(pos)
            if not self.text.startswith("(", start):
                raise self._mismatch(start, "'('") from None
        self._check_depth(start, depth)
        inner, end = self._or(start + 1, depth + 1)
        close = self._literal(end, ")")
        if close is None:
            raise self._mismatch(self._skip(end), "')'")
        return inner, close

    def _check_depth(self, pos: int, depth: int) -> None:
        if depth >= MAX_NESTING:
            raise _Fatal(pos, f"Filter nested deeper than {MAX_NESTING} levels")

    # --- conditions -------------------------------------------------------
    def _condition(self, pos: int) -> tuple[Any, int]:
        start = self._skip(pos)
        field = _FIELD_RE.match(self.text, start)
        if field is None:
            return self._membership(start)
        name, end = field.group(), field.end()
        op_at = self._skip(end)
        two = self.text[op_at:op_at + 2]
        try:
            if two in ("=~", "!~"):
                regexp, after = self._regexp(op_at + 2)
                return _negated(two == "!~", [OP_REGEXP, name, regexp]), after
            if two in ("=*", "!*"):
                glob, after = self._string(op_at + 2)
                return _negated(two == "!*", [OP_REGEXP, name, glob_pattern(glob)]), after
            op = _BINARY_RE.match(self.text, op_at)
            if op is not None:
                value, after = self._value(op.end())
                return [_BINARY_OPS[op.group()], name, value], after
        except _Mismatch:
            pass  # a bare field is still a condition: the caller then finds the rest
        if self.text[op_at:op_at + 1] in _OPERATOR_CHARS:
            self._note(op_at, "a comparison operator")
        return [OP_TRUE, name], end

    def _membership(self, start: int) -> tuple[Any, int]:
        """``value in field`` or ``value not in field``."""
        try:
            value, pos = self._value(start, quiet=True)
        except _Mismatch:
            raise self._mismatch(start, "a condition") from None
        negate = False
        after = self._literal(pos, "in")
        if after is None:
            not_end = self._literal(pos, "not")
            after = None if not_end is None else self._literal(not_end, "in")
            negate = True
        if after is None:
            raise self._mismatch(self._skip(pos), "'in' or 'not in'")
        field = _FIELD_RE.match(self.text, self._skip(after))
        if field is None:
            raise self._mismatch(self._skip(after), "a field name")
        return _negated(negate, [OP_CONTAINS, field.group(), value]), field.end()

    def _value(self, pos: int, quiet: bool = False) -> tuple[Any, int]:
        start = self._skip(pos)
        number = _NUMBER_RE.match(self.text, start)
        if number is not None:
            return int(number.group()), number.end()
        if self.text[start:start + 1] in _STRING_RES:
            return self._string(start)
        if quiet:
            raise _Mismatch
        raise self._mismatch(start, "a number or a quoted string")

    def _string(self, pos: int) -> tuple[str, int]:
        start = self._skip(pos)
        quote = self.text[start:start + 1]
        if quote not in _STRING_RES:
            raise self._mismatch(start, "a quoted string")
        body = _STRING_RES[quote].match(self.text, start)
        assert body is not None  # the pattern matches from any opening quote
        if not self.text.startswith(quote, body.end()):
            raise self._mismatch(body.end(), f"the closing {quote}")
        return self.text[start + 1:body.end()], body.end() + 1

    def _regexp(self, pos: int) -> tuple[str, int]:
        start = self._skip(pos)
        at = self._literal(start, "m") or start
        at = self._skip(at)
        quoted = _REGEXP_RES.get(self.text[at:at + 1])
        match = quoted.match(self.text, at) if quoted is not None else None
        if match is None:
            raise self._mismatch(at, "a regular expression in /.../, #...#, ^...^ or |...|")
        end = match.end()
        flags = _FLAGS_RE.match(self.text, self._skip(end))
        if flags is not None:
            end = flags.end()
        return _regexp_value(match.group()[1:-1], flags.group() if flags else "", start), end


def _negated(negate: bool, qfilter: list[Any]) -> list[Any]:
    return [OP_NOT, qfilter] if negate else qfilter


def _regexp_value(body: str, flags: str, pos: int) -> str:
    """The pattern sent to the master: escapes resolved, flags as ``(?is)``, checked."""
    if "\\" in body:
        for escape, char in _WS_ESCAPES:
            body = body.replace(escape, char)
    body = re.sub(r"\\(.)", r"\g<1>", body)
    unknown = sorted(set(flags) - _REGEXP_FLAGS)
    if unknown:
        raise _Fatal(pos, f"Unknown regular expression flags: '{''.join(unknown)}'")
    pattern = (f"(?{''.join(sorted(flags))})" if flags else "") + body
    try:
        re.compile(pattern)
    except re.error as err:
        raise _Fatal(pos, f"Invalid regular expression ({err})") from None
    return pattern


def parse_filter(text: str) -> Any:
    """Ganeti's textual filter ``text`` as a LUXI filter list.

    Raises:
        QueryFilterParseError: the text is not a filter; the message says where and why.
    """
    return _Parser(text).parse()


def json_filter(text: str) -> Any:
    """A filter in LUXI's JSON form (Corral's extension of ``-F``)."""
    try:
        value = json.loads(text)
    except ValueError as err:
        raise QueryFilterParseError(text, f"{err} (expected JSON)") from None
    if not isinstance(value, list):
        raise QueryFilterParseError(text, "a filter in JSON is a list")
    return value


def _name_part(namefield: str, text: str, numeric: bool) -> list[Any]:
    if numeric:
        try:
            return [OP_EQUAL, namefield, int(text)]
        except ValueError:
            raise UsageError(f"Invalid job ID passed: {text!r}") from None
    if GLOB_DETECTION_CHARS.intersection(text):
        return [OP_REGEXP, namefield, glob_pattern(text)]
    return [OP_EQUAL, namefield, text]


def name_filter(names: Sequence[str], namefield: str = "name", numeric: bool = False
                ) -> list[Any] | None:
    """``["|", ["==", field, name], …]`` for the names given (globs as regexps), None for
    none."""
    if not names:
        return None
    return [OP_OR, *(_name_part(namefield, n, numeric) for n in names)]


def make_filter(args: Sequence[str], force_filter: bool, namefield: str = "name",
                numeric: bool = False) -> Any:
    """The filter of a ``list`` command's arguments, as Ganeti's ``qlang.MakeFilter``.

    With ``force_filter`` (``-F``), or when the only argument holds a space, quote,
    parenthesis, ``/``, ``\\``, ``!``, ``<``, ``=``, ``>`` or ``~``, the argument is a
    filter and must be the only one. Otherwise each argument is a name (``==`` on
    ``namefield``, an integer when ``numeric``) or a glob (``=~``), joined by ``|``.

    Raises:
        QueryFilterParseError: the filter does not parse.
        CliError: several arguments given as one filter.
    """
    if not (force_filter or (len(args) == 1 and FILTER_DETECTION_CHARS.intersection(args[0]))):
        return name_filter(args, namefield, numeric)
    if args and args[0].lstrip().startswith("["):
        return json_filter(" ".join(args))
    if len(args) != 1:
        raise CliError(describe_error(
            "OpPrereqError", ["Exactly one argument must be given as a filter", "wrong_input"]))
    return parse_filter(args[0])
