"""The master's typed node RPC: one method per call of :mod:`corral.rpc.calls`.

A SINGLE call's method takes the node and answers a ``NodeResult[T]``; a MULTI call's
takes the nodes and answers ``{node name: NodeResult[T]}``, where ``T`` is the call's
``returns``. Every payload is decoded into ``T`` by the client; an answer of the wrong
shape is a failed result naming the call, never an exception. ``rpc_timeout``
(seconds) overrides the table's timeout. ``tests/architecture/test_rpc_table.py``
checks these methods against the table.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from corral.objects.bundle import InstanceBundle
from corral.objects.instance import Disk
from corral.objects.node import Node
from corral.rpc.client import NodeTarget, RpcClient
from corral.rpc.payloads import (
    AssembledDevice,
    CommandOutput,
    ConsolePayload,
    DeviceState,
    DeviceStatus,
    DiskDimensions,
    HookScriptResult,
    InstanceRuntime,
    JoinCsr,
    NodeInfo,
    NodeVerifyResult,
    OsDiagnosis,
    RunningInstance,
    StorageValue,
    Volume,
)
from corral.rpc.results import NodeResult

NodeRef = Node | NodeTarget
"""A configured node, or an address (a node that is joining, or a direct call)."""


def target_of(node: NodeRef) -> NodeTarget:
    """Where to reach ``node``."""
    if isinstance(node, NodeTarget):
        return node
    return NodeTarget(node.name, node.primary_ip, node.rpc_port, node.offline)


class NodeRpc:
    """The master's RPC entry point: typed calls by node, results keyed by node name."""

    def __init__(self, client: RpcClient) -> None:
        self.client = client

    async def send(
        self, name: str, nodes: Sequence[NodeRef], args: tuple[Any, ...], timeout: float | None
    ) -> dict[str, NodeResult[Any]]:
        """Run call ``name`` on ``nodes``; payloads decoded into the call's ``returns``.

        The one transport seam: a fake replaces this method and keeps the typed methods.
        """
        if not nodes:
            return {}
        targets = [target_of(n) for n in nodes]
        return await self.client.call(name, targets, *args, timeout=timeout)

    async def _multi(
        self, name: str, nodes: Sequence[NodeRef], *args: Any, timeout: float | None
    ) -> dict[str, NodeResult[Any]]:
        return await self.send(name, nodes, args, timeout)

    async def _single(
        self, name: str, node: NodeRef, *args: Any, timeout: float | None
    ) -> NodeResult[Any]:
        return (await self.send(name, [node], args, timeout))[node.name]

    async def close(self) -> None:
        await self.client.close()

    # --- the RPC table, in table order ----------------------------------------

    async def version(
        self,
        nodes: Sequence[NodeRef],
        *,
        rpc_timeout: float | None = None,
    ) -> dict[str, NodeResult[int]]:
        """Protocol version of the node daemon."""
        return await self._multi("version", nodes, timeout=rpc_timeout)

    async def node_info(
        self,
        nodes: Sequence[NodeRef],
        storage_units: list[Any],
        hv_specs: list[Any],
        *,
        rpc_timeout: float | None = None,
    ) -> dict[str, NodeResult[NodeInfo]]:
        """Memory, CPUs, storage space and hypervisor info."""
        return await self._multi("node_info", nodes, storage_units, hv_specs, timeout=rpc_timeout)

    async def node_verify(
        self,
        nodes: Sequence[NodeRef],
        checks: dict[str, Any],
        cluster_name: str,
        all_hvparams: dict[str, Any],
        *,
        rpc_timeout: float | None = None,
    ) -> dict[str, NodeResult[NodeVerifyResult]]:
        """Run cluster-verify checks on the node."""
        return await self._multi(
            "node_verify", nodes, checks, cluster_name, all_hvparams, timeout=rpc_timeout
        )

    async def node_time(
        self,
        nodes: Sequence[NodeRef],
        *,
        rpc_timeout: float | None = None,
    ) -> dict[str, NodeResult[float]]:
        """The node's clock, seconds since the epoch."""
        return await self._multi("node_time", nodes, timeout=rpc_timeout)

    async def node_boot_id(
        self,
        nodes: Sequence[NodeRef],
        *,
        rpc_timeout: float | None = None,
    ) -> dict[str, NodeResult[str]]:
        """The kernel boot id of the node."""
        return await self._multi("node_boot_id", nodes, timeout=rpc_timeout)

    async def master_node_name(
        self,
        nodes: Sequence[NodeRef],
        *,
        rpc_timeout: float | None = None,
    ) -> dict[str, NodeResult[str]]:
        """The master node named by the node's ssconf."""
        return await self._multi("master_node_name", nodes, timeout=rpc_timeout)

    async def upload_file(
        self,
        nodes: Sequence[NodeRef],
        file_name: str,
        data: Any,
        mode: int,
        uid: str,
        gid: str,
        atime: float,
        mtime: float,
        *,
        rpc_timeout: float | None = None,
    ) -> dict[str, NodeResult[None]]:
        """Write one allowed cluster file."""
        return await self._multi(
            "upload_file", nodes, file_name, data, mode, uid, gid, atime, mtime,
            timeout=rpc_timeout,
        )

    async def write_ssconf_files(
        self,
        nodes: Sequence[NodeRef],
        values: dict[str, Any],
        *,
        rpc_timeout: float | None = None,
    ) -> dict[str, NodeResult[None]]:
        """Replace the node's ssconf files."""
        return await self._multi("write_ssconf_files", nodes, values, timeout=rpc_timeout)

    async def config_replicate(
        self,
        nodes: Sequence[NodeRef],
        serial_no: int,
        base_serial: int,
        changes: list[Any],
        meta: dict[str, Any],
        *,
        rpc_timeout: float | None = None,
    ) -> dict[str, NodeResult[int]]:
        """Apply configuration changes on a master candidate."""
        return await self._multi(
            "config_replicate", nodes, serial_no, base_serial, changes, meta, timeout=rpc_timeout
        )

    async def config_serial(
        self,
        nodes: Sequence[NodeRef],
        *,
        rpc_timeout: float | None = None,
    ) -> dict[str, NodeResult[int]]:
        """Serial number of the node's configuration replica."""
        return await self._multi("config_serial", nodes, timeout=rpc_timeout)

    async def node_demote_from_mc(
        self,
        node: NodeRef,
        *,
        rpc_timeout: float | None = None,
    ) -> NodeResult[bool]:
        """Drop the configuration and queue replicas."""
        return await self._single("node_demote_from_mc", node, timeout=rpc_timeout)

    async def jobqueue_update(
        self,
        nodes: Sequence[NodeRef],
        files: list[Any],
        *,
        rpc_timeout: float | None = None,
    ) -> dict[str, NodeResult[None]]:
        """Write job files on a master candidate."""
        return await self._multi("jobqueue_update", nodes, files, timeout=rpc_timeout)

    async def jobqueue_rename(
        self,
        nodes: Sequence[NodeRef],
        renames: list[Any],
        *,
        rpc_timeout: float | None = None,
    ) -> dict[str, NodeResult[None]]:
        """Rename (archive) job files."""
        return await self._multi("jobqueue_rename", nodes, renames, timeout=rpc_timeout)

    async def jobqueue_purge(
        self,
        node: NodeRef,
        *,
        rpc_timeout: float | None = None,
    ) -> NodeResult[None]:
        """Delete the node's job queue replica."""
        return await self._single("jobqueue_purge", node, timeout=rpc_timeout)

    async def jobqueue_set_drain_flag(
        self,
        nodes: Sequence[NodeRef],
        flag: bool,
        *,
        rpc_timeout: float | None = None,
    ) -> dict[str, NodeResult[None]]:
        """Set or clear the drain flag."""
        return await self._multi("jobqueue_set_drain_flag", nodes, flag, timeout=rpc_timeout)

    async def hooks_runner(
        self,
        nodes: Sequence[NodeRef],
        hpath: str,
        phase: str,
        env: dict[str, Any],
        *,
        rpc_timeout: float | None = None,
    ) -> dict[str, NodeResult[list[HookScriptResult]]]:
        """Run a hooks directory."""
        return await self._multi("hooks_runner", nodes, hpath, phase, env, timeout=rpc_timeout)

    async def restricted_command(
        self,
        node: NodeRef,
        cmd: str,
        *,
        rpc_timeout: float | None = None,
    ) -> NodeResult[str]:
        """Run a command from the restricted commands directory."""
        return await self._single("restricted_command", node, cmd, timeout=rpc_timeout)

    async def test_delay(
        self,
        nodes: Sequence[NodeRef],
        duration: float,
        *,
        rpc_timeout: float | None = None,
    ) -> dict[str, NodeResult[None]]:
        """Sleep on the node."""
        return await self._multi("test_delay", nodes, duration, timeout=rpc_timeout)

    async def run_oob(
        self,
        node: NodeRef,
        command: list[Any],
        timeout: float,
        *,
        rpc_timeout: float | None = None,
    ) -> NodeResult[CommandOutput]:
        """Run a shell command on the node (gnt-cluster command)."""
        return await self._single("run_oob", node, command, timeout, timeout=rpc_timeout)

    async def node_activate_master_ip(
        self,
        node: NodeRef,
        master_params: dict[str, Any],
        use_external_mip_script: bool,
        *,
        rpc_timeout: float | None = None,
    ) -> NodeResult[None]:
        """Bring up the master IP."""
        return await self._single(
            "node_activate_master_ip", node, master_params, use_external_mip_script,
            timeout=rpc_timeout,
        )

    async def node_deactivate_master_ip(
        self,
        node: NodeRef,
        master_params: dict[str, Any],
        use_external_mip_script: bool,
        *,
        rpc_timeout: float | None = None,
    ) -> NodeResult[None]:
        """Take down the master IP."""
        return await self._single(
            "node_deactivate_master_ip", node, master_params, use_external_mip_script,
            timeout=rpc_timeout,
        )

    async def node_change_master_netmask(
        self,
        node: NodeRef,
        old_netmask: int,
        netmask: int,
        master_ip: str,
        master_netdev: str,
        *,
        rpc_timeout: float | None = None,
    ) -> NodeResult[None]:
        """Change the master IP's netmask."""
        return await self._single(
            "node_change_master_netmask", node, old_netmask, netmask, master_ip, master_netdev,
            timeout=rpc_timeout,
        )

    async def node_ensure_daemon(
        self,
        nodes: Sequence[NodeRef],
        daemon: str,
        run: bool,
        *,
        rpc_timeout: float | None = None,
    ) -> dict[str, NodeResult[None]]:
        """Start or stop a daemon on the node."""
        return await self._multi("node_ensure_daemon", nodes, daemon, run, timeout=rpc_timeout)

    async def node_leave_cluster(
        self,
        node: NodeRef,
        modify_ssh_setup: bool,
        *,
        rpc_timeout: float | None = None,
    ) -> NodeResult[None]:
        """Remove cluster files and stop the node daemon."""
        return await self._single(
            "node_leave_cluster", node, modify_ssh_setup, timeout=rpc_timeout
        )

    async def instance_start(
        self,
        node: NodeRef,
        instance: InstanceBundle,
        startup_paused: bool,
        reason: list[Any],
        *,
        rpc_timeout: float | None = None,
    ) -> NodeResult[None]:
        """Assemble nothing; start the instance on the hypervisor."""
        return await self._single(
            "instance_start", node, instance, startup_paused, reason, timeout=rpc_timeout
        )

    async def instance_shutdown(
        self,
        node: NodeRef,
        instance: InstanceBundle,
        timeout: float,
        reason: list[Any],
        *,
        rpc_timeout: float | None = None,
    ) -> NodeResult[None]:
        """Stop the instance: soft first, forced after timeout seconds."""
        return await self._single(
            "instance_shutdown", node, instance, timeout, reason, timeout=rpc_timeout
        )

    async def instance_reboot(
        self,
        node: NodeRef,
        instance: InstanceBundle,
        reboot_type: str,
        shutdown_timeout: float,
        reason: list[Any],
        *,
        rpc_timeout: float | None = None,
    ) -> NodeResult[None]:
        """Reboot (soft: in the guest; hard: stop and start)."""
        return await self._single(
            "instance_reboot", node, instance, reboot_type, shutdown_timeout, reason,
            timeout=rpc_timeout,
        )

    async def instance_balloon_memory(
        self,
        node: NodeRef,
        instance: InstanceBundle,
        memory: int,
        *,
        rpc_timeout: float | None = None,
    ) -> NodeResult[None]:
        """Change the memory of a running instance."""
        return await self._single(
            "instance_balloon_memory", node, instance, memory, timeout=rpc_timeout
        )

    async def instance_info(
        self,
        node: NodeRef,
        instance: str,
        hname: str,
        hvparams: dict[str, Any],
        *,
        rpc_timeout: float | None = None,
    ) -> NodeResult[InstanceRuntime | None]:
        """Runtime state of one instance, or null."""
        return await self._single(
            "instance_info", node, instance, hname, hvparams, timeout=rpc_timeout
        )

    async def all_instances_info(
        self,
        nodes: Sequence[NodeRef],
        hypervisor_list: list[str],
        all_hvparams: dict[str, Any],
        *,
        rpc_timeout: float | None = None,
    ) -> dict[str, NodeResult[dict[str, RunningInstance]]]:
        """Runtime state of every instance on the node."""
        return await self._multi(
            "all_instances_info", nodes, hypervisor_list, all_hvparams, timeout=rpc_timeout
        )

    async def instance_list(
        self,
        nodes: Sequence[NodeRef],
        hypervisor_list: list[str],
        all_hvparams: dict[str, Any],
        *,
        rpc_timeout: float | None = None,
    ) -> dict[str, NodeResult[list[str]]]:
        """Names of the instances running on the node."""
        return await self._multi(
            "instance_list", nodes, hypervisor_list, all_hvparams, timeout=rpc_timeout
        )

    async def instance_os_add(
        self,
        node: NodeRef,
        instance: InstanceBundle,
        reinstall: bool,
        debug: int,
        *,
        rpc_timeout: float | None = None,
    ) -> NodeResult[None]:
        """Run the OS create script on the instance's disks."""
        return await self._single(
            "instance_os_add", node, instance, reinstall, debug, timeout=rpc_timeout
        )

    async def instance_run_rename(
        self,
        node: NodeRef,
        instance: InstanceBundle,
        old_name: str,
        debug: int,
        *,
        rpc_timeout: float | None = None,
    ) -> NodeResult[None]:
        """Run the OS rename script."""
        return await self._single(
            "instance_run_rename", node, instance, old_name, debug, timeout=rpc_timeout
        )

    async def instance_console_info(
        self,
        node: NodeRef,
        instance: InstanceBundle,
        *,
        rpc_timeout: float | None = None,
    ) -> NodeResult[ConsolePayload]:
        """How to reach the instance's console."""
        return await self._single("instance_console_info", node, instance, timeout=rpc_timeout)

    async def blockdev_create(
        self,
        node: NodeRef,
        bdev: Disk,
        size: int,
        owner: str,
        on_primary: bool,
        info: str,
        excl_stor: bool,
        *,
        rpc_timeout: float | None = None,
    ) -> NodeResult[DeviceState]:
        """Create a disk at its logical id."""
        return await self._single(
            "blockdev_create", node, bdev, size, owner, on_primary, info, excl_stor,
            timeout=rpc_timeout,
        )

    async def blockdev_remove(
        self,
        node: NodeRef,
        bdev: Disk,
        *,
        rpc_timeout: float | None = None,
    ) -> NodeResult[None]:
        """Destroy a disk (idempotent)."""
        return await self._single("blockdev_remove", node, bdev, timeout=rpc_timeout)

    async def blockdev_assemble(
        self,
        node: NodeRef,
        disk: Disk,
        owner: str,
        on_primary: bool,
        idx: int,
        *,
        rpc_timeout: float | None = None,
    ) -> NodeResult[AssembledDevice]:
        """Activate a disk; returns its path, uri and link."""
        return await self._single(
            "blockdev_assemble", node, disk, owner, on_primary, idx, timeout=rpc_timeout
        )

    async def blockdev_shutdown(
        self,
        node: NodeRef,
        disk: Disk,
        *,
        rpc_timeout: float | None = None,
    ) -> NodeResult[None]:
        """Deactivate a disk."""
        return await self._single("blockdev_shutdown", node, disk, timeout=rpc_timeout)

    async def blockdev_grow(
        self,
        node: NodeRef,
        cf_bdev: Disk,
        amount: int,
        dryrun: bool,
        backingstore: bool,
        excl_stor: bool,
        *,
        rpc_timeout: float | None = None,
    ) -> NodeResult[None]:
        """Grow a disk by amount MiB."""
        return await self._single(
            "blockdev_grow", node, cf_bdev, amount, dryrun, backingstore, excl_stor,
            timeout=rpc_timeout,
        )

    async def blockdev_wipe(
        self,
        node: NodeRef,
        disk: Disk,
        offset: int,
        size: int,
        *,
        rpc_timeout: float | None = None,
    ) -> NodeResult[None]:
        """Zero size MiB of a disk from offset MiB."""
        return await self._single("blockdev_wipe", node, disk, offset, size, timeout=rpc_timeout)

    async def blockdev_find(
        self,
        node: NodeRef,
        disk: Disk,
        *,
        rpc_timeout: float | None = None,
    ) -> NodeResult[DeviceStatus | None]:
        """Locate a disk; its state or null."""
        return await self._single("blockdev_find", node, disk, timeout=rpc_timeout)

    async def blockdev_getdimensions(
        self,
        node: NodeRef,
        disks: list[Disk],
        *,
        rpc_timeout: float | None = None,
    ) -> NodeResult[list[DiskDimensions | None]]:
        """[size in bytes, spindles] per disk, or null."""
        return await self._single("blockdev_getdimensions", node, disks, timeout=rpc_timeout)

    async def file_storage_dir_rename(
        self,
        node: NodeRef,
        old_file_storage_dir: str,
        new_file_storage_dir: str,
        *,
        rpc_timeout: float | None = None,
    ) -> NodeResult[None]:
        """Rename an instance's file storage directory."""
        return await self._single(
            "file_storage_dir_rename", node, old_file_storage_dir, new_file_storage_dir,
            timeout=rpc_timeout,
        )

    async def file_storage_dir_remove(
        self,
        node: NodeRef,
        file_storage_dir: str,
        *,
        rpc_timeout: float | None = None,
    ) -> NodeResult[None]:
        """Remove an empty file storage directory."""
        return await self._single(
            "file_storage_dir_remove", node, file_storage_dir, timeout=rpc_timeout
        )

    async def node_volumes(
        self,
        nodes: Sequence[NodeRef],
        *,
        rpc_timeout: float | None = None,
    ) -> dict[str, NodeResult[list[Volume]]]:
        """Every LV of the node: name, vg, size (MiB), first PV."""
        return await self._multi("node_volumes", nodes, timeout=rpc_timeout)

    async def storage_list(
        self,
        nodes: Sequence[NodeRef],
        su_name: str,
        su_args: list[Any],
        name: str | None,
        fields: list[str],
        *,
        rpc_timeout: float | None = None,
    ) -> dict[str, NodeResult[list[list[StorageValue]]]]:
        """Rows of the chosen fields per storage unit of a type."""
        return await self._multi(
            "storage_list", nodes, su_name, su_args, name, fields, timeout=rpc_timeout
        )

    async def os_diagnose(
        self,
        nodes: Sequence[NodeRef],
        *,
        rpc_timeout: float | None = None,
    ) -> dict[str, NodeResult[list[OsDiagnosis]]]:
        """The OS definitions found in the node's search path."""
        return await self._multi("os_diagnose", nodes, timeout=rpc_timeout)

    async def os_validate(
        self,
        nodes: Sequence[NodeRef],
        required: bool,
        name: str,
        checks: list[str],
        params: dict[str, Any],
        force_variant: bool,
        *,
        rpc_timeout: float | None = None,
    ) -> dict[str, NodeResult[bool]]:
        """Validate an OS name, variant and parameters."""
        return await self._multi(
            "os_validate", nodes, required, name, checks, params, force_variant,
            timeout=rpc_timeout,
        )

    async def node_join_begin(
        self,
        node: NodeRef,
        cluster_name: str,
        node_name: str,
        ca_pem: str,
        nonce: str,
        mac: str,
        *,
        rpc_timeout: float | None = None,
    ) -> NodeResult[JoinCsr]:
        """Start joining: node proves the token, sends a CSR."""
        return await self._single(
            "node_join_begin", node, cluster_name, node_name, ca_pem, nonce, mac,
            timeout=rpc_timeout,
        )

    async def node_join_finish(
        self,
        node: NodeRef,
        cert_pem: str,
        nonce: str,
        mac: str,
        *,
        rpc_timeout: float | None = None,
    ) -> NodeResult[str]:
        """Finish joining: install the signed certificate."""
        return await self._single(
            "node_join_finish", node, cert_pem, nonce, mac, timeout=rpc_timeout
        )
