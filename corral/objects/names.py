"""The one syntax of names: clusters, nodes, groups, instances and networks.

A name is a host-name-like word: letters, digits, ``.``, ``-`` and ``_``, not
starting with ``.`` or ``-``, at most 255 characters. This keeps separators used
on the wire and in files (``|``, ``,``, newlines, spaces) out of every name.
"""

from __future__ import annotations

import re

_NAME_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,254}")


class InvalidName(ValueError):
    """A name breaks the syntax; the message names what it was meant to be."""


def is_valid_name(value: str) -> bool:
    """Whether ``value`` follows the name syntax."""
    return _NAME_RE.fullmatch(value) is not None


def check_name(value: str, what: str) -> None:
    """Raise :class:`InvalidName` ("Invalid node name 'x y'") unless ``value`` is valid."""
    if not is_valid_name(value):
        raise InvalidName(f"Invalid {what} {value!r}")
