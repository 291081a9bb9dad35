"""The Xen drivers (``xen-pvm``, ``xen-hvm``) pass the conformance kit against the xl
simulator, and behave as Ganeti's Xen hypervisor does around it."""

from __future__ import annotations

import asyncio
import dataclasses
import socket
import uuid
from pathlib import Path
from typing import Any, ClassVar

import pytest

from corral.clock import SystemClock
from corral.errors import HypervisorError, ParameterError
from corral.hypervisor.base import DiskSpec, HvState, InstanceSpec, MigrationState, NicSpec
from corral.hypervisor.params import HvKind, defaults
from corral.hypervisor.xen import migration
from corral.hypervisor.xen.config import parse_domain_config
from corral.hypervisor.xen.driver import XenHvmHypervisor, XenHypervisor, XenPvmHypervisor
from corral.layout import NodeLayout
from corral.testing.xl import XlSimulator
from corral.testing.xl_model import XlHost
from tests.contract.hypervisor_kit import HypervisorContract, KitOptions, SpecFactory

DRIVERS: dict[HvKind, type[XenHypervisor]] = {
    HvKind.XEN_PVM: XenPvmHypervisor, HvKind.XEN_HVM: XenHvmHypervisor}


class FastReboot:
    REBOOT_TIMEOUT = 5.0
    POLL_INTERVAL = 0.02


def _simulator(root: Path, host: str, address: str) -> XlSimulator:
    return XlSimulator(root, host, addresses=[address],
                       template=XlHost(name=host, shutdown_delay=0.1))


def _driver(kind: HvKind, node: Path, runner: XlSimulator) -> XenHypervisor:
    cls = type(f"Fast{DRIVERS[kind].__name__}", (FastReboot, DRIVERS[kind]), {})
    driver: XenHypervisor = cls(NodeLayout(node), runner, SystemClock())
    return driver


def _hvparams(kind: HvKind, files: Path, **extra: Any) -> dict[str, Any]:
    files.mkdir(parents=True, exist_ok=True)
    for name in ("vmlinuz", "hvmloader", "qemu-dm", "vnc-password"):
        (files / name).write_text(name)
    params = defaults(kind.value)
    params["kernel_path"] = str(files / ("vmlinuz" if kind == HvKind.XEN_PVM else "hvmloader"))
    if kind == HvKind.XEN_HVM:
        params.update(device_model=str(files / "qemu-dm"),
                      vnc_password_file=str(files / "vnc-password"))
    return {**params, **extra}


def _spec(kind: HvKind, files: Path, name: str, **extra: Any) -> InstanceSpec:
    disk = files / f"{name}.disk0"
    disk.parent.mkdir(parents=True, exist_ok=True)
    disk.touch()
    return InstanceSpec(
        name=name, uuid=str(uuid.uuid4()), hvparams=_hvparams(kind, files, **extra),
        memory_mib=256, vcpus=2, primary_node="node1.example.com", hypervisor=kind.value,
        disks=(DiskSpec(path=str(disk), size_mib=1024),),
        nics=(NicSpec(mac="aa:00:00:11:22:33", link="xen-br0"),))


class _XenKit(HypervisorContract):
    KIND: ClassVar[HvKind]
    kit_options = KitOptions(stop_timeout=5.0, settle_timeout=5.0)

    @pytest.fixture
    def driver(self, tmp_path: Path) -> XenHypervisor:
        return _driver(self.KIND, tmp_path / "node1",
                       _simulator(tmp_path / "xen", "node1", "192.0.2.1"))

    @pytest.fixture
    def make_spec(self, tmp_path: Path) -> SpecFactory:
        return lambda name: _spec(self.KIND, tmp_path / "files", name)


class TestXenPvmKit(_XenKit):
    KIND = HvKind.XEN_PVM


class TestXenHvmKit(_XenKit):
    KIND = HvKind.XEN_HVM


@pytest.fixture(params=[HvKind.XEN_PVM, HvKind.XEN_HVM], ids=["pvm", "hvm"])
def kind(request: pytest.FixtureRequest) -> HvKind:
    value: HvKind = request.param
    return value


@pytest.fixture
def xl(tmp_path: Path) -> XlSimulator:
    return _simulator(tmp_path / "xen", "node1", "192.0.2.1")


def test_start_writes_the_config_file_and_xl_sees_the_domain(
        kind: HvKind, xl: XlSimulator, tmp_path: Path) -> None:
    driver = _driver(kind, tmp_path / "node1", xl)
    spec = _spec(kind, tmp_path / "files", "web1")
    asyncio.run(driver.start(spec, paused=True))
    parsed = parse_domain_config(driver.config_file("web1").read_text())
    assert (parsed.name, parsed.memory_mib, parsed.vcpus) == ("web1", 256, 2)
    assert xl.calls[-1] == ("xl", "create", "-p", str(driver.config_file("web1")))
    info = asyncio.run(driver.instance_info("web1"))
    assert info is not None
    assert (info.state, info.memory_mib, info.vcpus) == (HvState.PAUSED, 256, 2)
    asyncio.run(driver.stop("web1", force=True, timeout=1.0))
    asyncio.run(driver.cleanup("web1"))
    assert not driver.config_file("web1").exists()


