"""Migration RPC handlers: each phase hands the instance's hypervisor view to its driver.

Only ``accept_instance`` touches storage: the target assembles the instance's disks
(shared ones, or the fresh copies the master created for a live storage migration)
before the driver starts the receiving side.
"""

from __future__ import annotations

from corral.backend.bundle_views import assembled_instance, hypervisor_instance
from corral.backend.context import NodeContext
from corral.backend.handlers import handles
from corral.backend.services import hypervisor
from corral.hypervisor.base import Hypervisor, MigrationStatus, MigrationTarget
from corral.objects.bundle import InstanceBundle
from corral.rpc.payloads import MigrationEndpoint, MigrationProgress


def _driver(ctx: NodeContext, bundle: InstanceBundle) -> Hypervisor:
    return hypervisor(ctx, bundle.instance.hypervisor)


def endpoint_of(target: MigrationTarget) -> MigrationEndpoint:
    return MigrationEndpoint(address=target.address, port=target.port,
                             disk_exports=list(target.disk_exports))


def target_of(endpoint: MigrationEndpoint) -> MigrationTarget:
    return MigrationTarget(address=endpoint.address, port=endpoint.port,
                           disk_exports=tuple(endpoint.disk_exports))


def progress_of(status: MigrationStatus) -> MigrationProgress:
    return MigrationProgress(
        status=status.state.value, phase=status.phase.value,
        transferred_ram=status.transferred_ram_mib, total_ram=status.total_ram_mib,
        remaining_ram=status.remaining_ram_mib, rate=status.rate_mib_s,
        expected_downtime=status.expected_downtime_ms, downtime=status.downtime_ms,
        total_time=status.total_time_ms, disk_transferred=status.disk_transferred_mib,
        disk_total=status.disk_total_mib, error=status.error,
    )


@handles("instance_migratable")
async def instance_migratable(ctx: NodeContext, instance: InstanceBundle) -> None:
    await _driver(ctx, instance).check_migratable(hypervisor_instance(instance))


@handles("migration_info")
async def migration_info(ctx: NodeContext, instance: InstanceBundle) -> str:
    return await _driver(ctx, instance).migration_info(hypervisor_instance(instance))


@handles("accept_instance")
async def accept_instance(
    ctx: NodeContext, instance: InstanceBundle, info: str, target: str, copy_disks: bool
) -> MigrationEndpoint:
    spec = await assembled_instance(ctx, instance, open_disks=False)
    accepted = await _driver(ctx, instance).accept_instance(spec, info, target,
                                                            copy_disks=copy_disks)
    return endpoint_of(accepted)


@handles("instance_finalize_migration_dst")
async def instance_finalize_migration_dst(
    ctx: NodeContext, instance: InstanceBundle, info: str, success: bool
) -> None:
    await _driver(ctx, instance).finalize_migration_dst(hypervisor_instance(instance), info,
                                                        success)


@handles("instance_migrate")
async def instance_migrate(
    ctx: NodeContext, cluster_name: str, instance: InstanceBundle, target: MigrationEndpoint,
    live: bool,
) -> None:
    await _driver(ctx, instance).migrate_instance(cluster_name, hypervisor_instance(instance),
                                                  target_of(target), live)


@handles("instance_finalize_migration_src")
async def instance_finalize_migration_src(
    ctx: NodeContext, instance: InstanceBundle, success: bool, live: bool
) -> None:
    await _driver(ctx, instance).finalize_migration_src(hypervisor_instance(instance), success,
                                                        live)


@handles("instance_get_migration_status")
async def instance_get_migration_status(
    ctx: NodeContext, instance: InstanceBundle
) -> MigrationProgress:
    status = await _driver(ctx, instance).migration_status(hypervisor_instance(instance))
    return progress_of(status)
