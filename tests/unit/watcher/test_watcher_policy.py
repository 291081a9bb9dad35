"""The watcher's pure decisions: restarts, the 5-try cap, expiry, reboots, pause."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import pytest

from corral.watcher.policy import (
    MAXTRIES,
    RETRY_EXPIRATION,
    Action,
    ActionKind,
    InstanceObs,
    InstanceRecord,
    NodeObs,
    WatcherState,
    check_pause,
    forget_stale,
    plan_disks,
    plan_instances,
    plan_verify_activation,
    record_cleanup,
)

NOW = 1_700_000_000.0
START, GIVE_UP = ActionKind.START, ActionKind.GIVE_UP
CLEANUP, ACTIVATE = ActionKind.CLEANUP_USER_DOWN, ActionKind.ACTIVATE_DISKS


def inst(name: str, status: str, admin: str = "up", **kw: object) -> InstanceObs:
    return InstanceObs(name=name, status=status, admin_state=admin, **kw)  # type: ignore[arg-type]


def tries(count: int, when: float = NOW - 60) -> InstanceRecord:
    return InstanceRecord(restart_count=count, restart_when=when)


@dataclass
class Case:
    id: str
    instance: InstanceObs
    before: dict[str, InstanceRecord] = field(default_factory=dict)
    actions: list[tuple[ActionKind, int]] = field(default_factory=list)
    count_after: int | None = 0
    """restart_count stored afterwards; None: no record."""
    locked: frozenset[str] = frozenset()


INSTANCE_CASES = [
    Case("error-down-first-try", inst("a", "ERROR_down"), actions=[(START, 1)], count_after=1),
    Case("error-down-third-try", inst("a", "ERROR_down"), {"a": tries(2)},
         actions=[(START, 3)], count_after=3),
    Case("fifth-try-still-starts", inst("a", "ERROR_down"), {"a": tries(4)},
         actions=[(START, 5)], count_after=5),
    Case("after-fifth-gives-up", inst("a", "ERROR_down"), {"a": tries(5)},
         actions=[(GIVE_UP, 5)], count_after=6),
    Case("given-up-stays-alone", inst("a", "ERROR_down"), {"a": tries(6)}, count_after=6),
    Case("running-clears-counter", inst("a", "running"), {"a": tries(3)}, count_after=None),
    Case("admin-down-clears-counter", inst("a", "ADMIN_down", "down"), {"a": tries(2)},
         count_after=None),
    Case("running-without-record", inst("a", "running"), count_after=None),
    Case("nodedown-untouched", inst("a", "ERROR_nodedown"), count_after=None),
    Case("nodeoffline-untouched", inst("a", "ERROR_nodeoffline"), count_after=None),
    Case("nodedown-drops-record-silently", inst("a", "ERROR_nodedown"), {"a": tries(2)},
         count_after=None),
    Case("error-up-untouched", inst("a", "ERROR_up", "down"), count_after=None),
    Case("wrongnode-untouched", inst("a", "ERROR_wrongnode"), count_after=None),
    Case("user-down-cleaned-up", inst("a", "USER_down"), actions=[(CLEANUP, 1)],
         count_after=None),
    Case("user-down-admin-down-left", inst("a", "USER_down", "down"), count_after=None),
    Case("user-down-locked-waits", inst("a", "USER_down"), locked=frozenset({"a"}),
         count_after=None),
    Case("error-down-locked-is-not-restarted", inst("a", "ERROR_down"),
         locked=frozenset({"a"}), count_after=None),
    Case("error-down-locked-keeps-its-count", inst("a", "ERROR_down"), {"a": tries(2)},
         locked=frozenset({"a"}), count_after=2),
    Case("user-down-retries-exhausted", inst("a", "USER_down"),
         {"a": InstanceRecord(cleanup_count=MAXTRIES + 1, cleanup_when=NOW)}, count_after=0),
]


@pytest.mark.parametrize("case", INSTANCE_CASES, ids=[c.id for c in INSTANCE_CASES])
def test_instance_pass(case: Case) -> None:
    plan = plan_instances([case.instance], WatcherState(case.before), NOW, case.locked)
    assert [(a.kind, a.attempt) for a in plan.actions] == case.actions
    record = plan.state.instances.get("a")
    if case.count_after is None:
        assert record is None
    else:
        assert record is not None
        assert record.restart_count == case.count_after
    if case.actions and case.actions[0][0] in (START, GIVE_UP):
        assert record is not None
        assert record.restart_when == NOW


def test_five_runs_start_then_one_error_then_silence() -> None:
    state = WatcherState()
    kinds = []
    errors = []
    for run in range(8):
        plan = plan_instances([inst("bad", "ERROR_down")], state, NOW + run * 300)
        kinds.append([a.kind for a in plan.actions])
        errors += [n for n in plan.notes if n.level >= logging.ERROR]
        state = plan.state
    assert kinds == [[START]] * MAXTRIES + [[GIVE_UP], [], []]
    assert len(errors) == 1
    assert "giving up" in errors[0].message


def test_success_notes_once_and_clears() -> None:
    plan = plan_instances([inst("a", "running")], WatcherState({"a": tries(2)}), NOW)
    assert [n.message for n in plan.notes] == ["Restart of instance a succeeded"]
    assert plan.state.instances == {}


EXPIRY_CASES = [
    ("just-inside-window", RETRY_EXPIRATION - 1, True),
    ("exactly-at-window", RETRY_EXPIRATION, True),
    ("just-past-window", RETRY_EXPIRATION + 1, False),
    ("long-ago", 3 * RETRY_EXPIRATION, False),
]


@pytest.mark.parametrize(("age", "kept"), [c[1:] for c in EXPIRY_CASES],
                         ids=[c[0] for c in EXPIRY_CASES])
def test_records_expire_eight_hours_after_the_last_attempt(age: float, kept: bool) -> None:
    state = WatcherState({"a": tries(6, when=NOW - age)})
    plan = forget_stale(state, ["a"], NOW)
    assert ("a" in plan.state.instances) is kept


def test_given_up_instance_is_tried_again_after_expiry() -> None:
    state = WatcherState({"a": tries(6, when=NOW)})
    later = NOW + RETRY_EXPIRATION + 1
    fresh = forget_stale(state, ["a"], later).state
    plan = plan_instances([inst("a", "ERROR_down")], fresh, later)
    assert plan.actions == (Action(START, "a", 1),)
    assert plan.state.instances["a"] == InstanceRecord(restart_count=1, restart_when=later)


def test_removed_instances_are_forgotten() -> None:
    state = WatcherState({"gone": tries(1), "here": tries(1)})
    assert set(forget_stale(state, ["here"], NOW).state.instances) == {"here"}


def test_cleanup_outcomes() -> None:
    failed = record_cleanup(WatcherState(), "a", ok=False, now=NOW)
    assert failed.instances["a"] == InstanceRecord(cleanup_count=1, cleanup_when=NOW)
    again = record_cleanup(failed, "a", ok=False, now=NOW + 1)
    assert again.instances["a"].cleanup_count == 2
    assert record_cleanup(again, "a", ok=True, now=NOW).instances == {}


# --- node reboots -------------------------------------------------------------------------

NODES = [NodeObs("n1", "boot-1"), NodeObs("n2", "boot-2"), NodeObs("n3", "boot-3")]
MIRRORED = [
    inst("m1", "running", pnode="n1", snodes=("n2",), disks_active=True),
    inst("m2", "running", pnode="n3", snodes=("n2",), disks_active=True),
    inst("m3", "ADMIN_down", "down", pnode="n2", snodes=("n3",), disks_active=False),
    inst("p1", "running", pnode="n2", disks_active=True),
]
KNOWN = {"n1": "boot-1", "n2": "boot-2", "n3": "boot-3"}


@dataclass
class RebootCase:
    id: str
    stored: dict[str, str]
    activated: list[str]
    started: frozenset[str] = frozenset()


REBOOT_CASES = [
    RebootCase("no-change", KNOWN, []),
    RebootCase("secondary-rebooted", {**KNOWN, "n2": "old"}, ["m1", "m2"]),
    RebootCase("only-primary-rebooted", {**KNOWN, "n1": "old"}, []),
    RebootCase("inactive-disks-skipped", {**KNOWN, "n3": "old"}, []),
    RebootCase("just-started-skipped", {**KNOWN, "n2": "old"}, ["m2"], frozenset({"m1"})),
    RebootCase("first-run-all-rebooted", {}, ["m1", "m2"]),
]


@pytest.mark.parametrize("case", REBOOT_CASES, ids=[c.id for c in REBOOT_CASES])
def test_reboots_activate_disks_of_secondaries(case: RebootCase) -> None:
    plan = plan_disks(NODES, MIRRORED, WatcherState(node_bootids=case.stored), case.started)
    assert [a.instance for a in plan.actions] == case.activated
    assert all(a.kind is ACTIVATE for a in plan.actions)
    assert plan.state.node_bootids == KNOWN


def test_first_run_notes_every_node_as_rebooted() -> None:
    plan = plan_disks(NODES, [], WatcherState())
    rebooted = [n.message for n in plan.notes if "treating it as rebooted" in n.message]
    assert len(rebooted) == 3


def test_node_without_boot_id_keeps_its_stored_one() -> None:
    nodes = [NodeObs("n1", None), NodeObs("n2", "new")]
    plan = plan_disks(nodes, [], WatcherState(node_bootids={"n1": "b1", "n2": "b2", "x": "y"}))
    assert plan.state.node_bootids == {"n1": "b1", "n2": "new"}


def test_one_activation_for_two_rebooted_secondaries() -> None:
    two = [inst("m", "running", pnode="n1", snodes=("n2", "n3"), disks_active=True)]
    plan = plan_disks(NODES, two, WatcherState())
    assert [a.instance for a in plan.actions] == ["m"]


# --- disk verification ------------------------------------------------------------------------


def test_verify_activation_skips_helpless_and_offline_secondaries() -> None:
    instances = [
        inst("ok", "running", pnode="n1"),
        inst("down", "ERROR_nodedown", pnode="n2"),
        inst("offsec", "running", pnode="n1", snodes=("n3",)),
    ]
    nodes = [NodeObs("n1", "b"), NodeObs("n2", None), NodeObs("n3", None, offline=True)]
    actions, notes = plan_verify_activation(["ok", "down", "offsec", "ghost"], instances, nodes)
    assert [(a.kind, a.instance) for a in actions] == [(ACTIVATE, "ok")]
    assert len(notes) == 3


# --- pause ------------------------------------------------------------------------------------

PAUSE_CASES = [
    ("no-file", None, None, False),
    ("future", f"{int(NOW) + 600}\n", NOW + 600, False),
    ("just-ended-kept", f"{int(NOW) - 10}\n", None, False),
    ("ended-long-ago-removed", f"{int(NOW) - 3601}\n", None, True),
    ("garbage-removed", "soon\n", None, True),
    ("empty-removed", "", None, True),
]


@pytest.mark.parametrize(("content", "until", "remove"), [c[1:] for c in PAUSE_CASES],
                         ids=[c[0] for c in PAUSE_CASES])
def test_pause_file(content: str | None, until: float | None, remove: bool) -> None:
    check = check_pause(content, NOW)
    assert check.until == until
    assert check.remove is remove
