"""Job values as they travel between the master and its clients (Ganeti's names and strings).

Job and opcode statuses, the sets clients test them against, the rule that derives a job's
status from its opcodes', and WaitForJobChange's "nothing changed" answer. LUXI, RAPI, the
query engine, the CLI and the queue all take them from here.

Standard library only: the CLI imports this module on every command.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable


class OpStatus(enum.StrEnum):
    """Status of one opcode (Ganeti's ``OP_STATUS_*``)."""

    QUEUED = "queued"
    WAITING = "waiting"
    CANCELING = "canceling"
    RUNNING = "running"
    CANCELED = "canceled"
    SUCCESS = "success"
    ERROR = "error"


class JobStatus(enum.StrEnum):
    """Status of a job, derived from its opcodes' (Ganeti's ``JOB_STATUS_*``)."""

    QUEUED = "queued"
    WAITING = "waiting"
    CANCELING = "canceling"
    RUNNING = "running"
    CANCELED = "canceled"
    SUCCESS = "success"
    ERROR = "error"


OP_FINALIZED = frozenset({OpStatus.CANCELED, OpStatus.SUCCESS, OpStatus.ERROR})
"""Opcode statuses that never change again (Ganeti's ``OPS_FINALIZED``)."""

JOB_FINALIZED = frozenset({JobStatus.CANCELED, JobStatus.SUCCESS, JobStatus.ERROR})
"""Job statuses that never change again (Ganeti's ``JOBS_FINALIZED``)."""

JOB_PENDING = frozenset({JobStatus.QUEUED, JobStatus.WAITING, JobStatus.CANCELING})
"""Jobs not yet executing or being canceled (Ganeti's ``JOBS_PENDING``, ``gnt-job --pending``)."""

JOB_NOTCHANGED = "nochange"
"""WaitForJobChange's answer when nothing changed within the timeout (RAPI turns it into null)."""

_ENDS_JOB: dict[str, JobStatus] = {
    OpStatus.CANCELING: JobStatus.CANCELING,
    OpStatus.ERROR: JobStatus.ERROR,
    OpStatus.CANCELED: JobStatus.CANCELED,
}
_SHOWS_PROGRESS: dict[str, JobStatus] = {
    OpStatus.WAITING: JobStatus.WAITING,
    OpStatus.RUNNING: JobStatus.RUNNING,
}


def job_status_of(op_statuses: Iterable[str]) -> JobStatus:
    """A job's status from its opcodes' statuses, in order (Ganeti's ``CalcStatus``).

    The first canceling, error or canceled opcode decides; otherwise the last waiting or
    running one; a job whose opcodes all succeeded is a success; anything else is queued.
    """
    status = JobStatus.QUEUED
    all_success = True
    for op_status in op_statuses:
        if op_status == OpStatus.SUCCESS:
            continue
        all_success = False
        if op_status in _ENDS_JOB:
            return _ENDS_JOB[op_status]
        status = _SHOWS_PROGRESS.get(op_status, status)
    return JobStatus.SUCCESS if all_success else status
