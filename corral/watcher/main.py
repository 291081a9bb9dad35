"""``corral-watcher``: one watcher run (cron or a systemd timer start it every 5 minutes).

Steps, in Ganeti's order: pause check; the state file lock; the node daemon; the
watcher hooks; then, on the master only: the master daemon, the master check, the
RAPI probe, job archiving, node maintenance, the instance and reboot pass, and the
disk verification of every node group.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from corral.cli.params import ParamError, parse_timespec
from corral.clock import Clock, FakeClock, SystemClock
from corral.errors import CorralError, GenericError
from corral.layout import NodeLayout, default_root
from corral.luxi.client import Client, LuxiClientError, LuxiRemoteError
from corral.master.auto_mode import auto_failover_configured
from corral.watcher import daemons, liveness, nodemaint, repair
from corral.watcher.actions import ClusterOps
from corral.watcher.daemons import NodeIdentity
from corral.watcher.hooks import run_watcher_hooks
from corral.watcher.liveness import MasterState
from corral.watcher.pause import describe_pause, paused_until
from corral.watcher.state import StateFile, StateLocked

log = logging.getLogger("corral.watcher")

EXIT_SUCCESS = 0
EXIT_FAILURE = 1
EXIT_NOTMASTER = 11
"""Ganeti's ``EXIT_NOTMASTER``: the master daemon says another node is the master."""
NOW_ENV = "CORRAL_WATCHER_NOW"
"""Testing aid: the run's current time, in seconds since the epoch."""
LOG_NAME = "corral-watcher"
LUXI_TIMEOUT = 120.0
DEFAULT_JOB_AGE = "6h"

_EPILOG = f"""\
The watcher restarts instances that should run but do not (at most 5 attempts, counted
again 8 hours after the last one), re-activates disks after node reboots, keeps the
daemons running, archives old jobs and verifies disks. `gnt-cluster watcher pause
<duration>` pauses it. It logs to <root>/var/log/corral/{LOG_NAME}.log (and to stderr
with --debug, or warnings when stderr is not a terminal).

Exit status: 0 done (also when paused, when another watcher holds the state file, on
a node other than the master, or when the job queue is drained); 1 failure;
{EXIT_NOTMASTER} the master daemon names another master, or refused to start (its vote or
master term says this node is not master).

Testing aid: {NOW_ENV}=<epoch seconds> sets the current time of the run (restart
records and expiry are computed from it); never set it in production.
"""


class NotMasterError(GenericError):
    """This node is not (or no longer) the master (Ganeti's watcher NotMasterError)."""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="corral-watcher", description="Corral's cluster watcher (ganeti-watcher).",
        epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("-d", "--debug", action="store_true",
                        help="log debug messages, and log to stderr too")
    parser.add_argument("-A", "--job-age", default=DEFAULT_JOB_AGE, metavar="AGE",
                        type=_timespec, help="archive finished jobs older than AGE "
                        "(seconds, or with a suffix s, m, h, d, w; default 6h)")
    parser.add_argument("--ignore-pause", action="store_true",
                        help="run even if the watcher is paused")
    parser.add_argument("--wait-children", dest="wait_children", action="store_true",
                        default=True, help="wait for the node group checks to finish "
                        "(default; Corral checks groups in this process, one after another)")
    parser.add_argument("--no-wait-children", dest="wait_children", action="store_false",
                        help="accepted for compatibility; has no effect in Corral")
    parser.add_argument("--no-verify-disks", action="store_true",
                        help="do not run the disk verification of the node groups")
    parser.add_argument("--no-strict", action="store_true",
                        help="run the disk verification in non-strict mode")
    parser.add_argument("--rapi-ip", default=None, metavar="IP",
                        help="address of the RAPI server to probe (default: the cluster's "
                        "master IP, or this node's primary IP when there is none)")
    parser.add_argument("--root", default=default_root(), metavar="DIR",
                        help="root prefix of this node's files (default $CORRAL_ROOT or /)")
    return parser.parse_args(argv)


def _timespec(text: str) -> int:
    try:
        return parse_timespec(text)
    except ParamError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def clock_from_env() -> Clock:
    """The system clock, or a fixed time from ``$CORRAL_WATCHER_NOW`` (testing aid).

    Raises:
        GenericError: the variable is set but is not a number.
    """
    fixed = os.environ.get(NOW_ENV)
    if not fixed:
        return SystemClock()
    try:
        return FakeClock(float(fixed))
    except ValueError:
        raise GenericError(f"{NOW_ENV} must be seconds since the epoch, not {fixed!r}") from None


def setup_logging(layout: NodeLayout, debug: bool) -> list[logging.Handler]:
    """Handlers on the ``corral`` logger: the log file, and stderr; returned for removal."""
    fmt = logging.Formatter("%(asctime)s: corral-watcher pid=%(process)d %(levelname)s "
                            "%(message)s")
    stderr = logging.StreamHandler(sys.stderr)
    stderr.setLevel(logging.DEBUG if debug else
                    logging.INFO if sys.stderr.isatty() else logging.WARNING)
    handlers: list[logging.Handler] = [stderr]
    try:
        layout.log_dir.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(layout.log_file(LOG_NAME)))
    except OSError as err:
        print(f"corral-watcher: cannot open the log file: {err}", file=sys.stderr)
    logger = logging.getLogger("corral")
    for handler in handlers:
        handler.setFormatter(fmt)
        logger.addHandler(handler)
    logger.setLevel(logging.DEBUG if debug else logging.INFO)
    return handlers


