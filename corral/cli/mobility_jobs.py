"""What the mobility commands share: Ganeti's option checks, draining a node, and following
the jobs an opcode's ResultWithJobs (or a batch of submissions) names.

Following jobs prints what Ganeti's JobExecutor prints: ``Submitted jobs 4, 5``, then
``Waiting for job 4 [for NAME] ...`` and the job's log lines as they come (a migration's
``* memory transfer progress`` lines included), and a line on stderr for each failure.
"""

from __future__ import annotations

from corral.cli.errors import CliError, JobFailed, describe_error
from corral.cli.jobs import (
    Reporter,
    opcode,
    poll_job,
    submit_opcode,
    submit_or_send,
    submitted_jobs,
)

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up time)
if TYPE_CHECKING:
    import argparse
    from typing import Any

    from corral.cli.commands import Context

EXIT_CONFIRMATION = 13
"""Ganeti's exit code when the user answers no (``gnt-node migrate|evacuate``)."""
EXIT_FAILOVER_DECLINED = 2
"""What Ganeti's ``gnt-node failover`` returns when the user answers no."""
MODE_NON_LIVE = "non-live"


def invalid(message: str) -> CliError:
    """Ganeti's OpPrereqError (``wrong_input``), as its client prints it."""
    return CliError(describe_error("OpPrereqError", [message, "wrong_input"]))


def check_target(opts: argparse.Namespace) -> None:
    """``-I`` and ``-n`` exclude each other (the check of Ganeti's client)."""
    if opts.iallocator and opts.dst_node:
        raise invalid("Specify either an iallocator (-I), or a target node (-n) but not both")


def migration_mode(opts: argparse.Namespace) -> str | None:
    """The opcode's ``mode`` from ``--non-live``/``--migration-mode`` (None: the default)."""
    if not opts.live and opts.migration_mode is not None:
        raise invalid("Only one of the --non-live and --migration-mode options can be passed")
    return MODE_NON_LIVE if not opts.live else opts.migration_mode


def nice_key(name: str) -> list[Any]:
    """Ganeti's NiceSort order: digit runs compare as numbers (``node2`` < ``node10``)."""
    import re

    return [(0, int(part), "") if part.isdigit() else (1, 0, part)
            for part in re.split(r"(\d+)", name) if part]


def comma_join(names: list[str]) -> str:
    return ", ".join(names)


def drain_node(ctx: Context, node: str) -> None:
    """``--drain``: mark ``node`` drained (and wait), so that nothing new is placed on it.

    Other nodes are promoted to master candidates if the node was one and the pool
    would fall short.
    """
    submit_opcode(ctx, opcode("OP_NODE_SET_PARAMS", node_name=node, drained=True,
                              auto_promote=True, force=False))
    ctx.out(f"Node {node} is now drained")


def _wait_one(ctx: Context, name: str | None, job: Any) -> bool:
    label = f" for {name}" if name else ""
    ctx.out(f"Waiting for job {job}{label} ...")
    try:
        poll_job(ctx.client, int(job), Reporter())
    except JobFailed as err:
        if err.error_class == "JobLost":
            ctx.err(f"Job {job}{label} has been archived, cannot check its result")
        else:
            ctx.err(f"Job {job}{label} has failed: {err.message}")
        return False
    return True


def follow_jobs(ctx: Context, submitted: list[tuple[str | None, bool, Any]]) -> int:
    """Wait for every ``(name, accepted?, job id or error)``; the number that failed."""
    accepted = [str(job) for _, ok, job in submitted if ok]
    if accepted:
        ctx.out(f"Submitted jobs {comma_join(accepted)}")
    failed = 0
    for name, ok, job in submitted:
        if not ok:
            ctx.err(f"Failed to submit job{f' for {name}' if name else ''}: {job}")
            failed += 1
    for name, ok, job in submitted:
        if ok and not _wait_one(ctx, name, job):
            failed += 1
    return failed


def follow_result(ctx: Context, result: Any) -> int:
    """Follow the jobs of a ResultWithJobs; the number that failed."""
    jobs = submitted_jobs(result)
    if jobs is None:
        raise CliError(f"Unexpected answer from the master (no job list): {result!r}")
    return follow_jobs(ctx, [(None, bool(ok), job) for ok, job in jobs])


def run_evacuation(ctx: Context, op: dict[str, Any], what: str, done: str) -> int:
    """Run ``op`` (its result lists jobs), follow them and report Ganeti's way:
    "There were N errors during the <what>." (1) or ``done`` (0)."""
    failed = follow_result(ctx, submit_or_send(ctx, op))
    if failed:
        ctx.out(f"There were {failed} errors during the {what}.")
        return 1
    ctx.out(done)
    return 0
