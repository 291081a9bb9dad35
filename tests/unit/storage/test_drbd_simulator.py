"""The DRBD 8.4 simulator: its outputs have the recorded shapes and its state machine behaves."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from corral.storage.drbd.parse import MinorStatus, parse_proc, parse_show
from corral.testing.drbd import DrbdSimulator

DATA = Path(__file__).resolve().parents[2] / "data" / "drbd"
SIZE_MIB = 64
SECRET = "c0ffee7a5ec7e7"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Side:
    sim: DrbdSimulator
    data: Path
    meta: Path
    ip: str

    def run(self, *argv: str) -> str:
        result = self.sim.execute(argv)
        assert result.exit_code == 0, (argv, result)
        return result.stdout

    def fail(self, *argv: str) -> str:
        result = self.sim.execute(argv)
        assert result.exit_code != 0, (argv, result)
        return result.stderr

    def status(self, minor: int = 0) -> MinorStatus:
        return parse_proc(self.sim.proc_text()).minors[minor]

    def up(self, peer: Side, minor: int = 0, secret: str = SECRET) -> None:
        """What Ganeti's DRBD 8.4 code runs to assemble a minor (local, then network)."""
        res = f"resource{minor}"
        self.run("drbdsetup", "new-resource", res)
        self.run("drbdsetup", "new-minor", res, str(minor), "0")
        self.run("drbdmeta", f"/dev/drbd{minor}", "v08", str(self.meta), "flex-external",
                 "apply-al")
        self.run("drbdsetup", "attach", str(minor), str(self.data), str(self.meta), "flexible",
                 "--on-io-error=detach", "--size", f"{SIZE_MIB}m")
        self.run("drbdsetup", "disk-options", str(minor), "--resync-rate", "8192")
        self.connect(peer, minor, secret)

    def connect(self, peer: Side, minor: int = 0, secret: str = SECRET) -> None:
        self.run("drbdsetup", "connect", f"resource{minor}", f"ipv4:{self.ip}:11000",
                 f"ipv4:{peer.ip}:11000", "--protocol", "C", "--after-sb-0pri",
                 "discard-zero-changes", "--after-sb-1pri", "consensus", "--cram-hmac-alg",
                 "md5", "--shared-secret", secret)

    def disconnect(self, peer: Side) -> None:
        self.run("drbdsetup", "disconnect", f"ipv4:{self.ip}:11000", f"ipv4:{peer.ip}:11000")


def _side(tmp_path: Path, name: str, ip: str, clock: Clock) -> Side:
    root = tmp_path / name
    root.mkdir()
    data, meta = root / "data", root / "meta"
    for path, mib in ((data, SIZE_MIB), (meta, 128)):
        with open(path, "wb") as handle:
            handle.truncate(mib << 20)
    sim = DrbdSimulator(name, tmp_path / "drbd-state.json", root / "dev", clock=clock)
    side = Side(sim, data, meta, ip)
    side.run("drbdmeta", "--force", "/dev/drbd0", "v08", str(meta), "flex-external", "create-md")
    return side


@pytest.fixture
def pair(tmp_path: Path) -> tuple[Side, Side, Clock]:
    clock = Clock()
    return _side(tmp_path, "node1", "192.0.2.1", clock), _side(
        tmp_path, "node2", "192.0.2.2", clock), clock


def _synced_pair(pair: tuple[Side, Side, Clock]) -> tuple[Side, Side, Clock]:
    a, b, clock = pair
    a.up(b)
    b.up(a)
    a.run("drbdsetup", "primary", "0", "--force")
    clock.now += 3600
    return a, b, clock


def test_create_md_prints_drbdmeta_lines(tmp_path: Path) -> None:
    side = _side(tmp_path, "node1", "192.0.2.1", Clock())
    out = side.run("drbdmeta", "--force", "/dev/drbd0", "v08", str(side.meta), "flex-external",
                   "create-md")
    assert out.splitlines()[-1] == "New drbd meta data block successfully created."


def test_connect_both_sides_then_sync_to_uptodate(pair: tuple[Side, Side, Clock]) -> None:
    a, b, clock = pair
    a.up(b)
    first = a.status()
    assert (first.cstatus, first.ldisk, first.rdisk) == ("WFConnection", "Inconsistent",
                                                          "DUnknown")
    b.up(a)
    both = a.status()
    assert (both.cstatus, both.lrole, both.rrole) == ("Connected", "Secondary", "Secondary")
    assert (both.ldisk, both.rdisk) == ("Inconsistent", "Inconsistent")
    a.data.write_bytes(b"primary data".ljust(4096, b"\0"))
    a.run("drbdsetup", "primary", "0", "--force")
    assert a.status().cstatus == "SyncSource"
    assert b.status().cstatus == "SyncTarget"
    clock.now += SIZE_MIB * 1024 / 8192 / 2          # half the sync at 8192 KiB/s
    half = b.status()
    assert half.sync_percent == pytest.approx(50.0, abs=0.2)
    assert half.est_time == 4
    assert (half.ldisk, half.rdisk, half.rrole) == ("Inconsistent", "UpToDate", "Primary")
    clock.now += 10
    done = b.status()
    assert (done.cstatus, done.ldisk, done.rdisk, done.sync_percent) == (
        "Connected", "UpToDate", "UpToDate", None)
    assert b.data.read_bytes()[:12] == b"primary data"


