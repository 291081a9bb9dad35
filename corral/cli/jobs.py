"""Building opcodes, submitting jobs and following them (Ganeti's SubmitOrSend/PollJob).

Opcodes are plain dicts in Ganeti's JSON shape (``{"OP_ID": …, field: value}``);
the master validates them. Before submission every opcode gets the generic
options of the command line: ``debug_level``, ``dry_run`` (when the command
has ``--dry-run``), ``priority`` (when ``--priority`` was given) and the reason
trail (``--reason``, then ``gnt:client:<binary>`` with the subcommand).
"""

from __future__ import annotations

import sys
import time

from corral.cli.errors import JobFailed, JobSubmitted, describe_encoded, describe_error
from corral.cli.output import merge_time
from corral.job_wire import JOB_FINALIZED, JOB_NOTCHANGED, JobStatus, OpStatus

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up time)
if TYPE_CHECKING:
    from typing import Any

    from corral.cli.commands import Context
    from corral.luxi.client import Client

WFJC_TIMEOUT = 10.0
"""Seconds the master may hold one WaitForJobChange call."""

JOB_IDS_KEY = "jobs"
"""Key of Ganeti's ResultWithJobs: ``{"jobs": [[submitted?, job id or error], …]}``."""

STOP_FOLLOWING = JOB_FINALIZED | {JobStatus.CANCELING}
"""Statuses at which following a job ends (Ganeti's PollJob also stops at canceling)."""
REASON_SRC_USER = "gnt:user"
REASON_SRC_CLIENT = "gnt:client"


def opcode(op_id: str, **fields: Any) -> dict[str, Any]:
    """An opcode dict; fields whose value is None are left out (the master's default)."""
    op: dict[str, Any] = {"OP_ID": op_id}
    op.update((key, value) for key, value in fields.items() if value is not None)
    return op


def set_generic_options(ctx: Context, ops: list[dict[str, Any]]) -> None:
    """Add the command line's generic options to every opcode, in place."""
    opts = ctx.opts
    now = time.time_ns()
    trail: list[list[Any]] = []
    if getattr(opts, "reason", None):
        trail.append([REASON_SRC_USER, opts.reason, now])
    trail.append([f"{REASON_SRC_CLIENT}:{ctx.binary}", ctx.command, now])
    for op in ops:
        op["debug_level"] = int(getattr(opts, "debug", 0) or 0)
        if hasattr(opts, "dry_run"):
            op["dry_run"] = bool(opts.dry_run)
        if getattr(opts, "priority", None) is not None:
            op["priority"] = opts.priority
        op["reason"] = [list(entry) for entry in trail]


def submit_or_send(ctx: Context, op: dict[str, Any]) -> Any:
    """Run one opcode and return its result; with ``--submit`` only send it.

    Raises:
        JobSubmitted: ``--submit`` was given (the caller's handler stops there).
        JobFailed: the job failed; the message is Ganeti's failure text.
    """
    if getattr(ctx.opts, "submit_only", False):
        set_generic_options(ctx, [op])
        job_id = ctx.client.SubmitJob([op])
        if getattr(ctx.opts, "print_jobid", False):
            ctx.out(str(job_id))
        raise JobSubmitted(job_id)
    return submit_opcode(ctx, op)


def submit_opcode(ctx: Context, op: dict[str, Any], quiet: bool = False) -> Any:
    """Submit one opcode, follow the job printing its log, return the opcode's result."""
    set_generic_options(ctx, [op])
    job_id = ctx.client.SubmitJob([op])
    if getattr(ctx.opts, "print_jobid", False):
        ctx.out(str(job_id))
    reporter = Reporter(quiet=quiet)
    return poll_job(ctx.client, job_id, reporter)[0]


class Reporter:
    """Prints a job's log lines as ``<ctime> <message>`` and queue notices on stderr."""

    def __init__(self, quiet: bool = False) -> None:
        self.quiet = quiet
        self._noticed: set[str] = set()

    def log(self, entry: list[Any]) -> None:
        if self.quiet:
            return
        print(format_log_entry(entry), file=sys.stdout, flush=True)

    def not_changed(self, job_id: int, status: str | None) -> None:
        if self.quiet or status in self._noticed:
            return
        if status == JobStatus.QUEUED:
            print(f"Job {job_id} is waiting in queue", file=sys.stderr)
        elif status == JobStatus.WAITING:
            print(f"Job {job_id} is trying to acquire all necessary locks", file=sys.stderr)
        if status is not None:
            self._noticed.add(status)


