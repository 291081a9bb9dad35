"""xl's configuration-file syntax: values, quoting, and a reader of ``key = value`` lines.

The syntax is libxlu's (``xl.cfg(5)``): a setting is ``name = value`` or
``name += value``, ended by a newline or ``;``; names are lower-case
(``[a-z][_0-9a-z]*``); a value is a string in single or double quotes (with C-like
backslash escapes), a number (``[0-9][0-9a-fx]*``), or a bracketed list of values,
which may span lines and end with a comma; ``#`` starts a comment. Numbers are
kept as ``int`` when they read as one (base as ``strtol(…, 0)``: ``0x`` hex,
leading ``0`` octal), strings as ``str``, lists as tuples.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from corral.errors import HypervisorError

XlValue = str | int | tuple["XlValue", ...]
"""One value of an xl setting: a string, a number or a list of values."""

_NAME = re.compile(r"[a-z][_0-9a-z]*\Z")
_ESCAPES = {"\\": "\\\\", "'": "\\'", "\n": "\\n", "\t": "\\t", "\r": "\\r"}
_UNESCAPES = {'"': '"', "'": "'", "\\": "\\", "a": "\a", "b": "\b", "f": "\f", "n": "\n",
              "r": "\r", "t": "\t", "v": "\v"}


class XlSyntaxError(HypervisorError):
    """A domain configuration file xl would not parse; the message gives the line."""


def is_setting_name(name: str) -> bool:
    """Whether ``name`` is a valid xl setting name."""
    return _NAME.match(name) is not None


def quote(text: str) -> str:
    """``text`` as a single-quoted xl string.

    Backslash, quote, newline, carriage return and tab are escaped by name; other
    characters go as they are (libxlu reads any byte but those raw, and mishandles
    its numeric escapes, so none are written).

    Raises:
        HypervisorError: ``text`` holds a NUL character (xl strings are C strings).
    """
    if "\0" in text:
        raise HypervisorError(f"xl strings cannot hold a NUL character: {text!r}")
    return "'" + "".join(_ESCAPES.get(char, char) for char in text) + "'"


def render_value(value: XlValue) -> str:
    """``value`` in xl's syntax: ``'text'``, ``42`` or ``['a', 'b']``.

    Raises:
        HypervisorError: a negative number (xl's numbers have no sign) or a bool.
    """
    if isinstance(value, bool):
        raise HypervisorError(f"xl has no boolean values, got {value!r}; write 0 or 1")
    if isinstance(value, int):
        if value < 0:
            raise HypervisorError(f"xl numbers cannot be negative, got {value}")
        return str(value)
    if isinstance(value, str):
        return quote(value)
    return "[" + ", ".join(render_value(v) for v in value) + "]"


def render_setting(name: str, value: XlValue) -> str:
    """One ``name = value`` line (without the newline).

    Raises:
        HypervisorError: ``name`` is not a valid setting name.
    """
    if not is_setting_name(name):
        raise HypervisorError(f"invalid xl setting name {name!r}")
    return f"{name} = {render_value(value)}"


# --- reading -----------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # "name", "number", "string", "op", "newline", "end"
    text: str
    line: int


_TOKEN = re.compile(r"""
    (?P<space>[ \t\r]+)
  | (?P<comment>\#[^\n]*)
  | (?P<newline>\n)
  | (?P<name>[a-z][_0-9a-z]*)
  | (?P<number>[0-9][0-9a-fx]*)
  | (?P<string>"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*')
  | (?P<op>\+=|[=,;\[\]])
""", re.VERBOSE)


def _tokens(text: str) -> Iterator[_Token]:
    pos, line = 0, 1
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:
            raise XlSyntaxError(f"line {line}: config parsing error near {text[pos:pos + 20]!r}")
        kind = match.lastgroup or ""
        if kind not in ("space", "comment"):
            yield _Token(kind, match.group(), line)
        line += kind == "newline"
        pos = match.end()
    yield _Token("end", "", line)


def unquote(literal: str) -> str:
    """The text of a quoted xl string literal (named escapes decoded as libxlu does).

    Raises:
        XlSyntaxError: a numeric escape (``\\x41``, ``\\101``): libxlu does not decode
            them into the character, so a file that has them is refused.
    """
    out, chars = [], iter(literal[1:-1])
    for char in chars:
        if char != "\\":
            out.append(char)
            continue
        esc = next(chars)
        if esc == "x" or esc.isdigit():
            raise XlSyntaxError(f"numeric escape '\\{esc}' in {literal}: xl does not "
                                "decode these")
        out.append(_UNESCAPES.get(esc, ""))  # libxlu drops unknown escapes
    return "".join(out)


def _number(text: str) -> XlValue:
    try:
        return int(text, 0)
    except ValueError:
        if re.fullmatch(r"0[0-7]+", text):
            return int(text, 8)
        return text


class _Reader:
    """A recursive-descent reader over the token stream."""

    def __init__(self, text: str) -> None:
        self._tokens = list(_tokens(text))
        self._pos = 0

    def _peek(self) -> _Token:
        return self._tokens[self._pos]

    def _next(self) -> _Token:
        token = self._tokens[self._pos]
        self._pos += 1
        return token

    def _fail(self, token: _Token, expected: str) -> XlSyntaxError:
        near = {"newline": "<newline>", "end": "<end>"}.get(token.kind, repr(token.text))
        return XlSyntaxError(f"line {token.line}: config parsing error near {near}: "
                             f"expected {expected}")

    def _skip_newlines(self) -> None:
        while self._peek().kind == "newline":
            self._pos += 1

    def settings(self) -> Iterator[tuple[str, str, XlValue]]:
        """``(name, operator, value)`` for every statement, in order."""
        while (token := self._next()).kind != "end":
            if token.kind == "newline" or token.text == ";":
                continue
            if token.kind != "name":
                raise self._fail(token, "a setting name")
            operator = self._next()
            if operator.text not in ("=", "+="):
                raise self._fail(operator, "'=' or '+='")
            value = self._value()
            end = self._next()
            if end.kind not in ("newline", "end") and end.text != ";":
                raise self._fail(end, "the end of the line")
            yield token.text, operator.text, value
            if end.kind == "end":
                return

    def _value(self) -> XlValue:
        token = self._next()
        if token.kind == "string":
            return unquote(token.text)
        if token.kind == "number":
            return _number(token.text)
        if token.text == "[":
            return self._list()
        raise self._fail(token, "a value")

    def _list(self) -> tuple[XlValue, ...]:
        items: list[XlValue] = []
        self._skip_newlines()
        while self._peek().text != "]":
            items.append(self._value())
            self._skip_newlines()
            if self._peek().text == ",":
                self._pos += 1
                self._skip_newlines()
            elif self._peek().text != "]":
                raise self._fail(self._peek(), "',' or ']'")
        self._pos += 1
        return tuple(items)


def read_settings(text: str) -> list[tuple[str, str, XlValue]]:
    """Every statement of an xl config file as ``(name, "=" or "+=", value)``, in order.

    Raises:
        XlSyntaxError: the text is not valid xl syntax; the message gives the line.
    """
    return list(_Reader(text).settings())


def read_value(text: str) -> XlValue:
    """One value written in xl syntax (e.g. a list given in a parameter).

    Raises:
        XlSyntaxError: not exactly one valid value.
    """
    statements = read_settings(f"value = {text}\n")
    if len(statements) != 1:
        raise XlSyntaxError(f"not a single xl value: {text!r}")
    return statements[0][2]


def cpuid_value(cpuid: str) -> XlValue:
    """Ganeti's ``cpuid`` hvparam as xl's value: a libxl string (``host,…``) as it is, or
    an xl list of xend strings (``['1:ecx=…', …]``) read into a tuple.

    Raises:
        ValueError: neither form.
    """
    if cpuid.startswith("host"):
        return cpuid
    try:
        value = read_value(cpuid)
    except XlSyntaxError:
        value = ""
    if not isinstance(value, tuple) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"not a libxl cpuid string or an xl list of strings: {cpuid!r}")
    return value


def is_cpuid(cpuid: str) -> bool:
    """Whether :func:`cpuid_value` accepts ``cpuid``."""
    try:
        cpuid_value(cpuid)
    except ValueError:
        return False
    return True
