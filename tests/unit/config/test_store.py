"""The configuration store: round trips, transactions, and kill -9 at any instant."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from corral.config.store import ConfigStore, full_changes
from corral.objects import Cluster, ConfigData, Kind, Node, NodeGroup


def _data() -> ConfigData:
    group = NodeGroup(uuid="g1", name="default")
    node = Node(uuid="n1", name="node1", primary_ip="127.0.0.11", group="g1", master_candidate=True)
    cluster = Cluster(uuid="c1", cluster_name="c.example", master_node="n1")
    data = ConfigData(cluster=cluster, serial_no=1)
    data.put(group)
    data.put(node)
    return data


def test_round_trip(tmp_path: Path) -> None:
    store = ConfigStore(tmp_path / "config.db")
    store.replace_all(_data())
    loaded = store.load()
    assert loaded is not None
    assert loaded.cluster.cluster_name == "c.example"
    assert loaded.node_by_name("node1") == _data().nodes["n1"]
    assert loaded.serial_no == 1
    assert oct((tmp_path / "config.db").stat().st_mode & 0o777) == "0o600"
    store.close()


def test_apply_writes_only_changes(tmp_path: Path) -> None:
    store = ConfigStore(tmp_path / "config.db")
    store.replace_all(_data())
    node2 = Node(uuid="n2", name="node2", primary_ip="127.0.0.12", group="g1")
    store.apply(2, [(Kind.NODE, "n2", node2), (Kind.NODE, "n1", None)], {"mtime": 5.0})
    loaded = store.load()
    assert loaded is not None
    assert set(loaded.nodes) == {"n2"}
    assert loaded.serial_no == 2
    assert loaded.mtime == 5.0
    store.close()


def test_empty_store_loads_none(tmp_path: Path) -> None:
    store = ConfigStore(tmp_path / "config.db")
    assert store.load() is None
    store.close()


def test_full_changes_cover_every_object() -> None:
    kinds = sorted(k.value for k, _, _ in full_changes(_data()))
    assert kinds == ["cluster", "nodegroups", "nodes"]


_WRITER = """
import sys
from pathlib import Path
from corral.config.store import ConfigStore
from corral.objects import Kind, Node
store = ConfigStore(Path(sys.argv[1]))
serial = store.serial_no()
print("ready", flush=True)
while True:
    serial += 1
    batch = [(Kind.NODE, f"n{serial % 50}-{i}",
              Node(uuid=f"n{serial % 50}-{i}", name=f"x{serial}-{i}", primary_ip="127.0.0.1",
                   serial_no=serial)) for i in range(20)]
    store.apply(serial, batch, {"mtime": float(serial)})
"""


def test_survives_kill_9_mid_write(tmp_path: Path) -> None:
    """A writer killed at random instants never leaves a torn or half-applied commit."""
    path = tmp_path / "config.db"
    store = ConfigStore(path)
    store.replace_all(_data())
    store.close()
    rng = random.Random(7)
    for _ in range(15):
        proc = subprocess.Popen(
            [sys.executable, "-c", _WRITER, str(path)], stdout=subprocess.PIPE, text=True
        )
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(rng.uniform(0.005, 0.08))
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
        reopened = ConfigStore(path)
        loaded = reopened.load()
        assert loaded is not None
        serial = loaded.serial_no
        assert loaded.mtime in (0.0, float(serial))
        if serial > 1:
            # the last commit wrote 20 nodes stamped with its serial: all of them are there
            written = [n for n in loaded.nodes.values() if n.serial_no == serial]
            assert len(written) == 20
        reopened.close()
