"""Exceptions of the command line tools and Ganeti's failure texts.

Errors that come back from the master (a failed job, a LUXI error reply)
arrive as ``[class name, args]``; :func:`describe_error` turns them into the
text Ganeti's ``FormatError`` prints (the same texts as
:func:`corral.errors.format_error`, without importing the error registry).
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up time)
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any


class CliError(Exception):
    """A failure to report as text on stderr; ``exit_code`` is returned by ``main``."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code


class UsageError(CliError):
    """Bad command line: unknown option, wrong argument count, bad value."""


class JobSubmitted(Exception):
    """Raised after ``--submit``: the job was sent and is not waited for."""

    def __init__(self, job_id: int) -> None:
        super().__init__(job_id)
        self.job_id = job_id


class JobFailed(CliError):
    """A job ended in error or was canceled; the message is Ganeti's failure text."""

    def __init__(self, message: str, error_class: str | None = None) -> None:
        super().__init__(message)
        self.error_class = error_class


def _text(args: list[Any]) -> str:
    return str(args[0]) if args else ""


def _joined(args: list[Any]) -> str:
    return "; ".join(str(a) for a in args)


def _prereq(args: list[Any]) -> str:
    if len(args) == 2:
        return ("Failure: prerequisites not met for this operation:\n"
                f"error type: {args[1]}, error details:\n{args[0]}")
    return f"Failure: prerequisites not met for this operation:\n{_joined(args)}"


def _hooks_abort(args: list[Any]) -> str:
    lines = ["Failure: hooks execution failed:"]
    failures = args[0] if args else ""
    if isinstance(failures, list):
        for item in failures:
            node, script, out = [*list(item), "", "", ""][:3]
            detail = f", output: {out}" if out else " (no output)"
            lines.append(f"  node: {node}, script: {script}{detail}")
    else:
        lines.append(str(failures))
    return "\n".join(lines)


_FORMATS: dict[str, Callable[[list[Any]], str]] = {
    "OpPrereqError": _prereq,
    "OpExecError": lambda a: f"Failure: command execution error:\n{_text(a)}",
    "ParameterError": lambda a: f"Failure: invalid parameter: {_text(a)}",
    "JobQueueDrainError": lambda a: (
        "Failure: the job queue is marked for drain and doesn't accept new requests"),
    "JobQueueFull": lambda a: (
        "Failure: the job queue is full and doesn't accept new job submissions "
        "until old jobs are archived"),
    "HooksAbort": _hooks_abort,
    "HooksFailure": lambda a: f"Failure: hooks general failure: {_text(a)}",
    "TagError": lambda a: f"Failure: invalid tag(s) given:\n{_text(a)}",
    "ResolverError": lambda a: f"Failure: can't resolve hostname '{_text(a)}'",
    "ConfigurationError": lambda a: f"Corrupt configuration file: {_text(a)}\nAborting.",
    "JobLost": lambda a: f"Error checking job status: {_text(a)}",
    "QueryFilterError": lambda a: f"Error while parsing query filter: {_text(a)}",
    "JobCanceled": lambda a: f"Failure: {_text(a) or 'Job was canceled'}",
}


def describe_error(error_class: str, args: list[Any]) -> str:
    """Ganeti's user-facing text for an encoded error."""
    fmt = _FORMATS.get(error_class)
    if fmt is not None:
        return fmt(args)
    return f"Failure: {error_class}: {_joined(args) if args else error_class}"


def describe_encoded(encoded: Any) -> tuple[str, str | None]:
    """Text and class name for a job's error result (``[class, args]`` or anything else)."""
    if (isinstance(encoded, list | tuple) and len(encoded) == 2
            and isinstance(encoded[0], str)):
        name, args = encoded
        arglist = list(args) if isinstance(args, list | tuple) else [args]
        return describe_error(name, arglist), name
    return describe_error("OpExecError", [encoded]), None
