"""The DRBD simulator's roles as a migration or a failover meets them: two primaries only
in dual-primary mode, the split brains real DRBD refuses to resolve (Ganeti's
``after-sb-*`` policies), and a node that crashes while primary."""

from __future__ import annotations

from pathlib import Path

import pytest

from corral.testing.drbd_model import crash, locked_state
from tests.unit.storage.test_drbd_simulator import SECRET, Clock, Side, _side

Pair = tuple[Side, Side, Clock]


@pytest.fixture
def synced(tmp_path: Path) -> Pair:
    """node1 primary and node2 secondary, connected and in sync."""
    clock = Clock()
    a, b = _side(tmp_path, "node1", "192.0.2.1", clock), _side(tmp_path, "node2", "192.0.2.2",
                                                               clock)
    a.up(b)
    b.up(a)
    a.run("drbdsetup", "primary", "0", "--force")
    clock.now += 3600
    assert b.status().ldisk == "UpToDate"
    return a, b, clock


def _connect(side: Side, peer: Side, *extra: str) -> None:
    side.run("drbdsetup", "connect", "resource0", f"ipv4:{side.ip}:11000",
             f"ipv4:{peer.ip}:11000", "--protocol", "C", "--after-sb-0pri",
             "discard-zero-changes", "--after-sb-1pri", "consensus", "--cram-hmac-alg", "md5",
             "--shared-secret", SECRET, *extra)


def _dual_primary(a: Side, b: Side) -> None:
    """Ganeti's switch for a migration: standalone, then both attached dual-primary."""
    a.disconnect(b)
    b.disconnect(a)
    _connect(a, b, "--allow-two-primaries")
    _connect(b, a, "--allow-two-primaries")


def _split(a: Side, b: Side, state_file: Path) -> None:
    """Both primary and disconnected (the situation migrations must never create)."""
    _dual_primary(a, b)
    b.run("drbdsetup", "primary", "0")
    a.disconnect(b)
    b.disconnect(a)
    with locked_state(state_file) as state:
        assert not state.nodes["node1"][0].split_brain


def test_a_second_primary_needs_dual_primary_mode(synced: Pair) -> None:
    a, b, _ = synced
    assert "Multiple primaries not allowed by config" in b.fail("drbdsetup", "primary", "0")
    _dual_primary(a, b)
    b.run("drbdsetup", "primary", "0")
    assert (a.status().lrole, a.status().rrole) == ("Primary", "Primary")
    assert a.status().cstatus == "Connected"


def test_two_primaries_meeting_after_a_split_brain_stay_apart(synced: Pair,
                                                               tmp_path: Path) -> None:
    a, b, _ = synced
    _split(a, b, a.sim.state_file)
    b.data.write_bytes(b"b alone".ljust(4096, b"\0"))
    _connect(a, b, "--allow-two-primaries")
    _connect(b, a, "--allow-two-primaries")
    assert (a.status().cstatus, b.status().cstatus) == ("StandAlone", "StandAlone")
    with locked_state(a.sim.state_file) as state:
        assert state.nodes["node1"][0].split_brain
        assert state.nodes["node2"][0].split_brain
    assert a.data.read_bytes()[:7] != b"b alone"


def test_a_primary_without_writes_is_not_overwritten_by_its_secondary(
        synced: Pair) -> None:
    a, b, _ = synced
    _split(a, b, a.sim.state_file)
    b.data.write_bytes(b"b alone".ljust(4096, b"\0"))
    b.run("drbdsetup", "secondary", "0")
    _connect(a, b)
    _connect(b, a)
    assert a.status().cstatus == "StandAlone", "after-sb-1pri consensus refuses"
    assert b.data.read_bytes()[:7] == b"b alone"


def test_the_written_primary_wins_over_an_unchanged_secondary(synced: Pair) -> None:
    a, b, clock = synced
    _split(a, b, a.sim.state_file)
    a.data.write_bytes(b"a alone".ljust(4096, b"\0"))
    b.run("drbdsetup", "secondary", "0")
    _connect(a, b)
    _connect(b, a)
    assert (a.status().cstatus, b.status().cstatus) == ("SyncSource", "SyncTarget")
    clock.now += 3600
    assert b.status().cstatus == "Connected"
    assert b.data.read_bytes()[:7] == b"a alone"


def test_the_peer_of_a_crashed_primary_takes_over_and_resyncs_it(synced: Pair) -> None:
    a, b, clock = synced
    with locked_state(a.sim.state_file) as state:
        crash(state, "node1")
    assert b.status().cstatus == "WFConnection"
    b.run("drbdsetup", "primary", "0")
    b.data.write_bytes(b"after the crash".ljust(4096, b"\0"))
    a.up(b)
    assert (a.status().cstatus, a.status().lrole) == ("SyncTarget", "Secondary")
    clock.now += 3600
    assert a.status().ldisk == "UpToDate"
    assert a.data.read_bytes()[:15] == b"after the crash"