def test_disconnect_leaves_standalone_and_peer_waiting(pair: tuple[Side, Side, Clock]) -> None:
    a, b, _ = _synced_pair(pair)
    a.disconnect(b)
    assert a.status().cstatus == "StandAlone"
    assert (b.status().cstatus, b.status().rdisk) == ("WFConnection", "DUnknown")
    a.connect(b)
    assert a.status().cstatus == "Connected"
    assert a.status().is_primary


def test_both_primary_while_disconnected_is_a_refused_split_brain(
        pair: tuple[Side, Side, Clock]) -> None:
    a, b, _ = _synced_pair(pair)
    a.disconnect(b)
    b.disconnect(a)
    b.run("drbdsetup", "primary", "0")
    b.data.write_bytes(b"b alone".ljust(4096, b"\0"))
    a.data.write_bytes(b"a alone".ljust(4096, b"\0"))
    a.run("drbdsetup", "secondary", "0")
    b.run("drbdsetup", "secondary", "0")
    a.connect(b)
    b.connect(a)
    assert a.status().cstatus == "StandAlone"
    assert b.status().cstatus == "StandAlone"
    assert b.data.read_bytes()[:7] == b"b alone"


def test_split_brain_without_writes_on_one_side_discards_its_zero_changes(
        pair: tuple[Side, Side, Clock]) -> None:
    a, b, clock = _synced_pair(pair)
    a.disconnect(b)
    b.disconnect(a)
    b.run("drbdsetup", "primary", "0")
    a.data.write_bytes(b"a alone".ljust(4096, b"\0"))
    b.run("drbdsetup", "secondary", "0")
    a.connect(b)
    b.connect(a)
    assert (a.status().cstatus, b.status().cstatus) == ("SyncSource", "SyncTarget")
    clock.now += 3600
    assert b.status().ldisk == "UpToDate"
    assert b.data.read_bytes()[:7] == b"a alone"


def test_reconnecting_without_writes_needs_no_resync(pair: tuple[Side, Side, Clock]) -> None:
    a, b, _ = _synced_pair(pair)
    a.disconnect(b)
    a.connect(b)
    assert (a.status().cstatus, a.status().rdisk) == ("Connected", "UpToDate")


def test_one_primary_while_disconnected_resyncs_to_the_other(
        pair: tuple[Side, Side, Clock]) -> None:
    a, b, clock = _synced_pair(pair)
    a.disconnect(b)
    a.data.write_bytes(b"written alone".ljust(4096, b"\0"))
    a.connect(b)
    assert a.status().cstatus == "SyncSource"
    clock.now += 3600
    assert b.status().cstatus == "Connected"
    assert b.data.read_bytes()[:13] == b"written alone"


def test_refusals_have_drbd_messages_and_codes(pair: tuple[Side, Side, Clock]) -> None:
    a, b, _ = pair
    a.up(b)
    b.up(a)
    assert a.fail("drbdsetup", "primary", "0") == (
        "0: State change failed: (-2) Need access to UpToDate data\n")
    assert a.sim.execute(["drbdsetup", "primary", "0"]).exit_code == 11
    a.run("drbdsetup", "primary", "0", "--force")
    assert "Multiple primaries not allowed" in b.fail("drbdsetup", "primary", "0")
    assert "Device minor not allocated" in a.fail("drbdsetup", "secondary", "7")
    assert a.sim.execute(["drbdsetup", "attach", "0"]).exit_code == 20
    assert "unrecognized option" in a.fail("drbdsetup", "primary", "0", "--bogus")


def test_wrong_secret_is_refused(pair: tuple[Side, Side, Clock]) -> None:
    a, b, _ = pair
    a.up(b)
    b.up(a, secret="other")
    assert a.status().cstatus == "StandAlone"


