"""The chroot driver's command sequences, with a recording runner (no root needed)."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import pytest

from corral.clock import FakeClock
from corral.errors import HypervisorError
from corral.hypervisor import chroot as chroot_mod
from corral.hypervisor import linux
from corral.hypervisor.base import ConsoleKind, DiskSpec, InstanceSpec
from corral.hypervisor.chroot import ChrootHypervisor
from corral.hypervisor.params import defaults
from corral.layout import NodeLayout
from corral.objects.instance import DiskMode, DiskTemplate
from corral.process import CommandResult


class RecordingRunner:
    """Records argv; ``fail`` decides which commands exit with status 1."""

    def __init__(self, fail: Callable[[Sequence[str]], bool] = lambda argv: False) -> None:
        self.calls: list[tuple[str, ...]] = []
        self.fail = fail

    async def run(self, argv: Sequence[str], *, timeout: float | None = None,
                  env: Mapping[str, str] | None = None, cwd: str | None = None,
                  stdin: bytes | None = None, reset_env: bool = False) -> CommandResult:
        self.calls.append(tuple(argv))
        return CommandResult(tuple(argv), 1 if self.fail(argv) else 0, "", "")


class FakeSystem:
    """Processes (pid → root) and mounts that the driver's commands act on."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.procs: dict[int, str] = {}
        self.mounts: list[str] = []
        self.signals: list[tuple[str, signal.Signals]] = []
        monkeypatch.setattr(linux, "processes_below", self.processes_below)
        monkeypatch.setattr(linux, "signal_processes_below", self.signal)
        monkeypatch.setattr(linux, "read_mountinfo", self.mountinfo)
        monkeypatch.setattr(linux, "process_cpu_seconds", lambda pids: 1.5)
        monkeypatch.setattr(chroot_mod, "_populate_dev", lambda dev: None)
        monkeypatch.setattr(chroot_mod, "_ensure_mount_points", lambda root: None)

    def processes_below(self, base: str) -> list[tuple[int, str]]:
        return [(p, r) for p, r in self.procs.items() if linux.is_below(r, base)]

    def signal(self, base: str, sig: signal.Signals) -> list[int]:
        self.signals.append((base, sig))
        hit = [p for p, _ in self.processes_below(base)]
        if sig == signal.SIGKILL or not getattr(self, "ignore_term", False):
            for pid in hit:
                del self.procs[pid]
        return hit

    def mountinfo(self) -> list[linux.MountEntry]:
        return [linux.MountEntry(i, 0, p, "x", "y") for i, p in enumerate(self.mounts)]


@pytest.fixture
def system(monkeypatch: pytest.MonkeyPatch) -> FakeSystem:
    return FakeSystem(monkeypatch)


def _spec(tmp_path: Path, name: str = "web1", **kw: object) -> InstanceSpec:
    disk = tmp_path / f"{name}.img"
    disk.write_bytes(b"")
    return InstanceSpec(name=name, uuid="u1", hvparams=defaults("chroot"), memory_mib=128,
                        vcpus=3, primary_node="node1",
                        disks=(DiskSpec(path=str(disk), dev_type=DiskTemplate.FILE,
                                        **kw),))  # type: ignore[arg-type]


def _driver(tmp_path: Path, runner: RecordingRunner) -> ChrootHypervisor:
    return ChrootHypervisor(NodeLayout(tmp_path / "node"), runner, FakeClock())


def test_start_mounts_then_runs_the_script(tmp_path: Path, system: FakeSystem) -> None:
    runner = RecordingRunner()
    hv = _driver(tmp_path, runner)
    asyncio.run(hv.start(_spec(tmp_path)))
    root = str(hv.root_dir("web1"))
    assert runner.calls[0] == ("mount", "-o", "loop", str(tmp_path / "web1.img"), root)
    assert runner.calls[1][:3] == ("mount", "-t", "proc")
    assert runner.calls[1][-1] == f"{root}/proc"
    assert runner.calls[2][:3] == ("mount", "-t", "tmpfs")
    assert runner.calls[3][:3] == ("mount", "-t", "devpts")
    script = runner.calls[4]
    assert script[:2] == ("sh", "-c")
    assert script[-8:] == ("unshare", "--mount", "--propagation", "private", "chroot", root,
                           "/ganeti-chroot", "start")


def test_read_only_disk_mounts_ro(tmp_path: Path, system: FakeSystem) -> None:
    runner = RecordingRunner()
    asyncio.run(_driver(tmp_path, runner).start(_spec(tmp_path, mode=DiskMode.RO)))
    assert runner.calls[0][1:3] == ("-o", "ro,loop")


def test_disk_that_is_neither_file_nor_device_is_refused(tmp_path: Path,
                                                         system: FakeSystem) -> None:
    spec = _spec(tmp_path)
    os.unlink(spec.disks[0].path)
    os.mkdir(spec.disks[0].path)
    with pytest.raises(HypervisorError, match="neither a file nor a block device"):
        asyncio.run(_driver(tmp_path, RecordingRunner()).start(spec))


