"""``gnt-job info``: the job tree in Ganeti 3.0's layout (PrintGenericInfo)."""

from __future__ import annotations

from corral.cli.info import format_generic_info
from corral.cli.jobs import format_log_message
from corral.cli.output import format_timestamp

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up time)
if TYPE_CHECKING:
    from typing import Any

INFO_FIELDS = [
    "id", "status", "ops", "opresult", "opstatus", "oplog",
    "opstart", "opexec", "opend", "received_ts", "start_ts", "end_ts",
]


def _delta(start: Any, end: Any) -> float:
    return float(end[0]) - float(start[0]) + (float(end[1]) - float(start[1])) / 1e6


def _is_ts(value: Any) -> bool:
    return isinstance(value, list | tuple) and len(value) == 2


def _job_timestamp(name: str, ts: Any, prior: Any = None) -> tuple[str, str, str]:
    if ts is None:
        return (name, f"unknown ({ts})", "job_timestamp")
    delta = f" (delta {_delta(prior, ts):.6f}s)" if _is_ts(prior) and _is_ts(ts) else ""
    return (name, f"{format_timestamp(ts)}{delta}", "job_timestamp")


def _op_timestamp(name: str, ts: Any) -> tuple[str, str, str]:
    text = format_timestamp(ts) if _is_ts(ts) else "N/A"
    return (name, text, "opcode_timestamp")


def _log_entries(log: list[Any]) -> list[Any]:
    return [[("Time", format_timestamp(ts)),
             ("Content", (serial, kind, format_log_message(kind, msg)))]
            for serial, ts, kind, msg in log or []]


def _opcode_info(op: dict[str, Any], result: Any, status: str, log: list[Any],
                 start: Any, execution: Any, end: Any) -> list[Any]:
    return [
        ("Opcode", op.get("OP_ID", "?")),
        ("Status", status),
        _op_timestamp("Processing start", start),
        _op_timestamp("Execution start", execution),
        _op_timestamp("Processing end", end),
        ("Input fields", op),
        ("Result", result),
        ("Execution log", _log_entries(log)),
    ]


def _total(received: Any, end: Any) -> str:
    if _is_ts(received) and _is_ts(end):
        return f"{_delta(received, end):.6f} seconds"
    return "N/A"


def job_info_entry(row: list[Any]) -> list[Any]:
    """One job (a row of :data:`INFO_FIELDS` values) as an ordered mapping."""
    (job_id, status, ops, opresult, opstatus, oplog,
     opstart, opexec, opend, received, start, end) = row
    per_op = zip(ops or [], opresult or [], opstatus or [], oplog or [],
                 opstart or [], opexec or [], opend or [], strict=False)
    return [
        ("Job ID", job_id),
        ("Status", status),
        _job_timestamp("Received", received),
        _job_timestamp("Processing start", start, prior=received),
        _job_timestamp("Processing end", end, prior=start),
        ("Total processing time", _total(received, end)),
        ("Opcodes", [_opcode_info(*values) for values in per_op]),
    ]


def format_jobs_info(job_ids: list[int], rows: list[Any]) -> str:
    """The ``info`` text for the jobs asked for; unknown ids say ``Job ID N not found``."""
    entries: list[Any] = []
    for job_id, row in zip(job_ids, rows, strict=False):
        entries.append(f"Job ID {job_id} not found" if row is None else job_info_entry(row))
    return format_generic_info(entries)
