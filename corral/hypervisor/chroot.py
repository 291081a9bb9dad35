"""The chroot hypervisor: an instance is a set of processes whose root is its disk.

Root directory: ``layout.run_dir / "chroot" / <name>``. ``start`` mounts the first
disk there (``mount -o loop`` for a file, plain ``mount`` for a block device,
read-only for an ``ro`` disk), mounts ``/proc``, a small tmpfs ``/dev`` and a private
``/dev/pts`` inside, then runs ``<root><init_script> start`` chrooted. An instance
without disks uses a directory an administrator prepared at that path (Ganeti's
way). The instance runs while any process has its root at or below the directory;
``stop`` runs ``init_script stop``, kills what is left (TERM, then KILL), and
unmounts everything below the root, deepest first.

Design choices:

- ``/dev`` is a fresh tmpfs with a handful of nodes (null, zero, full, random,
  urandom, tty) rather than a bind of the host's ``/dev``: a bind would hand the
  instance every host disk.
- The script runs in its own mount namespace (``unshare --mount``), so mounts it
  makes itself vanish with its processes and never leak into the node. There is
  no PID namespace: the kernel kills a PID namespace when its first process exits,
  and Ganeti's contract is that the start script launches daemons and returns.
- The script's output goes to a log file, not to a pipe: daemons it leaves behind
  inherit its descriptors, and a pipe would keep the runner waiting for them.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from corral.errors import HypervisorError
from corral.hypervisor import linux
from corral.hypervisor.base import (
    ConsoleInfo,
    ConsoleKind,
    HvState,
    Hypervisor,
    InstanceInfo,
    InstanceSpec,
)
from corral.hypervisor.params import CHROOT, HvKind
from corral.objects.instance import DiskMode

_DEV_NODES = (("null", 1, 3), ("zero", 1, 5), ("full", 1, 7), ("random", 1, 8),
              ("urandom", 1, 9), ("tty", 5, 0))
_DEV_LINKS = (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"),
              ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2"),
              ("ptmx", "pts/ptmx"))
_SCRIPT_ENV = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
               "HOME": "/root", "LANG": "C"}
_REDIRECT = 'log=$1; shift; exec "$@" </dev/null >>"$log" 2>&1'
_POLL_S = 0.01


class ChrootHypervisor(Hypervisor):
    """Ganeti's chroot manager, with the root on the instance's first disk."""

    KIND: ClassVar[HvKind] = HvKind.CHROOT
    PARAMETERS = CHROOT
    SCRIPT_TIMEOUT_S: ClassVar[float] = 60.0
    KILL_WAIT_S: ClassVar[float] = 5.0

    # --- paths ---------------------------------------------------------------------

    @property
    def base_dir(self) -> Path:
        return self.layout.run_dir / "chroot"

    @property
    def runtime_dir(self) -> Path:
        return self.layout.run_dir / "chroot-runtime"

    def root_dir(self, name: str) -> Path:
        if not name or "/" in name or name in (".", ".."):
            raise HypervisorError(f"invalid instance name {name!r}")
        return self.base_dir / name

    def _runtime_file(self, name: str) -> Path:
        return self.runtime_dir / f"{name}.json"

    def _log_file(self, name: str) -> Path:
        return self.layout.log_dir / "chroot" / f"{name}.log"

    # --- life cycle ------------------------------------------------------------------

    async def start(self, instance: InstanceSpec, *, paused: bool = False) -> None:
        if paused:
            raise HypervisorError("chroot instances cannot be started paused")
        root = self.root_dir(instance.name)
        if await self._pids(root):
            raise HypervisorError(f"instance {instance.name} is already running")
        await self._unmount_all(root)
        script = str(instance.hvparams.get("init_script", CHROOT["init_script"].default))
        runtime = {"name": instance.name, "uuid": instance.uuid, "vcpus": instance.vcpus,
                   "init_script": script, "own_root": bool(instance.disks)}
        try:
            await self._prepare_root(instance, root)
            await asyncio.to_thread(_write_json, self._runtime_file(instance.name), runtime)
            await self._run_script(instance.name, root, script, "start")
        except BaseException:
            await self._rollback(instance.name, root, own_root=bool(instance.disks))
            raise

    async def _rollback(self, name: str, root: Path, *, own_root: bool) -> None:
        """Undo a failed start; a failure here must not hide the start's own error."""
        try:
            await self._kill_all(root, 0.0)
            await self._teardown(name, root, own_root=own_root)
        except HypervisorError:
            pass

    async def stop(self, name: str, *, force: bool, timeout: float) -> None:
        root = self.root_dir(name)
        if not await self._pids(root):
            if not force:
                raise HypervisorError(f"instance {name} is not running")
            await self.cleanup(name)
            return
        deadline = self.clock.monotonic() + timeout
        runtime = await self._runtime(name)
        if not force:
            await self._try_script(name, root, runtime.get("init_script"), "stop", timeout)
        await self._kill_all(root, max(deadline - self.clock.monotonic(), 0.0))
        await self._teardown(name, root, own_root=bool(runtime.get("own_root", True)))

    async def reboot(self, name: str) -> None:
        """Run the stop script, kill what is left, run the start script; mounts stay."""
        root = self.root_dir(name)
        if not await self._pids(root):
            raise HypervisorError(f"instance {name} is not running")
        runtime = await self._runtime(name)
        script = runtime.get("init_script") or str(CHROOT["init_script"].default)
        await self._try_script(name, root, script, "stop", self.SCRIPT_TIMEOUT_S)
        await self._kill_all(root, self.KILL_WAIT_S)
        await self._run_script(name, root, script, "start")

    async def cleanup(self, name: str) -> None:
        root = self.root_dir(name)
        if await self._pids(root):
            raise HypervisorError(f"instance {name} is still running, cannot clean up")
        runtime = await self._runtime(name)
        await self._teardown(name, root, own_root=bool(runtime.get("own_root", True)))

    # --- inventory -------------------------------------------------------------------

    async def list_instances(self) -> list[str]:
        return sorted(await self._running())

    async def instance_info(self, name: str) -> InstanceInfo | None:
        pids = await self._pids(self.root_dir(name))
        return await self._info(name, pids) if pids else None

    async def all_instances_info(self) -> dict[str, InstanceInfo]:
        running = await self._running()
        return {name: await self._info(name, pids) for name, pids in running.items()}

    async def _info(self, name: str, pids: list[int]) -> InstanceInfo:
        runtime = await self._runtime(name)
        cpu = await asyncio.to_thread(linux.process_cpu_seconds, pids)
        return InstanceInfo(name=name, id=min(pids), memory_mib=0,
                            vcpus=int(runtime.get("vcpus", 0)), state=HvState.RUNNING,
                            cpu_time_s=cpu)

    # --- node, console ---------------------------------------------------------------

    async def verify(self, hvparams: Mapping[str, Any] | None = None) -> list[str]:
        return await asyncio.to_thread(self._verify_sync)

    def _verify_sync(self) -> list[str]:
        problems = [f"required program '{prog}' not found"
                    for prog in ("mount", "umount", "unshare", "chroot", "sh")
                    if shutil.which(prog) is None]
        try:
            self.base_dir.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            problems.append(f"cannot create the chroot directory {self.base_dir}: {err}")
        return problems

    def console(self, instance: InstanceSpec) -> ConsoleInfo:
        root = str(self.root_dir(instance.name))
        return ConsoleInfo(instance=instance.name, kind=ConsoleKind.SSH,
                           host=instance.primary_node, user="root",
                           command=("chroot", root, "/bin/sh"))

    # --- mechanics ---------------------------------------------------------------------

    async def _pids(self, root: Path) -> list[int]:
        found = await asyncio.to_thread(linux.processes_below, str(root))
        return [pid for pid, _ in found]

    async def _running(self) -> dict[str, list[int]]:
        """Instance name → pids, from one scan of ``/proc``."""
        base = str(self.base_dir)
        found: dict[str, list[int]] = {}
        for pid, root in await asyncio.to_thread(linux.processes_below, base):
            name = root[len(base) + 1:].partition("/")[0]
            if name:
                found.setdefault(name, []).append(pid)
        return found

    async def _runtime(self, name: str) -> dict[str, Any]:
        return await asyncio.to_thread(_read_json, self._runtime_file(name))

    async def _prepare_root(self, instance: InstanceSpec, root: Path) -> None:
        if instance.disks:
            await asyncio.to_thread(root.mkdir, parents=True, exist_ok=True)
            await self._mount_disk(instance, root)
            await asyncio.to_thread(_ensure_mount_points, root)
        elif not await asyncio.to_thread(root.is_dir):
            raise HypervisorError(f"instance {instance.name} has no disk and no prepared "
                                  f"root directory {root}")
        await self.run_checked(["mount", "-t", "proc", "-o", "nosuid,nodev,noexec", "proc",
                                str(root / "proc")], what="mounting /proc")
        await self.run_checked(["mount", "-t", "tmpfs", "-o", "mode=755,size=1m,nosuid,noexec",
                                "chroot-dev", str(root / "dev")], what="mounting /dev")
        await asyncio.to_thread(_populate_dev, root / "dev")
        await self.run_checked(["mount", "-t", "devpts", "-o",
                                "newinstance,ptmxmode=0666,mode=620,nosuid,noexec", "devpts",
                                str(root / "dev" / "pts")], what="mounting /dev/pts")

    async def _mount_disk(self, instance: InstanceSpec, root: Path) -> None:
        disk = instance.disks[0]
        options = ["ro"] if disk.mode == DiskMode.RO else []
        try:
            mode = (await asyncio.to_thread(os.stat, disk.path)).st_mode
        except OSError as err:
            raise HypervisorError(f"disk {disk.path} of {instance.name}: {err}") from err
        if stat.S_ISREG(mode):
            options.append("loop")
        elif not stat.S_ISBLK(mode):
            raise HypervisorError(f"disk {disk.path} is neither a file nor a block device")
        argv = ["mount", *(["-o", ",".join(options)] if options else []), disk.path, str(root)]
        await self.run_checked(argv, what=f"mounting {disk.path}")

    def _script_argv(self, name: str, root: Path, script: str, action: str) -> list[str]:
        return ["sh", "-c", _REDIRECT, "sh", str(self._log_file(name)), "unshare", "--mount",
                "--propagation", "private", "chroot", str(root), script, action]

    async def _run_script(self, name: str, root: Path, script: str, action: str,
                          timeout: float | None = None) -> None:
        log = self._log_file(name)
        await asyncio.to_thread(log.parent.mkdir, parents=True, exist_ok=True)
        result = await self.runner.run(self._script_argv(name, root, script, action),
                                       timeout=timeout or self.SCRIPT_TIMEOUT_S,
                                       env=_SCRIPT_ENV, reset_env=True)
        if result.failed:
            tail = await asyncio.to_thread(_tail, log)
            raise HypervisorError(f"'{script} {action}' of {name} failed: {result.fail_reason}"
                                  + (f"; last output: {tail}" if tail else ""))

    async def _try_script(self, name: str, root: Path, script: Any, action: str,
                          timeout: float) -> None:
        """Run the script if we know it; a failing stop script only means we kill harder."""
        if not script:
            return
        try:
            await self._run_script(name, root, str(script), action, max(timeout, 0.1))
        except HypervisorError:
            pass

    async def _kill_all(self, root: Path, grace: float) -> None:
        """TERM every process in the root, wait up to ``grace`` s, then KILL.

        Raises:
            HypervisorError: processes survive SIGKILL for ``KILL_WAIT_S`` seconds.
        """
        await asyncio.to_thread(linux.signal_processes_below, str(root), signal.SIGTERM)
        if await self._wait_gone(root, grace):
            return
        await asyncio.to_thread(linux.signal_processes_below, str(root), signal.SIGKILL)
        if not await self._wait_gone(root, self.KILL_WAIT_S):
            raise HypervisorError(f"processes in {root} survive SIGKILL")

    async def _wait_gone(self, root: Path, seconds: float) -> bool:
        deadline = self.clock.monotonic() + seconds
        while await self._pids(root):
            if self.clock.monotonic() >= deadline:
                return False
            await self.clock.sleep(_POLL_S)
        return True

    async def _unmount_all(self, root: Path) -> None:
        """Unmount everything at or below ``root``, deepest first (lazily if busy)."""
        entries = await asyncio.to_thread(linux.read_mountinfo)
        for point in linux.mounts_below(entries, str(root)):
            result = await self.runner.run(["umount", point])
            if result.failed:
                await self.run_checked(["umount", "--lazy", point], what=f"unmounting {point}")

    async def _teardown(self, name: str, root: Path, *, own_root: bool) -> None:
        await self._unmount_all(root)
        await asyncio.to_thread(_remove_leftovers, root if own_root else None,
                                self._runtime_file(name))


