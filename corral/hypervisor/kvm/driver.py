"""The KVM/QEMU hypervisor driver.

QEMU is started with ``-daemonize`` and ``-pidfile``: the launching command
returns only once QEMU has opened its disks, taps and control sockets, so a
bad parameter or a busy tap fails :meth:`KvmHypervisor.start` synchronously
with QEMU's own message, and the guest is not a child of the node daemon
(restarting the daemon leaves it running). The runtime record then lets any
later daemon find it again.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import stat
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import msgspec

from corral.clock import Clock
from corral.errors import HypervisorError, ParameterError
from corral.guestkit import build_probe_initramfs, cached_kernel
from corral.hypervisor import linux
from corral.hypervisor.base import (
    ConsoleInfo,
    ConsoleKind,
    DiskSpec,
    HvState,
    Hypervisor,
    InstanceInfo,
    InstanceSpec,
    MigrationStatus,
    MigrationTarget,
    MirrorDiskStatus,
)
from corral.hypervisor.kvm import accel as accel_mod
from corral.hypervisor.kvm import incoming, mirror, network
from corral.hypervisor.kvm.cmdline import (
    DiskBackend,
    LaunchContext,
    build_argv,
    hv_value,
    taps_for,
    unsupported,
)
from corral.hypervisor.kvm.migration import SourceMigrations
from corral.hypervisor.kvm.paths import (
    KvmPaths,
    check_socket_paths,
    instance_paths,
    kvm_run_dir,
)
from corral.hypervisor.kvm.qmp import QmpSession
from corral.hypervisor.kvm.runtime import (
    KvmRuntime,
    is_alive,
    process_matches,
    read_pidfile,
    read_runtime,
    remove_runtime,
    write_runtime,
)
from corral.hypervisor.params import KVM, HvKind
from corral.layout import NodeLayout
from corral.process import CommandRunner
from corral.storage.mirror.export import write_creds_dir

START_TIMEOUT = 60.0
QUIT_GRACE = 3.0
"""Seconds a forced stop waits after QMP ``quit`` before SIGKILL."""
SECTOR_PROBE_TIMEOUT = 2.0
"""Seconds the boot-sector probe gets (a working KVM runs it in a fraction of that)."""
_POLL = 0.01
_QEMU_STATES = {"running": HvState.RUNNING, "shutdown": HvState.SHUTDOWN,
                "guest-panicked": HvState.CRASHED, "internal-error": HvState.CRASHED,
                "io-error": HvState.BLOCKED}
"""QMP run states → HvState (everything else, e.g. paused or prelaunch, is PAUSED)."""


class KvmHypervisor(Hypervisor):
    """QEMU guests with QMP control, a serial console socket and TCG fallback."""

    KIND: ClassVar[HvKind] = HvKind.KVM
    PARAMETERS = KVM
    CAN_MIGRATE: ClassVar[bool] = True
    CAN_BALLOON: ClassVar[bool] = True

    def __init__(self, layout: NodeLayout, runner: CommandRunner, clock: Clock, *,
                 guestkit_dir: Path | None = None, kvm_device: Path = accel_mod.KVM_DEVICE,
                 vhost_device: Path = Path("/dev/vhost-net"),
                 probe_timeout: float = accel_mod.PROBE_TIMEOUT) -> None:
        super().__init__(layout, runner, clock)
        self.guestkit_dir = guestkit_dir or layout.data_dir / "guestkit"
        self.kvm_device = kvm_device
        self.vhost_device = vhost_device
        self.probe_timeout = probe_timeout
        self._accel_lock = asyncio.Lock()
        self._outgoing = SourceMigrations(self)

    # --- records -------------------------------------------------------------------------

    def paths(self, name: str) -> KvmPaths:
        return instance_paths(self.layout, name)

    async def stored_record(self, name: str) -> KvmRuntime | None:
        return await asyncio.to_thread(read_runtime, self.paths(name).runtime)

    async def live_record(self, name: str) -> KvmRuntime | None:
        record = await self.stored_record(name)
        if record is None or not await asyncio.to_thread(is_alive, record):
            return None
        return record

    async def require_live(self, name: str) -> KvmRuntime:
        record = await self.live_record(name)
        if record is None:
            raise HypervisorError(f"instance {name} is not running")
        return record

    # --- life cycle ----------------------------------------------------------------------

    async def start(self, instance: InstanceSpec, *, paused: bool = False) -> None:
        paths = self.paths(instance.name)
        check_socket_paths(paths)
        if await self.live_record(instance.name) is not None:
            raise HypervisorError(f"instance {instance.name} is already running")
        await self.cleanup(instance.name)
        mirrored = bool(mirror.mirror_disks(instance))
        ctx = await self.launch_context(instance, paths, paused=paused or mirrored)
        argv = build_argv(instance, ctx)
        await self.prepare_dirs(paths)
        await network.create_taps(self.runner, ctx.taps, instance.nics, instance.hvparams)
        try:
            record = await self.launch(instance, argv, ctx)
            await asyncio.to_thread(write_runtime, paths.runtime, record)
            if mirrored:
                await self._start_mirrors(instance, record, run=not paused)
        except BaseException:
            await self.discard(paths, ctx.taps, tuple(argv))
            raise

    async def _start_mirrors(self, instance: InstanceSpec, record: KvmRuntime, *,
                             run: bool) -> None:
        """Attach the secondaries of the mirror disks (whole-disk copy; one that cannot be
        reached stays degraded), then run."""
        creds = await asyncio.to_thread(write_creds_dir, self.layout,
                                        self.paths(instance.name).mirror_creds)
        async with QmpSession(Path(record.qmp_socket)) as qmp:
            await mirror.attach_all(qmp, instance, str(creds))
            if run:
                await qmp.cont()

    async def mirror_status(self, name: str) -> list[MirrorDiskStatus]:
        """Per mirror disk of running instance ``name``: in sync, degraded or resyncing.

        Raises:
            HypervisorError: not running, or QMP failed.
        """
        record = await self.require_live(name)
        async with QmpSession(Path(record.qmp_socket)) as qmp:
            return await mirror.statuses(qmp, InstanceSpec.from_dict(record.instance))

    async def mirror_resync(self, name: str, indices: Sequence[int] = (), *,
                            full: bool = False, given: InstanceSpec | None = None) -> None:
        """Reattach the secondaries of mirror disks ``indices`` (all if empty) and resync:
        only the regions missed while degraded, or the whole disk with ``full``.

        ``given`` (the instance as the master sends it) may name other exports (a new
        secondary node): the disks whose URI changed are switched to the new export with
        a whole-disk copy, and the runtime record keeps the new URIs.

        Raises:
            HypervisorError: not running, not a mirror disk, or QEMU refused.
        """
        record = await self.require_live(name)
        spec = InstanceSpec.from_dict(record.instance)
        if given is not None:
            moved = mirror.with_uris(spec, given)
            if moved != spec:
                full = True
                spec = moved
                record = msgspec.structs.replace(record, instance=spec.to_dict())
                await asyncio.to_thread(write_runtime, self.paths(name).runtime, record)
        chosen = list(indices) or [index for index, _ in mirror.mirror_disks(spec)]
        async with QmpSession(Path(record.qmp_socket)) as qmp:
            await mirror.add_tls_object(qmp, str(self.paths(name).mirror_creds))
            await mirror.resync(qmp, spec, chosen, full=full)

    async def launch_context(self, instance: InstanceSpec, paths: KvmPaths, *, paused: bool,
                             accel: str | None = None) -> LaunchContext:
        """Decisions made on the node: accelerator (unless given), disk backends, vhost."""
        accel = accel or await self.resolve_accel(instance.hvparams)
        backends = await asyncio.to_thread(disk_backends, instance.disks)
        vhost = bool(hv_value(instance.hvparams, "vhost_net")) and await asyncio.to_thread(
            self.vhost_device.exists)
        return LaunchContext(paths=paths, accel=accel, taps=taps_for(instance),
                             disk_backends=backends, vhost_net=vhost, paused=paused)

    async def prepare_dirs(self, paths: KvmPaths) -> None:
        await asyncio.to_thread(_make_dirs, paths)

    async def launch(self, instance: InstanceSpec, argv: list[str],
                     ctx: LaunchContext) -> KvmRuntime:
        """Run QEMU (it daemonizes); the record of the started process.

        Raises:
            HypervisorError: QEMU failed to start (its message).
        """
        result = await self.runner.run(argv, timeout=START_TIMEOUT)
        pid = await asyncio.to_thread(read_pidfile, ctx.paths.pidfile)
        if result.failed or pid is None:
            raise HypervisorError(f"failed to start instance {instance.name}: "
                                  f"{result.fail_reason}: {result.output.strip()}")
        return KvmRuntime(
            name=instance.name, uuid=instance.uuid, pid=pid,
            qmp_socket=str(ctx.paths.qmp_socket), serial_socket=str(ctx.paths.serial_socket),
            serial_log=str(ctx.paths.serial_log), argv=tuple(argv), taps=ctx.taps,
            start_time=self.clock.now(), accel=ctx.accel, memory_mib=instance.memory_mib,
            vcpus=instance.vcpus, hvparams=dict(instance.hvparams), instance=instance.to_dict())

    async def discard(self, paths: KvmPaths, taps: Sequence[str],
                      argv: tuple[str, ...]) -> None:
        """Undo a failed start: the QEMU process (if it got going), taps, files."""
        pid = await asyncio.to_thread(read_pidfile, paths.pidfile)
        if pid is not None:
            await self.kill(pid, argv)
        await network.remove_taps(self.runner, taps)
        await asyncio.to_thread(_remove_files, paths)

    async def stop(self, name: str, *, force: bool, timeout: float) -> None:
        """Soft: press the ACPI power button once. Forced: QMP quit, then SIGKILL.

        A guest started with ``acpi=False`` has no button, so (as in Ganeti) a soft
        stop of it is a forced one.
        """
        record = await self.live_record(name)
        if record is not None and not record.hvparams.get("acpi", True):
            force = True
        if not force:
            if record is None:
                raise HypervisorError(f"instance {name} is not running")
            async with QmpSession(Path(record.qmp_socket)) as qmp:
                await qmp.system_powerdown()
            return
        if record is not None:
            await self.force_off(record)
        await self.cleanup(name)

    async def force_off(self, record: KvmRuntime) -> None:
        """End the QEMU process of ``record``: QMP quit, then SIGKILL."""
        await self._quit(record)
        await self.kill(record.pid, record.argv)

    async def _quit(self, record: KvmRuntime) -> None:
        try:
            async with QmpSession(Path(record.qmp_socket)) as qmp:
                await qmp.quit()
        except HypervisorError:
            return  # QEMU does not answer: the SIGKILL that follows ends it
        await self._wait_gone(record.pid, record.argv, QUIT_GRACE)

    async def _wait_gone(self, pid: int, argv: tuple[str, ...], seconds: float) -> bool:
        deadline = self.clock.monotonic() + seconds
        while await asyncio.to_thread(_matches, pid, argv):
            if self.clock.monotonic() >= deadline:
                return False
            await self.clock.sleep(_POLL)
        return True

    async def kill(self, pid: int, argv: tuple[str, ...]) -> None:
        """SIGKILL ``pid`` if it still runs ``argv``, and wait until it is gone."""
        if not await asyncio.to_thread(_matches, pid, argv):
            return
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            return
        if not await self._wait_gone(pid, argv, 10.0):
            raise HypervisorError(f"QEMU process {pid} survived SIGKILL")

    async def reboot(self, name: str) -> None:
        """A hardware reset (a soft ACPI reboot is not reliable with minimal guests)."""
        record = await self.require_live(name)
        async with QmpSession(Path(record.qmp_socket)) as qmp:
            await qmp.system_reset()

    async def balloon(self, name: str, memory_mib: int) -> None:
        record = await self.require_live(name)
        async with QmpSession(Path(record.qmp_socket)) as qmp:
            await qmp.balloon(memory_mib)

    async def pause(self, name: str) -> None:
        """Stop the vCPUs (QMP ``stop``)."""
        record = await self.require_live(name)
        async with QmpSession(Path(record.qmp_socket)) as qmp:
            await qmp.stop()

    async def resume(self, name: str) -> None:
        """Resume the vCPUs (QMP ``cont``)."""
        record = await self.require_live(name)
        async with QmpSession(Path(record.qmp_socket)) as qmp:
            await qmp.cont()

    async def cleanup(self, name: str) -> None:
        """Remove taps, sockets, pid and runtime files of a stopped instance."""
        record = await self.stored_record(name)
        if record is not None and await asyncio.to_thread(is_alive, record):
            raise HypervisorError(f"instance {name} is still running, cannot clean up")
        if record is not None:
            await network.remove_taps(self.runner, record.taps)
        await asyncio.to_thread(_remove_files, self.paths(name))

    # --- inventory -----------------------------------------------------------------------

    async def list_instances(self) -> list[str]:
        names = await asyncio.to_thread(_recorded_names, kvm_run_dir(self.layout))
        alive = await asyncio.gather(*(self.live_record(n) for n in names))
        return [n for n, rec in zip(names, alive, strict=True) if rec is not None]

    async def instance_info(self, name: str) -> InstanceInfo | None:
        record = await self.live_record(name)
        if record is None:
            return None
        state, memory = HvState.RUNNING, record.memory_mib
        try:
            async with QmpSession(Path(record.qmp_socket)) as qmp:
                status = await qmp.query_status()
                state = _QEMU_STATES.get(status.status, HvState.PAUSED)
                memory = await qmp.query_balloon()
        except HypervisorError:
            pass  # busy or no balloon: keep what the record says
        cpu = await asyncio.to_thread(linux.process_cpu_seconds, [record.pid])
        return InstanceInfo(name=name, id=record.pid, memory_mib=memory, vcpus=record.vcpus,
                            state=state, cpu_time_s=cpu)

    async def runtime(self, name: str) -> KvmRuntime | None:
        """The runtime record of a running instance (None when not running)."""
        return await self.live_record(name)

    # --- migration (see incoming.py and migration.py) ---------------------------------------

    async def check_migratable(self, instance: InstanceSpec) -> None:
        """Running here, no passthrough disk, and QEMU reports no migration blocker."""
        await self._outgoing.check(instance)

    async def migration_info(self, instance: InstanceSpec) -> str:
        """JSON: accelerator, resolved machine type, memory, vCPUs, the source's spec,
        capabilities both sides set, and whether the guest's vCPUs run."""
        return await self._outgoing.info(instance)

    async def accept_instance(self, instance: InstanceSpec, info: str, address: str,
                              *, copy_disks: bool = False) -> MigrationTarget:
        """Start QEMU paused with ``-incoming defer`` and listen on ``address`` at the first
        free port from ``migration_port`` (16-port window); with ``copy_disks`` an NBD
        server on the next free port exports every disk writable.

        Raises:
            HypervisorError: already running here, every port taken, bad info, or QEMU
                failed (nothing is left behind).
        """
        return await incoming.accept(self, instance, info, address, copy_disks)

    async def finalize_migration_dst(self, instance: InstanceSpec, info: str,
                                     success: bool) -> None:
        """Success: stop the NBD server, add routes, resume (unless the guest was paused);
        ``info`` may be empty. Failure: kill the incoming QEMU by pid, remove its taps
        and files (an instance that runs here for real is left alone)."""
        await incoming.finalize(self, instance, success)

    async def migrate_instance(self, cluster_name: str, instance: InstanceSpec,
                               target: MigrationTarget, live: bool) -> None:
        """Apply bandwidth, downtime and capabilities, ``stop`` unless ``live``, start the
        disk mirrors (if ``target.disk_exports``) and hand the rest to a background task."""
        await self._outgoing.migrate(instance, target, live)

    async def migration_status(self, instance: InstanceSpec) -> MigrationStatus:
        """From ``query-migrate`` and ``query-block-jobs``; works after a daemon restart.

        Raises:
            HypervisorError: no migration of the instance is known here, or QMP failed.
        """
        return await self._outgoing.status(instance)

    async def finalize_migration_src(self, instance: InstanceSpec, success: bool,
                                     live: bool) -> None:
        """Success: quit the local QEMU (only once QEMU says completed), remove taps and
        files. Failure: cancel the transfer and mirrors, resume the guest if it ran."""
        await self._outgoing.finalize(instance, success, live)

    # --- accelerator -----------------------------------------------------------------------

    async def resolve_accel(self, hvparams: Mapping[str, Any]) -> str:
        """``kvm`` or ``tcg`` for these hvparams (``auto`` probes once per node)."""
        setting = accel_mod.requested_accel(hvparams)
        cache = accel_mod.verdict_file(kvm_run_dir(self.layout))
        async with self._accel_lock:
            chosen = await accel_mod.resolve_accel(
                setting, cache=cache, now=self.clock.now(), device=self.kvm_device,
                probe=lambda: self._probe(str(hv_value(hvparams, "kvm_path")), hvparams))
        return chosen.value

    async def _probe(self, qemu: str, hvparams: Mapping[str, Any]) -> tuple[bool, str]:
        """A boot sector first (cheap, fails fast where KVM is broken), then Linux."""
        run = kvm_run_dir(self.layout)
        image = run / "accel-probe.bin"
        await asyncio.to_thread(_write_bytes, image, accel_mod.boot_sector())
        first = await accel_mod.run_probe(qemu, accel_mod.boot_sector_probe(image), self.runner,
                                          timeout=min(SECTOR_PROBE_TIMEOUT, self.probe_timeout))
        kernel = str(hv_value(hvparams, "kernel_path"))
        cached = await asyncio.to_thread(cached_kernel, self.guestkit_dir)
        if not kernel and cached is not None:
            kernel = str(cached.vmlinuz)
        if not first[0] or not kernel:
            return first
        initrd = await build_probe_initramfs(run / "accel-probe.img", self.runner,
                                             accel_mod.PROBE_MARKER)
        return await accel_mod.run_probe(qemu, accel_mod.linux_probe(Path(kernel), initrd),
                                         self.runner, timeout=self.probe_timeout)

    # --- console, checks -------------------------------------------------------------------

    def console(self, instance: InstanceSpec) -> ConsoleInfo:
        hv = instance.hvparams
        if hv_value(hv, "serial_console"):
            sock = str(self.paths(instance.name).serial_socket)
            return ConsoleInfo(instance=instance.name, kind=ConsoleKind.SOCKET,
                               host=instance.primary_node, path=sock,
                               command=("socat", "stdio,raw,echo=0,escape=0x1d",
                                        f"unix-connect:{sock}"))
        bind = str(hv_value(hv, "vnc_bind_address"))
        if bind and not bind.startswith("/") and instance.network_port:
            return ConsoleInfo(instance=instance.name, kind=ConsoleKind.VNC, host=bind,
                               port=instance.network_port,
                               display=instance.network_port - 5900)
        return ConsoleInfo(instance=instance.name, kind=ConsoleKind.MESSAGE,
                           message=f"instance {instance.name} has no serial console")

    @classmethod
    def check_parameter_syntax(cls, hvparams: Mapping[str, Any]) -> None:
        super().check_parameter_syntax(hvparams)
        problems = unsupported(hvparams)
        if problems:
            raise ParameterError("; ".join(problems))

    async def verify(self, hvparams: Mapping[str, Any] | None = None) -> list[str]:
        qemu = str(hv_value(hvparams or {}, "kvm_path"))
        if not await asyncio.to_thread(os.access, qemu, os.X_OK):
            return [f"QEMU binary {qemu} is missing or not executable"]
        return []