def main(argv: list[str] | None = None, clock: Clock | None = None) -> int:
    """Run the watcher once; the exit status."""
    opts = parse_args(argv)
    layout = NodeLayout(Path(opts.root))
    handlers = setup_logging(layout, opts.debug)
    try:
        return run(opts, layout, clock or clock_from_env())
    except NotMasterError as err:
        log.warning("%s", err)
        return EXIT_NOTMASTER
    except daemons.MasterdRefused as err:
        log.warning("%s; this node does not act as master", err)
        return EXIT_NOTMASTER
    except LuxiRemoteError as err:
        if err.error_class not in repair.QUEUE_REFUSALS:
            log.exception("The watcher failed")
            return EXIT_FAILURE
        log.warning("The job queue refuses jobs (%s); cannot maintain the cluster state", err)
        return EXIT_SUCCESS
    except (CorralError, LuxiClientError, OSError) as err:
        log.error("The watcher failed: %s", err)
        log.debug("Details", exc_info=True)
        return EXIT_FAILURE
    finally:
        logger = logging.getLogger("corral")
        for handler in handlers:
            logger.removeHandler(handler)
            handler.close()


def run(opts: argparse.Namespace, layout: NodeLayout, clock: Clock) -> int:
    """One watcher run on the node under ``layout``."""
    until = paused_until(layout, clock.now())
    if until is not None and not opts.ignore_pause:
        log.info("The watcher is paused until %s; doing nothing (--ignore-pause overrides)",
                 describe_pause(until))
        return EXIT_SUCCESS
    node = daemons.node_identity(layout)
    if node is None:
        log.info("This node is not part of a cluster (no node name or ssconf files); "
                 "nothing to do")
        return EXIT_SUCCESS
    try:
        state_file = StateFile.open(layout.watcher_state_file)
    except StateLocked as err:
        log.info("%s; exiting", err)
        return EXIT_SUCCESS
    with state_file:
        return _locked_run(opts, layout, clock, node, state_file)


def _locked_run(
    opts: argparse.Namespace, layout: NodeLayout, clock: Clock, node: NodeIdentity,
    state_file: StateFile,
) -> int:
    daemons.ensure_noded(layout, node)
    run_watcher_hooks(layout)
    if auto_failover_configured(layout) and _standby(layout):
        return EXIT_SUCCESS
    if not node.is_master:
        log.info("This node is not the master (the master is %s); node checks done",
                 node.master)
        return EXIT_SUCCESS
    with connect_master(layout) as client:
        ops = ClusterOps(client)
        master = ops.master_node()
        if master != node.name:
            raise NotMasterError(f"This node ({node.name}) is not the master; the master "
                                 f"daemon names {master}")
        _cluster_checks(opts, layout, clock, node, client, state_file)
    return EXIT_SUCCESS


def _standby(layout: NodeLayout) -> bool:
    """Automatic failover: keep a master daemon on this candidate; True when it is in
    standby (not serving LUXI), so only the node checks apply."""
    daemons.ensure_standby_masterd(layout)
    if liveness.probe_masterd(layout.luxi_socket).state is MasterState.ANSWERS:
        return False
    log.info("Automatic master failover: this node's master daemon is in standby (or"
             " starting); node checks done")
    return True


def connect_master(layout: NodeLayout) -> Client:
    """A LUXI connection to this node's master daemon, started first if it was not running
    and restarted first if it runs but does not answer a request within
    :data:`liveness.ANSWER_TIMEOUT` seconds.

    Raises:
        GenericError: the master daemon cannot be reached.
    """
    probe = liveness.probe_masterd(layout.luxi_socket, liveness.ANSWER_TIMEOUT)
    if probe.state is MasterState.ANSWERS:
        return Client(str(layout.luxi_socket), timeout=LUXI_TIMEOUT)
    if probe.state is MasterState.SILENT and daemons.masterd_running(layout):
        log.warning("The master daemon %s; restarting it", probe.detail)
        daemons.restart_masterd(layout)
        return Client(str(layout.luxi_socket), timeout=LUXI_TIMEOUT)
    log.warning("The master daemon does not answer (%s)", probe.detail)
    if not layout.config_db.exists():
        raise GenericError(f"The master daemon cannot be reached at {layout.luxi_socket} and "
                           f"cannot be started: no cluster configuration at {layout.config_db}")
    if not daemons.ensure_masterd(layout):
        raise GenericError(f"The master daemon runs but does not answer at "
                           f"{layout.luxi_socket}; see {layout.log_file('corral-masterd')}")
    return Client(str(layout.luxi_socket), timeout=LUXI_TIMEOUT)


def _cluster_checks(
    opts: argparse.Namespace, layout: NodeLayout, clock: Clock, node: NodeIdentity,
    client: Client, state_file: StateFile,
) -> None:
    ops = ClusterOps(client)
    info = ops.cluster_info()
    rapi_ip = opts.rapi_ip or info.get("master_ip") or node.address
    if daemons.check_rapi(layout, str(rapi_ip), int(info.get("rapi_port", 5080))):
        client.close()  # the next call connects to the restarted daemon
    archived = ops.archive_jobs(opts.job_age)
    if archived:
        log.info("Archived %d jobs older than %d seconds", archived, opts.job_age)
    if info.get("maintain_node_health"):
        epoch = info.get("master_epoch")
        stopped = nodemaint.maintain_offline_nodes(
            layout, ops.offline_nodes(), node.port, list(info.get("enabled_hypervisors", [])),
            epoch=int(epoch) if isinstance(epoch, int) else None,
        )
        if stopped:
            log.warning("Stopped instances on offline nodes: %s", ", ".join(stopped))
    result = repair.repair_instances(ops, state_file, clock.now())
    if not opts.no_verify_disks:
        repair.verify_disks(ops, result.instances, result.nodes, strict=not opts.no_strict)


if __name__ == "__main__":
    sys.exit(main())
