"""Parsers of lvs/vgs/pvs reports, against captured and captured-style outputs."""

from __future__ import annotations

from pathlib import Path

import pytest

from corral.storage.lvm import parse
from corral.storage.lvm.parse import LvAttr, LvmParseError, SegmentArea

DATA = Path(__file__).resolve().parents[2] / "data" / "lvm"


def _captured_stdout(command_prefix: str, occurrence: int) -> str:
    """The stdout of the n-th command starting with ``command_prefix`` in the real session."""
    blocks = (DATA / "session-2.03.16.txt").read_text().split("\n$ ")
    hits = [b for b in blocks if b.startswith(command_prefix)]
    body = hits[occurrence].split("--stdout\n", 1)[1]
    return body.split("--stderr", 1)[0]


def test_lvs_merges_real_segments() -> None:
    out = _captured_stdout("lvs --noheadings --units=m --nosuffix --separator=| -o "
                           "lv_name,vg_name,lv_size,lv_attr,devices xenvg\n", 0)
    (lv0,) = parse.parse_lvs(out)
    assert (lv0.name, lv0.vg, lv0.size_mib) == ("lv0", "xenvg", 1032)
    assert lv0.areas == (
        SegmentArea("/dev/loop0", 0), SegmentArea("/dev/loop0", 41),
        SegmentArea("/dev/loop0", 25), SegmentArea("/dev/loop1", 0),
    )


def test_lvs_mixed_states() -> None:
    lvs = {lv.name: lv for lv in parse.parse_lvs((DATA / "lvs_mixed.txt").read_text())}
    assert len(lvs) == 6
    disk0 = lvs["0c6ecb1e-5c5b-4b37-9a63-2f1b1d0f0a11.disk0"]
    assert (disk0.size_mib, disk0.attr.active, disk0.attr.open) == (1024, True, True)
    split = lvs["4f0d3c52-1a2b-4c3d-8e9f-0a1b2c3d4e5f.disk0"]
    assert not split.attr.active
    assert len(split.areas) == 2
    assert lvs["striped"].areas == (SegmentArea("/dev/sdb", 898), SegmentArea("/dev/sdc", 2))
    degraded = lvs["degraded"].attr
    assert degraded.partial
    assert not degraded.virtual
    assert lvs["root"].vg == "sysvg"


def test_vgs_real_and_full() -> None:
    (real,) = parse.parse_vgs(_captured_stdout("vgs", 0))
    assert (real.name, real.size_mib, real.free_mib) == ("xenvg", 1020, 1020)
    sysvg, xenvg = parse.parse_vgs((DATA / "vgs_two.txt").read_text())
    assert (sysvg.free_mib, xenvg.size_mib, xenvg.free_mib) == (0, 20472, 13664)


def test_pvs_real_zero_free() -> None:
    out = _captured_stdout("pvs", 2)
    loop0, loop1 = parse.parse_pvs(out)
    assert (loop0.name, loop0.free_mib, loop0.allocatable) == ("/dev/loop0", 0, True)
    assert (loop1.size_mib, loop1.free_mib) == (508, 496)


def test_pvs_unused_and_missing() -> None:
    pvs = {pv.name: pv for pv in parse.parse_pvs((DATA / "pvs_mixed.txt").read_text())}
    assert pvs["/dev/sdd"].vg == ""
    assert not pvs["/dev/sdd"].allocatable
    assert pvs["[unknown]"].missing


def test_empty_report_is_empty() -> None:
    assert parse.parse_lvs("") == []
    assert parse.parse_vgs("\n") == []


@pytest.mark.parametrize(
    "text",
    ["  lv0|xenvg|100.00\n", "  lv0|xenvg|lots|-wi-a-----|/dev/sdb(0)\n",
     "  lv0|xenvg|1.00|-wi-a-----|/dev/sdb\n", "  lv0|xenvg|-4.00|-wi-a-----|/dev/sdb(0)\n"],
    ids=["fields", "size", "devices", "negative"],
)
def test_malformed_lvs_rejected(text: str) -> None:
    with pytest.raises(LvmParseError):
        parse.parse_lvs(text)


def test_sizes_round_down_to_mib() -> None:
    assert parse.parse_size_mib("1020.00") == 1020
    assert parse.parse_size_mib("0") == 0
    assert parse.parse_size_mib("3.99") == 3


def test_attr_of_a_short_string_is_safe() -> None:
    attr = LvAttr("-wi")
    assert not attr.active
    assert attr.writable
    assert not attr.partial
