"""Running one opcode per instance (Ganeti's GenericManyOps and JobExecutor).

``startup``, ``shutdown``, ``reboot`` and ``reinstall`` act on the instances the
selection names: instance names (the default), every instance (``--all``), or
the instances of the given nodes (``--node``, ``--primary``, ``--secondary``).
Ganeti's tag-based selections (``--tags``, ``--node-tags``, …) are not offered.
Each instance gets its own job; more than one instance needs confirmation
(or ``--force-multiple``).
"""

from __future__ import annotations

from corral.cli import instance_opts as io
from corral.cli.commands import ask_user
from corral.cli.errors import CliError, JobFailed, UsageError, describe_error
from corral.cli.jobs import Reporter, poll_job, set_generic_options

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up time)
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from corral.cli.commands import Context

    OpBuilder = Callable[[Context, str], dict[str, Any]]


def query_instance_names(ctx: Context, names: list[str]) -> list[str]:
    """Full names of the instances given (all when ``names`` is empty); the master
    refuses unknown ones."""
    rows = ctx.client.call("QueryInstances", names, ["name"], False)
    return [str(row[0]) for row in rows]


def _node_instances(ctx: Context, mode: str, nodes: list[str]) -> list[str]:
    if not nodes:
        raise UsageError("Error: No node names passed")
    rows = ctx.client.QueryNodes(nodes, ["name", "pinst_list", "sinst_list"], False)
    primary = [name for row in rows for name in row[1] or []]
    secondary = [name for row in rows for name in row[2] or []]
    if mode == io.EXPAND_NODES_PRI:
        return primary
    if mode == io.EXPAND_NODES_SEC:
        return secondary
    return primary + secondary


def _invalid(message: str) -> CliError:
    """Ganeti's OpPrereqError (wrong_input) text, as its client prints it."""
    return CliError(describe_error("OpPrereqError", [message, "wrong_input"]))


def expand_names(ctx: Context, mode: str, args: list[str]) -> list[str]:
    """The instances a selection mode and its arguments name."""
    if mode == io.EXPAND_CLUSTER:
        if args:
            raise _invalid("Cluster filter mode takes no arguments")
        return query_instance_names(ctx, [])
    if mode == io.EXPAND_INSTANCES:
        if not args:
            raise _invalid("No instance names passed")
        return query_instance_names(ctx, args)
    return _node_instances(ctx, mode, args)


def confirm_operation(names: list[str], operation: str, extra: str = "") -> bool:
    """Ganeti's ConfirmOperation question (the list of instances is shown up to 20)."""
    question = (f"The {operation} will operate on {len(names)} instances.\n{extra}"
                "Do you want to continue?")
    if len(names) <= 20:
        question += "\nAffected instances:\n" + "\n".join(f"  {name}" for name in names)
    return ask_user(question)


def selected_instances(ctx: Context, args: list[str], operation: str, extra: str = ""
                       ) -> tuple[list[str], bool] | None:
    """(instances, several?) of a multi-instance command; None if the user said no."""
    mode = getattr(ctx.opts, "multi_mode", None) or io.EXPAND_INSTANCES
    names = expand_names(ctx, mode, args)
    if not names:
        if mode == io.EXPAND_CLUSTER:
            ctx.out(f"Cluster is empty, no instances to {operation}")
            return [], False
        raise UsageError("Error: Selection filter does not match any instances")
    multi = mode != io.EXPAND_INSTANCES or len(names) > 1
    if multi and not ctx.opts.force_multi and not confirm_operation(names, operation, extra):
        return None
    return names, multi


def many_ops(operation: str, build: OpBuilder) -> Callable[[Context, list[str]], int]:
    """A handler that runs ``build(ctx, name)`` for every selected instance."""

    def handler(ctx: Context, args: list[str]) -> int:
        selected = selected_instances(ctx, args, operation)
        if selected is None:
            return 1
        names, multi = selected
        if not names:
            return 0
        return run_jobs(ctx, [(name, build(ctx, name)) for name in names], verbose=multi)

    return handler


def _show_submitted(ctx: Context, names: list[str], submitted: list[Any]) -> int:
    failed = False
    for name, (ok, job) in zip(names, submitted, strict=True):
        if ok:
            ctx.out(f"{job}: {name}")
        else:
            ctx.err(f"Failure for {name}: {job}")
            failed = True
    return int(failed)


def _wait(ctx: Context, name: str, ok: bool, job: Any) -> bool:
    if not ok:
        ctx.err(f"Failed to submit job for {name}: {job}")
        return False
    ctx.out(f"Waiting for job {job} for {name} ...")
    try:
        poll_job(ctx.client, int(job), Reporter())
    except JobFailed as err:
        ctx.err(f"Job {job} for {name} has failed: {err.message}")
        return False
    return True


def run_jobs(ctx: Context, named_ops: list[tuple[str, dict[str, Any]]], verbose: bool) -> int:
    """Submit one job per opcode; with ``--submit`` print ``<job id>: <name>``, else wait.

    Returns 0 when every job succeeded, 1 otherwise.
    """
    names = [name for name, _ in named_ops]
    ops = [op for _, op in named_ops]
    set_generic_options(ctx, ops)
    submitted = ctx.client.SubmitManyJobs([[op] for op in ops])
    if getattr(ctx.opts, "submit_only", False):
        return _show_submitted(ctx, names, submitted)
    if verbose:
        ok_ids = [str(job) for ok, job in submitted if ok]
        if ok_ids:
            ctx.out(f"Submitted jobs {', '.join(ok_ids)}")
    results = [_wait(ctx, name, ok, job)
               for name, (ok, job) in zip(names, submitted, strict=True)]
    return 0 if all(results) else 1
