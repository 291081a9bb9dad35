"""A configuration commit the disk refuses: the caller gets the cause, memory stays as it was.

Twice: with a fault injected into the store's write transactions (runs everywhere), and with
a real full tmpfs (root only; skipped otherwise)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from corral.clock import FakeClock
from corral.config.store import ConfigStore
from corral.config.writer import ConfigWriter
from corral.errors import ConfigurationError
from corral.objects.config_data import ConfigData
from corral.opcodes.tags import OpTagsSet, TagKind
from corral.sqlite import WriteFault
from tests.support.config import standard_cluster
from tests.support.disk import DISK_FULL, WriteFaults, disk_full, fill, io_error, small_tmpfs
from tests.support.lu_harness import LuHarness

CAUSE = f"Cannot write the configuration on node1: {DISK_FULL}"


def on_disk(path: Path) -> ConfigData:
    store = ConfigStore(path)
    try:
        data = store.load()
    finally:
        store.close()
    assert data is not None
    return data


def writer_at(path: Path, fault: WriteFault | None = None) -> ConfigWriter:
    store = ConfigStore(path, node="node1", fault=fault)
    data = standard_cluster().data
    store.replace_all(data)
    return ConfigWriter(store, data, FakeClock())


async def commit_tags(writer: ConfigWriter, *tags: str) -> int:
    cluster = writer.data.cluster
    return await writer.commit(cluster.evolve(writer.clock.now(), tags=tags))


def check_failed_commit(writer: ConfigWriter, path: Path, match: str) -> None:
    """A commit fails with ``match``; memory and disk keep the configuration they had."""
    before_cluster, before_serial = writer.data.cluster, writer.data.serial_no
    with pytest.raises(ConfigurationError, match=match):
        asyncio.run(commit_tags(writer, "lost"))
    assert writer.data.cluster is before_cluster
    assert writer.data.serial_no == before_serial
    assert on_disk(path).serial_no == before_serial
    assert on_disk(path).cluster.tags == before_cluster.tags


def check_commit_works(writer: ConfigWriter, path: Path) -> None:
    serial = asyncio.run(commit_tags(writer, "kept"))
    assert writer.data.serial_no == serial == on_disk(path).serial_no
    assert on_disk(path).cluster.tags == ("kept",)


# --- an injected fault ---------------------------------------------------------------------
@pytest.mark.parametrize(
    ("error", "auto_rollback", "cause"),
    [
        pytest.param(disk_full, True, DISK_FULL, id="full-rolled-back-by-sqlite"),
        pytest.param(disk_full, False, DISK_FULL, id="full-transaction-open"),
        pytest.param(io_error, True, "Input/output error", id="eio"),
    ],
)
def test_failed_commit_leaves_memory_unchanged(
    tmp_path: Path, error: Callable[[], BaseException], auto_rollback: bool, cause: str
) -> None:
    faults = WriteFaults()
    path = tmp_path / "config.db"
    writer = writer_at(path, faults)
    faults.fail_from(1, error, auto_rollback)
    check_failed_commit(writer, path, f"^Cannot write the configuration on node1: .*{cause}")
    faults.clear()
    check_commit_works(writer, path)
    writer.store.close()


def test_logical_unit_gets_the_cause(tmp_path: Path) -> None:
    harness = LuHarness(tmp_path, standard_cluster().data)
    faults = WriteFaults()
    harness.writer.store = ConfigStore(harness.store_path, node="node1", fault=faults)
    faults.fail_from(1)
    with pytest.raises(ConfigurationError) as raised:
        harness.run_sync(OpTagsSet(kind=TagKind.CLUSTER, tags=["lost"]))
    assert raised.value.encode() == ["ConfigurationError", [CAUSE]]
    assert harness.data.cluster.tags == ()
    harness.assert_persisted()
    harness.writer.store.close()
    harness.close()


# --- a real full disk ---------------------------------------------------------------------
@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    with small_tmpfs(tmp_path / "disk") as mount:
        yield mount


def test_full_tmpfs(small_disk: Path) -> None:
    path = small_disk / "config.db"
    writer = writer_at(path)
    filler = fill(small_disk)
    check_failed_commit(writer, path, CAUSE)
    filler.unlink()
    check_commit_works(writer, path)
    writer.store.close()