def test_pause_and_resume_sync(pair: tuple[Side, Side, Clock]) -> None:
    a, b, clock = pair
    a.up(b)
    b.up(a)
    a.run("drbdsetup", "primary", "0", "--force")
    b.run("drbdsetup", "pause-sync", "0")
    clock.now += 3600
    assert b.status().cstatus == "PausedSyncT"
    assert a.status().cstatus == "PausedSyncS"
    assert b.status().sync_percent == 0.0
    b.run("drbdsetup", "resume-sync", "0")
    clock.now += 3600
    assert b.status().cstatus == "Connected"


def test_down_removes_the_minor_and_device(pair: tuple[Side, Side, Clock]) -> None:
    a, b, _ = _synced_pair(pair)
    assert a.sim.device(0).resolve() == a.data.resolve()
    a.run("drbdsetup", "down", "resource0")
    assert 0 not in parse_proc(a.sim.proc_text()).minors
    assert not a.sim.device(0).exists()
    assert b.status().cstatus == "WFConnection"


def test_metadata_goes_with_its_device_not_with_a_deactivation(tmp_path: Path) -> None:
    side = _side(tmp_path, "node1", "192.0.2.1", Clock())
    link = tmp_path / "node1" / "meta-lv"
    link.symlink_to(side.meta)
    side.run("drbdmeta", "--force", "/dev/drbd1", "v08", str(link), "flex-external", "create-md")
    link.unlink()  # the LV deactivated: its data file stays
    side.sim.proc_text()
    link.symlink_to(side.meta)
    side.run("drbdmeta", "/dev/drbd1", "v08", str(link), "flex-external", "dump-md")
    link.unlink()
    side.meta.unlink()  # the LV removed
    side.sim.proc_text()
    state = json.loads((tmp_path / "drbd-state.json").read_text())
    assert str(link) not in state["meta"]


def test_resize_needs_room_on_both_sides(pair: tuple[Side, Side, Clock]) -> None:
    a, b, _ = _synced_pair(pair)
    assert "smaller than requested" in a.fail("drbdsetup", "resize", "0", "--size", "96m")
    for side in (a, b):
        with open(side.data, "r+b") as handle:
            handle.truncate(96 << 20)
    a.run("drbdsetup", "resize", "0", "--size", "96m")
    assert f"{96 * 2048}s" in b.run("drbdsetup", "show", "0")


def _shape(line: str) -> str:
    line = re.sub(r"\d[\d,.]*", "9", line)
    return re.sub(r"cs:\S+ ro:\S+ ds:\S+ [A-C ]", "cs:X ro:X ds:X P", line)


def test_proc_has_the_recorded_shape(pair: tuple[Side, Side, Clock]) -> None:
    a, b, clock = pair
    recorded = {_shape(line) for line in (DATA / "proc_drbd84.txt").read_text().splitlines()}
    a.up(b)
    b.up(a)
    a.run("drbdsetup", "primary", "0", "--force")
    clock.now += 3
    text = a.sim.proc_text()
    assert "sync'ed:" in text
    for line in text.splitlines():
        assert _shape(line) in recorded, line
    for minor in parse_proc((DATA / "proc_drbd84.txt").read_text()).minors.values():
        assert minor.cstatus


def test_show_matches_the_recorded_output(tmp_path: Path) -> None:
    clock = Clock()
    a = _side(tmp_path, "node1", "192.0.2.1", clock)
    b = _side(tmp_path, "node2", "192.0.2.2", clock)
    for side in (a, b):
        with open(side.data, "r+b") as handle:
            handle.truncate(1 << 30)
    a.run("drbdsetup", "new-resource", "resource0")
    a.run("drbdsetup", "new-minor", "resource0", "0", "0")
    a.run("drbdsetup", "attach", "0", str(a.data), str(a.meta), "flexible",
          "--on-io-error=detach")
    a.run("drbdsetup", "disk-options", "0", "--resync-rate", "61440")
    a.connect(b)
    shown = a.run("drbdsetup", "show", "0")
    shown = shown.replace(str(a.data), "/dev/xenvg/9a1e.disk0_data").replace(
        str(a.meta), "/dev/xenvg/9a1e.disk0_meta")
    assert shown == (DATA / "show_connected84.txt").read_text()
    info = parse_show(shown)
    assert info.local_addr == ("192.0.2.1", 11000)
    assert info.remote_addr == ("192.0.2.2", 11000)
    assert info.local_dev == "/dev/xenvg/9a1e.disk0_data"
    assert info.options["shared-secret"] == SECRET


def test_state_is_shared_between_simulator_instances(pair: tuple[Side, Side, Clock],
                                                     tmp_path: Path) -> None:
    _a, _b, clock = _synced_pair(pair)
    again = DrbdSimulator("node2", tmp_path / "drbd-state.json", tmp_path / "x", clock=clock)
    assert parse_proc(again.proc_text()).minors[0].rrole == "Primary"
