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


class OpTestAllocator(OpCode, kw_only=True, frozen=True):
    """Build an iallocator request (``direction`` ``in``) or run an allocator on it
    (``out``) (``gnt-debug iallocator``)."""

    OP_DSC_FIELD: ClassVar[str | None] = "iallocator"
    direction: str
    mode: str
    name: str
    nics: list[dict[str, Any]] | None = None
    disks: list[Any] | None = None
    hypervisor: str | None = None
    iallocator: str | None = None
    tags: list[str] = []
    memory: Annotated[int, msgspec.Meta(ge=0)] | None = None
    vcpus: Annotated[int, msgspec.Meta(ge=0)] | None = None
    os: str | None = None
    disk_template: str | None = None
    instances: list[str] | None = None
    evac_mode: str | None = None
    target_groups: list[str] | None = None
    spindle_use: Annotated[int, msgspec.Meta(ge=0)] = 1
    count: Annotated[int, msgspec.Meta(ge=0)] = 1
    group_name: str | None = None
