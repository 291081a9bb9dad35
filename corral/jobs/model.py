"""Jobs and their opcodes, with Ganeti's statuses and one transition table each."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from corral.clock import split_time
from corral.errors import InvalidTransition


class OpStatus(enum.StrEnum):
    QUEUED = "queued"
    WAITING = "waiting"
    CANCELING = "canceling"
    RUNNING = "running"
    CANCELED = "canceled"
    SUCCESS = "success"
    ERROR = "error"


class JobStatus(enum.StrEnum):
    QUEUED = "queued"
    WAITING = "waiting"
    CANCELING = "canceling"
    RUNNING = "running"
    CANCELED = "canceled"
    SUCCESS = "success"
    ERROR = "error"


FINISHED = frozenset({OpStatus.CANCELED, OpStatus.SUCCESS, OpStatus.ERROR})
JOB_FINISHED = frozenset({JobStatus.CANCELED, JobStatus.SUCCESS, JobStatus.ERROR})
JOB_PENDING = frozenset({JobStatus.QUEUED, JobStatus.WAITING, JobStatus.CANCELING})

_OP_TRANSITIONS: dict[OpStatus, frozenset[OpStatus]] = {
    OpStatus.QUEUED: frozenset(
        {OpStatus.WAITING, OpStatus.CANCELING, OpStatus.CANCELED, OpStatus.ERROR, OpStatus.RUNNING}
    ),
    OpStatus.WAITING: frozenset(
        {OpStatus.RUNNING, OpStatus.CANCELING, OpStatus.CANCELED, OpStatus.ERROR, OpStatus.QUEUED}
    ),
    OpStatus.CANCELING: frozenset({OpStatus.CANCELED, OpStatus.ERROR}),
    OpStatus.RUNNING: frozenset({OpStatus.SUCCESS, OpStatus.ERROR, OpStatus.CANCELED}),
    OpStatus.CANCELED: frozenset(),
    OpStatus.SUCCESS: frozenset(),
    OpStatus.ERROR: frozenset(),
}


def check_transition(old: OpStatus, new: OpStatus) -> None:
    """Raise InvalidTransition unless ``old`` → ``new`` is allowed."""
    if old != new and new not in _OP_TRANSITIONS[old]:
        raise InvalidTransition(f"opcode status cannot go from {old} to {new}")


class LogType(enum.StrEnum):
    MESSAGE = "message"
    REMOTE_IMPORT = "remote-import"


Timestamp = tuple[int, int]

_TERMINAL_FOR_JOB = {
    OpStatus.CANCELING: JobStatus.CANCELING,
    OpStatus.ERROR: JobStatus.ERROR,
    OpStatus.CANCELED: JobStatus.CANCELED,
}


@dataclass
class QueuedOp:
    """One opcode of a job: its input (Ganeti's JSON shape) and its progress."""

    input: dict[str, Any]
    priority: int = 0
    status: OpStatus = OpStatus.QUEUED
    result: Any = None
    log: list[list[Any]] = field(default_factory=list)
    start_timestamp: Timestamp | None = None
    exec_timestamp: Timestamp | None = None
    end_timestamp: Timestamp | None = None

    def set_status(self, new: OpStatus) -> None:
        check_transition(self.status, new)
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
        status = JobStatus.QUEUED
        for op in self.ops:
            if op.status is OpStatus.SUCCESS or op.status is OpStatus.QUEUED:
                continue
            if op.status in _TERMINAL_FOR_JOB:
                return _TERMINAL_FOR_JOB[op.status]
            status = JobStatus(op.status.value)
        if all(op.status is OpStatus.SUCCESS for op in self.ops):
            return JobStatus.SUCCESS
        return status

    @property
    def priority(self) -> int:
        """The priority of the first unfinished opcode (Ganeti's CalcPriority)."""
        pending = [op.priority for op in self.ops if op.status not in FINISHED]
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
