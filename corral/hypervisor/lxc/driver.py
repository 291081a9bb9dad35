"""The ``lxc`` hypervisor: an instance is a real container run by Debian's LXC tools.

Directories: the containers' path (``lxc-* -P``) is ``<run_dir>/lxc``; each instance
has ``<run_dir>/lxc/<name>/`` holding ``config`` (written by Corral at every start),
``rootfs/`` (the instance's disk, mounted there by Corral), ``console.log`` and
``runtime.json``; LXC's own log is ``<log_dir>/lxc/<name>.log``.

Life cycle, as Ganeti's driver: ``lxc-start -d`` then ``lxc-wait`` for RUNNING
within ``startup_timeout``; soft stop is ``lxc-stop --nokill`` (the init's halt
signal) with a timeout, forced stop ``lxc-stop --kill``; reboot is ``lxc-stop
--reboot`` when the container keeps ``sys_boot``. Where Ganeti refuses a reboot
(``sys_boot`` dropped, the default), Corral restarts the container from the same
configuration and still-mounted root instead. Memory is reported from the
container's cgroup limit and ballooned by changing it. The console is ``lxc-console
-t 0``, the container's console (``/dev/console``, also ``/dev/ttyS0`` inside).
Every stop leaves the disk unmounted; ``cleanup`` does it for a crashed container.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar

import msgspec

from corral.errors import HypervisorError
from corral.hypervisor.base import (
    ConsoleInfo,
    ConsoleKind,
    HvNodeInfo,
    HvState,
    Hypervisor,
    InstanceInfo,
    InstanceSpec,
)
from corral.hypervisor.lxc import cgroups, rootfs, tools
from corral.hypervisor.lxc.config import ContainerPaths, render_config
from corral.hypervisor.params import LXC, HvKind
from corral.hypervisor.paramspec_lxc import (
    parse_capabilities,
    parse_controllers,
    parse_lxc_cpus,
)
from corral.serde import atomic_write

REQUIRED_TOOLS = ("lxc-start", "lxc-stop", "lxc-info", "lxc-ls", "lxc-wait", "lxc-console",
                  "mount", "umount", "sfdisk")
REQUIRED_CONTROLLERS = ("memory", "cpuset", "cpu", "devices")
_STATES = {"RUNNING": HvState.RUNNING, "FROZEN": HvState.PAUSED,
           "FREEZING": HvState.RUNNING, "THAWED": HvState.RUNNING,
           "STOPPING": HvState.RUNNING}
_TOOL_TIMEOUT = 30.0
_POLL_S = 0.05


class LxcRuntime(msgspec.Struct, frozen=True, kw_only=True):
    """What a start recorded for the later stop, reboot and cleanup of a container."""

    name: str
    uuid: str
    vcpus: int
    memory_mib: int
    drop_capabilities: tuple[str, ...] = ()
    startup_timeout: int = 30


class LxcHypervisor(Hypervisor):
    """Ganeti's ``lxc`` hypervisor on LXC 3+ (see the module docstring)."""

    KIND: ClassVar[HvKind] = HvKind.LXC
    PARAMETERS = LXC
    CAN_BALLOON: ClassVar[bool] = True
    REBOOT_TIMEOUT_S: ClassVar[float] = 120.0
    KILL_TIMEOUT_S: ClassVar[float] = 30.0

    # --- paths ---------------------------------------------------------------------

    @property
    def lxc_path(self) -> Path:
        """The ``-P`` directory of every container of this node."""
        return self.layout.run_dir / "lxc"

    def instance_dir(self, name: str) -> Path:
        if not name or "/" in name or name in (".", ".."):
            raise HypervisorError(f"invalid instance name {name!r}")
        return self.lxc_path / name

    def rootfs_dir(self, name: str) -> Path:
        return self.instance_dir(name) / "rootfs"

    def config_file(self, name: str) -> Path:
        return self.instance_dir(name) / "config"

    def log_file(self, name: str) -> Path:
        return self.layout.log_dir / "lxc" / f"{name}.log"

    def _runtime_file(self, name: str) -> Path:
        return self.instance_dir(name) / "runtime.json"

    def _tool(self, tool: str, name: str, *args: str) -> list[str]:
        return [tool, "-n", name, "-P", str(self.lxc_path), *args]

    # --- life cycle ------------------------------------------------------------------

    async def start(self, instance: InstanceSpec, *, paused: bool = False) -> None:
        if paused:
            raise HypervisorError("lxc instances cannot be started paused")
        if not instance.disks:
            raise HypervisorError("lxc cannot run diskless instances (the first disk is "
                                  "the container's root file system)")
        if len(instance.disks) > 1:
            raise HypervisorError("lxc instances have exactly one disk, the container's root; "
                                  f"{instance.name} has {len(instance.disks)}")
        name = instance.name
        if await self._state(name) is not None:
            raise HypervisorError(f"instance {name} is already running")
        await self._check_controllers(instance.hvparams)
        await self._teardown(name)
        try:
            await self._prepare(instance)
            await self._launch(name, int(instance.hvparams.get("startup_timeout", 30)))
        except BaseException:
            await self._rollback(name)
            raise

    async def _prepare(self, instance: InstanceSpec) -> None:
        """Mount the disk, write the configuration and the runtime record."""
        name = instance.name
        paths = ContainerPaths(rootfs=self.rootfs_dir(name),
                               console_log=self.instance_dir(name) / "console.log")
        system = await asyncio.to_thread(cgroups.read_system)
        text = render_config(instance, paths, system)
        await rootfs.mount_root(self.runner, instance.disks[0], paths.rootfs)
        if "lxc.init.cmd" not in text and not await asyncio.to_thread(
                _has_init, paths.rootfs):
            raise HypervisorError(f"the disk of {name} has no /sbin/init: it holds no "
                                  "operating system a container can boot")
        record = LxcRuntime(
            name=name, uuid=instance.uuid, vcpus=instance.vcpus,
            memory_mib=instance.memory_mib,
            drop_capabilities=tuple(parse_capabilities(
                str(instance.hvparams.get("drop_capabilities", "")))),
            startup_timeout=int(instance.hvparams.get("startup_timeout", 30)))
        await asyncio.to_thread(self._write_files, name, text, paths.console_log, record)

    def _write_files(self, name: str, text: str, console_log: Path,
                     record: LxcRuntime) -> None:
        atomic_write(self.config_file(name), text.encode(), mode=0o600)
        console_log.write_bytes(b"")
        console_log.chmod(0o600)
        atomic_write(self._runtime_file(name), msgspec.json.encode(record), mode=0o600)
        self.log_file(name).parent.mkdir(parents=True, exist_ok=True)

    async def _launch(self, name: str, timeout: int) -> None:
        """``lxc-start -d``, then wait up to ``timeout`` s for RUNNING."""
        log = self.log_file(name)
        result = await self.runner.run(
            self._tool("lxc-start", name, "-d", "-f", str(self.config_file(name)),
                       "-o", str(log), "-l", "INFO"), timeout=_TOOL_TIMEOUT)
        if result.failed:
            raise HypervisorError(f"lxc-start of {name} failed: {result.output.strip()}"
                                  + await _log_tail(log))
        waited = await self.runner.run(
            self._tool("lxc-wait", name, "-s", "RUNNING", "-t", str(max(timeout, 1))),
            timeout=max(timeout, 1) + _TOOL_TIMEOUT)
        if waited.failed or await self._state(name) is None:
            raise HypervisorError(f"container {name} did not reach RUNNING within "
                                  f"{timeout} s" + await _log_tail(log))

    async def _rollback(self, name: str) -> None:
        """Undo a failed start; a failure here must not hide the start's own error."""
        try:
            await self.runner.run(self._tool("lxc-stop", name, "--kill"),
                                  timeout=self.KILL_TIMEOUT_S)
            await self._teardown(name)
        except HypervisorError:
            pass

    async def stop(self, name: str, *, force: bool, timeout: float) -> None:
        if await self._state(name) is None:
            if not force:
                raise HypervisorError(f"instance {name} is not running")
            await self.cleanup(name)
            return
        if force:
            result = await self.runner.run(self._tool("lxc-stop", name, "--kill"),
                                           timeout=max(timeout, self.KILL_TIMEOUT_S))
            if result.failed and await self._state(name) is not None:
                raise HypervisorError(f"lxc-stop --kill of {name} failed: "
                                      f"{result.output.strip()}")
        else:
            seconds = max(int(timeout), 1)
            await self.runner.run(
                self._tool("lxc-stop", name, "--nokill", "--timeout", str(seconds)),
                timeout=seconds + _TOOL_TIMEOUT)
        if await self._state(name) is None:
            await self._teardown(name)

    async def reboot(self, name: str) -> None:
        """Guest reboot (``lxc-stop --reboot``), or a restart when ``sys_boot`` is dropped.

        Returns once the container runs again with a new init.
        """
        before = await self._state(name)
        if before is None:
            raise HypervisorError(f"instance {name} is not running")
        record = await self._runtime(name)
        if record is None:
            raise HypervisorError(f"instance {name} has no runtime record; stop and start it")
        if "sys_boot" in record.drop_capabilities:
            await self._restart(name, record)
        else:
            result = await self.runner.run(
                self._tool("lxc-stop", name, "--reboot", "--timeout",
                           str(int(self.REBOOT_TIMEOUT_S))),
                timeout=self.REBOOT_TIMEOUT_S + _TOOL_TIMEOUT)
            if result.failed:
                raise HypervisorError(f"reboot of {name} failed: {result.output.strip()}")
        if not await self._new_init(name, before.pid, record.startup_timeout):
            raise HypervisorError(f"instance {name} did not come back after its reboot"
                                  + await _log_tail(self.log_file(name)))

    async def _restart(self, name: str, record: LxcRuntime) -> None:
        """Halt the container (soft, then killed), then start it again; the root stays."""
        seconds = str(int(self.REBOOT_TIMEOUT_S))
        await self.runner.run(self._tool("lxc-stop", name, "--timeout", seconds),
                              timeout=self.REBOOT_TIMEOUT_S + _TOOL_TIMEOUT)
        if await self._state(name) is not None:
            raise HypervisorError(f"instance {name} did not stop for its reboot")
        await self._launch(name, record.startup_timeout)

    async def _new_init(self, name: str, old_pid: int | None, timeout: float) -> bool:
        deadline = self.clock.monotonic() + max(timeout, 1)
        while True:
            state = await self._state(name)
            if state is not None and state.pid is not None and state.pid != old_pid:
                return True
            if self.clock.monotonic() >= deadline:
                return False
            await self.clock.sleep(_POLL_S * 4)

    async def balloon(self, name: str, memory_mib: int) -> None:
        """Set the container's memory limit (and memory+swap limit) to ``memory_mib``."""
        state = await self._state(name)
        if state is None or state.pid is None:
            raise HypervisorError(f"instance {name} is not running")
        if memory_mib <= 0:
            raise HypervisorError(f"cannot balloon {name} to {memory_mib} MiB")
        try:
            await asyncio.to_thread(cgroups.set_memory_limit, state.pid, memory_mib)
        except OSError as err:
            raise HypervisorError(f"failed to balloon the memory of {name} to "
                                  f"{memory_mib} MiB: {err}") from err

    async def cleanup(self, name: str) -> None:
        if await self._state(name) is not None:
            raise HypervisorError(f"instance {name} is still running, cannot clean up")
        await self._teardown(name)

    async def _teardown(self, name: str) -> None:
        """Unmount the root and remove the instance's files (never the disk's content)."""
        await rootfs.unmount_below(self.runner, self.rootfs_dir(name))
        await asyncio.to_thread(_remove_instance_dir, self.instance_dir(name))

    # --- inventory -------------------------------------------------------------------

    async def _state(self, name: str) -> tools.ContainerState | None:
        """The container's state while it is running (or frozen), else None."""
        if not await asyncio.to_thread(self.config_file(name).is_file):
            return None
        result = await self.runner.run(self._tool("lxc-info", name, "-s", "-p"),
                                       timeout=_TOOL_TIMEOUT)
        if result.failed:
            return None
        state = tools.parse_info(result.stdout)
        return state if state.state in _STATES else None

    async def _runtime(self, name: str) -> LxcRuntime | None:
        try:
            data = await asyncio.to_thread(self._runtime_file(name).read_bytes)
            return msgspec.json.decode(data, type=LxcRuntime)
        except (OSError, msgspec.DecodeError, msgspec.ValidationError):
            return None

    async def list_instances(self) -> list[str]:
        if not await asyncio.to_thread(self.lxc_path.is_dir):
            return []
        result = await self.runner.run(["lxc-ls", "-P", str(self.lxc_path), "--running", "-1"],
                                       timeout=_TOOL_TIMEOUT)
        if result.failed:
            raise HypervisorError(f"lxc-ls failed: {result.output.strip()}")
        return sorted(tools.parse_ls(result.stdout))

    async def instance_info(self, name: str) -> InstanceInfo | None:
        state = await self._state(name)
        if state is None or state.pid is None:
            return None
        try:
            figures = await asyncio.to_thread(cgroups.read_figures, state.pid)
        except (OSError, ValueError):
            if await self._state(name) is None:
                return None  # it ended while we looked
            raise
        return InstanceInfo(name=name, id=state.pid, memory_mib=figures.memory_mib,
                            vcpus=figures.vcpus, state=_STATES[state.state],
                            cpu_time_s=figures.cpu_time_s)

    # --- node, console, parameters ---------------------------------------------------

    async def node_info(self) -> HvNodeInfo:
        """Linux figures, with the LXC version as the hypervisor version (when known)."""
        info = await super().node_info()
        result = await self.runner.run(["lxc-start", "--version"], timeout=_TOOL_TIMEOUT)
        try:
            return replace(info, hv_version=tools.parse_version(result.stdout))
        except ValueError:
            return info

    async def verify(self, hvparams: Mapping[str, Any] | None = None) -> list[str]:
        problems = [f"required program '{tool}' not found" for tool in REQUIRED_TOOLS
                    if shutil.which(tool) is None]
        if shutil.which("lxc-start"):
            problems += await self._version_problems()
        problems += await asyncio.to_thread(_node_problems, hvparams or {})
        try:
            await asyncio.to_thread(self.lxc_path.mkdir, parents=True, exist_ok=True)
        except OSError as err:
            problems.append(f"cannot create the containers' directory {self.lxc_path}: {err}")
        return problems

    async def _version_problems(self) -> list[str]:
        result = await self.runner.run(["lxc-start", "--version"], timeout=_TOOL_TIMEOUT)
        try:
            version = tools.parse_version(result.stdout)
        except ValueError as err:
            return [f"cannot tell the LXC version: {err}"]
        if version < tools.MIN_VERSION:
            shown = ".".join(map(str, tools.MIN_VERSION))
            return [f"LXC {result.stdout.strip()} is too old: Corral needs LXC >= {shown}"]
        return []

    async def _check_controllers(self, hvparams: Mapping[str, Any]) -> None:
        problems = await asyncio.to_thread(_node_problems, hvparams)
        if problems:
            raise HypervisorError("; ".join(problems))

    async def validate_parameters(self, hvparams: Mapping[str, Any]) -> None:
        await super().validate_parameters(hvparams)
        await self._check_controllers(hvparams)

    def console(self, instance: InstanceSpec) -> ConsoleInfo:
        return ConsoleInfo(instance=instance.name, kind=ConsoleKind.SSH,
                           host=instance.primary_node, user="root",
                           command=tuple(self._tool("lxc-console", instance.name, "-t", "0")))


