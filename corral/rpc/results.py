"""Per-node results of RPC calls, as values."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import msgspec

from corral.errors import ErrorCode, OpExecError, OpPrereqError

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class NodeResult(Generic[T]):
    """What one node answered: a payload, or a failure message."""

    node: str
    call: str
    payload: T | None = None
    fail_msg: str | None = None
    offline: bool = False

    @property
    def ok(self) -> bool:
        return self.fail_msg is None

    def raise_for_failure(self, prereq: bool = False) -> T:
        """The payload; raises OpPrereqError (prereq) or OpExecError on failure."""
        if self.fail_msg is None:
            return self.payload  # type: ignore[return-value]
        message = f"Error while calling {self.call} on node {self.node}: {self.fail_msg}"
        if prereq:
            raise OpPrereqError(message, ErrorCode.ENVIRON)
        raise OpExecError(message)

    def warn(self, feedback: Callable[[str], Any], what: str = "") -> bool:
        """Report a failure through ``feedback``; returns True when there was one."""
        if self.fail_msg is None:
            return False
        feedback(f"Warning: {what or self.call} failed on node {self.node}: {self.fail_msg}")
        return True

    @classmethod
    def failure(cls, node: str, call: str, message: str, offline: bool = False) -> NodeResult[T]:
        return cls(node=node, call=call, fail_msg=message, offline=offline)


def typed(result: NodeResult[Any], kind: Any) -> NodeResult[Any]:
    """``result`` with its payload converted to ``kind`` (a call's ``returns``).

    A payload of another shape gives a failed result that says what was wrong.
    """
    if result.fail_msg is not None:
        return result
    try:
        payload = msgspec.convert(result.payload, kind)
    except msgspec.ValidationError as err:
        message = f"Invalid answer to {result.call}: {err}"
        return NodeResult.failure(result.node, result.call, message)
    return NodeResult(node=result.node, call=result.call, payload=payload)
