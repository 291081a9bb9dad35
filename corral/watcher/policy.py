"""The watcher's decisions, as pure functions: observations + state + ``now`` → actions.

Nothing here performs I/O or reads a clock. The rules are Ganeti's watcher's:

- an instance whose status is ``ERROR_down`` is restarted, at most :data:`MAXTRIES`
  times; the attempt after the last one is recorded with a single ERROR note and the
  instance is left alone until its record expires, :data:`RETRY_EXPIRATION` seconds
  after the last attempt;
- an ``ERROR_down`` instance some job holds a lock on (a migration, failover or move
  under way: the instance is between nodes) is not restarted, and no attempt is counted;
- ``ERROR_nodedown`` / ``ERROR_nodeoffline`` instances are never acted on;
- any status other than ``ERROR_down`` drops the instance's record (a later run that
  sees the instance running clears its counter);
- ``USER_down`` instances whose admin state is not ``down`` are shut down with
  ``admin_state_source=user`` (so the configuration agrees), unless locked;
- a node whose boot id differs from the stored one (or has none stored: the first run)
  counts as rebooted; instances with it as a *secondary* node, active disks, and no
  restart attempt in this run get their disks activated.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from corral.objects import AdminState
from corral.query.instance_data import InstanceStatus

MAXTRIES = 5
"""Restart attempts per instance within one expiry window (Ganeti's MAXTRIES)."""
RETRY_EXPIRATION = 8 * 3600.0
"""Seconds after its last attempt an instance's record is forgotten."""
PAUSE_REMOVE_AFTER = 3600.0
"""Seconds after its expiry a pause file is deleted."""

BAD_STATES = frozenset({InstanceStatus.ERROR_DOWN})
HELPLESS_STATES = frozenset({InstanceStatus.ERROR_NODEDOWN, InstanceStatus.ERROR_NODEOFFLINE})


# --- observations and state ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class InstanceObs:
    """One instance as the master reported it."""

    name: str
    status: str
    admin_state: str
    pnode: str = ""
    snodes: tuple[str, ...] = ()
    disks_active: bool = False


@dataclass(frozen=True, slots=True)
class NodeObs:
    """One node as the master reported it; ``bootid`` is None when the node did not answer."""

    name: str
    bootid: str | None
    offline: bool = False


@dataclass(frozen=True, slots=True)
class InstanceRecord:
    """What the state file remembers of one instance (times in seconds since the epoch)."""

    restart_count: int = 0
    restart_when: float = 0.0
    cleanup_count: int = 0
    cleanup_when: float = 0.0

    @property
    def last_attempt(self) -> float:
        return max(self.restart_when, self.cleanup_when)


@dataclass(frozen=True, slots=True)
class WatcherState:
    """The state file's content: instance records by name, stored boot ids by node name."""

    instances: Mapping[str, InstanceRecord] = field(default_factory=dict)
    node_bootids: Mapping[str, str] = field(default_factory=dict)

    def restarts(self, name: str) -> int:
        record = self.instances.get(name)
        return 0 if record is None else record.restart_count

    def cleanups(self, name: str) -> int:
        record = self.instances.get(name)
        return 0 if record is None else record.cleanup_count

    def with_record(self, name: str, record: InstanceRecord | None) -> WatcherState:
        """A copy with ``name``'s record replaced (``None``: removed)."""
        instances = {k: v for k, v in self.instances.items() if k != name}
        if record is not None:
            instances[name] = record
        return replace(self, instances=instances)


# --- decisions -----------------------------------------------------------------------


class ActionKind(enum.StrEnum):
    START = "start"
    GIVE_UP = "give-up"
    CLEANUP_USER_DOWN = "cleanup-user-down"
    ACTIVATE_DISKS = "activate-disks"


@dataclass(frozen=True, slots=True)
class Action:
    """Something to do about one instance; ``attempt`` counts from 1 (starts and cleanups)."""

    kind: ActionKind
    instance: str
    attempt: int = 0
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Note:
    """A message for the log (``level`` is a :mod:`logging` level)."""

    level: int
    message: str


@dataclass(frozen=True, slots=True)
class Plan:
    """Actions to carry out, in order, and the state to store once they are done."""

    actions: tuple[Action, ...]
    state: WatcherState
    notes: tuple[Note, ...] = ()

    def of_kind(self, kind: ActionKind) -> list[Action]:
        return [a for a in self.actions if a.kind is kind]


def forget_stale(state: WatcherState, existing: Iterable[str], now: float) -> Plan:
    """Drop records of instances that no longer exist and records older than the expiry."""
    names = set(existing)
    earliest = now - RETRY_EXPIRATION
    kept: dict[str, InstanceRecord] = {}
    notes = []
    for name, record in state.instances.items():
        if name not in names:
            notes.append(Note(logging.DEBUG, f"Forgetting obsolete instance {name}"))
        elif record.last_attempt < earliest:
            notes.append(Note(logging.INFO, f"Record of instance {name} expired; "
                              "restart attempts are counted from zero again"))
        else:
            kept[name] = record
    return Plan((), replace(state, instances=kept), tuple(notes))


def plan_instances(
    instances: Sequence[InstanceObs],
    state: WatcherState,
    now: float,
    locked: frozenset[str] = frozenset(),
) -> Plan:
    """The instance pass; restart attempts are already recorded in the returned state.

    ``locked`` names instances some job holds a lock on: neither restarts nor user-down
    cleanups touch them.
    """
    actions: list[Action] = []
    notes: list[Note] = []
    for inst in instances:
        if inst.status == InstanceStatus.USER_DOWN and inst.admin_state != AdminState.DOWN:
            actions += _cleanup(inst, state, locked, notes)
        elif inst.status in BAD_STATES and inst.name in locked:
            notes.append(Note(logging.INFO, f"Not restarting instance {inst.name}: it is"
                              " locked (a job such as a migration is acting on it)"))
        elif inst.status in BAD_STATES:
            action, state = _restart(inst, state, now, notes)
            actions += action
        elif state.restarts(inst.name):
            state = state.with_record(inst.name, None)
            if inst.status not in HELPLESS_STATES:
                notes.append(Note(logging.INFO, f"Restart of instance {inst.name} succeeded"))
    return Plan(tuple(actions), state, tuple(notes))


def _restart(
    inst: InstanceObs, state: WatcherState, now: float, notes: list[Note]
) -> tuple[list[Action], WatcherState]:
    tries = state.restarts(inst.name)
    if tries > MAXTRIES:
        notes.append(Note(logging.INFO,
                          f"Not restarting instance {inst.name}: retries exhausted"))
        return [], state
    record = state.instances.get(inst.name) or InstanceRecord()
    state = state.with_record(
        inst.name, replace(record, restart_count=tries + 1, restart_when=now)
    )
    if tries == MAXTRIES:
        notes.append(Note(logging.ERROR, f"Could not restart instance {inst.name} after "
                          f"{MAXTRIES} attempts, giving up"))
        return [Action(ActionKind.GIVE_UP, inst.name, tries)], state
    notes.append(Note(logging.INFO,
                      f"Restarting instance {inst.name} (attempt #{tries + 1})"))
    return [Action(ActionKind.START, inst.name, tries + 1)], state


def _cleanup(
    inst: InstanceObs, state: WatcherState, locked: frozenset[str], notes: list[Note]
) -> list[Action]:
    if inst.name in locked:
        notes.append(Note(logging.INFO,
                          f"Not cleaning up instance {inst.name}: it is locked"))
        return []
    tries = state.cleanups(inst.name)
    if tries > MAXTRIES:
        notes.append(Note(logging.WARNING,
                          f"Not cleaning up instance {inst.name}: retries exhausted"))
        return []
    notes.append(Note(logging.INFO, f"Instance {inst.name} was shut down by the user, "
                      "cleaning up"))
    return [Action(ActionKind.CLEANUP_USER_DOWN, inst.name, tries + 1)]


def record_cleanup(state: WatcherState, name: str, ok: bool, now: float) -> WatcherState:
    """The state after a user-down cleanup: success forgets, failure counts an attempt."""
    record = state.instances.get(name)
    if ok:
        return state.with_record(name, None) if record and record.cleanup_count else state
    record = record or InstanceRecord()
    return state.with_record(
        name, replace(record, cleanup_count=record.cleanup_count + 1, cleanup_when=now)
    )


def rebooted_nodes(nodes: Sequence[NodeObs], state: WatcherState) -> list[NodeObs]:
    """Nodes reporting a boot id other than the stored one (every node on the first run)."""
    return [n for n in nodes if n.bootid and state.node_bootids.get(n.name) != n.bootid]


def plan_disks(
    nodes: Sequence[NodeObs],
    instances: Sequence[InstanceObs],
    state: WatcherState,
    started: frozenset[str] = frozenset(),
) -> Plan:
    """Disk activations after node reboots, and the state with the new boot ids."""
    notes = [Note(logging.DEBUG, f"Node {n.name} reports no boot id, skipping its checks")
             for n in nodes if not n.bootid and not n.offline]
    rebooted = rebooted_nodes(nodes, state)
    wanted: dict[str, Action] = {}
    for node in rebooted:
        notes.append(_reboot_note(node, state))
        for inst in instances:
            if node.name in inst.snodes and inst.name not in wanted:
                action = _activation(inst, node.name, started, notes)
                if action is not None:
                    wanted[inst.name] = action
    known = {n.name for n in nodes}
    bootids = {k: v for k, v in state.node_bootids.items() if k in known}
    bootids.update((n.name, n.bootid) for n in rebooted if n.bootid)
    return Plan(tuple(wanted.values()), replace(state, node_bootids=bootids), tuple(notes))


def _reboot_note(node: NodeObs, state: WatcherState) -> Note:
    if node.name not in state.node_bootids:
        return Note(logging.INFO, f"No boot id recorded for node {node.name}: "
                    "treating it as rebooted")
    return Note(logging.INFO, f"Node {node.name} rebooted (boot id changed)")


def _activation(
    inst: InstanceObs, node: str, started: frozenset[str], notes: list[Note]
) -> Action | None:
    if not inst.disks_active:
        notes.append(Note(logging.INFO, f"Skipping disk activation for instance "
                          f"{inst.name}: its disks are not meant to be active"))
        return None
    if inst.name in started:
        notes.append(Note(logging.DEBUG, f"Skipping disk activation for instance "
                          f"{inst.name}: it was just started"))
        return None
    return Action(ActionKind.ACTIVATE_DISKS, inst.name,
                  reason=f"secondary node {node} rebooted")


def plan_verify_activation(
    names: Iterable[str], instances: Sequence[InstanceObs], nodes: Sequence[NodeObs]
) -> tuple[list[Action], list[Note]]:
    """Which instances a disk verification reported get their disks activated."""
    by_name = {i.name: i for i in instances}
    offline = {n.name for n in nodes if n.offline}
    actions: list[Action] = []
    notes: list[Note] = []
    for name in names:
        inst = by_name.get(name)
        if inst is None:
            notes.append(Note(logging.INFO, f"Cannot find instance {name}, maybe it was "
                              "removed"))
        elif inst.status in HELPLESS_STATES or offline.intersection(inst.snodes):
            notes.append(Note(logging.INFO, f"Skipping instance {name}: it is in a helpless "
                              "state or has offline secondaries"))
        else:
            actions.append(Action(ActionKind.ACTIVATE_DISKS, name,
                                  reason="disk verification found inactive disks"))
    return actions, notes


# --- pause ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PauseCheck:
    """``until``: paused until then (None: not paused); ``remove``: delete the file."""

    until: float | None
    remove: bool = False


def check_pause(content: str | None, now: float) -> PauseCheck:
    """Read a pause file's content (None: no file), as Ganeti does.

    Unparsable content is removed; so is a pause that ended more than
    :data:`PAUSE_REMOVE_AFTER` seconds ago. A pause that ended recently is kept but
    does not pause.
    """
    if content is None:
        return PauseCheck(None)
    try:
        until = float(content.strip())
    except ValueError:
        return PauseCheck(None, remove=True)
    if now > until + PAUSE_REMOVE_AFTER:
        return PauseCheck(None, remove=True)
    return PauseCheck(until if now <= until else None)
