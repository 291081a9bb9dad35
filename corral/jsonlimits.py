"""Nesting limit for JSON from outside (RAPI bodies, LUXI messages), checked before decoding.

Both ``json`` and msgspec recurse once per ``[``/``{`` and fail with ``RecursionError``
on a deeply nested document. :func:`check_depth` reads the raw bytes instead, with
C-speed byte operations and iterators, so the error names the limit and no decoder
recursion is involved. Standard library only: the LUXI client (loaded by every
``gnt-*`` command) uses it.
"""

from __future__ import annotations

from itertools import accumulate, count
from operator import sub

MAX_DEPTH = 64
"""Deepest nesting of arrays and objects accepted; real requests stay below 10."""

MAX_REPLY_DEPTH = 4 * MAX_DEPTH
"""Deepest nesting of a LUXI answer: answers embed accepted documents (a job's opcodes)
a few levels down."""

_OPEN = b"\x02"
_PAIR = b"\x02\x00"
_MARKS = bytes.maketrans(b"[{]}", b"\x02\x02\x00\x00")
"""Opening brackets become 2 and closing ones 0: the running sum minus the position
is then the nesting depth (see :func:`_max_depth`)."""
_DELETE = bytes(b for b in range(256) if b not in b'[]{}"')
_PASSES = 4
"""Innermost pairs removed with ``bytes.replace`` before the exact scan: real documents
shrink to almost nothing, so the per-byte scan stays short."""


class JsonTooDeep(ValueError):
    """A document nests arrays and objects deeper than the limit."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"JSON document nested deeper than the limit of {limit} levels")
        self.limit = limit


def _bracket_marks(raw: bytes) -> bytes:
    """The brackets of ``raw`` outside strings, as opening (2) and closing (0) marks."""
    if b"\\" in raw:  # escaped backslashes and quotes never delimit a string
        raw = raw.replace(b"\\\\", b"").replace(b'\\"', b"")
    marks = raw.translate(_MARKS, _DELETE).replace(b'""', b"")  # strings without brackets
    if b'"' in marks:  # strings holding brackets: every other piece is inside one
        marks = b"".join(marks.split(b'"')[::2])
    return marks


def _max_depth(marks: bytes) -> int:
    """The deepest nesting reached while reading ``marks`` from left to right."""
    return max(map(sub, accumulate(marks), count(1)), default=0)


def exceeds_depth(raw: bytes, limit: int = MAX_DEPTH) -> bool:
    """Whether the JSON text ``raw`` nests deeper than ``limit`` (brackets in strings ignored).

    Invalid JSON may be reported too deep where a decoder would call it invalid;
    valid JSON is judged exactly.
    """
    if raw.count(b"[") + raw.count(b"{") <= limit:
        return False
    marks = _bracket_marks(raw)
    if _OPEN * (limit + 1) in marks:
        return True
    removed = 0  # each pass takes exactly one level off every nest of pairs
    while removed < _PASSES and _PAIR in marks:
        marks = marks.replace(_PAIR, b"")
        removed += 1
    return _max_depth(marks) > limit - removed


def check_depth(raw: bytes, limit: int = MAX_DEPTH) -> None:
    """Raise :class:`JsonTooDeep` when ``raw`` nests deeper than ``limit``."""
    if exceeds_depth(raw, limit):
        raise JsonTooDeep(limit)
