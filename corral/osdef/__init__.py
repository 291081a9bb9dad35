"""Ganeti's guest OS definition interface, node side (OS API 10, 15 and 20).

Modules: ``discovery`` (search path, on-disk rules, :class:`OsInfo`), ``env`` (the
script environment), ``run`` (running a script with a per-operation log) and
``validation`` (variant, parameter and ``verify`` checks).

Errors::

    CorralError
    └── OsDefinitionError      anything about an OS definition on this node
        ├── OsNotFoundError    no directory of that name in the search path
        ├── OsInvalidError     the directory breaks the OS API's rules
        ├── OsParamsError      unsupported variant, undeclared parameter, or ``verify`` refused
        └── OsScriptError      a script failed; the message ends with its log's tail
"""

from __future__ import annotations

from pathlib import Path

from corral.errors import CorralError


class OsDefinitionError(CorralError):
    """An OS definition is missing, invalid, or one of its scripts failed."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else type(self).__name__


class OsNotFoundError(OsDefinitionError):
    """No OS of that name exists in the search path."""


class OsInvalidError(OsDefinitionError):
    """The OS directory does not follow the OS API's rules."""


class OsParamsError(OsDefinitionError):
    """The variant or OS parameters are not accepted by the OS."""


class OsScriptError(OsDefinitionError):
    """An OS script failed. ``log_path`` names the per-operation log (when there is one)."""

    def __init__(self, message: str, log_path: Path | None = None) -> None:
        super().__init__(message)
        self.log_path = log_path
