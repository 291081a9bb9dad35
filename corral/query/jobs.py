"""The ``job`` resource (``gnt-job list``), over job records in Ganeti's job-file shape.

Rows are ``(job_id, record or None)``: ids asked for by a name filter but not
found still get a row, with every field but ``id`` unavailable.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from corral.job_wire import OP_FINALIZED, OpStatus, job_status_of
from corral.opcodes import REGISTRY
from corral.opcodes.private import PRIVATE_FIELDS, hidden_values, scrub, served_input
from corral.query.context import QueryContext, Resource
from corral.query.fields import UNAVAIL, FieldDef, FieldFlag, FieldKind, Getter, field_table
from corral.query.filter import parse_job_id

K = FieldKind
JobRow = tuple[int, "dict[str, Any] | None"]

PRIORITY_DEFAULT = 0
PRIORITY_HIGHEST = -20
PRIORITY_LOWEST = 19


def op_summary(op_input: dict[str, Any]) -> str:
    """``OP_ID(descriptive field)`` without ``OP_``, as in Ganeti's job summaries."""
    op_id = str(op_input.get("OP_ID", ""))
    name = op_id.removeprefix("OP_")
    cls = REGISTRY.get(op_id)
    field = cls.OP_DSC_FIELD if cls is not None else None
    value = op_input.get(field) if field else None
    if value is None:
        return name
    if isinstance(value, list | tuple):
        value = ",".join(str(v) for v in value)
    return f"{name}({value})"


def job_status(job: dict[str, Any]) -> str:
    """The record's ``status``, or Ganeti's derivation from the opcode statuses."""
    if job.get("status"):
        return str(job["status"])
    ops = job.get("ops", ())
    return job_status_of(str(op.get("status", OpStatus.QUEUED)) for op in ops).value


def job_priority(job: dict[str, Any]) -> int:
    """Lowest priority among unfinished opcodes (Ganeti's CalcPriority)."""
    pending = [
        int(op.get("priority", PRIORITY_DEFAULT))
        for op in job.get("ops", ())
        if op.get("status") not in OP_FINALIZED
    ]
    return min(pending) if pending else PRIORITY_DEFAULT


def _job(fn: Callable[[dict[str, Any]], Any]) -> Getter:
    def get(_shared: Any, row: JobRow) -> Any:
        job = row[1]
        return UNAVAIL if job is None else fn(job)

    return get


def _per_op(fn: Callable[[dict[str, Any]], Any]) -> Getter:
    return _job(lambda job: [fn(op) for op in job.get("ops", ())])


def _without_private(key: str, default: Any) -> Callable[[dict[str, Any]], Any]:
    """An opcode's ``key`` with its input's private values ``<redacted>`` (a script may
    have echoed them in a message)."""

    def get(op: dict[str, Any]) -> Any:
        hidden = hidden_values(op.get("input") or {}, PRIVATE_FIELDS)
        return scrub(op.get(key, default), hidden)

    return get


def _timestamp(key: str) -> Getter:
    def get(_shared: Any, row: JobRow) -> Any:
        job = row[1]
        value = None if job is None else job.get(key)
        return UNAVAIL if value is None else value

    return get


_TS_DOC = " (tuple containing seconds and microseconds)"

JOB_FIELDS = field_table(
    [
        FieldDef("id", "ID", K.NUMBER, "Job ID", lambda _s, row: row[0], flags=FieldFlag.JOB_ID),
        FieldDef("status", "Status", K.TEXT, "Job status", _job(job_status)),
        FieldDef("priority", "Priority", K.NUMBER,
                 f"Current job priority ({PRIORITY_LOWEST} to {PRIORITY_HIGHEST})",
                 _job(job_priority)),
        FieldDef("archived", "Archived", K.BOOL, "Whether job is archived",
                 _job(lambda job: bool(job.get("archived", False)))),
        FieldDef("ops", "OpCodes", K.OTHER, "List of all opcodes",
                 _per_op(lambda op: served_input(op.get("input")))),
        FieldDef("opresult", "OpCode_result", K.OTHER, "List of opcodes results",
                 _per_op(_without_private("result", None))),
        FieldDef("opstatus", "OpCode_status", K.OTHER, "List of opcodes status",
                 _per_op(lambda op: op.get("status"))),
        FieldDef("oplog", "OpCode_log", K.OTHER, "List of opcode output logs",
                 _per_op(_without_private("log", []))),
        FieldDef("opstart", "OpCode_start", K.OTHER,
                 "List of opcode start timestamps (before acquiring locks)",
                 _per_op(lambda op: op.get("start_timestamp"))),
        FieldDef("opexec", "OpCode_exec", K.OTHER,
                 "List of opcode execution start timestamps (after acquiring locks)",
                 _per_op(lambda op: op.get("exec_timestamp"))),
        FieldDef("opend", "OpCode_end", K.OTHER, "List of opcode execution end timestamps",
                 _per_op(lambda op: op.get("end_timestamp"))),
        FieldDef("oppriority", "OpCode_prio", K.OTHER, "List of opcode priorities",
                 _per_op(lambda op: op.get("priority", PRIORITY_DEFAULT))),
        FieldDef("summary", "Summary", K.OTHER, "List of per-opcode summaries",
                 _per_op(lambda op: op_summary(op.get("input") or {}))),
        FieldDef("received_ts", "Received", K.OTHER,
                 "Timestamp of when job was received" + _TS_DOC,
                 _timestamp("received_timestamp"), flags=FieldFlag.SPLIT_TIMESTAMP),
        FieldDef("start_ts", "Start", K.OTHER, "Timestamp of job start" + _TS_DOC,
                 _timestamp("start_timestamp"), flags=FieldFlag.SPLIT_TIMESTAMP),
        FieldDef("end_ts", "End", K.OTHER, "Timestamp of job end" + _TS_DOC,
                 _timestamp("end_timestamp"), flags=FieldFlag.SPLIT_TIMESTAMP),
    ]
)


def select_jobs(ctx: QueryContext, wanted: list[Any] | None) -> list[JobRow]:
    """Jobs sorted by id; with ``wanted`` ids, one row per id (missing ones empty).

    Raises:
        QueryFilterError: a wanted id is not a valid job id.
    """
    by_id = {int(job["id"]): job for job in ctx.jobs}
    ids = sorted(by_id) if wanted is None else sorted({parse_job_id(w) for w in wanted})
    return [(job_id, by_id.get(job_id)) for job_id in ids]


RESOURCE = Resource("job", JOB_FIELDS, "id", lambda _ctx: None, select_jobs)