def test_failed_start_stashes_the_config_file(xl: XlSimulator, tmp_path: Path) -> None:
    driver = _driver(HvKind.XEN_PVM, tmp_path / "node1", xl)
    spec = dataclasses.replace(_spec(HvKind.XEN_PVM, tmp_path / "files", "web1"),
                               memory_mib=10**6, beparams={"minmem": 10**6})
    with pytest.raises(HypervisorError, match="failed to start instance web1") as err:
        asyncio.run(driver.start(spec))
    stashed = list((tmp_path / "node1").rglob("xen/web1-*"))
    assert len(stashed) == 1
    assert str(stashed[0]) in str(err.value)
    assert not driver.config_file("web1").exists()
    assert asyncio.run(driver.list_instances()) == []


def test_missing_kernel_is_refused_by_the_node_check(tmp_path: Path, xl: XlSimulator) -> None:
    driver = _driver(HvKind.XEN_PVM, tmp_path / "node1", xl)
    params = _hvparams(HvKind.XEN_PVM, tmp_path / "files", kernel_path="/no/such/vmlinuz")
    with pytest.raises(HypervisorError, match="kernel_path"):
        asyncio.run(driver.validate_parameters(params))
    with pytest.raises(ParameterError, match="bootloader_path"):
        XenPvmHypervisor.check_parameter_syntax({**params, "use_bootloader": True})
    with pytest.raises(ParameterError, match="xen_cmd"):
        XenPvmHypervisor.check_parameter_syntax({**params, "xen_cmd": "virsh"})


def test_xm_is_refused_clearly_when_absent(tmp_path: Path, xl: XlSimulator) -> None:
    driver = _driver(HvKind.XEN_PVM, tmp_path / "node1", xl)
    spec = _spec(HvKind.XEN_PVM, tmp_path / "files", "web1", xen_cmd="xm")
    with pytest.raises(HypervisorError, match="xm toolstack is not installed"):
        asyncio.run(driver.start(spec))
    problems = asyncio.run(driver.verify(spec.hvparams))
    assert len(problems) == 1
    assert "xen_cmd=xl" in problems[0]


def test_a_domain_that_ignores_shutdown(tmp_path: Path, xl: XlSimulator) -> None:
    xl.configure(ignore_shutdown=["stubborn*"])
    driver = _driver(HvKind.XEN_PVM, tmp_path / "node1", xl)
    asyncio.run(driver.start(_spec(HvKind.XEN_PVM, tmp_path / "files", "stubborn1")))
    asyncio.run(driver.stop("stubborn1", force=False, timeout=0.3))
    assert asyncio.run(driver.instance_info("stubborn1")) is not None
    with pytest.raises(HypervisorError, match="did not come back"):
        asyncio.run(driver.reboot("stubborn1"))
    asyncio.run(driver.stop("stubborn1", force=True, timeout=1.0))
    assert asyncio.run(driver.instance_info("stubborn1")) is None


def test_reboot_gives_a_new_domain_id(kind: HvKind, xl: XlSimulator, tmp_path: Path) -> None:
    driver = _driver(kind, tmp_path / "node1", xl)
    asyncio.run(driver.start(_spec(kind, tmp_path / "files", "web1")))
    before = asyncio.run(driver.instance_info("web1"))
    asyncio.run(driver.reboot("web1"))
    after = asyncio.run(driver.instance_info("web1"))
    assert before is not None
    assert after is not None
    assert after.id > before.id


def test_balloon_records_the_memory_in_the_config_file(xl: XlSimulator, tmp_path: Path) -> None:
    driver = _driver(HvKind.XEN_PVM, tmp_path / "node1", xl)
    asyncio.run(driver.start(_spec(HvKind.XEN_PVM, tmp_path / "files", "web1")))
    asyncio.run(driver.balloon("web1", 128))
    assert parse_domain_config(driver.config_file("web1").read_text()).memory_mib == 128
    with pytest.raises(HypervisorError, match="memory_static_max"):
        asyncio.run(driver.balloon("web1", 4096))


def test_node_info_comes_from_xl_info_and_domain_0(xl: XlSimulator, tmp_path: Path) -> None:
    xl.configure(total_memory=32635, nr_cpus=8, cores_per_socket=4, threads_per_core=1,
                 dom0_memory=2048)
    driver = _driver(HvKind.XEN_HVM, tmp_path / "node1", xl)
    info = asyncio.run(driver.node_info())
    assert (info.memory_total, info.memory_dom0, info.cpu_total) == (32635, 2048, 8)
    assert (info.cpu_sockets, info.cpu_dom0, info.hv_version) == (2, 8, (4, 17))
    assert info.memory_free == 32635 - 2048 - 131


