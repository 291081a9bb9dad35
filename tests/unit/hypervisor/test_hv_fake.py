"""The fake hypervisor beyond the kit: state files, memory accounting, migration, speed."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest

from corral.clock import FakeClock
from corral.errors import HypervisorError
from corral.hypervisor import linux
from corral.hypervisor.base import ConsoleKind, HvState, InstanceSpec
from corral.hypervisor.fake import FakeHypervisor
from corral.hypervisor.params import defaults
from corral.layout import NodeLayout
from corral.process import SubprocessRunner


def _driver(root: Path) -> FakeHypervisor:
    return FakeHypervisor(NodeLayout(root), SubprocessRunner(), FakeClock())


def _spec(name: str, memory: int = 512) -> InstanceSpec:
    return InstanceSpec(name=name, uuid=f"uuid-{name}", hvparams=defaults("fake"),
                        memory_mib=memory, vcpus=2)


def test_state_file_holds_the_instance(tmp_path: Path) -> None:
    hv = _driver(tmp_path)
    asyncio.run(hv.start(_spec("web1")))
    record = json.loads((tmp_path / "run/corral/fake-hv/web1.json").read_text())
    assert record["name"] == "web1"
    assert (record["memory"], record["vcpus"], record["state"]) == (512, 2, "running")
    assert [p.name for p in (tmp_path / "run/corral/fake-hv").iterdir()] == ["web1.json"]


def test_a_second_driver_on_the_same_node_sees_the_instance(tmp_path: Path) -> None:
    asyncio.run(_driver(tmp_path).start(_spec("web1")))
    info = asyncio.run(_driver(tmp_path).instance_info("web1"))
    assert info is not None
    assert info.memory_mib == 512


def test_soft_stop_of_missing_instance_fails_forced_does_not(tmp_path: Path) -> None:
    hv = _driver(tmp_path)
    with pytest.raises(HypervisorError, match="not running"):
        asyncio.run(hv.stop("ghost", force=False, timeout=1))
    asyncio.run(hv.stop("ghost", force=True, timeout=1))


def test_paused_start_and_balloon(tmp_path: Path) -> None:
    hv = _driver(tmp_path)
    asyncio.run(hv.start(_spec("web1"), paused=True))
    info = asyncio.run(hv.instance_info("web1"))
    assert info is not None
    assert info.state == HvState.PAUSED
    asyncio.run(hv.balloon("web1", 300))
    info = asyncio.run(hv.instance_info("web1"))
    assert info is not None
    assert info.memory_mib == 300
    with pytest.raises(HypervisorError, match="invalid memory"):
        asyncio.run(hv.balloon("web1", 0))
    with pytest.raises(HypervisorError, match="not running"):
        asyncio.run(hv.balloon("ghost", 100))


@pytest.mark.parametrize("name", ["", "a/b", ".hidden"], ids=repr)
def test_bad_names_are_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(HypervisorError, match="invalid instance name"):
        asyncio.run(_driver(tmp_path).start(_spec(name)))


def test_node_info_subtracts_instance_memory(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(linux, "read_host", lambda: linux.HostFigures(4096, 2048, 4, 1, 1))
    hv = _driver(tmp_path)
    asyncio.run(hv.start(_spec("a", 1024)))
    asyncio.run(hv.start(_spec("b", 512)))
    info = asyncio.run(hv.node_info())
    assert (info.memory_total, info.memory_free, info.memory_dom0) == (4096, 512, 2048)
    asyncio.run(hv.start(_spec("c", 4096)))
    assert asyncio.run(hv.node_info()).memory_free == 0


def test_node_info_follows_every_change_of_the_state_files(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """node_info reads a state file again only when it changed: each change shows."""
    monkeypatch.setattr(linux, "read_host", lambda: linux.HostFigures(8192, 4096, 4, 1, 1))
    hv, other = _driver(tmp_path), _driver(tmp_path)  # another driver writes too

    def free() -> int:
        return asyncio.run(hv.node_info()).memory_free

    asyncio.run(hv.start(_spec("a", 1024)))
    assert free() == 3072
    asyncio.run(other.balloon("a", 256))
    assert free() == 3840
    asyncio.run(other.start(_spec("b", 512)))
    assert free() == 3328
    asyncio.run(hv.stop("a", force=True, timeout=0))
    assert free() == 3584


def test_migration_moves_the_instance_between_nodes(tmp_path: Path) -> None:
    src, dst = _driver(tmp_path / "n1"), _driver(tmp_path / "n2")
    spec = _spec("web1")

    async def migrate() -> None:
        await src.start(spec)
        info = await src.migration_info(spec)
        target = await dst.accept_instance(spec, info, "n2")
        await src.migrate_instance("cluster", spec, target, True)
        assert (await src.migration_status(spec)).state == "completed"
        await src.finalize_migration_src(spec, True, True)
        await dst.finalize_migration_dst(spec, info, True)

    asyncio.run(migrate())
    assert asyncio.run(src.list_instances()) == []
    info = asyncio.run(dst.instance_info("web1"))
    assert info is not None
    assert info.state == HvState.RUNNING


def test_failed_migration_leaves_the_source(tmp_path: Path) -> None:
    src, dst = _driver(tmp_path / "n1"), _driver(tmp_path / "n2")
    spec = _spec("web1")

    async def migrate() -> None:
        await src.start(spec)
        await dst.accept_instance(spec, "", "n2")
        await dst.finalize_migration_dst(spec, "", False)
        await src.finalize_migration_src(spec, False, True)

    asyncio.run(migrate())
    assert asyncio.run(src.list_instances()) == ["web1"]
    assert asyncio.run(dst.list_instances()) == []


def test_console_and_verify(tmp_path: Path) -> None:
    hv = _driver(tmp_path)
    assert hv.console(_spec("web1")).kind == ConsoleKind.MESSAGE
    assert asyncio.run(hv.verify()) == []


def test_start_and_stop_cost_well_under_a_millisecond(tmp_path: Path) -> None:
    hv = _driver(tmp_path)
    specs = [_spec(f"inst{i}") for i in range(300)]

    async def cycle() -> None:
        await asyncio.gather(*(hv.start(s) for s in specs))
        assert len(await hv.list_instances()) == 300
        await asyncio.gather(*(hv.stop(s.name, force=False, timeout=1) for s in specs))

    t0 = time.process_time()
    asyncio.run(cycle())
    per_op = (time.process_time() - t0) / 600
    assert per_op < 0.0005, f"{per_op * 1e6:.0f} µs of CPU per start/stop"
    assert asyncio.run(hv.list_instances()) == []
