"""The drbd driver on two simulated nodes: status mapping, parameters, network changes."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

import pytest

from corral.errors import BlockDeviceError
from corral.storage.base import DiskCreateSpec, LDiskStatus
from corral.storage.drbd import cmdgen
from corral.storage.drbd.cmdgen import DrbdParams
from corral.storage.drbd.driver import parse_id, status_of
from corral.storage.drbd.parse import parse_proc
from corral.storage.lvm.driver import LvmDriver
from tests.support.drbd import DrbdNodes

SIZE = 64


async def _mirror(nodes: DrbdNodes, index: int = 0, size: int = SIZE) -> None:
    await nodes.driver("node2").create(nodes.spec(index, size, "node2"))
    await nodes.driver("node1").create(nodes.spec(index, size, "node1"))
    await nodes.driver("node1").open(nodes.ref(index, size, "node1"), force=True)


def test_sync_status_follows_the_initial_resync(tmp_path: Path) -> None:
    nodes = DrbdNodes(tmp_path)

    async def scenario() -> None:
        await _mirror(nodes)
        secondary = nodes.driver("node2")
        ref = nodes.ref(0, SIZE, "node2")
        nodes.settle(SIZE * 1024 / 1024 / 4)          # a quarter at 1024 KiB/s
        status = await secondary.sync_status(ref)
        assert status.is_degraded
        assert status.sync_percent == pytest.approx(25.0, abs=0.2)
        assert status.estimated_time == 48
        assert status.ldisk_status is LDiskStatus.SYNC
        nodes.settle()
        done = await secondary.sync_status(ref)
        assert (done.is_degraded, done.sync_percent, done.ldisk_status) == (
            False, None, LDiskStatus.OKAY)

    asyncio.run(scenario())


def test_disconnect_and_attach_net_for_dual_primary(tmp_path: Path) -> None:
    nodes = DrbdNodes(tmp_path)

    async def scenario() -> None:
        await _mirror(nodes)
        nodes.settle()
        refs = {name: nodes.ref(0, SIZE, name) for name in ("node1", "node2")}
        for name, ref in refs.items():
            await nodes.driver(name).disconnect_net(ref)
            assert (await nodes.driver(name).minor_status(ref)).is_standalone  # type: ignore[union-attr]
        await nodes.driver("node1").attach_net(refs["node1"], True)
        with pytest.raises(BlockDeviceError, match="standalone"):
            await nodes.driver("node1").attach_net(refs["node1"], True)
        await nodes.driver("node2").attach_net(refs["node2"], True)
        await nodes.driver("node2").open(refs["node2"])
        status = await nodes.driver("node1").minor_status(refs["node1"])
        assert status is not None
        assert (status.is_connected, status.lrole, status.rrole) == (True, "Primary", "Primary")

    asyncio.run(scenario())


def test_a_peer_that_is_down_degrades_and_faulty_without_disk(tmp_path: Path) -> None:
    nodes = DrbdNodes(tmp_path)

    async def scenario() -> None:
        await _mirror(nodes)
        nodes.settle()
        ref = nodes.ref(0, SIZE, "node1")
        await nodes.driver("node2").shutdown(nodes.ref(0, SIZE, "node2"))
        status = await nodes.driver("node1").sync_status(ref)
        assert status.is_degraded
        assert status.ldisk_status is LDiskStatus.OKAY
        await nodes.driver("node1").close(ref)
        with pytest.raises(BlockDeviceError, match="mismatch in local storage"):
            await nodes.driver("node1").remove_children(ref, ref.children[:1])
        await nodes.driver("node1").remove_children(ref, ref.children)
        diskless = await nodes.driver("node1").sync_status(ref)
        assert diskless.ldisk_status is LDiskStatus.FAULTY
        await nodes.driver("node1").add_children(ref, ref.children)
        again = await nodes.driver("node1").sync_status(ref)
        assert (again.ldisk_status, again.is_degraded) == (LDiskStatus.UNKNOWN, True)
        with pytest.raises(BlockDeviceError, match="has local storage"):
            await nodes.driver("node1").add_children(ref, ref.children)

    asyncio.run(scenario())


def test_assemble_repairs_a_partial_configuration(tmp_path: Path) -> None:
    nodes = DrbdNodes(tmp_path)

    async def scenario() -> None:
        await _mirror(nodes)
        nodes.settle()
        ref = nodes.ref(0, SIZE, "node2")
        await nodes.driver("node2").disconnect_net(ref)
        info = await nodes.driver("node2").assemble(ref)
        assert info.active
        status = await nodes.driver("node2").minor_status(ref)
        assert status is not None
        assert status.is_connected

    asyncio.run(scenario())


def test_primary_without_good_data_is_refused(tmp_path: Path) -> None:
    nodes = DrbdNodes(tmp_path)

    async def scenario() -> None:
        await nodes.driver("node1").create(nodes.spec(0, SIZE, "node1"))
        with pytest.raises(BlockDeviceError, match="Need access to UpToDate data"):
            await nodes.driver("node1").open(nodes.ref(0, SIZE, "node1"))

    asyncio.run(scenario())


def test_create_refuses_a_minor_in_use_and_cleans_up(tmp_path: Path) -> None:
    nodes = DrbdNodes(tmp_path, vg_mib=600)

    async def scenario() -> None:
        driver = nodes.driver("node1")
        await driver.create(nodes.spec(0, SIZE, "node1"))
        clash = dataclasses.replace(nodes.spec(1, SIZE, "node1"),
                                    link=nodes.spec(0, SIZE, "node1").link,
                                    logical_id=nodes.spec(0, SIZE).logical_id)
        with pytest.raises(BlockDeviceError, match="already in use"):
            await driver.create(clash)
        with pytest.raises(BlockDeviceError, match="Not enough free space"):
            await driver.create(nodes.spec(2, 1024, "node1"))
        names = {lv.name for lv in nodes.nodes["node1"].lvm.state.vgs["xenvg"].lvs}
        assert names == {"u0000.disk0_data", "u0000.disk0_meta"}
        assert set(parse_proc(nodes.nodes["node1"].drbd.proc_text()).minors) == {0}

    asyncio.run(scenario())


def test_logical_id_and_link_are_checked(tmp_path: Path) -> None:
    nodes = DrbdNodes(tmp_path)
    ref = nodes.ref(0, SIZE)
    link = ref.link
    assert link is not None
    assert parse_id(ref).port == 11000
    for bad, match in (
        (dataclasses.replace(ref, logical_id=ref.logical_id[:5]), "Invalid drbd logical id"),
        (dataclasses.replace(ref, logical_id=("a", "b", "x", "0", "0", "s")), "numbers"),
        (dataclasses.replace(ref, link=None), "no mirror link"),
        (dataclasses.replace(ref, link=dataclasses.replace(link, local_minor=5)),
         "are not those"),
        (dataclasses.replace(ref, link=dataclasses.replace(link, remote_ip="192.0.2.1")),
         "both"),
    ):
        with pytest.raises(BlockDeviceError, match=match):
            parse_id(bad)


def test_disk_parameters_become_options() -> None:
    params = DrbdParams.from_params({"disk-barriers": "bf", "meta-barriers": True,
                                     "disk-custom": "--al-extents 3389",
                                     "net-custom": "--max-buffers 8000", "protocol": "B",
                                     "dynamic-resync": True, "c-plan-ahead": 10})
    attach = cmdgen.local_init(3, "/dev/v/d", "/dev/v/m", 1024, params)[-1]
    assert attach[:8] == ["drbdsetup", "attach", "3", "/dev/v/d", "/dev/v/m", "flexible",
                          "--on-io-error=detach", "--size"]
    assert attach[9:] == ["--md-flushes=no", "--disk-flushes=no", "--disk-barrier=no",
                          "--al-extents", "3389"]
    connect = cmdgen.net_init(3, ("10.0.0.1", 11003), ("10.0.0.2", 11003), params, "s",
                              True)[-1]
    assert connect == ["drbdsetup", "connect", "resource3", "ipv4:10.0.0.1:11003",
                       "ipv4:10.0.0.2:11003", "--protocol", "B", "--after-sb-0pri",
                       "discard-zero-changes", "--after-sb-1pri", "consensus",
                       "--allow-two-primaries", "--cram-hmac-alg", "md5", "--shared-secret",
                       "s", "--max-buffers", "8000"]
    assert cmdgen.sync_params(3, params) == [
        "drbdsetup", "disk-options", "3", "--c-plan-ahead", "10", "--c-fill-target", "0",
        "--c-delay-target", "1", "--c-max-rate", "61440", "--c-min-rate", "4096"]
    assert cmdgen.sync_params(3, DrbdParams()) == [
        "drbdsetup", "disk-options", "3", "--resync-rate", "61440"]
    with pytest.raises(BlockDeviceError, match="c-plan-ahead"):
        cmdgen.sync_params(3, DrbdParams(dynamic_resync=True, c_plan_ahead=0))
    with pytest.raises(BlockDeviceError, match="barriers"):
        DrbdParams.from_params({"disk-barriers": "nb"})
    with pytest.raises(BlockDeviceError, match="resync-rate"):
        DrbdParams.from_params({"resync-rate": "fast"})


def test_status_mapping_of_the_recorded_proc() -> None:
    sample = Path(__file__).resolve().parents[2] / "data" / "drbd" / "proc_drbd84.txt"
    minors = parse_proc(sample.read_text()).minors
    assert status_of(minors[0]).is_degraded is False
    syncing = status_of(minors[4])
    assert (syncing.is_degraded, syncing.ldisk_status) == (True, LDiskStatus.SYNC)
    assert status_of(minors[2]).is_degraded
    assert status_of(minors[5]).ldisk_status is LDiskStatus.FAULTY


def test_create_uses_volumes_made_before(tmp_path: Path) -> None:
    """Ganeti's master creates the LVs with their own blockdev_create calls first."""
    nodes = DrbdNodes(tmp_path)

    async def scenario() -> None:
        driver = nodes.driver("node1")
        spec = nodes.spec(0, SIZE, "node1")
        sim = nodes.nodes["node1"].lvm
        lvm = LvmDriver(sim, dev_dir=sim.dev_dir)
        for child in spec.children:
            await lvm.create(DiskCreateSpec(uuid=child.uuid, instance="inst1", index=0,
                                            size_mib=child.size_mib, template=child.template,
                                            logical_id=child.logical_id))
        info = await driver.create(spec)
        assert info.active
        await driver.remove(spec.ref())
        assert nodes.nodes["node1"].lvm.state.vgs["xenvg"].lvs == []

    asyncio.run(scenario())
