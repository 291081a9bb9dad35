"""Testing opcodes."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar

import msgspec

from corral.opcodes.base import OpCode


class OpTestDelay(OpCode, kw_only=True, frozen=True):
    """Sleep on the master and/or nodes, holding their locks (``gnt-debug delay``)."""

    OP_DSC_FIELD: ClassVar[str | None] = "duration"
    duration: Annotated[float, msgspec.Meta(ge=0, description="seconds to sleep")]
    on_master: bool = True
    on_nodes: list[str] = []
    on_node_uuids: list[str] | None = None
    repeat: Annotated[int, msgspec.Meta(ge=0)] = 0
    interruptible: bool = False
    no_locks: bool = True


class OpTestJqueue(OpCode, kw_only=True, frozen=True):
    """Exercise job queue logging."""

    notify_waitlock: bool = False
    notify_exec: bool = False
    log_messages: list[str] = []
    fail: bool = False


class OpTestDummy(OpCode, kw_only=True, frozen=True):
    """Does nothing; used by tests of the queue. No logical unit runs it."""

    WITH_LU: ClassVar[bool] = False
    result: Any = None
    messages: list[str] = []
    fail: bool = False
    submit_jobs: list[Any] = []
