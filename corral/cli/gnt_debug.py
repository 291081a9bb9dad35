"""``gnt-debug``: ``delay``, ``iallocator``, ``locks``, ``submit-job`` and ``test-jobqueue``."""

from __future__ import annotations

import json
import sys
import time

from corral.cli import instance_opts as io
from corral.cli import options as o
from corral.cli.commands import Arg, Command, Tool
from corral.cli.errors import CliError, JobFailed, UsageError
from corral.cli.jobs import Reporter, opcode, poll_job, set_generic_options, submit_or_send
from corral.cli.output import parse_fields
from corral.cli.params import ParamError, parse_unit
from corral.cli.query import generic_list
from corral.luxi.client import LuxiRemoteError

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up time)
if TYPE_CHECKING:
    from typing import Any

    from corral.cli.commands import Context

BINARY = "gnt-debug"


def _duration(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise UsageError(f"Error: invalid duration '{text}' (expected seconds)") from None
    if value < 0:
        raise UsageError(f"Error: invalid duration '{text}' (must not be negative)")
    return value


def delay(ctx: Context, args: list[str]) -> int:
    opts = ctx.opts
    op = opcode(
        "OP_TEST_DELAY",
        duration=_duration(args[0]),
        on_master=opts.on_master,
        on_nodes=list(opts.on_nodes),
        repeat=opts.repeat,
        interruptible=opts.interruptible,
        no_locks=opts.no_locks,
    )
    submit_or_send(ctx, op)
    return 0


# --- locks ---------------------------------------------------------------------------------

LOCK_FIELDS = ["name", "mode", "owner", "pending"]


def _dash_if_empty(fmt: Any) -> Any:
    def wrapper(value: Any) -> str:
        return str(fmt(value)) if value else "-"

    return wrapper


def _pending(value: Any) -> str:
    return ", ".join(f"{mode}:{','.join(map(str, owners))}" for mode, owners in value)


def list_locks(ctx: Context, args: list[str]) -> int:
    """The lock table (``Query("lock")``), again every ``--interval`` seconds when given."""
    fields = parse_fields(ctx.opts.output, LOCK_FIELDS)
    overrides = {"mode": (_dash_if_empty(str), False),
                 "owner": (_dash_if_empty(",".join), False),
                 "pending": (_dash_if_empty(_pending), False)}
    while True:
        code = generic_list(ctx, "lock", fields, None, overrides)
        if code or not ctx.opts.interval:
            return code
        ctx.out("")
        time.sleep(ctx.opts.interval)


# --- submit-job ----------------------------------------------------------------------------

def _load_ops(path: str) -> list[dict[str, Any]]:
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except OSError as err:
        raise CliError(f"Cannot read {path}: {err.strerror or err}") from None
    except ValueError as err:
        raise CliError(f"{path} is not valid JSON: {err}") from None
    if not isinstance(data, list) or not all(
            isinstance(op, dict) and isinstance(op.get("OP_ID"), str) for op in data):
        raise CliError(f"{path} must hold a list of opcodes (objects with an OP_ID)")
    return data


def _follow(ctx: Context, jobs: list[tuple[str, bool, Any]], verbose: bool) -> int:
    """Wait for submitted ``(name, ok, job id or error)`` jobs as Ganeti's JobExecutor."""
    if verbose:
        accepted = [str(job) for _, ok, job in jobs if ok]
        if accepted:
            ctx.out(f"Submitted jobs {', '.join(accepted)}")
    code = 0
    for name, ok, job in jobs:
        if not ok:
            ctx.err(f"Failed to submit job{f' for {name}' if name else ''}: {job}")
            code = 1
    for name, ok, job in jobs:
        if not ok:
            continue
        ctx.out(f"Waiting for job {job}{f' for {name}' if name else ''} ...")
        try:
            poll_job(ctx.client, int(job), Reporter())
        except JobFailed as err:
            ctx.err(f"Job {job}{f' for {name}' if name else ''} has failed: {err.message}")
            code = 1
    return code


def submit_job(ctx: Context, args: list[str]) -> int:
    """Submit the opcodes of JSON files (``[{"OP_ID": ...}, ...]``), one job per file."""
    opts = ctx.opts
    timing = bool(opts.timing_stats)
    if timing:
        ctx.out("Loading...")
    queued: list[tuple[str, list[dict[str, Any]]]] = []
    for job_idx in range(opts.rep_job):
        for path in args:
            ops = _load_ops(path) * opts.rep_op
            set_generic_options(ctx, ops)
            queued.append((f"file {path}/{job_idx}", ops))
    start = time.monotonic()
    if timing:
        ctx.out("Submitting...")
    jobs: list[tuple[str, bool, Any]]
    if opts.each:
        jobs = []
        for name, ops in queued:
            try:
                jobs.append((name, True, ctx.client.SubmitJob(ops)))
            except LuxiRemoteError as err:  # reported per job, as Ganeti does
                jobs.append((name, False, str(err)))
    else:
        answers = ctx.client.SubmitManyJobs([ops for _, ops in queued])
        jobs = [(name, bool(ok), job) for (name, _), (ok, job) in zip(queued, answers,
                                                                      strict=True)]
    submitted = time.monotonic()
    if timing:
        ctx.out("Executing...")
    code = _follow(ctx, jobs, bool(opts.verbose))
    if timing:
        done = time.monotonic()
        ops_count = sum(len(ops) for _, ops in queued)
        ctx.out(f"C:op     {ops_count:4d}")
        ctx.out(f"C:job    {len(queued):4d}")
        ctx.out(f"T:submit {submitted - start:4.4f}")
        ctx.out(f"T:exec   {done - submitted:4.4f}")
        ctx.out(f"T:total  {done - start:4.4f}")
    return code


# --- test-jobqueue -------------------------------------------------------------------------

PRIO_SUBMIT_VALID = (10, 0, -10)
PRIO_LOWEST, PRIO_HIGHEST = 19, -20
JQT_MESSAGES = ["Hello World", "A", "", "B", "Foo|bar|baz"]


def _must_fail(what: str, call: Any) -> None:
    try:
        call()
    except LuxiRemoteError:  # the master refused it: expected
        return
    raise CliError(f"Failure: command execution error:\n{what} did not fail when it should")


def _delay(**fields: Any) -> dict[str, Any]:
    return opcode("OP_TEST_DELAY", duration=fields.pop("duration", 0.01), **fields)


def _test_submission(ctx: Context) -> None:
    ctx.out("Testing job submission")
    bad = sorted({PRIO_LOWEST, PRIO_HIGHEST} | {p + d for p in (*PRIO_SUBMIT_VALID,
                                                                  PRIO_LOWEST, PRIO_HIGHEST)
                                                 for d in (-1, 1)} - set(PRIO_SUBMIT_VALID))
    for priority in bad:
        for before, after in ((0, 0), (3, 0), (0, 3), (4, 2)):
            ops = [_delay() for _ in range(before)] + [_delay(priority=priority)] + [
                _delay() for _ in range(after)]
            _must_fail(f"Submitting opcode with priority {priority}",
                       lambda ops=ops: ctx.client.SubmitJob(ops))
            _must_fail("Submitting manyjobs with an incorrect one",
                       lambda ops=ops: ctx.client.SubmitManyJobs([[_delay()], ops]))
    ctx.out("Job submission tests were successful")


def _test_dependencies(ctx: Context) -> None:
    ctx.out("Testing job dependencies")
    _must_fail("Submitting plain opcode with relative job ID",
               lambda: ctx.client.SubmitJob([_delay(depends=[[-1, None]])]))
    jobs = [[_delay()], [_delay(depends=[[-1, []]])], [_delay(depends=[[-2, ["success"]]])],
            [_delay(depends=[])], [_delay(depends=[[-2, ["success"]]])]]
    answers = ctx.client.SubmitManyJobs(jobs)
    if not all(ok for ok, _ in answers):
        raise CliError(f"Job submission failed: {answers}")
    ids = [int(job) for _, job in answers]
    if _follow(ctx, [("", True, job) for job in ids], True):
        raise CliError("At least one of the submitted jobs failed")
    rows = ctx.client.QueryJobs(ids, ["id", "opexec", "ops"])
    for idx, parent in ((1, 0), (2, 0), (4, 2)):
        depends = rows[idx][2][0].get("depends") or [[None]]
        if depends[0][0] != ids[parent]:
            raise CliError(f"Job {idx}'s opcode doesn't depend on correct job ID ({ids[parent]})")
    starts = [tuple(row[1][0]) for row in rows]
    if not (starts[0] <= starts[1] and starts[0] <= starts[2] and starts[2] <= starts[4]):
        raise CliError(f"Jobs did not run in correct order: {rows}")
    ctx.out("Job dependency tests were successful")


class _Collector(Reporter):
    """Keeps the job's log messages instead of printing them."""

    def __init__(self) -> None:
        super().__init__(quiet=True)
        self.messages: list[str] = []

    def log(self, entry: list[Any]) -> None:
        message = str(entry[3])
        if not message.startswith("Error: "):  # the failure itself, logged by the queue
            self.messages.append(message)


def _test_mode(ctx: Context, title: str, fails: list[bool], expect: list[str]) -> None:
    ctx.out(title)
    messages = [title, *JQT_MESSAGES, time.strftime("%Y-%m-%d_%H_%M_%S")]
    ops = [opcode("OP_TEST_JQUEUE", log_messages=messages, fail=fail) for fail in fails]
    set_generic_options(ctx, ops)
    job_id = ctx.client.SubmitJob(ops)
    collector = _Collector()
    failing = any(fails)
    try:
        poll_job(ctx.client, job_id, collector)
    except JobFailed as err:
        if not failing:
            raise
        ctx.out(f"Ignoring error for 'job fail' test: {err.message.splitlines()[-1]}")
    else:
        if failing:
            raise CliError("Job didn't fail when it should")
    ran = fails.index(True) + 1 if failing else len(fails)
    if collector.messages != messages * ran:
        raise CliError(f"Received test messages don't match input (input {messages * ran!r},"
                       f" received {collector.messages!r})")
    rows = ctx.client.QueryJobs([job_id], ["status", "opstatus"])
    status, opstatus = rows[0]
    wanted = "error" if failing else "success"
    if status != wanted or opstatus != expect:
        raise CliError(f"Job {job_id} ended {status} {opstatus}, expected {wanted} {expect}")


def test_jobqueue(ctx: Context, args: list[str]) -> int:
    """Exercise the job queue: refused submissions, dependencies, logs and final statuses."""
    _test_submission(ctx)
    _test_dependencies(ctx)
    _test_mode(ctx, "Testing job success", [False], ["success"])
    _test_mode(ctx, "Testing multiple successful opcodes", [False, False],
               ["success", "success"])
    _test_mode(ctx, "Testing job failure", [True], ["error"])
    _test_mode(ctx, "Testing partial job failure", [False, False, True, False],
               ["success", "success", "error", "error"])
    ctx.out("Job queue test successful")
    return 0


_DELAY_OPTS = (
    o.Opt("--no-master", dest="on_master", action="store_false",
          help="Do not sleep in the master code"),
    o.Opt("-n", dest="on_nodes", action="append", default=[], metavar="NODE",
          help="Select nodes to sleep on (may be repeated)"),
    o.Opt("-r", "--repeat", dest="repeat", type=o.int_type, default=0,
          help="Number of times to repeat the sleep"),
    o.Opt("-i", "--interruptible", action="store_true", dest="interruptible",
          help="Allows the opcode to be interrupted"),
    o.Opt("-l", "--no-locks", action="store_true", dest="no_locks",
          help="Don't acquire any locks"),
    o.DRY_RUN_OPT,
    *o.SUBMIT_OPTS,
)

_LOCKS_OPTS = (
    o.NOHDR_OPT, o.SEP_OPT, o.FIELDS_OPT, o.VERBOSE_OPT,
    o.Opt("--interval", type=o.int_type, dest="interval", default=None, metavar="SECONDS",
          help="Interval between repetitions, in seconds"),
)
_SUBMIT_JOB_OPTS = (
    o.VERBOSE_OPT, o.DRY_RUN_OPT, o.PRIORITY_OPT,
    o.Opt("--op-repeat", type=o.int_type, default=1, dest="rep_op", metavar="N",
          help="Repeat the opcode sequence this number of times"),
    o.Opt("--job-repeat", type=o.int_type, default=1, dest="rep_job", metavar="N",
          help="Repeat the job this number of times"),
    o.Opt("--timing-stats", action="store_true", dest="timing_stats", default=False,
          help="Show timing statistics"),
    o.Opt("--each", action="store_true", dest="each", default=False,
          help="Submit each job separately"),
)


def _allocator_disks(text: str) -> list[dict[str, object]]:
    try:
        return [{"size": parse_unit(val), "mode": "rw"} for val in text.split(",") if val]
    except ParamError as err:
        raise UsageError(f"Invalid disks parameter '{text}': {err}") from None


def _allocator_nics(text: str) -> list[dict[str, object]]:
    nics: list[dict[str, object]] = []
    for val in (v for v in text.split(",") if v):
        row: list[str | None] = [part or None for part in val.split("/")]
        row += [None] * (3 - len(row))
        nics.append({"mac": row[0], "ip": row[1], "bridge": row[2]})
    return nics


def test_allocator(ctx: Context, args: list[str]) -> int:
    """OP_TEST_ALLOCATOR: the request (``--dir in``) or an allocator's answer (``out``)."""
    opts = ctx.opts
    op = opcode(
        "OP_TEST_ALLOCATOR", mode=opts.mode, name=args[0], instances=args,
        memory=opts.memory, disks=_allocator_disks(opts.disks),
        disk_template=opts.disk_template, nics=_allocator_nics(opts.nics), os=opts.os,
        vcpus=opts.vcpus, tags=opts.tags.split(",") if opts.tags else [],
        direction=opts.direction, iallocator=opts.iallocator, evac_mode=opts.evac_mode,
        target_groups=opts.target_groups or [], spindle_use=opts.spindle_use,
        count=opts.count)
    ctx.out(str(submit_or_send(ctx, op)))
    return 0


_MODES = ("allocate", "relocate", "change-group", "node-evacuate", "multi-allocate",
          "allocate-secondary")
_ALLOCATOR_OPTS = (
    o.Opt("--dir", dest="direction", default="in", choices=["in", "out"],
          help="Show allocator input (in) or allocator results (out)"),
    io.IALLOCATOR_OPT,
    o.Opt("-m", "--mode", default="relocate", choices=list(_MODES),
          help=f"Request mode (one of {', '.join(_MODES)})"),
    o.Opt("--memory", "--mem", dest="memory", default=128, type=o.unit_type,
          help="Memory size for the instance (MiB)"),
    o.Opt("--disks", default="4096,4096", help="Comma separated list of disk sizes (MiB)"),
    io.DISK_TEMPLATE_OPT,
    o.Opt("--nics", default="00:11:22:33:44:55",
          help="Comma separated list of nics, each nic definition is of form mac/ip/bridge,"
               " if missing values are replace by None"),
    io.OS_OPT,
    o.Opt("-p", "--vcpus", default=1, type=o.int_type,
          help="Select number of VCPUs for the instance"),
    o.Opt("--tags", default=None, help="Comma separated list of tags"),
    o.Opt("--evac-mode", default="all", choices=["primary-only", "secondary-only", "all"],
          help="Node evacuation mode"),
    o.Opt("--target-groups", default=[], action="append", help="Target groups for relocation"),
    o.Opt("--spindle-use", default=1, type=o.int_type, help="How many spindles to use"),
    o.Opt("--count", default=1, type=o.int_type, help="How many copies of the instance"),
    o.DRY_RUN_OPT,
    o.PRIORITY_OPT,
)

COMMANDS = {
    "delay": Command(delay, [Arg("duration", 1, 1)], _DELAY_OPTS, "[opts...] <duration>",
                     "Executes a TestDelay OpCode"),
    "locks": Command(list_locks, [], _LOCKS_OPTS, "[--interval N]",
                     "Show a list of locks in the master daemon"),
    "submit-job": Command(submit_job, [Arg("file", 1)], _SUBMIT_JOB_OPTS,
                          "<op_list_file...>", "Submits jobs built from json files containing"
                          " a list of serialized opcodes"),
    "test-jobqueue": Command(test_jobqueue, [], (o.PRIORITY_OPT,), "",
                             "Test a few aspects of the job queue"),
    "iallocator": Command(test_allocator, [Arg("name", 1, None)], _ALLOCATOR_OPTS,
                          "[opts...] <instance>...", "Executes a TestAllocator OpCode",
                          aliases=("allocator",)),
}

main = Tool(BINARY, COMMANDS)

if __name__ == "__main__":
    sys.exit(main())
