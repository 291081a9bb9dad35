"""Rows built a block of items at a time, and fields sharing one per-item whole."""

from __future__ import annotations

import gc
from typing import Any

import pytest

from corral.query import engine, query, query_values
from corral.query.fields import PartGetter
from corral.query.instances import INSTANCE_FIELDS
from tests.unit.query.conftest import ConfigBuilder


def _cluster(builder: ConfigBuilder) -> Any:
    nodes = [builder.node(f"node{i}.example.com") for i in range(3)]
    for i in range(7):
        nics = tuple(builder.nic(i * 2 + k) for k in range(i % 3))
        builder.instance(f"inst{i}", nodes[i % 3], nodes[(i + 1) % 3] if i % 2 else None,
                         disks=(1024,) * (i % 3), nics=nics, os="debian")
    return builder.context(instance_live={"inst-inst1": {"state": "running", "memory": 64}})


def test_blocks_give_the_rows_of_one_pass(builder: ConfigBuilder,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    ctx = _cluster(builder)
    fields = sorted(INSTANCE_FIELDS)
    whole_cells = query("instance", fields, None, ctx)
    whole_values = query_values("instance", fields, None, ctx)
    monkeypatch.setattr(engine, "BLOCK_ITEMS", 2)
    assert query("instance", fields, None, ctx) == whole_cells
    assert query_values("instance", fields, None, ctx) == whole_values
    assert len(whole_values) == 7


def test_aggregate_nic_and_disk_fields_share_one_whole() -> None:
    getters = [INSTANCE_FIELDS[name].getter for name in
               ("nic.macs", "nic.modes", "nic.networks.names", "custom_nicparams")]
    assert all(isinstance(g, PartGetter) for g in getters)
    assert len({g.whole for g in getters if isinstance(g, PartGetter)}) == 1
    disk = [INSTANCE_FIELDS[name].getter for name in ("disk.sizes", "disk_usage")]
    assert len({g.whole for g in disk if isinstance(g, PartGetter)}) == 1


def test_a_part_read_alone_matches_its_column(builder: ConfigBuilder) -> None:
    ctx = _cluster(builder)
    rows = query_values("instance", ["name", "nic.macs", "disk.sizes"], None, ctx)
    shared = engine.resource("instance").prepare(ctx)
    insts = {inst.name: inst for inst in ctx.config.instances.values()}
    for name, macs, sizes in rows:
        assert INSTANCE_FIELDS["nic.macs"].getter(shared, insts[name]) == macs
        assert INSTANCE_FIELDS["disk.sizes"].getter(shared, insts[name]) == sizes


def test_aging_young_objects_leaves_nothing_frozen(builder: ConfigBuilder,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    ctx = _cluster(builder)
    expected = query_values("instance", ["name", "nic.macs"], None, ctx)
    monkeypatch.setattr(engine, "AGE_YOUNG_ABOVE", 0)
    assert query_values("instance", ["name", "nic.macs"], None, ctx) == expected
    assert gc.get_freeze_count() == 0
    assert gc.isenabled()


def test_objects_frozen_on_purpose_stay_frozen(builder: ConfigBuilder,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    ctx = _cluster(builder)
    monkeypatch.setattr(engine, "AGE_YOUNG_ABOVE", 0)
    gc.freeze()
    try:
        query_values("instance", ["name"], None, ctx)
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
