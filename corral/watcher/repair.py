"""One repair pass on the master: observe, decide (:mod:`~corral.watcher.policy`), act,
remember; then the disk verification of every node group.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import partial

from corral.errors import OpExecError
from corral.luxi.client import LuxiRemoteError
from corral.watcher.actions import ClusterOps
from corral.watcher.policy import (
    Action,
    ActionKind,
    InstanceObs,
    NodeObs,
    Note,
    Plan,
    WatcherState,
    forget_stale,
    plan_disks,
    plan_instances,
    plan_verify_activation,
    record_cleanup,
)
from corral.watcher.state import StateFile

log = logging.getLogger(__name__)

QUEUE_REFUSALS = frozenset({"JobQueueDrainError", "JobQueueFull"})
"""Errors that end the run: no job can be submitted at all."""


@dataclass(frozen=True, slots=True)
class PassResult:
    """What the pass saw and did."""

    instances: tuple[InstanceObs, ...]
    nodes: tuple[NodeObs, ...]
    started: frozenset[str]
    failed_starts: frozenset[str]
    activated: tuple[str, ...]


def log_notes(notes: Iterable[Note]) -> None:
    for note in notes:
        log.log(note.level, "%s", note.message)


def attempt(action: Callable[[], None], what: str) -> bool:
    """Run one job-submitting action; a failure is logged and reported as False.

    Raises:
        LuxiRemoteError: the queue refuses jobs (drained or full).
        LuxiClientError: the master daemon went away.
    """
    try:
        action()
    except OpExecError as err:
        log.warning("%s failed: %s", what, err)
        return False
    except LuxiRemoteError as err:
        if err.error_class in QUEUE_REFUSALS:
            raise
        log.warning("%s failed: %s", what, err)
        return False
    return True


def repair_instances(ops: ClusterOps, state_file: StateFile, now: float) -> PassResult:
    """Restart crashed instances, clean up user-down ones, re-activate disks after node
    reboots, and store the new state."""
    instances = ops.instances()
    nodes = ops.nodes()
    locked = ops.locked_instances()
    before = state_file.read()
    stale = forget_stale(before, [i.name for i in instances], now)
    plan = plan_instances(instances, stale.state, now, locked)
    log_notes((*stale.notes, *plan.notes))
    started, failed, state = _carry_out(ops, plan, now)
    disks = plan_disks(nodes, instances, state, started)
    log_notes(disks.notes)
    activated = tuple(
        a.instance for a in disks.actions
        if attempt(partial(ops.activate_disks, [a.instance], a.reason),
                   f"Disk activation of instance {a.instance}")
    )
    if disks.state != before:
        state_file.write(disks.state)
    else:
        state_file.touch()
    return PassResult(tuple(instances), tuple(nodes), started, failed, activated)


def _carry_out(
    ops: ClusterOps, plan: Plan, now: float
) -> tuple[frozenset[str], frozenset[str], WatcherState]:
    started: set[str] = set()
    failed: set[str] = set()
    state = plan.state
    for action in plan.actions:
        if action.kind is ActionKind.START:
            ok = _start(ops, action)
            (started if ok else failed).add(action.instance)
        elif action.kind is ActionKind.CLEANUP_USER_DOWN:
            ok = attempt(partial(ops.cleanup_user_down, action.instance),
                         f"Cleanup of instance {action.instance}")
            state = record_cleanup(state, action.instance, ok, now)
    return frozenset(started), frozenset(failed), state


def _start(ops: ClusterOps, action: Action) -> bool:
    ok = attempt(partial(ops.start_instance, action.instance, action.attempt),
                 f"Restart of instance {action.instance} (attempt #{action.attempt})")
    if ok:
        log.info("Instance %s started", action.instance)
    return ok


def verify_disks(
    ops: ClusterOps, instances: Sequence[InstanceObs], nodes: Sequence[NodeObs], strict: bool
) -> list[str]:
    """Run each group's disk verification and activate the disks it reports inactive.

    Returns the instances whose disks were activated.
    """
    activated: list[str] = []
    for uuid, name in ops.groups():
        if ops.verify_disks_pending(uuid):
            log.info("A disk verification of group %s is already pending; skipping it", name)
            continue
        found: list[str] = []
        if not attempt(partial(_collect, found, ops, uuid, strict),
                       f"Disk verification of group {name}"):
            continue
        log.debug("Disk verification of group %s: inactive disks in %s", name,
                  ", ".join(found) or "no instance")
        actions, notes = plan_verify_activation(found, instances, nodes)
        log_notes(notes)
        names = [a.instance for a in actions]
        if names and attempt(
            partial(ops.activate_disks, names, "disk verification found inactive disks"),
            f"Disk activation of {', '.join(names)}",
        ):
            activated.extend(names)
    return activated


def _collect(into: list[str], ops: ClusterOps, group_uuid: str, strict: bool) -> None:
    into.extend(ops.verify_group_disks(group_uuid, strict))