def test_console_command_reaches_the_domain(xl: XlSimulator, tmp_path: Path) -> None:
    driver = _driver(HvKind.XEN_PVM, tmp_path / "node1", xl)
    spec = _spec(HvKind.XEN_PVM, tmp_path / "files", "web1")
    asyncio.run(driver.start(spec))
    console = driver.console(spec)
    assert console.command == ("xl", "console", "web1")
    assert "web1 login:" in xl.execute(list(console.command)).stdout


MIGRATION_PORT = 18510
"""The port-mode receiver of these tests (on 127.0.0.1)."""


class NoSocat:
    MIGRATION_RECEIVER = "no-such-socat-here"


def _pair(tmp_path: Path, *mixins: type) -> tuple[XenHypervisor, XenHypervisor, XlSimulator]:
    source_xl = _simulator(tmp_path / "xen", "node1", "192.0.2.1")
    target_xl = _simulator(tmp_path / "xen", "node2", "127.0.0.1")
    source = _driver(HvKind.XEN_PVM, tmp_path / "node1", source_xl)
    target = _driver(HvKind.XEN_PVM, tmp_path / "node2", target_xl)
    for driver in (source, target):
        driver.__class__ = type("Driver", (*mixins, type(driver)), {})
    return source, target, source_xl


async def _migrate(source: XenHypervisor, target: XenHypervisor, spec: InstanceSpec,
                   *, kill_receiver: bool = False) -> MigrationState:
    await source.start(spec)
    await source.check_migratable(spec)
    info = await source.migration_info(spec)
    where = await target.accept_instance(spec, info, "127.0.0.1")
    if kill_receiver:
        await migration.stop_receiver(target, spec.name)
    await source.migrate_instance("cluster", spec, where, live=True)
    while (status := await source.migration_status(spec)).active:
        await asyncio.sleep(0.01)
    ok = status.state == MigrationState.COMPLETED
    await source.finalize_migration_src(spec, ok, True)
    await target.finalize_migration_dst(spec, info, ok)
    return status.state


@pytest.mark.parametrize("mode", ["port", "ssh"])
def test_migration_phases_move_the_domain(tmp_path: Path, mode: str) -> None:
    source, target, source_xl = _pair(tmp_path, *([NoSocat] if mode == "ssh" else []))
    spec = _spec(HvKind.XEN_PVM, tmp_path / "files", "web1", migration_port=MIGRATION_PORT)
    assert asyncio.run(_migrate(source, target, spec)) == MigrationState.COMPLETED
    sent = next(c for c in source_xl.calls if c[1] == "migrate")
    assert ("-s" in sent) == (mode == "port")
    assert asyncio.run(source.list_instances()) == []
    assert asyncio.run(target.list_instances()) == ["web1"]
    assert parse_domain_config(target.config_file("web1").read_text()).name == "web1"
    assert not source.config_file("web1").exists()
    assert not migration.receiver_pid_file(target, "web1").exists()
    with pytest.raises(HypervisorError, match="live storage migration"):
        asyncio.run(target.accept_instance(spec, "", "127.0.0.1", copy_disks=True))


def test_a_migration_without_receiver_fails_and_the_source_keeps_running(
        tmp_path: Path) -> None:
    source, target, _ = _pair(tmp_path)
    spec = _spec(HvKind.XEN_PVM, tmp_path / "files", "web1", migration_port=MIGRATION_PORT)
    assert asyncio.run(_migrate(source, target, spec, kill_receiver=True)) == (
        MigrationState.FAILED)
    status = asyncio.run(source.migration_status(spec))
    assert status.state == MigrationState.FAILED
    info = asyncio.run(source.instance_info("web1"))
    assert info is not None
    assert info.state == HvState.RUNNING
    assert asyncio.run(target.list_instances()) == []


def test_a_busy_migration_port_is_refused(tmp_path: Path) -> None:
    _, target, _ = _pair(tmp_path)
    spec = _spec(HvKind.XEN_PVM, tmp_path / "files", "web1", migration_port=MIGRATION_PORT)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", MIGRATION_PORT))
        busy.listen()
        with pytest.raises(HypervisorError, match="port is free"):
            asyncio.run(target.accept_instance(spec, "", "127.0.0.1"))
    assert not migration.receiver_pid_file(target, "web1").exists()


def test_startup_memory_is_what_the_host_has_free_down_to_minmem(
        xl: XlSimulator, tmp_path: Path) -> None:
    xl.configure(total_memory=1024 + 131 + 200, dom0_memory=1024)
    driver = _driver(HvKind.XEN_PVM, tmp_path / "node1", xl)
    spec = dataclasses.replace(_spec(HvKind.XEN_PVM, tmp_path / "files", "web1"),
                               beparams={"maxmem": 256, "minmem": 128})
    asyncio.run(driver.start(spec))
    info = asyncio.run(driver.instance_info("web1"))
    assert info is not None
    assert info.memory_mib == 200
    domain = xl.state().domain("web1")
    assert domain is not None
    assert domain.maxmem == 256