def format_log_message(log_type: str, message: Any) -> str:
    return message if log_type == "message" and isinstance(message, str) else str(message)


def format_log_entry(entry: list[Any]) -> str:
    """``[serial, timestamp, type, message]`` → ``Fri Nov 21 06:02:00 2025 message``."""
    _serial, timestamp, log_type, message = entry
    return f"{time.ctime(merge_time(timestamp))} {format_log_message(log_type, message)}"


def _job_lost(job_id: int) -> JobFailed:
    return JobFailed(describe_error("JobLost", [f"Job with id {job_id} lost"]), "JobLost")


def poll_job(client: Client, job_id: int, reporter: Reporter) -> list[Any]:
    """Follow ``job_id`` to its end; the list of opcode results on success.

    Raises:
        JobFailed: the job failed, was canceled or disappeared.
    """
    prev_info: Any = None
    prev_serial: int | None = None
    status: str | None = None
    while True:
        change = client.WaitForJobChangeOnce(job_id, ["status"], prev_info, prev_serial,
                                             WFJC_TIMEOUT)
        if not change:
            raise _job_lost(job_id)
        if change == JOB_NOTCHANGED:
            if status in STOP_FOLLOWING:
                break
            reporter.not_changed(job_id, status)
            continue
        info, logs = change
        status = info[0]
        for entry in logs or []:
            reporter.log(entry)
            prev_serial = int(entry[0]) if prev_serial is None else max(prev_serial, int(entry[0]))
        if not logs and status in STOP_FOLLOWING:
            break
        prev_info = info
    rows = client.QueryJobs([job_id], ["status", "opstatus", "opresult"])
    if not rows or rows[0] is None:
        raise _job_lost(job_id)
    return job_outcome(rows[0][0], rows[0][1], rows[0][2])


def job_outcome(status: str, opstatus: list[str], opresult: list[Any]) -> list[Any]:
    """The results of a successful job; raises JobFailed with Ganeti's text otherwise."""
    if status == JobStatus.SUCCESS:
        return list(opresult)
    if status in (JobStatus.CANCELING, JobStatus.CANCELED):
        raise JobFailed(describe_error("JobCanceled", ["Job was canceled"]), "JobCanceled")
    seen_ok = False
    for idx, (op_status, result) in enumerate(zip(opstatus or [], opresult or [], strict=False)):
        if op_status == OpStatus.SUCCESS:
            seen_ok = True
        elif op_status == OpStatus.ERROR:
            text, name = describe_encoded(result)
            if name is None and seen_ok:
                text = describe_error("OpExecError", [f"partial failure (opcode {idx}): {result}"])
            raise JobFailed(text, name)
    raise JobFailed(describe_error("OpExecError", [str(opresult)]), "OpExecError")


def wait_for_jobs(ctx: Context, submitted: list[Any]) -> list[tuple[bool, Any]]:
    """Follow the jobs of a ResultWithJobs, as Ganeti's JobExecutor does.

    Returns ``(success, results or failure text)`` per job, in order.
    """
    outcomes: list[tuple[bool, Any]] = []
    accepted = [str(job) for ok, job in submitted if ok]
    if accepted:
        ctx.out(f"Submitted jobs {', '.join(accepted)}")
    for ok, job in submitted:
        if not ok:
            ctx.err(f"Failed to submit job: {job}")
    for ok, job in submitted:
        if not ok:
            outcomes.append((False, job))
            continue
        ctx.out(f"Waiting for job {job} ...")
        try:
            outcomes.append((True, poll_job(ctx.client, int(job), Reporter())))
        except JobFailed as err:
            ctx.err(f"Job {job} has failed: {err.message}")
            outcomes.append((False, err.message))
    return outcomes


def submitted_jobs(result: Any) -> list[Any] | None:
    """The ``[[ok, job id], …]`` list of a ResultWithJobs, or None for any other result."""
    if isinstance(result, dict) and isinstance(result.get(JOB_IDS_KEY), list):
        return list(result[JOB_IDS_KEY])
    return None