# --- small blocking helpers (run in threads) ---------------------------------------------

def _ensure_mount_points(root: Path) -> None:
    """Create ``/proc`` and ``/dev`` on a root that lacks them (a read-only one cannot)."""
    for sub in ("proc", "dev"):
        try:
            (root / sub).mkdir(exist_ok=True)
        except OSError:
            pass


def _populate_dev(dev: Path) -> None:
    for name, major, minor in _DEV_NODES:
        os.mknod(dev / name, 0o666 | stat.S_IFCHR, os.makedev(major, minor))
        os.chmod(dev / name, 0o666)
    for name, target in _DEV_LINKS:
        os.symlink(target, dev / name)
    (dev / "pts").mkdir()
    (dev / "shm").mkdir(mode=0o1777)


def _write_json(path: Path, data: Mapping[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.tmp")
    temp.write_text(json.dumps(data))
    os.replace(temp, path)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _remove_leftovers(root: Path | None, runtime: Path) -> None:
    """Remove the (now empty) mount point and the runtime file.

    A root directory that still holds files is not a bare mount point (an
    administrator's prepared root, say), so it stays.
    """
    if root is not None:
        try:
            root.rmdir()
        except OSError:
            pass
    runtime.unlink(missing_ok=True)


def _tail(path: Path, limit: int = 400) -> str:
    try:
        return path.read_text(errors="replace")[-limit:].strip()
    except OSError:
        return ""
