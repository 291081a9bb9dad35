"""A new master term: one above every epoch known, announced, then committed."""

from __future__ import annotations

import asyncio
from pathlib import Path

import msgspec
import pytest

from corral.clock import FakeClock
from corral.config.store import ConfigStore
from corral.config.writer import ConfigWriter
from corral.errors import OpExecError
from corral.master.term import start_new_term
from corral.objects import Cluster
from corral.rpc.results import NodeResult
from tests.support.config import standard_cluster
from tests.support.fake_rpc import FakeNodeRpc


def _writer(tmp_path: Path) -> tuple[ConfigWriter, FakeNodeRpc]:
    data = standard_cluster(3).data
    store = ConfigStore(tmp_path / "config.db")
    store.replace_all(data)
    return ConfigWriter(store, data, FakeClock()), FakeNodeRpc(FakeClock())


def test_existing_configurations_read_as_epoch_1() -> None:
    encoded = msgspec.json.encode(Cluster(uuid="c", cluster_name="c", master_node="n"))
    without = msgspec.json.decode(encoded.replace(b',"master_epoch":1', b""))
    assert "master_epoch" not in without
    assert msgspec.convert(without, Cluster).master_epoch == 1


def test_new_term_is_above_every_known_epoch(tmp_path: Path) -> None:
    writer, rpc = _writer(tmp_path)
    rpc.script("master_epoch", "node2", payload=4)
    rpc.script("master_epoch_announce", "node3",
               fail="Cannot connect to 127.0.0.3:1811: Connection refused")
    term = asyncio.run(start_new_term(writer, rpc))
    assert term.epoch == 5
    assert [(c.node, c.args) for c in rpc.calls_of("master_epoch_announce")] == [
        ("node1", (5,)), ("node2", (5,)), ("node3", (5,))]
    assert term.announced == ("node1", "node2")
    assert list(term.unreachable) == ["node3"]
    assert rpc.epoch == 5
    assert writer.data.cluster.master_epoch == 5
    assert ConfigStore(tmp_path / "config.db").load().cluster.master_epoch == 5  # type: ignore[union-attr]


def test_new_term_refused_when_a_node_saw_a_later_one(tmp_path: Path) -> None:
    writer, rpc = _writer(tmp_path)

    def later(node: object, args: tuple[object, ...]) -> NodeResult[int]:
        return NodeResult.failure("node2", "master_epoch_announce",
                                  f"fenced: master epoch {args[0]} is older than 9")

    rpc.script("master_epoch_announce", "node2", fn=later)  # type: ignore[arg-type]
    with pytest.raises(OpExecError, match="node node2: fenced: master epoch 2 is older than 9"):
        asyncio.run(start_new_term(writer, rpc))
    assert writer.data.cluster.master_epoch == 1