def test_failed_script_rolls_back_mounts(tmp_path: Path, system: FakeSystem) -> None:
    runner = RecordingRunner(fail=lambda argv: argv[0] == "sh")
    hv = _driver(tmp_path, runner)
    root = str(hv.root_dir("web1"))
    system.mounts = [root, f"{root}/proc", f"{root}/dev", f"{root}/dev/pts"]
    system.procs = {}
    with pytest.raises(HypervisorError, match="/ganeti-chroot start"):
        asyncio.run(hv.start(_spec(tmp_path)))
    umounts = [c[1] for c in runner.calls if c[0] == "umount"]
    # the first four come from the stale-mount sweep before start, the rest from rollback
    assert umounts[-4:] == [f"{root}/dev/pts", f"{root}/dev", f"{root}/proc", root]
    assert not hv.root_dir("web1").exists()
    assert not (hv.runtime_dir / "web1.json").exists()


def test_paused_start_is_refused(tmp_path: Path, system: FakeSystem) -> None:
    with pytest.raises(HypervisorError, match="paused"):
        asyncio.run(_driver(tmp_path, RecordingRunner()).start(_spec(tmp_path), paused=True))


def test_no_disk_needs_a_prepared_directory(tmp_path: Path, system: FakeSystem) -> None:
    runner = RecordingRunner()
    hv = _driver(tmp_path, runner)
    spec = InstanceSpec(name="bare", uuid="u", hvparams=defaults("chroot"), memory_mib=1,
                        vcpus=1)
    with pytest.raises(HypervisorError, match="no disk and no prepared root"):
        asyncio.run(hv.start(spec))
    hv.root_dir("bare").mkdir(parents=True)
    asyncio.run(hv.start(spec))
    assert runner.calls[0][:3] == ("mount", "-t", "proc")


def test_info_running_and_stop_sequence(tmp_path: Path, system: FakeSystem) -> None:
    runner = RecordingRunner()
    hv = _driver(tmp_path, runner)
    asyncio.run(hv.start(_spec(tmp_path)))
    root = str(hv.root_dir("web1"))
    system.procs = {200: root, 100: f"{root}/srv", 300: "/"}
    system.mounts = [root, f"{root}/proc"]
    info = asyncio.run(hv.instance_info("web1"))
    assert info is not None
    assert (info.id, info.memory_mib, info.vcpus, info.cpu_time_s) == (100, 0, 3, 1.5)
    assert asyncio.run(hv.list_instances()) == ["web1"]
    runner.calls.clear()
    asyncio.run(hv.stop("web1", force=False, timeout=5))
    assert runner.calls[0][-1] == "stop"
    assert [c for c in runner.calls if c[0] == "umount"] == [
        ("umount", f"{root}/proc"), ("umount", root)]
    assert system.signals == [(root, signal.SIGTERM)]
    assert 300 in system.procs


def test_term_ignored_escalates_to_kill(tmp_path: Path, system: FakeSystem) -> None:
    hv = _driver(tmp_path, RecordingRunner())
    asyncio.run(hv.start(_spec(tmp_path)))
    root = str(hv.root_dir("web1"))
    system.procs = {100: root}
    system.ignore_term = True  # type: ignore[attr-defined]
    asyncio.run(hv.stop("web1", force=True, timeout=2))
    assert system.signals == [(root, signal.SIGTERM), (root, signal.SIGKILL)]
    assert system.procs == {}


def test_busy_unmount_falls_back_to_lazy(tmp_path: Path, system: FakeSystem) -> None:
    runner = RecordingRunner(fail=lambda argv: list(argv[:2]) == ["umount", str(
        tmp_path / "node/run/corral/chroot/web1")])
    hv = _driver(tmp_path, runner)
    system.mounts = [str(hv.root_dir("web1"))]
    asyncio.run(hv.cleanup("web1"))
    assert runner.calls[-1] == ("umount", "--lazy", str(hv.root_dir("web1")))


def test_cleanup_refuses_a_running_instance(tmp_path: Path, system: FakeSystem) -> None:
    hv = _driver(tmp_path, RecordingRunner())
    system.procs = {5: str(hv.root_dir("web1"))}
    with pytest.raises(HypervisorError, match="still running"):
        asyncio.run(hv.cleanup("web1"))


def test_console_is_a_shell_in_the_root(tmp_path: Path) -> None:
    hv = _driver(tmp_path, RecordingRunner())
    console = hv.console(_spec(tmp_path))
    assert console.kind == ConsoleKind.SSH
    assert console.host == "node1"
    assert console.command == ("chroot", str(hv.root_dir("web1")), "/bin/sh")


@pytest.mark.parametrize("name", ["", "..", "a/b"], ids=repr)
def test_bad_names(tmp_path: Path, name: str) -> None:
    with pytest.raises(HypervisorError, match="invalid instance name"):
        _driver(tmp_path, RecordingRunner()).root_dir(name)
