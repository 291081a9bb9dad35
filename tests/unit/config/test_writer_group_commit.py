"""ConfigWriter group commit: concurrent commits share writes, each still durable and
replicated before it returns, and a refused commit fails alone."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from corral.clock import FakeClock
from corral.config.store import Change, ConfigStore
from corral.config.writer import ConfigWriter
from corral.objects import Cluster, ConfigData, Kind, Node, NodeGroup


def _data() -> ConfigData:
    data = ConfigData(cluster=Cluster(uuid="c1", cluster_name="c.example", master_node="n1"),
                      serial_no=1)
    data.put(NodeGroup(uuid="g1", name="default"))
    return data


def _node(index: int) -> Node:
    return Node(uuid=f"n{index}", name=f"node{index}", primary_ip=f"127.0.0.{index}", group="g1")


class CountingStore(ConfigStore):
    """A store that counts transactions and refuses to write node ``refused``."""

    def __init__(self, path: Path, refused: str = "") -> None:
        super().__init__(path)
        self.transactions = 0
        self.refused = refused

    def apply(self, serial_no: int, changes: Iterable[Change], meta: dict[str, Any]) -> None:
        changes = list(changes)
        if any(uuid == self.refused for _, uuid, _ in changes):
            raise OSError(f"cannot write {self.refused}")
        self.transactions += 1
        super().apply(serial_no, changes, meta)


class RecordingReplicator:
    """Records (serial, base, uuids) of each replication."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, int, list[str]]] = []

    async def replicate(
        self, serial_no: int, base_serial: int, changes: list[Change], data: ConfigData
    ) -> None:
        self.calls.append((serial_no, base_serial, [uuid for _, uuid, _ in changes]))

    async def push_ssconf(self, values: dict[str, str], data: ConfigData) -> None:
        return None


def _writer(tmp_path: Path, refused: str = "") -> tuple[ConfigWriter, CountingStore,
                                                        RecordingReplicator]:
    store = CountingStore(tmp_path / "config.db", refused)
    store.replace_all(_data())
    replicator = RecordingReplicator()
    return ConfigWriter(store, _data(), FakeClock(), replicator), store, replicator


def test_concurrent_commits_share_writes(tmp_path: Path) -> None:
    writer, store, replicator = _writer(tmp_path)

    async def scenario() -> list[int]:
        return list(await asyncio.gather(*(writer.commit(_node(i)) for i in range(2, 12))))

    serials = asyncio.run(scenario())
    assert sorted(serials) == list(range(2, 12))
    assert store.transactions == 1
    assert replicator.calls == [(11, 1, [f"n{i}" for i in range(2, 12)])]
    loaded = store.load()
    assert loaded is not None
    assert loaded.serial_no == writer.data.serial_no == 11
    assert set(loaded.nodes) == set(writer.data.nodes) == {f"n{i}" for i in range(2, 12)}
    store.close()


def test_refused_commit_fails_alone(tmp_path: Path) -> None:
    writer, store, _ = _writer(tmp_path, refused="n5")

    async def scenario() -> list[Any]:
        commits = (writer.commit(_node(i)) for i in range(2, 8))
        return list(await asyncio.gather(*commits, return_exceptions=True))

    outcomes = asyncio.run(scenario())
    assert isinstance(outcomes[3], OSError)
    assert all(isinstance(o, int) for i, o in enumerate(outcomes) if i != 3)
    assert set(writer.data.nodes) == {"n2", "n3", "n4", "n6", "n7"}
    loaded = store.load()
    assert loaded is not None
    assert set(loaded.nodes) == set(writer.data.nodes)
    assert loaded.serial_no == writer.data.serial_no
    store.close()


def test_sequential_commits_bump_serial_by_one(tmp_path: Path) -> None:
    writer, store, replicator = _writer(tmp_path)

    async def scenario() -> list[int]:
        return [await writer.commit(_node(2)), await writer.commit(removed=[(Kind.NODE, "n2")])]

    assert asyncio.run(scenario()) == [2, 3]
    assert replicator.calls == [(2, 1, ["n2"]), (3, 2, ["n2"])]
    assert "n2" not in writer.data.nodes
    store.close()


def test_on_commit_sees_each_commit(tmp_path: Path) -> None:
    writer, store, _ = _writer(tmp_path)
    seen: list[tuple[str, ...]] = []
    writer.on_commit.append(lambda changes: seen.append(tuple(u for _, u, _ in changes)))

    async def scenario() -> None:
        await asyncio.gather(writer.commit(_node(2)), writer.commit(_node(3)))

    asyncio.run(scenario())
    assert sorted(seen) == [("n2",), ("n3",)]
    store.close()


class SsconfRecorder(RecordingReplicator):
    """Also records the ``node_list`` of each ssconf push."""

    def __init__(self) -> None:
        super().__init__()
        self.pushes: list[str] = []

    async def push_ssconf(self, values: dict[str, str], data: ConfigData) -> None:
        self.pushes.append(values["node_list"])


def test_commits_in_a_row_share_one_ssconf_push(tmp_path: Path) -> None:
    """Commits that change ssconf one after the other, inside the push delay, are folded
    into one background push of the latest values; none of them waits for it."""
    store = CountingStore(tmp_path / "config.db")
    store.replace_all(_data())
    replicator = SsconfRecorder()
    writer = ConfigWriter(store, _data(), FakeClock(), replicator, ssconf_delay=3600)

    async def scenario() -> None:
        for index in range(2, 6):
            await writer.commit(_node(index))
        assert replicator.pushes == []
        await writer.settle()

    asyncio.run(scenario())
    assert replicator.pushes == ["\n".join(f"node{i}" for i in range(2, 6))]
