"""``gnt-job``: list, inspect, follow, cancel and archive jobs."""

from __future__ import annotations

import sys

from corral.cli import options as o
from corral.cli.commands import Arg, Command, Tool, ask_user
from corral.cli.errors import CliError, JobFailed, UsageError, describe_error
from corral.cli.job_info import INFO_FIELDS, format_jobs_info
from corral.cli.jobs import Reporter, poll_job
from corral.cli.output import format_query_result, format_timestamp, format_value, parse_fields
from corral.cli.params import ParamError, parse_timespec
from corral.cli.query import build_filter, generic_list, generic_list_fields, name_filter
from corral.job_wire import JOB_FINALIZED, JOB_PENDING, JobStatus
from corral.luxi.client import LuxiRemoteError

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up time)
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from typing import Any

    from corral.cli.commands import Context
    from corral.cli.output import Formatter

BINARY = "gnt-job"
LIST_DEFAULT_FIELDS = ["id", "status", "summary"]
AUTOARCHIVE_TIMEOUT = 29.0
EXIT_CONFIRMATION = 13

LIST_OVERRIDES: dict[str, tuple[Formatter, bool]] = {
    "summary": (lambda v: ",".join(str(x) for x in v or []), False),
    "opstart": (lambda v: format_value([format_timestamp(t) for t in v or []]), False),
    "opexec": (lambda v: format_value([format_timestamp(t) for t in v or []]), False),
    "opend": (lambda v: format_value([format_timestamp(t) for t in v or []]), False),
}


def parse_job_ids(args: list[str]) -> list[int]:
    try:
        return [int(a) for a in args]
    except ValueError as err:
        raise CliError(describe_error("OpPrereqError",
                                      [f"Invalid job ID passed: {err}", "wrong_input"])) from None


def list_jobs(ctx: Context, args: list[str]) -> int:
    fields = parse_fields(ctx.opts.output, LIST_DEFAULT_FIELDS)
    if ctx.opts.archived and "archived" not in fields:
        fields.append("archived")
    status = name_filter(ctx.opts.status_filter or [], "status")
    qfilter = build_filter(ctx, args, namefield="id", numeric=True, extra=status)
    return generic_list(ctx, "job", fields, qfilter, overrides=LIST_OVERRIDES)


def list_fields(ctx: Context, args: list[str]) -> int:
    return generic_list_fields(ctx, "job", args)


def show_jobs(ctx: Context, args: list[str]) -> int:
    job_ids = parse_job_ids(args)
    rows = ctx.client.QueryJobs(job_ids, INFO_FIELDS)
    ctx.out(format_jobs_info(job_ids, rows))
    return 0


def _follow(ctx: Context, job_id: int, quiet: bool) -> int:
    try:
        poll_job(ctx.client, job_id, Reporter(quiet=quiet))
    except JobFailed as err:
        ctx.err(f"Job {job_id} failed: {err.message}")
        return 1
    except LuxiRemoteError as err:  # e.g. JobLost: the job does not exist
        ctx.err(f"Job {job_id} failed: {describe_error(err.error_class, err.error_args)}")
        return 1
    return 0


def watch_job(ctx: Context, args: list[str]) -> int:
    job_id = parse_job_ids(args)[0]
    header = f"Output from job {job_id} follows"
    ctx.out(header)
    ctx.out("-" * len(header))
    return _follow(ctx, job_id, quiet=False)


def wait_job(ctx: Context, args: list[str]) -> int:
    return _follow(ctx, parse_job_ids(args)[0], quiet=True)


def archive_jobs(ctx: Context, args: list[str]) -> int:
    code = 0
    for job_id in parse_job_ids(args):
        if not ctx.client.ArchiveJob(job_id):
            ctx.err(f"Failed to archive job with ID '{job_id}'")
            code = 1
    return code


def autoarchive(ctx: Context, args: list[str]) -> int:
    try:
        age = -1 if args[0] == "all" else parse_timespec(args[0])
    except ParamError as err:
        raise UsageError(f"Error: {err}") from None
    archived, left = ctx.client.AutoArchiveJobs(age, AUTOARCHIVE_TIMEOUT)
    ctx.out(f"Archived {archived} jobs, {left} unchecked left")
    return 0


def _multi_job_action(ctx: Context, args: list[str], question: str,
                      action: Callable[[int], list[Any]]) -> int:
    status_filter = ctx.opts.status_filter
    if bool(args) == (status_filter is not None):
        raise CliError(describe_error("OpPrereqError", [
            "Either a status filter or job ID(s) must be specified and never both",
            "wrong_input"]))
    job_ids = parse_job_ids(args) if args else _select_jobs(ctx, status_filter, question)
    if job_ids is None:
        return EXIT_CONFIRMATION
    code = 0
    for job_id in job_ids:
        success, message = action(job_id)
        code = code if success else 1
        ctx.out(str(message))
    return code


