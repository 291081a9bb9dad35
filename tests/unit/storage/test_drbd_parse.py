"""Parsers of /proc/drbd and drbdsetup show against the recorded DRBD 8.4 samples."""

from __future__ import annotations

from pathlib import Path

import pytest

from corral.errors import BlockDeviceError
from corral.storage.drbd.parse import parse_proc, parse_show

DATA = Path(__file__).resolve().parents[2] / "data" / "drbd"


def test_proc_sample() -> None:
    info = parse_proc((DATA / "proc_drbd84.txt").read_text())
    assert info.version == (8, 4, 11)
    assert sorted(info.minors) == [0, 1, 2, 3, 4, 5]
    connected = info.minors[0]
    assert (connected.is_connected, connected.is_primary, connected.is_disk_uptodate,
            connected.peer_disk_uptodate, connected.sync_percent) == (True, True, True, True, None)
    syncing = info.minors[1]
    assert syncing.is_in_resync
    assert (syncing.sync_percent, syncing.est_time, syncing.rdisk) == (40.6, 10, "Inconsistent")
    assert info.minors[2].cstatus == "WFConnection"
    assert info.minors[3].is_standalone
    paused = info.minors[4]
    assert (paused.cstatus, paused.sync_percent, paused.est_time) == ("PausedSyncT", 6.2, 0)
    assert info.minors[5].is_diskless


def test_proc_unconfigured_and_garbage() -> None:
    info = parse_proc("version: 8.4.11 (api:1/proto:86-101)\n 7: cs:Unconfigured\n")
    assert not info.minors[7].is_in_use
    with pytest.raises(BlockDeviceError, match="version"):
        parse_proc("")
    with pytest.raises(BlockDeviceError, match="status line"):
        parse_proc("version: 8.4.11 (api:1/proto:86-101)\n 1: cs:Connected what\n")


def test_show_samples() -> None:
    net = parse_show((DATA / "show_connected84.txt").read_text())
    assert net.local_addr == ("192.0.2.1", 11000)
    assert net.remote_addr == ("192.0.2.2", 11000)
    assert (net.local_dev, net.meta_dev) == ("/dev/xenvg/9a1e.disk0_data",
                                             "/dev/xenvg/9a1e.disk0_meta")
    assert net.options["cram-hmac-alg"] == "md5"
    assert net.options["resync-rate"] == "61440k"
    local = parse_show((DATA / "show_local84.txt").read_text())
    assert local.local_addr is None
    assert local.remote_addr is None
    assert local.local_dev == "/dev/xenvg/77b2.disk1_data"
    assert parse_show("").local_dev is None
