"""A lease winner catches up with the other candidates before it acts as master."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import msgspec
import pytest

from corral import serde
from corral.clock import FakeClock
from corral.config.store import ConfigStore
from corral.errors import ConfigurationError
from corral.layout import NodeLayout
from corral.master.catch_up import catch_up
from corral.objects import Cluster, ConfigData, Node, NodeGroup
from corral.rpc.payloads import ConfigCopy, QueueCopy
from tests.support.fake_rpc import FakeNodeRpc


def _config(serial: int, tags: tuple[str, ...] = ()) -> ConfigData:
    data = ConfigData(cluster=Cluster(uuid="c1", cluster_name="c.example", master_node="n1",
                                      tags=tags), serial_no=serial)
    data.put(NodeGroup(uuid="g1", name="default"))
    for index in (1, 2, 3):
        data.put(Node(uuid=f"n{index}", name=f"node{index}", primary_ip=f"127.0.0.{index}",
                      group="g1", master_candidate=True))
    return data


def _copy(data: ConfigData) -> ConfigCopy:
    changes: list[Any] = [[k.value, o.uuid, msgspec.to_builtins(o)] for k, o in data.all_objects()]
    meta = {"ctime": data.ctime, "mtime": data.mtime, "version": data.version}
    return ConfigCopy(serial_no=data.serial_no, changes=changes, meta=meta)


def _layout(tmp_path: Path, serial: int) -> tuple[NodeLayout, ConfigData]:
    layout = NodeLayout(tmp_path)
    layout.data_dir.mkdir(parents=True)
    layout.queue_dir.mkdir(parents=True, exist_ok=True)
    data = _config(serial)
    store = ConfigStore(layout.config_db)
    store.replace_all(data)
    store.close()
    return layout, data


def _job(job_id: int, *statuses: str) -> str:
    return serde.dumps({"id": job_id, "ops": [{"status": s} for s in statuses]}).decode()


def _replica(layout: NodeLayout) -> ConfigData:
    store = ConfigStore(layout.config_db)
    try:
        data = store.load()
    finally:
        store.close()
    assert data is not None
    return data


def test_newer_configuration_and_missing_jobs_are_fetched(tmp_path: Path) -> None:
    layout, data = _layout(tmp_path, 7)
    (layout.queue_dir / "job-1").write_text(_job(1, "running"))
    (layout.queue_dir / "job-2").write_text(_job(2, "success"))
    rpc = FakeNodeRpc(FakeClock())
    rpc.script("config_serial", "node1", fail="Cannot connect")
    rpc.script("config_serial", "node3", payload=9)
    rpc.script("config_fetch", "node3", payload=_copy(_config(9, tags=("acked",))))
    rpc.script("jobqueue_fetch", "node1", fail="Cannot connect")
    rpc.script("jobqueue_fetch", "node3", payload=QueueCopy(files=[
        ("job-1", _job(1, "success")), ("job-2", _job(2, "queued")),
        ("job-3", _job(3, "queued")), ("archive/0/job-4", _job(4, "success")),
        ("../job-5", _job(5, "queued"))], serial=6))
    done = asyncio.run(catch_up(layout, rpc, data, "node2"))
    assert (done.serial, done.source, done.jobs_copied) == (9, "node3", 3)
    assert _replica(layout).cluster.tags == ("acked",)
    assert _replica(layout).serial_no == 9
    assert serde.loads((layout.queue_dir / "job-1").read_bytes())["ops"][0]["status"] == "success"
    assert serde.loads((layout.queue_dir / "job-2").read_bytes())["ops"][0]["status"] == "success"
    assert (layout.queue_dir / "job-3").exists()
    assert (layout.queue_dir / "archive" / "0" / "job-4").exists()
    assert not (tmp_path / "job-5").exists()
    assert (layout.queue_dir / "serial").read_text().strip() == "6"


def test_own_configuration_newest_is_kept(tmp_path: Path) -> None:
    layout, data = _layout(tmp_path, 7)
    rpc = FakeNodeRpc(FakeClock())
    rpc.script("config_serial", payload=7)
    done = asyncio.run(catch_up(layout, rpc, data, "node2"))
    assert (done.serial, done.source, done.jobs_copied) == (7, None, 0)
    assert rpc.calls_of("config_fetch") == []


def test_a_newer_configuration_that_cannot_be_fetched_stops_the_take_over(
    tmp_path: Path,
) -> None:
    layout, data = _layout(tmp_path, 7)
    rpc = FakeNodeRpc(FakeClock())
    rpc.script("config_serial", payload=8)
    rpc.script("config_fetch", fail="connection reset")
    with pytest.raises(ConfigurationError, match="node1, node3 hold a newer configuration"):
        asyncio.run(catch_up(layout, rpc, data, "node2"))
    assert _replica(layout).serial_no == 7
