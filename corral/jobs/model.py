"""Jobs and their opcodes, with Ganeti's statuses and one transition table each.

A status changes only through :meth:`Job.move_op` (which calls :meth:`QueuedOp.move_to`):
the opcode's edge must be in ``OP_TRANSITIONS`` and the edge the job's derived status takes
in ``JOB_TRANSITIONS``; any other change raises InvalidTransition, an internal error.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from corral.clock import split_time
from corral.errors import InvalidTransition
from corral.job_wire import OP_FINALIZED, JobStatus, OpStatus, job_status_of
from corral.opcodes.base import OpCode

OP_TRANSITIONS: Mapping[tuple[OpStatus, OpStatus], str] = MappingProxyType({
    (OpStatus.QUEUED, OpStatus.WAITING):
        "its turn came: it waits for its dependencies, a slot and its locks",
    (OpStatus.WAITING, OpStatus.WAITING):
        "its dependencies ended: it still waits, for a slot and its locks",
    (OpStatus.WAITING, OpStatus.RUNNING):
        "its locks are held (on disk before its logical unit executes)",
    (OpStatus.RUNNING, OpStatus.SUCCESS):
        "its logical unit returned",
    (OpStatus.RUNNING, OpStatus.ERROR):
        "its logical unit failed; or, at a restart, the master had stopped while it ran",
    (OpStatus.RUNNING, OpStatus.CANCELED):
        "killed on request (CancelJob with kill)",
    (OpStatus.WAITING, OpStatus.ERROR):
        "a dependency ended badly, or its logical unit failed before holding its locks",
    (OpStatus.WAITING, OpStatus.CANCELED):
        "canceled while it waited for dependencies, a slot or locks",
    (OpStatus.QUEUED, OpStatus.ERROR):
        "a dependency ended badly, an earlier opcode failed, or a restart failed its job",
    (OpStatus.QUEUED, OpStatus.CANCELED):
        "canceled before it started, or an earlier opcode was canceled",
    (OpStatus.WAITING, OpStatus.QUEUED):
        "at a restart: requeued, its job runs again",
    (OpStatus.CANCELING, OpStatus.QUEUED):
        "at a restart: requeued, its job runs again",
})
"""Every opcode status change the queue makes, with where it makes it.