# --- blocking helpers (run in threads) ---------------------------------------------------

def disk_backends(disks: Sequence[DiskSpec]) -> tuple[DiskBackend, ...]:
    """``host_device`` for block devices, ``file`` otherwise; qcow2 by its magic."""
    return tuple(_backend(Path(d.path)) for d in disks)


def _backend(path: Path) -> DiskBackend:
    try:
        mode = path.stat().st_mode
        with path.open("rb") as handle:
            magic = handle.read(4)
    except OSError:
        return DiskBackend()
    driver = "host_device" if stat.S_ISBLK(mode) else "file"
    return DiskBackend(driver, "qcow2" if magic == b"QFI\xfb" else "raw")


def _make_dirs(paths: KvmPaths) -> None:
    paths.runtime.parent.mkdir(parents=True, exist_ok=True, mode=0o750)
    paths.serial_log.parent.mkdir(parents=True, exist_ok=True, mode=0o750)


def _remove_files(paths: KvmPaths) -> None:
    for path in (paths.qmp_socket, paths.serial_socket, paths.pidfile, paths.outgoing):
        path.unlink(missing_ok=True)
    shutil.rmtree(paths.mirror_creds, ignore_errors=True)
    remove_runtime(paths.runtime)


def _recorded_names(run: Path) -> list[str]:
    try:
        return sorted(p.name.removesuffix(".runtime") for p in run.glob("*.runtime"))
    except OSError:
        return []


def _matches(pid: int, argv: tuple[str, ...]) -> bool:
    return process_matches(pid, argv)


def _write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)