def _select_jobs(ctx: Context, statuses: tuple[str, ...], question: str) -> list[int] | None:
    response = ctx.client.Query("job", ["id", "status", "summary"], name_filter(statuses, "status"))
    job_ids = [row[0][1] for row in response.get("data") or []]
    if not job_ids:
        raise CliError(describe_error("OpPrereqError", [
            "No jobs with the requested status have been found", "wrong_state"]))
    if not ctx.opts.force:
        for line in format_query_result(response, overrides=LIST_OVERRIDES)[1]:
            ctx.out(line)
        if not ask_user(question):
            return None
    return [int(j) for j in job_ids]


def cancel_jobs(ctx: Context, args: list[str]) -> int:
    kill = bool(ctx.opts.kill)
    if kill and not ctx.opts.yes_do_it:
        raise CliError(describe_error("OpPrereqError", [
            "The --kill option must be confirmed with --yes-do-it", "wrong_input"]))
    name = "KILL" if kill else "Cancel"
    return _multi_job_action(ctx, args, f"{name} job(s) listed above?",
                             lambda job_id: ctx.client.CancelJob(job_id, kill))


def change_priority(ctx: Context, args: list[str]) -> int:
    priority = ctx.opts.priority
    if priority is None:
        raise CliError("--priority option must be given.")
    return _multi_job_action(ctx, args, "Change priority of job(s) listed above?",
                             lambda job_id: ctx.client.ChangeJobPriority(job_id, priority))


def _status_opt(flag: str, statuses: Iterable[JobStatus], text: str) -> o.Opt:
    """An option selecting jobs by status; the filter carries the statuses as plain strings."""
    const = tuple(sorted(status.value for status in statuses))
    return o.Opt(flag, dest="status_filter", action="store_const", const=const, help=text)


PENDING_OPT = _status_opt("--pending", JOB_PENDING,
                          "Select jobs pending execution or being cancelled")
RUNNING_OPT = _status_opt("--running", [JobStatus.RUNNING], "Show jobs currently running only")
ERROR_OPT = _status_opt("--error", [JobStatus.ERROR], "Show failed jobs only")
FINISHED_OPT = _status_opt("--finished", JOB_FINALIZED, "Show finished jobs only")
QUEUED_OPT = _status_opt("--queued", [JobStatus.QUEUED], "Select queued jobs only")
WAITING_OPT = _status_opt("--waiting", [JobStatus.WAITING], "Select waiting jobs only")
ARCHIVED_OPT = o.Opt("--archived", action="store_true", dest="archived",
                     help="Include archived jobs in list (slow and expensive)")
KILL_OPT = o.Opt("--kill", action="store_true", dest="kill", help="Kill running jobs with SIGKILL")

_JOB_IDS = [Arg("job-id", 1)]
_ONE_JOB = [Arg("job-id", 1, 1)]

COMMANDS = {
    "list": Command(
        list_jobs, [Arg("job-id")],
        (o.NOHDR_OPT, o.SEP_OPT, o.FIELDS_OPT, o.VERBOSE_OPT, o.FORCE_FILTER_OPT, PENDING_OPT,
         RUNNING_OPT, ERROR_OPT, FINISHED_OPT, ARCHIVED_OPT),
        "[<job-id>...]",
        "Lists the jobs and their status. The default field list is (in order): "
        + ", ".join(LIST_DEFAULT_FIELDS) + "."),
    "list-fields": Command(list_fields, [Arg("field")], (o.NOHDR_OPT, o.SEP_OPT), "[<fields>...]",
                           "Lists all available fields for jobs"),
    "archive": Command(archive_jobs, _JOB_IDS, (), "<job-id> [<job-id>...]",
                       "Archive specified jobs"),
    "autoarchive": Command(autoarchive, [Arg("age", 1, 1)], (), "<age>",
                           "Auto archive jobs older than the given age (e.g. 1d, 4w or all)"),
    "cancel": Command(
        cancel_jobs, [Arg("job-id")],
        (o.FORCE_OPT, KILL_OPT, PENDING_OPT, QUEUED_OPT, WAITING_OPT, o.YES_DOIT_OPT),
        "{[--force] [--kill --yes-do-it] {--pending | --queued | --waiting} |"
        " <job-id> [<job-id>...]}", "Cancel jobs"),
    "info": Command(show_jobs, _JOB_IDS, (), "<job-id> [<job-id>...]",
                    "Show detailed information about the specified jobs", aliases=("show",)),
    "wait": Command(wait_job, _ONE_JOB, (), "<job-id>", "Wait for a job to finish"),
    "watch": Command(watch_job, _ONE_JOB, (), "<job-id>",
                     "Follows a job and prints its output as it arrives"),
    "change-priority": Command(
        change_priority, [Arg("job-id")],
        (o.PRIORITY_OPT, o.FORCE_OPT, PENDING_OPT, QUEUED_OPT, WAITING_OPT),
        "--priority <priority> {[--force] {--pending | --queued | --waiting} |"
        " <job-id> [<job-id>...]}", "Change the priority of jobs"),
}

main = Tool(BINARY, COMMANDS)

if __name__ == "__main__":
    sys.exit(main())