# --- small blocking helpers (run in threads) ---------------------------------------------

def _has_init(root: Path) -> bool:
    init = root / "sbin" / "init"
    return init.is_file() or init.is_symlink()


def _node_problems(hvparams: Mapping[str, Any]) -> list[str]:
    """What keeps containers with ``hvparams`` from running on this node."""
    return _controller_problems(hvparams) + _cpu_problems(hvparams)


def _cpu_problems(hvparams: Mapping[str, Any]) -> list[str]:
    """CPUs of ``cpu_mask`` this node does not have."""
    mask = str(hvparams.get("cpu_mask") or "")
    try:
        cpus = parse_lxc_cpus(mask) if mask else []
    except ValueError as err:
        return [f"hypervisor parameter 'cpu_mask': {err}"]
    count = os.cpu_count() or 1
    missing = sorted(c for c in set(cpus) if c >= count)
    if missing:
        return [f"hypervisor parameter 'cpu_mask' names CPUs {missing} but this node has "
                f"{count} CPUs (0-{count - 1})"]
    return []


def _controller_problems(hvparams: Mapping[str, Any]) -> list[str]:
    """Controllers a container needs (and ``extra_cgroups``) that the kernel lacks."""
    try:
        enabled = cgroups.enabled_controllers(Path("/proc/cgroups").read_text())
    except OSError as err:
        return [f"cannot read /proc/cgroups: {err}"]
    try:
        extra = parse_controllers(str(hvparams.get("extra_cgroups", "") or ""))
    except ValueError as err:
        return [f"hypervisor parameter 'extra_cgroups': {err}"]
    missing = [c for c in (*REQUIRED_CONTROLLERS, *extra) if c not in enabled]
    return [f"cgroup controller '{c}' is not enabled in this kernel" for c in missing]


def _remove_instance_dir(directory: Path) -> None:
    """Remove the files Corral wrote and the empty directories; a root that is still
    mounted or holds files is left alone (its content is the instance's disk)."""
    for name in ("config", "console.log", "runtime.json"):
        (directory / name).unlink(missing_ok=True)
    for path in (directory / "rootfs", directory):
        try:
            path.rmdir()
        except OSError:
            pass


async def _log_tail(log: Path, limit: int = 600) -> str:
    def read() -> str:
        try:
            return log.read_text(errors="replace")[-limit:].strip()
        except OSError:
            return ""
    tail = await asyncio.to_thread(read)
    return f"; see {log}: ...{tail}" if tail else ""
