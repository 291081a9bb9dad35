"""Errors raised by Corral, with Ganeti's wire names.

Hierarchy::

    CorralError
    ├── ConfigurationError        bad or inconsistent cluster configuration
    ├── OpPrereqError             a prerequisite of an opcode failed (carries an ErrorCode)
    ├── OpExecError               an opcode failed while executing
    ├── OpCodeUnknown             unknown OP_ID
    ├── ParameterError            a parameter failed validation (names the field)
    ├── HooksAbort                a pre-hook vetoed the operation
    ├── HooksFailure              hooks could not be run at all
    ├── JobQueueError             job queue failure
    │   ├── JobQueueDrainError    queue is drained, submission refused
    │   └── JobLost               job id unknown
    ├── LockError                 lock acquisition failed or timed out
    ├── RpcError                  node RPC transport failure
    ├── LuxiError                 LUXI protocol violation
    │   └── ProtocolError
    ├── HypervisorError           hypervisor driver failure
    ├── BlockDeviceError          storage driver failure
    ├── CommandError              an external command failed
    ├── InvalidTransition         a state machine refused a transition
    └── QueryFilterError          malformed query filter

The class names are part of the wire format: job results and LUXI error
replies carry ``[class_name, args]``, which Ganeti's clients turn back into
exceptions by name.
"""

from __future__ import annotations

import enum
from typing import Any


class ErrorCode(enum.StrEnum):
    """Ganeti's ECODE values, sent as the second argument of OpPrereqError."""

    RESOLVER = "resolver_error"
    NORES = "insufficient_resources"
    TEMP_NORES = "temp_insufficient_resources"
    INVAL = "wrong_input"
    STATE = "wrong_state"
    NOENT = "unknown_entity"
    EXISTS = "already_exists"
    NOTUNIQUE = "resource_not_unique"
    FAULT = "internal_error"
    ENVIRON = "environment_error"


_REGISTRY: dict[str, type[CorralError]] = {}


class CorralError(Exception):
    """Root of all Corral errors."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        _REGISTRY[cls.__name__] = cls

    def wire_args(self) -> list[Any]:
        """Arguments as they travel on the wire (Ganeti's ``exc.args``)."""
        return [a.value if isinstance(a, enum.Enum) else a for a in self.args]

    def encode(self) -> list[Any]:
        """Ganeti's encoded form: ``[class name, args]``."""
        return [type(self).__name__, self.wire_args()]


class GenericError(CorralError):
    """An error with no more specific family."""


class ConfigurationError(CorralError):
    """The cluster configuration is bad or inconsistent."""


class OpPrereqError(CorralError):
    """A prerequisite failed. ``args`` are ``(message, ErrorCode)``."""

    def __init__(self, message: str, code: ErrorCode = ErrorCode.INVAL) -> None:
        super().__init__(message, code)

    @property
    def message(self) -> str:
        return str(self.args[0])

    @property
    def code(self) -> ErrorCode:
        return ErrorCode(self.args[1])

    def __str__(self) -> str:
        return str(self.args[0])


class OpExecError(CorralError):
    """An opcode failed during execution."""


class OpCodeUnknown(CorralError):
    """The OP_ID names no known opcode."""


class ParameterError(CorralError):
    """A parameter is invalid; the message names it."""


class HooksAbort(CorralError):
    """A pre-phase hook failed and vetoed the operation."""


class HooksFailure(CorralError):
    """Hooks could not be run."""


class JobQueueError(CorralError):
    """Job queue failure."""


class JobQueueDrainError(JobQueueError):
    """The queue is drained; new jobs are refused."""


class JobLost(JobQueueError):
    """The job id is unknown."""


class LockError(CorralError):
    """A lock could not be acquired."""


class RpcError(CorralError):
    """Node RPC transport failure."""


class LuxiError(CorralError):
    """LUXI protocol error."""


class ProtocolError(LuxiError):
    """Malformed LUXI message."""


class HypervisorError(CorralError):
    """Hypervisor driver failure."""


class BlockDeviceError(CorralError):
    """Storage driver failure."""


class CommandError(CorralError):
    """An external command failed."""


class InvalidTransition(CorralError):
    """A state machine refused a transition."""


class QueryFilterError(CorralError):
    """A query filter is malformed."""


class ResolverError(CorralError):
    """A name could not be resolved."""


class TagError(CorralError):
    """A tag is invalid or unknown."""


class OpRetryError(CorralError):
    """A transient condition; retry later."""


def error_class(name: str) -> type[CorralError] | None:
    """The error class with the given wire name, if known."""
    return _REGISTRY.get(name)


def decode_error(encoded: Any) -> CorralError:
    """Turn ``[class name, args]`` back into an exception."""
    if isinstance(encoded, list | tuple) and len(encoded) == 2:
        name, args = encoded
        cls = error_class(str(name)) or GenericError
        if not isinstance(args, list | tuple):
            args = [args]
        err = cls.__new__(cls)
        Exception.__init__(err, *args)
        return err
    return GenericError(str(encoded))


def format_error(err: BaseException) -> str:
    """One line for users, in Ganeti's style (``Failure: prerequisites not met …``)."""
    if isinstance(err, OpPrereqError):
        return (
            "Failure: prerequisites not met for this operation:\n"
            f"error type: {err.code.value}, error details:\n{err.message}"
        )
    if isinstance(err, OpExecError):
        return f"Failure: command execution error:\n{err.args[0] if err.args else ''}"
    if isinstance(err, ParameterError):
        return f"Failure: invalid parameter: {err.args[0] if err.args else ''}"
    if isinstance(err, JobQueueDrainError):
        return "Failure: the job queue is marked for drain and doesn't accept new requests"
    if isinstance(err, HooksAbort):
        return f"Failure: hooks execution failed:\n{err.args[0] if err.args else ''}"
    text = "; ".join(str(a) for a in err.args) if err.args else type(err).__name__
    return f"Failure: {type(err).__name__}: {text}"