Corral cancels at once, so it never enters ``canceling`` (a Ganeti status it keeps on the
wire); a restart requeues an opcode found in that status, as it does a waiting one.
"""

JOB_TRANSITIONS: Mapping[tuple[JobStatus, JobStatus], str] = MappingProxyType({
    (JobStatus.QUEUED, JobStatus.WAITING): "an opcode started waiting",
    (JobStatus.WAITING, JobStatus.RUNNING): "an opcode got its locks",
    (JobStatus.RUNNING, JobStatus.QUEUED): "an opcode succeeded; the next one is queued",
    (JobStatus.RUNNING, JobStatus.SUCCESS): "its last opcode succeeded",
    (JobStatus.RUNNING, JobStatus.ERROR): "an opcode failed, or the master stopped during it",
    (JobStatus.RUNNING, JobStatus.CANCELED): "killed on request",
    (JobStatus.WAITING, JobStatus.ERROR): "an opcode failed before it ran",
    (JobStatus.WAITING, JobStatus.CANCELED): "canceled while waiting",
    (JobStatus.QUEUED, JobStatus.ERROR): "a dependency ended badly",
    (JobStatus.QUEUED, JobStatus.CANCELED): "canceled before it started",
    (JobStatus.WAITING, JobStatus.QUEUED): "at a restart: requeued",
    (JobStatus.CANCELING, JobStatus.QUEUED): "at a restart: requeued",
})
"""Every change of a job's derived status that the opcodes' changes make."""


def check_op_transition(old: OpStatus, new: OpStatus) -> None:
    """Raise InvalidTransition unless opcode status ``old`` → ``new`` is in the table."""
    if (old, new) not in OP_TRANSITIONS:
        raise InvalidTransition(
            f"internal error: an opcode cannot go from {old} to {new} (not in OP_TRANSITIONS)"
        )


def check_job_transition(job_id: int, old: JobStatus, new: JobStatus) -> None:
    """Raise InvalidTransition unless job status ``old`` → ``new`` is in the table.

    The job's status is derived, so staying the same is not a transition.
    """
    if old != new and (old, new) not in JOB_TRANSITIONS:
        raise InvalidTransition(
            f"internal error: job {job_id} cannot go from {old} to {new} "
            "(not in JOB_TRANSITIONS)"
        )


class LogType(enum.StrEnum):
    MESSAGE = "message"
    REMOTE_IMPORT = "remote-import"


Timestamp = tuple[int, int]


@dataclass
class QueuedOp:
    """One opcode of a job: its input (Ganeti's JSON shape) and its progress.

    ``opcode`` is the input decoded, kept so that it is decoded once: at submission, or
    (for a job read back from disk) when it first runs. It is not part of the job file.
    """

    input: dict[str, Any]
    priority: int = 0
    status: OpStatus = OpStatus.QUEUED
    result: Any = None
    log: list[list[Any]] = field(default_factory=list)
    start_timestamp: Timestamp | None = None
    exec_timestamp: Timestamp | None = None
    end_timestamp: Timestamp | None = None
    opcode: OpCode | None = field(default=None, repr=False, compare=False)

    def move_to(self, new: OpStatus) -> None:
        """Change the status along an edge of OP_TRANSITIONS; raises InvalidTransition."""
        check_op_transition(self.status, new)
        self.status = new

    def to_dict(self) -> dict[str, Any]:
        return {
            "input": self.input,
            "status": self.status.value,
            "result": self.result,
            "log": self.log,
            "start_timestamp": self.start_timestamp,
            "exec_timestamp": self.exec_timestamp,
            "end_timestamp": self.end_timestamp,
            "priority": self.priority,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> QueuedOp:
        return cls(
            input=data["input"],
            priority=int(data.get("priority", 0)),
            status=OpStatus(data["status"]),
            result=data.get("result"),
            log=list(data.get("log") or []),
            start_timestamp=_ts(data.get("start_timestamp")),
            exec_timestamp=_ts(data.get("exec_timestamp")),
            end_timestamp=_ts(data.get("end_timestamp")),
        )


def _ts(value: Any) -> Timestamp | None:
    return None if value is None else (int(value[0]), int(value[1]))


@dataclass
class Job:
    """A job: a list of opcodes run in order, stored in Ganeti's job-file shape."""

    id: int
    ops: list[QueuedOp]
    received_timestamp: Timestamp | None = None
    start_timestamp: Timestamp | None = None
    end_timestamp: Timestamp | None = None
    archived: bool = False
    log_serial: int = 0

    @property
    def status(self) -> JobStatus:
        """Derived from the opcodes' statuses, walking them in order (Ganeti's rule)."""
        return job_status_of(op.status for op in self.ops)

    def move_op(self, index: int, new: OpStatus) -> None:
        """Move opcode ``index`` to ``new``; the job's status must follow JOB_TRANSITIONS.

        Raises:
            InvalidTransition: either edge is missing from its table; nothing changed then.
        """
        before = self.status
        after = job_status_of(
            new if position == index else op.status for position, op in enumerate(self.ops)
        )
        check_job_transition(self.id, before, after)
        self.ops[index].move_to(new)

    def draft(self) -> Job:
        """A copy to change and save while observers still see this one.

        Inputs are shared, not copied (they never change after submission), and so are the
        decoded opcodes.
        """
        copy = Job.from_dict(self.to_dict(), archived=self.archived)
        copy.log_serial = self.log_serial
        for mine, original in zip(copy.ops, self.ops, strict=True):
            mine.opcode = original.opcode
        return copy

    @property
    def priority(self) -> int:
        """The priority of the first unfinished opcode (Ganeti's CalcPriority)."""
        pending = [op.priority for op in self.ops if op.status not in OP_FINALIZED]
        return min(pending) if pending else self.ops[-1].priority

    def add_log(self, now: float, message: str, log_type: LogType = LogType.MESSAGE) -> list[Any]:
        """Append a log entry to the running opcode; returns it."""
        self.log_serial += 1
        entry = [self.log_serial, list(split_time(now)), log_type.value, message]
        running = next((op for op in self.ops if op.status is OpStatus.RUNNING), self.ops[-1])
        running.log.append(entry)
        return entry

    def log_since(self, serial: int | None) -> list[list[Any]]:
        start = serial or 0
        return [e for op in self.ops for e in op.log if int(e[0]) > start]

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "ops": [op.to_dict() for op in self.ops],
            "received_timestamp": self.received_timestamp,
            "start_timestamp": self.start_timestamp,
            "end_timestamp": self.end_timestamp,
        }

    def query_dict(self) -> dict[str, Any]:
        """The job-file shape plus the derived ``status`` and the ``archived`` flag."""
        data = self.to_dict()
        data["status"] = self.status.value
        data["archived"] = self.archived
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any], archived: bool = False) -> Job:
        ops = [QueuedOp.from_dict(op) for op in data["ops"]]
        serial = max((int(e[0]) for op in ops for e in op.log), default=0)
        return cls(
            id=int(data["id"]),
            ops=ops,
            received_timestamp=_ts(data.get("received_timestamp")),
            start_timestamp=_ts(data.get("start_timestamp")),
            end_timestamp=_ts(data.get("end_timestamp")),
            archived=archived,
            log_serial=serial,
        )
