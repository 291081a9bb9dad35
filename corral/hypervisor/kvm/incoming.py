"""The target side of a KVM migration: a paused QEMU that listens, then runs or goes.

:func:`accept` starts QEMU with the source's device model (the command line of
:func:`~corral.hypervisor.kvm.cmdline.build_argv` with this node's disks, taps and
files), ``-incoming defer`` and ``-S``, and has it listen on the first free port
of a :data:`PORT_WINDOW`-port window from ``migration_port`` (the NBD server for a
live storage migration takes the next free one). The runtime record says
``incoming`` until :func:`finalize` runs the guest or discards it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import msgspec

from corral.errors import HypervisorError
from corral.hypervisor.base import InstanceSpec, MigrationTarget
from corral.hypervisor.kvm import mirror, network
from corral.hypervisor.kvm.cmdline import build_argv, hv_value, taps_for
from corral.hypervisor.kvm.migration_records import (
    TARGET_ONLY_EXCLUDED,
    MigrationInfo,
    decode_info,
    migration_uri,
    nbd_uri,
)
from corral.hypervisor.kvm.paths import check_socket_paths
from corral.hypervisor.kvm.qmp import QmpSession
from corral.hypervisor.kvm.runtime import KvmRuntime, write_runtime
from corral.storage.mirror.export import write_creds_dir

if TYPE_CHECKING:
    from corral.hypervisor.kvm.driver import KvmHypervisor

PORT_WINDOW = 16
"""Ports tried from ``migration_port`` on, so parallel migrations to one node work."""
TAP_VARIANTS = 4
_IN_USE = "address already in use"


def target_spec(info: MigrationInfo, instance: InstanceSpec) -> InstanceSpec:
    """The source's guest with this node's disks.

    Raises:
        HypervisorError: the info is for another instance or another number of disks.
    """
    source = InstanceSpec.from_dict(info.instance)
    if source.name != instance.name:
        raise HypervisorError(f"migration info is for instance {source.name}, "
                              f"not {instance.name}")
    if len(source.disks) != len(instance.disks):
        raise HypervisorError(f"instance {instance.name}: the source has "
                              f"{len(source.disks)} disks, this node {len(instance.disks)}")
    return replace(source, disks=instance.disks, memory_mib=info.memory_mib, vcpus=info.vcpus,
                   primary_node=instance.primary_node)


def port_window(first: int) -> range:
    return range(first, min(first + PORT_WINDOW, 65536))


async def accept(driver: KvmHypervisor, instance: InstanceSpec, info_text: str, address: str,
                 copy_disks: bool) -> MigrationTarget:
    """Start the receiving QEMU; see :meth:`KvmHypervisor.accept_instance`."""
    info = decode_info(info_text)
    spec = target_spec(info, instance)
    paths = driver.paths(spec.name)
    check_socket_paths(paths)
    if await driver.live_record(spec.name) is not None:
        raise HypervisorError(f"instance {spec.name} is already running on this node")
    await driver.cleanup(spec.name)
    taps = await asyncio.to_thread(network.unused_taps,
                                   [taps_for(spec, v) for v in range(TAP_VARIANTS)])
    ctx = await driver.launch_context(spec, paths, paused=True, accel=info.accel)
    ctx = replace(ctx, taps=taps, incoming=True)
    argv = build_argv(spec, ctx)
    await driver.prepare_dirs(paths)
    await network.create_taps(driver.runner, taps, spec.nics, spec.hvparams, routes=False)
    try:
        record = msgspec.structs.replace(await driver.launch(spec, argv, ctx), incoming=True,
                                         resume_after_migration=info.was_running)
        await asyncio.to_thread(write_runtime, paths.runtime, record)
        record, target = await _listen(record, info, spec, address, copy_disks,
                                       int(hv_value(instance.hvparams, "migration_port")))
        await asyncio.to_thread(write_runtime, paths.runtime, record)
    except BaseException:
        await driver.discard(paths, taps, tuple(argv))
        raise
    return target


async def _listen(record: KvmRuntime, info: MigrationInfo, spec: InstanceSpec, address: str,
                  copy_disks: bool, first_port: int) -> tuple[KvmRuntime, MigrationTarget]:
    ports = port_window(first_port)
    async with QmpSession(Path(record.qmp_socket)) as qmp:
        await qmp.migrate_set_capabilities(
            {cap: True for cap in info.capabilities if cap not in TARGET_ONLY_EXCLUDED})
        port = await _bind(ports, ports, address,
                           lambda p: qmp.migrate_incoming(migration_uri(address, p)))
        if not copy_disks:
            return (msgspec.structs.replace(record, migration_port=port),
                    MigrationTarget(address=address, port=port))
        nbd_port = await _bind([p for p in ports if p != port], ports, address,
                               lambda p: qmp.nbd_server_start(address, p))
        exports = []
        for index in range(len(spec.disks)):
            export = f"{spec.name}-disk{index}"
            await qmp.nbd_server_add(f"disk{index}", export, writable=True)
            exports.append(nbd_uri(address, nbd_port, export))
    return (msgspec.structs.replace(record, migration_port=port, nbd_port=nbd_port),
            MigrationTarget(address=address, port=port, disk_exports=tuple(exports)))


async def _bind(ports: Sequence[int], window: range, address: str,
                listen: Callable[[int], Awaitable[None]]) -> int:
    """The first port of ``ports`` (part of ``window``) that ``listen`` could bind.

    Raises:
        HypervisorError: every port is taken (naming the address and the window), or
            listening failed for another reason (QEMU's message).
    """
    for port in ports:
        try:
            await listen(port)
        except HypervisorError as err:
            if _IN_USE in str(err).lower():
                continue
            raise
        return port
    raise HypervisorError(f"no free migration port on {address}: ports "
                          f"{window.start}-{window.stop - 1} are all in use")


async def finalize(driver: KvmHypervisor, instance: InstanceSpec, success: bool) -> None:
    """Run the received guest, or discard it; see :meth:`KvmHypervisor.finalize_migration_dst`.

    It needs no migration info (a cleanup may finalize after the source is gone): the
    runtime record kept what matters.
    """
    if not success:
        await discard(driver, instance.name)
        return
    record = await driver.live_record(instance.name)
    if record is None:
        raise HypervisorError(f"instance {instance.name}: the QEMU receiving it is gone")
    if not record.incoming:
        return  # finalized already
    async with QmpSession(Path(record.qmp_socket)) as qmp:
        status = await qmp.query_status()
        if status.status == "inmigrate":
            raise HypervisorError(f"instance {instance.name}: the incoming migration has "
                                  "not completed")
        if record.nbd_port:
            with contextlib.suppress(HypervisorError):
                await qmp.nbd_server_stop()
        spec = mirror.with_uris(InstanceSpec.from_dict(record.instance), instance)
        for tap, nic in zip(record.taps, spec.nics, strict=True):
            await network.add_route(driver.runner, tap, nic)
        await _attach_mirrors(driver, qmp, spec)
        record = msgspec.structs.replace(record, incoming=False, migration_port=0, nbd_port=0,
                                         instance=spec.to_dict())
        await asyncio.to_thread(write_runtime, driver.paths(instance.name).runtime, record)
        if record.resume_after_migration and not status.running:
            await qmp.cont()


async def _attach_mirrors(driver: KvmHypervisor, qmp: QmpSession, spec: InstanceSpec) -> None:
    """After the switch-over, mirror to the new secondary (the old primary's export) without
    a copy: both files hold the same data. An unreachable export leaves the disk degraded
    (no job; a resync attaches it with a whole-disk copy) rather than failing the move."""
    if not mirror.mirror_disks(spec):
        return
    creds = await asyncio.to_thread(write_creds_dir, driver.layout,
                                    driver.paths(spec.name).mirror_creds)
    await mirror.attach_all(qmp, spec, str(creds), full=False)


async def discard(driver: KvmHypervisor, name: str) -> None:
    """Kill an incoming QEMU (by pid) and remove its taps and files.

    An instance that runs here for real (not incoming) is left alone.
    """
    record = await driver.stored_record(name)
    if record is None or not record.incoming:
        return
    await driver.kill(record.pid, record.argv)
    await driver.cleanup(name)
